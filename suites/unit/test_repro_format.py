# ruff: noqa: E501  (GOLDEN holds the exact, unwrappable lines of a repro block)
"""Locks the repro block: same sections, same order, same spelling (STYLE.md item 7).

If a change to the format is intended, update GOLDEN in the same commit; tools and people
read these blocks from CI logs and reports.
"""

from __future__ import annotations

from harness import divergences
from harness.differ import Outcome, judge
from harness.repro import render_repro
from harness.scenario import Scenario, Step
from harness.transcript import Exchange, SetupRequest, Transcript

SCENARIO = Scenario(
    name="GET list records sorted by json field with nulls (superuser)",
    suite="listing",
    tags=("sort",),
    steps=(Step(id="asc", actor="superuser", method="GET", path="/x"),),
)
SETUP = [
    SetupRequest(
        "POST",
        "/api/collections",
        '{"name": "p3773db_docs", "type": "base", "fields": [{"name": "j", "type": "json"}]}',
    ),
    SetupRequest(
        "POST",
        "/api/collections/p3773db_docs/records",
        '{"id": "a00000000000001", "j": 1}',
        "<id:1>",
    ),
    SetupRequest(
        "POST",
        "/api/collections/p3773db_docs/records",
        '{"id": "a00000000000002", "j": null}',
        "<id:2>",
    ),
]
PATH = "/api/collections/p3773db_docs/records?sort=j&fields=j"
SQL: list[dict[str, object]] = [{"sql": "SELECT j FROM p3773db_docs ORDER BY j ASC", "params": {}}]


def exchange(items: list[object], sql: list[dict[str, object]] | None = None) -> Exchange:
    body = {"items": items, "page": 1, "perPage": 30, "totalItems": 2, "totalPages": 1}
    return Exchange(
        "asc",
        "superuser",
        "GET",
        PATH,
        PATH,
        None,
        status=200,
        body=body,
        sql=sql or [],
        key_order="none",
    )


def outcome() -> Outcome:
    nulls_first = [{"j": None}, {"j": 1}]
    transcripts = {
        "pocketbase": Transcript("pocketbase", SETUP, [exchange(nulls_first)]),
        "sqlite": Transcript("sqlite", SETUP, [exchange(nulls_first, SQL)]),
        "postgres": Transcript("postgres", SETUP, [exchange([{"j": 1}, {"j": None}], SQL)]),
    }
    return judge(SCENARIO, 7, transcripts, divergences.load())


GOLDEN = r"""
==== PARITY DIVERGE: GET list records sorted by json field with nulls (superuser) ====
verdict: DIVERGE (pocketbase=oracle sqlite=agree postgres=diverge; oracle pocketbase)
seed: 7
-- schema and rows (suite listing; BASE=<server url>) --
SUPERUSER_TOKEN=$(curl -sS -X POST "$BASE"/api/collections/_superusers/auth-with-password -H 'Content-Type: application/json' --data-raw '{"identity": "parity@example.com", "password": "parity-password-1234"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -sS -X POST "$BASE"/api/collections -H "Authorization: $SUPERUSER_TOKEN" -H 'Content-Type: application/json' --data-raw '{"name": "p3773db_docs", "type": "base", "fields": [{"name": "j", "type": "json"}]}'
curl -sS -X POST "$BASE"/api/collections/p3773db_docs/records -H "Authorization: $SUPERUSER_TOKEN" -H 'Content-Type: application/json' --data-raw '{"id": "a00000000000001", "j": 1}'  # <id:1>
curl -sS -X POST "$BASE"/api/collections/p3773db_docs/records -H "Authorization: $SUPERUSER_TOKEN" -H 'Content-Type: application/json' --data-raw '{"id": "a00000000000002", "j": null}'  # <id:2>
-- requests: GET list records sorted by json field with nulls (superuser) --
# asc (superuser)
curl -sS -X GET "$BASE"'/api/collections/p3773db_docs/records?sort=j&fields=j' -H "Authorization: $SUPERUSER_TOKEN"
-- responses --
[asc] GET /api/collections/p3773db_docs/records?sort=j&fields=j
  pocketbase (oracle): 200
    {
      "items": [{"j": null}, {"j": 1}],
      "page": 1,
      "perPage": 30,
      "totalItems": 2,
      "totalPages": 1
    }
  sqlite: 200 (same as oracle)
    sql: SELECT j FROM p3773db_docs ORDER BY j ASC  -- params {}
  postgres: 200
    {
      "items": [{"j": 1}, {"j": null}],
      "page": 1,
      "perPage": 30,
      "totalItems": 2,
      "totalPages": 1
    }
    sql: SELECT j FROM p3773db_docs ORDER BY j ASC  -- params {}
-- diff (against pocketbase) --
postgres:
  asc /items/0/j: null != 1
  asc /items/1/j: 1 != null
-- known divergence --
none
-- re-run --
parity repro 'GET list records sorted by json field with nulls (superuser)' --seed 7 --target pocketbase,sqlite,postgres
""".strip("\n")


def test_repro_block_format_is_locked() -> None:
    assert render_repro(outcome()) == GOLDEN


def test_repro_names_a_known_divergence_and_the_given_targets() -> None:
    known = outcome()
    known.divergence = divergences.load().get("int64-precision")
    text = render_repro(known, "pocketbase,postgres")
    assert "-- known divergence --\nint64-precision: Integers beyond 2^53" in text
    assert text.endswith("--seed 7 --target pocketbase,postgres")


def test_sections_come_in_the_documented_order() -> None:
    text = render_repro(outcome())
    headers = [
        "==== PARITY",
        "verdict:",
        "seed:",
        "-- schema and rows",
        "-- requests:",
        "-- responses --",
        "-- diff",
        "-- known divergence --",
        "-- re-run --",
    ]
    positions = [text.index(h) for h in headers]
    assert positions == sorted(positions)
