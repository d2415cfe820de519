"""The differ on literal transcripts: structural diffs, key order, verdicts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from harness.differ import diff_transcripts, diff_values, judge, pick_oracle
from harness.divergences import Divergence, Registry
from harness.scenario import Scenario, Step
from harness.transcript import Exchange, Transcript

PB, SL, PG = "pocketbase", "sqlite", "postgres"
SCENARIO = Scenario(
    name="GET list things (guest)",
    suite="listing",
    steps=(Step(id="list", actor="guest", method="GET", path="/x"),),
)
REGISTRY = Registry(
    {
        "pg-only": Divergence(
            "pg-only", "pg differs", "engine-difference", ("postgres",), "x", ("y",)
        ),
        "reference": Divergence(
            "reference",
            "better",
            "improvement-over-pocketbase",
            ("sqlite", "postgres"),
            "x",
            ("y",),
        ),
    }
)


def transcript(target: str, body: Any, status: int = 200, error: str | None = None) -> Transcript:
    exchange = Exchange("list", "guest", "GET", "/x", "/x", None, status=status, body=body)
    return Transcript(target=target, exchanges=[exchange], error=error)


def scenario_with(divergence: str | None) -> Scenario:
    return Scenario(
        name=SCENARIO.name, suite=SCENARIO.suite, steps=SCENARIO.steps, divergence=divergence
    )


def test_structural_diff_uses_json_pointer_paths() -> None:
    a = {"items": [{"title": "a", "n": 1}], "page": 1, "a/b": 1}
    b = {"items": [{"title": "b"}], "page": 1, "extra": None, "a/b": 2}
    assert diff_values(a, b) == [
        '/items/0/title: "a" != "b"',
        "/items/0/n: 1 != <missing>",
        "/a~1b: 1 != 2",
        "/extra: <missing> != null",
    ]


def test_types_are_compared_before_values() -> None:
    assert diff_values(True, 1) == ["/: true != 1"]
    assert diff_values(1, Decimal("1.0")) == []  # same number, different spelling
    assert diff_values([1, 2], [1]) == ["/: length 2 != 1"]
    assert diff_values(9007199254740992, 9007199254740993) == [
        "/: 9007199254740992 != 9007199254740993"
    ]


def test_record_key_order_is_checked_by_default_only_for_records() -> None:
    rec_a = {"collectionId": "c", "collectionName": "n", "id": "1"}
    rec_b = {"id": "1", "collectionId": "c", "collectionName": "n"}
    assert diff_values({"items": [rec_a]}, {"items": [rec_b]}) == [
        "/items/0: key order ['collectionId', 'collectionName', 'id'] "
        "!= ['id', 'collectionId', 'collectionName']"
    ]
    assert diff_values({"a": 1, "b": 2}, {"b": 2, "a": 1}) == []
    assert diff_values({"a": 1, "b": 2}, {"b": 2, "a": 1}, "all") != []
    assert diff_values({"items": [rec_a]}, {"items": [rec_b]}, "none") == []


def test_transcript_diff_names_the_step_and_status() -> None:
    lines = diff_transcripts(transcript("a", {"x": 1}), transcript("b", {"x": 2}, status=400))
    assert lines == ["list status: 200 != 400", "list /x: 1 != 2"]


def test_oracle_is_pocketbase_when_present() -> None:
    assert pick_oracle(["sqlite", "pocketbase"]) == "pocketbase"
    assert pick_oracle(["sqlite", "postgres"]) == "sqlite"


@pytest.mark.parametrize(
    ("divergence", "bodies", "expected"),
    [
        (None, {PB: 1, SL: 1, PG: 1}, {SL: "agree", PG: "agree"}),
        (None, {PB: 1, SL: 1, PG: 2}, {SL: "agree", PG: "diverge"}),
        ("pg-only", {PB: 1, SL: 1, PG: 2}, {SL: "agree", PG: "known"}),
        ("pg-only", {PB: 1, SL: 1, PG: 1}, {SL: "agree", PG: "fixed"}),
        ("pg-only", {PB: 1, SL: 2, PG: 2}, {SL: "diverge", PG: "known"}),
        ("reference", {PB: 1, SL: 2, PG: 2}, {SL: "known", PG: "known"}),
        ("reference", {SL: 2, PG: 2}, {PG: "agree"}),  # without PocketBase: both deviate alike
        ("reference", {SL: 2, PG: 3}, {PG: "diverge"}),
    ],
)
def test_verdicts(divergence: str | None, bodies: dict[str, int], expected: dict[str, str]) -> None:
    transcripts = {name: transcript(name, {"v": body}) for name, body in bodies.items()}
    outcome = judge(scenario_with(divergence), 0, transcripts, REGISTRY)
    assert {k: v for k, v in outcome.verdicts.items() if v != "oracle"} == expected
    assert outcome.failed == any(v in ("diverge", "fixed") for v in expected.values())


def test_errors_and_oracle_fallback() -> None:
    transcripts = {
        "pocketbase": transcript("pocketbase", None, error="SetupError: boom"),
        "sqlite": transcript("sqlite", {"v": 1}),
        "postgres": transcript("postgres", {"v": 1}),
    }
    outcome = judge(SCENARIO, 0, transcripts, REGISTRY)
    assert outcome.verdicts == {"pocketbase": "error", "sqlite": "oracle", "postgres": "agree"}
    assert outcome.oracle == "sqlite"
    assert outcome.headline == "ERROR"
    assert outcome.failed


def test_headline_prefers_the_worst_verdict() -> None:
    transcripts = {
        "pocketbase": transcript("pocketbase", {"v": 1}),
        "sqlite": transcript("sqlite", {"v": 1}),
        "postgres": transcript("postgres", {"v": 2}),
    }
    assert judge(scenario_with("pg-only"), 0, transcripts, REGISTRY).headline == "KNOWN DIVERGENCE"
    assert judge(SCENARIO, 0, transcripts, REGISTRY).headline == "DIVERGE"


def test_unknown_divergence_key_is_an_error() -> None:
    from harness.divergences import RegistryError

    with pytest.raises(RegistryError, match="unknown known-divergence key 'nope'"):
        judge(scenario_with("nope"), 0, {"a": transcript("a", 1)}, REGISTRY)


def test_scenarios_load_and_reference_registered_divergences() -> None:
    from harness import divergences
    from harness.scenario import load_dir

    scenarios = load_dir(Path(__file__).parents[1] / "conformance" / "scenarios")
    registry = divergences.load()
    assert len(scenarios) >= 40
    for scenario in scenarios:
        if scenario.divergence:
            registry.get(scenario.divergence)


def test_captured_response_headers_are_compared() -> None:
    a, b = transcript(PB, "hello"), transcript(SL, "hello")
    a.exchanges[0].captured = {"content-type": "text/plain", "content-disposition": None}
    b.exchanges[0].captured = {"content-type": "text/html", "content-disposition": None}
    assert diff_transcripts(a, b) == ["list header content-type: 'text/plain' != 'text/html'"]
