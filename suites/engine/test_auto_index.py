"""Automatic JSON-path indexes (``core/auto_index.py``) on both engines: created once a
path has been filtered ``after`` times, used by the planner (EXPLAIN), answers unchanged,
dropped before a schema change of their table."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from reference_impl.app import App
from reference_impl.core.auth import AuthContext
from reference_impl.core.auto_index import PREFIX
from reference_impl.core.filter import Bindings, Scope, bind, compile_filter
from reference_impl.core.records import ListQuery
from reference_impl.db.engine import Engine
from reference_impl.db.render import insert_sql, select_sql
from reference_impl.ir import Kind

ROWS = 3000
_names = itertools.count()


def _auto_indexes(engine: Engine, table: str) -> list[str]:
    d = engine.dialect
    with engine.transaction() as tx:
        rows = tx.fetchall(d.list_indexes_sql(d.placeholder("t")), {"t": table})
    return sorted(str(r[0]) for r in rows if str(r[0]).startswith(PREFIX))


def _plan(engine: Engine, sql: str, params: dict[str, Any]) -> str:
    """The engine's own plan text (EXPLAIN is engine SQL: tests may write it)."""
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.transaction() as tx:
        return "\n".join(
            " ".join(str(c) for c in row) for row in tx.fetchall(explain + sql, params)
        )


def _analyze(engine: Engine, table: str) -> None:
    with engine.transaction(write=True) as tx:
        tx.execute(f"ANALYZE {engine.dialect.table(table)}")


@pytest.mark.parametrize("filter_text", ["j.a = 7", "j.s = 'k7'"])
def test_an_often_filtered_json_path_gets_an_index_the_planner_uses(
    app: App, superuser: AuthContext, engine: Engine, filter_text: str
) -> None:
    name = f"autoidx{next(_names)}"
    coll = app.store.create(
        {"name": name, "listRule": "", "fields": [{"type": "json", "name": "j"}]}
    )
    try:
        d = engine.dialect
        with engine.transaction(write=True) as tx:
            for i in range(ROWS):
                value = {"a": i % 500, "s": f"k{i % 500}"}
                tx.execute(
                    *insert_sql(d, name, [("id", Kind.TEXT, f"r{i:014d}"), ("j", Kind.JSON, value)])
                )
        _analyze(engine, name)
        advisor = app.store.json_indexes
        advisor.after = 3
        query = ListQuery(filter=filter_text, sort="id", per_page=1000)
        before = [r["id"] for r in app.records.list_records(coll, query, superuser)["items"]]
        assert len(before) == ROWS // 500
        assert _auto_indexes(engine, name) == []
        for _ in range(2):
            app.records.list_records(coll, query, superuser)
        indexes = _auto_indexes(engine, name)
        assert len(indexes) == 1, "the third use creates it"
        after = [r["id"] for r in app.records.list_records(coll, query, superuser)["items"]]
        assert after == before
        _analyze(engine, name)
        scope = Scope({f.name: f for f in coll.fields}, allow_hidden=True, collection=coll)
        compiled = bind(compile_filter(filter_text, scope), Bindings())
        sql, params = select_sql(d, name, ["id"], [compiled], [])
        assert indexes[0] in _plan(engine, sql, params)
        # A schema change drops it first (SQLite cannot drop a column an index reads).
        app.store.update(coll, {"fields": [{"type": "text", "name": "t"}]})
        assert _auto_indexes(engine, name) == []
    finally:
        app.store.json_indexes.after = 50
        app.store.delete(app.store.find(name) or coll)


def test_it_is_off_with_zero(app: App, superuser: AuthContext, engine: Engine) -> None:
    name = f"autoidx{next(_names)}"
    coll = app.store.create(
        {"name": name, "listRule": "", "fields": [{"type": "json", "name": "j"}]}
    )
    try:
        app.store.json_indexes.after = 0
        for _ in range(5):
            app.records.list_records(coll, ListQuery(filter="j.a = 1"), superuser)
        assert _auto_indexes(engine, name) == []
    finally:
        app.store.json_indexes.after = 50
        app.store.delete(coll)
