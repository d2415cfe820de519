"""A filtered, sorted, counted page is served by an index on the filter and sort key, on
both engines, with the answers of a plain model (``bench_datasize.py`` measures the cost).

Two things used to keep PostgreSQL from it: ``DESC NULLS LAST`` on a ``NOT NULL`` column
(no default index has that order) and the total as ``COUNT(*) OVER ()`` (a window reads
every matching row before LIMIT)."""

from __future__ import annotations

import itertools
import re
from typing import Any

from reference_impl.app import App
from reference_impl.core.auth import AuthContext
from reference_impl.core.records import ListQuery
from reference_impl.db.engine import Engine, capturing_sql
from reference_impl.db.render import insert_sql
from reference_impl.ir import Kind

ROWS = 3000
_names = itertools.count()


def _plan(engine: Engine, sql: str, params: dict[str, Any]) -> list[str]:
    """The engine's plan lines (EXPLAIN is engine SQL: tests may write it). PostgreSQL
    plans without sequential scans, so a small table still shows which order an index
    can give."""
    with engine.transaction() as tx:
        if engine.dialect.name == "sqlite":
            rows = tx.fetchall("EXPLAIN QUERY PLAN " + sql, params)
            return [str(row[-1]) for row in rows]
        tx.execute("SET LOCAL enable_seqscan = off")
        return [str(row[0]).strip() for row in tx.fetchall("EXPLAIN " + sql, params)]


def test_a_counted_page_sorted_by_an_indexed_key_reads_the_index(
    app: App, superuser: AuthContext, engine: Engine
) -> None:
    name = f"plans{next(_names)}"
    index = f"idx_{name}_ok_n"
    coll = app.store.create({
        "name": name, "listRule": "",
        "fields": [{"type": "number", "name": "n"}, {"type": "bool", "name": "ok"}],
        "indexes": [f"CREATE INDEX {index} ON {name} (ok, n)"],
    })  # fmt: skip
    try:
        d = engine.dialect
        rows = [(f"r{i:014d}", i // 3, i % 2 == 0) for i in range(ROWS)]  # n has ties
        with engine.transaction(write=True) as tx:
            for rid, n, ok in rows:
                values = [("id", Kind.TEXT, rid), ("n", Kind.NUMBER, n), ("ok", Kind.BOOL, ok)]
                tx.execute(*insert_sql(d, name, values))
            tx.execute(f"ANALYZE {d.table(name)}")
        # the model: matching rows by n descending, ties in insertion order
        matching = [r for r in rows if r[2] and r[1] > 10]
        expected = [rid for rid, _, _ in sorted(matching, key=lambda r: -r[1])]
        for page in (1, 2):
            query = ListQuery(filter="ok = true && n > 10", sort="-n", page=page, per_page=20)
            with capturing_sql() as statements:
                listed = app.records.list_records(coll, query, superuser)
            assert [r["id"] for r in listed["items"]] == expected[(page - 1) * 20 : page * 20]
            assert listed["totalItems"] == len(matching)
        page_sql = next(s for s in statements if " LIMIT " in s["sql"])
        plan = _plan(engine, page_sql["sql"], page_sql["params"])
        text = "\n".join(plan)
        assert index in text, text
        if d.name == "sqlite":
            assert not any("TEMP B-TREE FOR ORDER BY" in line for line in plan), text
        else:
            # an incremental sort (ties by insertion order within one n) is fine, a sort of
            # every matching row is not; nor is a window over them
            assert not any(re.match(r"(->  )?Sort  \(", line) for line in plan), text
            assert "WindowAgg" not in text, text
    finally:
        app.store.delete(app.store.find(coll.id))


def test_keys_that_can_be_null_still_sort_their_nulls_as_pocketbase(
    app: App, superuser: AuthContext
) -> None:
    """An unset date and a JSON null are NULL on PostgreSQL ('' / null on SQLite): their
    terms keep the NULLS clause, so they come first ascending and last descending."""
    coll = app.store.create({
        "name": f"plans{next(_names)}", "listRule": "",
        "fields": [{"type": "text", "name": "t"}, {"type": "date", "name": "d"},
                   {"type": "json", "name": "j"}],
    })  # fmt: skip
    try:
        app.records.create(coll, {"t": "set", "d": "2024-01-02 03:04:05.000Z", "j": 5}, superuser)
        app.records.create(coll, {"t": "unset"}, superuser)
        for sort, first in (("d", "unset"), ("-d", "set"), ("j", "unset"), ("-j", "set")):
            listed = app.records.list_records(coll, ListQuery(sort=sort), superuser)
            assert listed["items"][0]["t"] == first, sort
    finally:
        app.store.delete(app.store.find(coll.id))
