"""Categories that attack the parsers: deeply nested JSON, and filters (deep, huge, fuzzed)."""

from __future__ import annotations

import random
from typing import Any

from harness.hostile import fixtures
from harness.hostile._make import Builder, expect_of, qparam, qv, short
from harness.hostile.case import (
    OK,
    OK_2XX,
    REJECT,
    Actor,
    Case,
    Category,
    Expect,
    Pattern,
    deep,
    repeat,
)

RECORDS = "/api/collections/{coll}/records"
COLLECTIONS = "/api/collections"
ACTORS: tuple[Actor, Actor] = ("superuser", "guest")


# --- nested JSON ------------------------------------------------------------------------

_NESTINGS = {
    "array": (b"[", b"1", b"]", 1),
    "object": (b'{"a":', b"1", b"}", 1),
    "mixed": (b'[{"a":', b"1", b"}]", 2),
}


def nested(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["nested"]
    b = Builder("nested", seed)
    records = "/api/collections/{deep}/records"
    # First the depths PocketBase can store and serve, then reads; then the deeper ones
    # it stores but cannot serve (see catalog.toml), then the same reads again.
    stored: list[tuple[str, bool]] = []
    for when, depths in (("", v["depths"]), (" after 9999 levels", v["deeper"])):
        created = _deep_creates(b, v, records, depths)
        _deep_reads(b, records, created, when)
        stored += [(rid, by_reference) for rid, accepted, _, by_reference in created if accepted]
    _nested_elsewhere(b, records, v)
    for record_id, by_reference in stored:  # later categories read the deep fixture too
        path = f"{records}/{record_id}"
        case = b.get(f"deep record {record_id}", path, OK_2XX, method="DELETE", quick=False)
        if not by_reference:
            b.diverging(case, _DEPTH_DIVERGENCE, REJECT)  # never stored: 404
    return Category("nested", b.cases, summary="deeply nested JSON in and out")


_DEPTH_DIVERGENCE = "json-nesting-depth"


def _deep_creates(
    b: Builder, v: dict[str, Any], records: str, depths: list[int]
) -> list[tuple[str, bool, bool, bool]]:
    created = []
    for kind, (opener, inner, closer, levels) in _NESTINGS.items():
        for depth in depths:
            record_id = f"hxd{kind[0]}{depth:011d}"
            prefix = b'{"id":"' + record_id.encode() + b'","data":'
            body = deep(prefix, opener, inner, closer, depth // levels, b"}")
            accepted = depth < v["accepted_below"]
            quick = depth in v["quick_depths"] and kind != "mixed"
            expect = OK_2XX if accepted else REJECT
            case = b.json(
                "POST", f"json {kind} {depth} levels deep", records, body, expect, quick=quick
            )
            stored_by_reference = depth < v["reference_accepted_below"]
            if accepted and not stored_by_reference:
                b.diverging(case, _DEPTH_DIVERGENCE, REJECT)
            created.append((record_id, accepted, quick, stored_by_reference))
    return created


def _deep_reads(
    b: Builder, records: str, created: list[tuple[str, bool, bool, bool]], when: str
) -> None:
    first = not when  # the reads the issue names run in --quick; the later ones do not
    actors: tuple[Actor, ...] = ("superuser", "guest")
    for actor in actors:
        b.get(f"deep records{when}", records, OK_2XX, actor=actor, quick=first)
        query = "fields=id"
        b.get(
            f"deep records fields=id{when}", records, OK_2XX, query=query, actor=actor, quick=first
        )
    b.get(f"deep records fields=data{when}", records, OK_2XX, query="fields=data", quick=first)
    reads = {
        "perPage=500 sort=-data": "perPage=500&sort=-data",
        "filter on data.a.a.a": qparam("filter", "data.a.a.a = 1"),
        "filter data ~ '['": qparam("filter", "data ~ '['"),
    }
    for what, query in reads.items():
        b.get(f"deep records {what}{when}", records, OK_2XX, query=query, quick=False)
    for record_id, accepted, quick, stored_by_reference in created:
        path = f"{records}/{record_id}"
        case = b.get(f"deep record {record_id}", path, OK_2XX if accepted else REJECT, quick=quick)
        if accepted and not stored_by_reference:
            b.diverging(case, _DEPTH_DIVERGENCE, REJECT)  # never stored: 404
        if accepted and quick:
            case = b.get(
                f"deep record {record_id} fields=id", path, OK_2XX, query="fields=id", actor="guest"
            )
            if not stored_by_reference:
                b.diverging(case, _DEPTH_DIVERGENCE, REJECT)


def _nested_elsewhere(b: Builder, records: str, v: dict[str, Any]) -> None:
    """Deep values where they do not belong: a text field, collection options, a login."""
    deeper = deep(b'{"data":', b"[", b"1", b"]", 2000, b"}")
    case = b.json(
        "PATCH",
        "deep record made deeper",
        f"{records}/hxda00000000500",
        deeper,
        OK_2XX,
        quick=False,
    )
    if v["reference_accepted_below"] <= 2000:
        b.diverging(case, _DEPTH_DIVERGENCE, REJECT)
    title = deep(b'{"title":', b"[", b"1", b"]", 10_000, b"}")
    b.json(
        "POST", "text field given 10000 levels", RECORDS, title, REJECT, actor="guest", quick=False
    )
    option = deep(
        b'{"name":"hx_deepc","fields":[{"name":"t","type":"text","x":',
        b"[",
        b"1",
        b"]",
        10_000,
        b"}]}",
    )
    b.json("POST", "collection options 10000 levels deep", COLLECTIONS, option, REJECT, quick=False)
    identity = deep(b'{"password":"x","identity":', b"[", b"1", b"]", 10_000, b"}")
    login = f"/api/collections/{fixtures.USERS}/auth-with-password"
    b.json(
        "POST",
        "login identity 10000 levels deep",
        login,
        identity,
        REJECT,
        actor="guest",
        quick=False,
    )


# --- filters ----------------------------------------------------------------------------


def _enc(text: str) -> bytes:
    return qv(text).encode()


def _parens(depth: int, inner: str = "title='x'", name: str = "filter") -> Pattern:
    return Pattern(((f"{name}=".encode(), 1), (b"%28", depth), (_enc(inner), 1), (b"%29", depth)))


def filters(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["filter"]
    b = Builder("filter", seed)
    expect_table = v.get("expect", {})
    for depth in v["paren_depths"]:
        quick = depth in v["quick_paren_depths"]
        default = OK_2XX if depth <= 1000 else OK
        expect = expect_of(expect_table.get(f"parens {depth}"), default)
        for actor in ACTORS:
            b.add(
                _get(
                    b,
                    f"filter in {depth} parentheses",
                    RECORDS,
                    _parens(depth),
                    expect,
                    actor,
                    quick,
                )
            )
    for depth in (500, 1000):
        opened = Pattern(((b"filter=", 1), (b"%28", depth), (_enc("title='x'"), 1)))
        closed = Pattern(((b"filter=", 1), (_enc("title='x'"), 1), (b"%29", depth)))
        b.add(
            _get(
                b,
                f"filter with {depth} unclosed parentheses",
                RECORDS,
                opened,
                REJECT,
                "guest",
                depth == 500,
            )
        )
        b.add(
            _get(
                b,
                f"filter with {depth} stray closing parentheses",
                RECORDS,
                closed,
                REJECT,
                "guest",
                False,
            )
        )
    for depth in v["and_or_depths"]:
        query = Pattern(
            (
                (b"filter=", 1),
                (_enc("(views=1 || "), depth),
                (_enc("title='x'"), 1),
                (b"%29", depth),
            )
        )
        expect = expect_of(expect_table.get(f"and-or {depth}"), OK)
        b.add(
            _get(b, f"filter or-nested {depth} deep", RECORDS, query, expect, "guest", depth == 500)
        )
    for length in v["literal_lengths"]:
        query = Pattern(((_enc("filter") + b"=" + _enc("title='"), 1), (b"a", length), (b"%27", 1)))
        b.add(
            _get(
                b,
                f"filter literal of {length} chars",
                RECORDS,
                query,
                OK,
                "guest",
                length == 10_000,
            )
        )
    for count in v["term_counts"]:
        quick = count in v["quick_term_counts"]
        for op in ("||", "&&"):
            query = Pattern(((b"filter=", 1), (_enc(f"views=1{op}"), count), (_enc("views=1"), 1)))
            expect = expect_of(expect_table.get(f"terms {count}"), OK)
            b.add(
                _get(
                    b,
                    f"filter of {count + 1} terms joined by {op}",
                    RECORDS,
                    query,
                    expect,
                    "guest",
                    quick,
                )
            )
    for count in v["sort_counts"]:
        query = repeat(b"sort=", b"title,", count, b"title")
        b.add(_get(b, f"sort by {count + 1} fields", RECORDS, query, OK, "guest", count == 1000))
    for count in v["fields_counts"]:
        query = repeat(b"fields=", b"id,", count, b"id")
        b.add(_get(b, f"fields list of {count + 1}", RECORDS, query, OK, "guest", False))
    for depth in v["expand_depths"]:
        query = repeat(b"expand=", b"x.", depth, b"x")
        b.add(_get(b, f"expand path {depth + 1} deep", RECORDS, query, OK, "guest", False))
    b.add(
        _get(
            b,
            "sort by a 10000-char field",
            RECORDS,
            repeat(b"sort=-", b"a", 10_000),
            OK,
            "guest",
            False,
        )
    )
    for depth in (500, 1000):
        query = _parens(depth, "name='x'")
        expect = expect_of(expect_table.get(f"collections parens {depth}"), OK_2XX)
        b.add(
            _get(
                b,
                f"collections filter in {depth} parentheses",
                COLLECTIONS,
                query,
                expect,
                "superuser",
                depth == 1000,
            )
        )
    query = Pattern(((b"filter=", 1), (_enc("name='x'||"), 1000), (_enc("name='x'"), 1)))
    b.add(_get(b, "collections filter of 1001 terms", COLLECTIONS, query, OK, "superuser", False))
    for depth in (500, 1000):
        name = f"hx_rule{depth}"
        rule = "(" * depth + "title='x'" + ")" * depth
        definition = {
            "name": name,
            "type": "base",
            "listRule": rule,
            "viewRule": rule,
            "fields": [{"name": "title", "type": "text"}],
        }
        expect = expect_of(expect_table.get(f"rule parens {depth}"), OK_2XX)
        b.json(
            "POST",
            f"collection with a rule in {depth} parentheses",
            COLLECTIONS,
            definition,
            expect,
            quick=depth == 1000,
        )
        b.get(
            f"records under a rule in {depth} parentheses",
            f"{COLLECTIONS}/{name}/records",
            OK,
            actor="guest",
            quick=depth == 1000,
        )
    rng = random.Random(f"{seed}:filter")
    tokens = v["fuzz_tokens"]
    for n in range(v["fuzz"]):
        text = " ".join(rng.choice(tokens) for _ in range(rng.randint(1, 14)))
        actor = ACTORS[n % 2]
        quick = n < v["quick_fuzz"]
        b.get(
            f"fuzzed filter {n} {short(text, 30)}",
            RECORDS,
            OK,
            query=qparam("filter", text),
            actor=actor,
            quick=quick,
            generated=True,
        )
    return Category("filter", b.cases, summary="deep, huge and fuzzed filters, sorts, field lists")


def _get(
    b: Builder, what: str, path: str, query: Pattern, expect: Expect, actor: Actor, quick: bool
) -> Case:
    return Case(b.category, "GET", what, path, expect, actor, query, quick=quick)
