"""The hostile catalog, its body-shape checks and its curl repros, without any server."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest

from harness.hostile import catalog, repro, shape
from harness.hostile._restart import database_name
from harness.hostile.case import REJECT, Case, Pattern, deep, repeat
from harness.hostile.concurrency import _schema_steps

# What the concurrency driver sends on top of the listed cases (writers x requests + steps).
CONCURRENT_FULL = 8 * (100 + 3) + len(_schema_steps(6)) + 3
CONCURRENT_QUICK = 4 * (25 + 3) + len(_schema_steps(2)) + 3


def test_every_category_is_built_and_full_and_quick_sizes_fit() -> None:
    full = catalog.build(0)
    quick = catalog.build(0, quick=True)
    assert [c.name for c in full] == list(catalog.CATEGORIES)
    total = sum(len(c.cases) for c in full) + CONCURRENT_FULL
    small = sum(len(c.cases) for c in quick) + CONCURRENT_QUICK
    assert 2000 <= total <= 5000, total
    assert 300 <= small <= 600, small
    for category in quick:
        assert category.cases or category.driver, f"{category.name} has nothing in --quick"


def test_the_catalog_is_deterministic_per_seed() -> None:
    def names(seed: int) -> list[str]:
        return [c.key for cat in catalog.build(seed) for c in cat.cases]

    assert names(0) == names(0)
    assert names(0) != names(1)  # the generated families differ
    assert len(set(names(0))) == len(names(0))


def test_unknown_categories_are_refused_with_the_choices() -> None:
    with pytest.raises(catalog.CatalogError, match="choose from regex"):
        catalog.parse_categories("regex,bogus")
    assert catalog.parse_categories(["regex", "names,limits"]) == ["regex", "names", "limits"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"data":{},"message":"x","status":400}', None),
        (b'{"data":{},"message":"x","status":404}', "error status 404 in a 400 answer"),
        (b'{"message":"x","status":400}', "error keys"),
        (b"Bad Request", "not JSON"),
        (b'{"data":{},"message":"\\ud800","status":400}', "lone surrogate"),
    ],
)
def test_error_shape(body: bytes, problem: str | None) -> None:
    found = shape.check("auto", 400, body)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    "body",
    [b"[NaN]", b'{"a":Infinity}', b"\xff", b'{"a":1}{"b":2}', b'"\\udc00"', b"[1,]"],
)
def test_a_2xx_body_must_be_strict_json(body: bytes) -> None:
    assert shape.check("auto", 200, body) is not None


def test_strict_json_handles_nesting_deeper_than_the_recursion_limit() -> None:
    assert shape.strict_json(b"[" * 50_000 + b"]" * 50_000) is shape.DEEP
    assert shape.check("auto", 200, b'{"a":' * 20_000 + b"1" + b"}" * 20_000) is None
    assert shape.check("auto", 200, b"[" * 20_000 + b"NaN" + b"]" * 20_000) is not None
    assert shape.check("auto", 200, b"[" * 20_000 + b"]" * 19_999) is not None


def test_redirects_empty_answers_and_head_have_no_body_shape() -> None:
    assert shape.check("auto", 307, b"<a href>moved</a>") is None
    assert shape.check("auto", 204, b"") is None
    assert shape.check("auto", 200, b"", head=True) is None


def _bytes_of(command: str) -> bytes:
    """Run the ``python3 -c ...`` part of a repro and return what it writes."""
    generator = command.split(" | ")[0]
    args = shlex.split(generator)
    assert args[:2] == ["python3", "-c"]
    return subprocess.run([sys.executable, "-c", args[2]], capture_output=True, check=True).stdout


def test_curl_sends_printable_bodies_inline_and_the_rest_generated() -> None:
    plain = Case("x", "POST", "plain", "/api/collections/{coll}/records", body=b'{"t":"a b"}')
    command = repro.curl(plain)
    assert '--data-binary \'{"t":"a b"}\'' in command
    assert "-H 'Content-Type:'" in command  # no content type was sent, so curl must not add one
    assert '"$BASE/api/collections/hx_posts/records"' in command
    odd = Case("x", "POST", "odd", "/p", body=b'{"t":"\xed\xa0\x80\x00"}' + b"z" * 500)
    assert _bytes_of(repro.curl(odd)) == odd.body_bytes()
    big = Case("x", "POST", "big", "/p", body=repeat(b'{"t":"', b"a", 10_000_000, b'"}'))
    command = repro.curl(big)
    assert len(command) < 300 and _bytes_of(command) == big.body_bytes()


def test_curl_keeps_the_percent_encoding_and_generates_long_urls() -> None:
    case = Case("x", "GET", "q", "/api/collections/{coll}/records/\u00e9", query="fields=%FF")
    assert '"$BASE/api/collections/hx_posts/records/%C3%A9?fields=%FF"' in repro.curl(case)
    long = Case("x", "GET", "l", "/p", query=Pattern(((b"filter=", 1), (b"%28", 30_000))))
    command = repro.curl(long)
    assert len(command) < 300 and "$(python3 -c" in command


def test_a_repro_block_names_verdict_seed_and_rerun() -> None:
    from harness.hostile.runner import Result

    case = Case("filter", "GET", "fuzzed filter 3", "/p", REJECT, "guest", seed=7)
    text = repro.block(Result(case, "sqlite", "5xx", 500, 0.01, body='{"status":500}'))
    lines = text.splitlines()
    assert lines[0] == "==== HOSTILE 5XX: filter / GET fuzzed filter 3 (guest) on sqlite"
    assert "seed 7 (generated case)" in lines
    assert lines[-1] == (
        "parity hostile --target sqlite --category filter "
        "--case 'GET fuzzed filter 3 (guest)' --seed 7"
    )


def test_patterns_build_what_they_print() -> None:
    pattern = deep(b'{"d":', b"[", b"1", b"]", 3, b"}")
    assert pattern.build() == b'{"d":[[[1]]]}'
    assert eval(pattern.python()) == pattern.build()  # the repro's own expression
    assert json.loads(pattern.build()) == {"d": [[[1]]]}


@pytest.mark.parametrize(
    ("dsn", "name"),
    [
        ("postgresql://u:p@127.0.0.1:5432/pp_12?sslmode=disable", "pp_12"),
        ("host=127.0.0.1 port=5432 dbname=pp_worker user=x", "pp_worker"),
        ("host=h dbname='odd name' user=x", "odd name"),
        ("host=h user=x", None),
    ],
)
def test_database_name_of_a_dsn(dsn: str, name: str | None) -> None:
    assert database_name(dsn) == name
