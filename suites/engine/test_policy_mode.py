"""Policy bind mode on PostgreSQL: a rule compiled once, with ``@request.auth.*`` read from
the transaction's session settings, selects the rows the parameters mode selects for the
same request (the parameters mode is the one every conformance scenario checks).
"""

from __future__ import annotations

from typing import Any

import pytest

from reference_impl.core.fields import Field
from reference_impl.core.filter import Bindings, Scope, bind, compile_filter
from reference_impl.db.engine import Engine
from reference_impl.db.render import Sql, insert_sql, render_policy, select_sql
from reference_impl.ir import Kind

FIELDS = [Field("text", "id"), Field("text", "owner"), Field("bool", "ok")]
ROWS = [("a", "u1", True), ("b", "u2", False), ("c", "", True), ("d", "u1", False)]
RULES = [
    "owner = @request.auth.id",
    "owner != @request.auth.id",
    "@request.auth.id = owner || ok = true",
    "ok = @request.auth.verified",
    "ok != @request.auth.verified && owner != ''",
]
AUTHS: list[dict[str, Any] | None] = [
    None,
    {"id": "u1", "verified": True},
    {"id": "u2", "verified": False},
    {"id": "", "verified": False},
]


@pytest.fixture
def policy_table(engine_name: str, engine: Engine, table: str) -> str:
    if engine_name != "postgres":
        pytest.skip("policy mode is PostgreSQL's (SQLite has no row level security)")
    d = engine.dialect
    with engine.transaction(write=True) as tx:
        for statement in d.create_table(table, [("owner", Kind.TEXT), ("ok", Kind.BOOL)]):
            tx.execute(statement)
        for row_id, owner, ok in ROWS:
            values = [("id", Kind.TEXT, row_id), ("owner", Kind.TEXT, owner), ("ok", Kind.BOOL, ok)]
            tx.execute(*insert_sql(d, table, values))
    return table


def _ids(engine: Engine, sql: str, params: dict[str, Any], settings: dict[str, str]) -> list[str]:
    with engine.transaction() as tx:
        for name, value in settings.items():
            tx.execute("SELECT set_config(%(n)s, %(v)s, true)", {"n": name, "v": value})
        return [row[0] for row in tx.fetchall(sql, params)]


@pytest.mark.parametrize("rule", RULES)
def test_policy_mode_selects_what_parameters_mode_selects(
    engine: Engine, policy_table: str, rule: str
) -> None:
    d = engine.dialect
    compiled = compile_filter(rule, Scope({f.name: f for f in FIELDS}, allow_hidden=True))
    policy = render_policy(d, policy_table, compiled.where)
    assert "%(" not in policy  # no parameters: it can live in CREATE POLICY
    for auth in AUTHS:
        bound = bind(compiled, Bindings(auth=auth))
        want = _ids(engine, *select_sql(d, policy_table, ["id"], [bound], []), {})
        settings = (
            {}
            if auth is None
            else {"pb.auth.id": auth["id"], "pb.auth.verified": str(auth["verified"]).lower()}
        )
        sql, params = select_sql(d, policy_table, ["id"], [], [])
        sql = sql.replace(" ORDER BY", f" WHERE {policy} ORDER BY")
        assert _ids(engine, sql, params, settings) == want, (rule, auth, policy)


def test_session_settings_end_with_the_transaction(engine: Engine, policy_table: str) -> None:
    """After a transaction that set it locally, the setting reads '' (not NULL): the
    policy must treat both as "no auth" on a reused pooled connection (a guest: ``owner =
    @request.auth.id`` is "owner is empty", PocketBase's rule for an empty parameter)."""
    d = engine.dialect
    compiled = compile_filter(RULES[0], Scope({f.name: f for f in FIELDS}, allow_hidden=True))
    policy = render_policy(d, policy_table, compiled.where)
    sql, params = select_sql(d, policy_table, ["id"], [], [])
    sql = sql.replace(" ORDER BY", f" WHERE {policy} ORDER BY")
    assert _ids(engine, sql, params, {"pb.auth.id": "u1"}) == ["a", "d"]
    for _ in range(3):  # whichever pooled connection comes next
        assert _ids(engine, sql, params, {}) == ["c"]


def test_literals_are_inlined_safely(engine: Engine, policy_table: str) -> None:
    d = engine.dialect
    scope = Scope({f.name: f for f in FIELDS}, allow_hidden=True)
    node = compile_filter("owner = \"u1' OR 1=1 --\" || owner = 'x\\'y\\\\z'", scope).where
    text = Sql(d, policy_table, mode="policy").node(node)
    sql, params = select_sql(d, policy_table, ["id"], [], [])
    assert _ids(engine, sql.replace(" ORDER BY", f" WHERE {text} ORDER BY"), params, {}) == []
