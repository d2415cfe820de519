"""Golden SQL for the filter compiler: ``golden/filters.toml``, one sub-test per dialect.

Each case compiles a filter (and sort) against the fixed scope below, renders it with a
dialect and compares the SQL text byte for byte and the bound parameters by value *and*
type. The expected strings were generated once and then read against PocketBase's semantics
(shared/research/pocketbase-semantics.md §3) before being frozen; a case whose current output
is wrong states the right SQL and carries ``xfail.<dialect> = "bug: ..."``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reference_impl.core.collection import Collection
from reference_impl.core.fields import Field
from reference_impl.core.filter import Bindings, Scope, bind, compile_filter, parse_sort
from reference_impl.db.dialect import Dialect
from reference_impl.db.postgres import PostgresDialect
from reference_impl.db.render import Sql, count_sql, select_sql
from reference_impl.db.sqlite import SqliteDialect

GOLDEN = Path(__file__).parent / "golden" / "filters.toml"
TABLE = "posts"
DIALECTS: dict[str, type[Dialect]] = {"sqlite": SqliteDialect, "postgres": PostgresDialect}
CASE_KEYS = {
    "name",
    "why",
    "filter",
    "sort",
    "render",
    "actor",
    "limit",
    "offset",
    "sqlite",
    "postgres",
    "params",
    "params_sqlite",
    "params_postgres",
    "xfail",
}

FIELDS = [
    Field("text", "id"),
    Field("text", "title"),
    Field("number", "n"),
    Field("bool", "ok"),
    Field("date", "d"),
    Field("email", "mail"),
    Field("text", "secret", {"hidden": True}),
    Field("json", "j"),
    Field("relation", "author", {"collectionId": "_pb_users_auth_"}),
]
USERS_FIELDS = [Field("text", "id"), Field("text", "name")]
USER_AUTH = {
    "id": "u1",
    "collectionId": "_pb_users_auth_",
    "collectionName": "users",
    "email": "u1@example.com",
    "verified": True,
    "emailVisibility": False,
}
SUPERUSER_AUTH = {
    "id": "s1",
    "collectionId": "pbc_3142635823",
    "collectionName": "_superusers",
    "email": "admin@example.com",
    "verified": True,
    "emailVisibility": False,
}


def bindings_for(actor: str) -> Bindings:
    return Bindings(auth={"guest": None, "user": USER_AUTH, "superuser": SUPERUSER_AUTH}[actor])


USERS = Collection("_pb_users_auth_", "users", fields=USERS_FIELDS, rules={"listRule": ""})
POSTS = Collection("posts_id", TABLE, fields=FIELDS, rules={"listRule": ""})
COLLECTIONS = {c.id: c for c in (USERS, POSTS)} | {c.name: c for c in (USERS, POSTS)}


def scope_for(actor: str) -> Scope:
    return Scope(
        fields={f.name: f for f in FIELDS},
        allow_hidden=actor == "superuser",
        collection=POSTS,
        find=COLLECTIONS.get,
        auth_collection=USERS if actor == "user" else None,
    )


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    filter: str
    sort: str
    render: str  # "where": the condition alone; "select": select_sql; "count": count_sql
    actor: str
    limit: int | None
    offset: int
    expected: dict[str, tuple[str, dict[str, Any]]]
    xfail: dict[str, str]


def _param(raw: Any) -> Any:
    """TOML has no decimal: ``{ decimal = "2.5" }`` stands for ``Decimal("2.5")``."""
    if isinstance(raw, dict):
        assert set(raw) == {"decimal"}, f"unknown typed parameter {raw!r}"
        return Decimal(raw["decimal"])
    return raw


def load_cases() -> list[Case]:
    data = tomllib.loads(GOLDEN.read_text(encoding="utf-8"))
    cases = []
    for raw in data["case"]:
        unknown = set(raw) - CASE_KEYS
        assert not unknown, f"{raw.get('name')}: unknown keys {sorted(unknown)}"
        shared = raw.get("params", {})
        expected = {
            dialect: (
                raw[dialect],
                {k: _param(v) for k, v in raw.get(f"params_{dialect}", shared).items()},
            )
            for dialect in DIALECTS
        }
        cases.append(
            Case(
                name=raw["name"],
                why=raw["why"],
                filter=raw.get("filter", ""),
                sort=raw.get("sort", ""),
                render=raw.get("render", "where"),
                actor=raw.get("actor", "guest"),
                limit=raw.get("limit"),
                offset=raw.get("offset", 0),
                expected=expected,
                xfail=raw.get("xfail", {}),
            )
        )
    return cases


def render(case: Case, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    scope = scope_for(case.actor)
    compiled = (
        [bind(compile_filter(case.filter, scope), bindings_for(case.actor))] if case.filter else []
    )
    if case.render == "where":
        sql = Sql(dialect, TABLE)
        return sql.node(compiled[0].where), sql.params
    where = list(compiled)
    if case.render == "count":
        return count_sql(dialect, TABLE, where)
    assert case.render == "select", f"{case.name}: unknown render {case.render!r}"
    return select_sql(
        dialect,
        TABLE,
        ["id"],
        where,
        parse_sort(case.sort, scope),
        limit=case.limit,
        offset=case.offset,
    )


def typed(params: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Compare parameters by type too: ``1`` is not ``True`` and ``2.5`` is not ``Decimal``."""
    return {name: (type(value).__name__, value) for name, value in params.items()}


CASES = load_cases()


def _params() -> list[Any]:
    out = []
    for case in CASES:
        for dialect in DIALECTS:
            marks = []
            if dialect in case.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=case.xfail[dialect]))
            out.append(pytest.param(case, dialect, id=f"{case.name}[{dialect}]", marks=marks))
    return out


@pytest.mark.parametrize(("case", "dialect_name"), _params())
def test_golden(case: Case, dialect_name: str) -> None:
    sql, params = render(case, DIALECTS[dialect_name]())
    want_sql, want_params = case.expected[dialect_name]
    assert sql == want_sql, f"{case.name}: {case.why}"
    assert typed(params) == typed(want_params), f"{case.name}: {case.why}"


def test_the_golden_file_is_well_formed() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert CASES, "the golden file has cases"
    for case in CASES:
        assert case.why.strip(), f"{case.name}: every case says why it exists"
        assert set(case.xfail) <= set(DIALECTS), case.name
        assert all(reason.startswith("bug: ") for reason in case.xfail.values()), case.name
