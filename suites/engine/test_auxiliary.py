"""The auxiliary engine (``Engine.open_auxiliary``: where request logs go) and the bulk load
(``Tx.copy_rows``), on both engines.

- SQLite's auxiliary tables live in ``auxiliary.db`` beside the data file, never in it, and
  their writes do not wait for a record writer; PostgreSQL's in the same database through
  a pool of their own.
- ``copy_rows`` loads every value intact (the characters a COPY stream must escape
  included), counts them, and a rollback takes them all back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reference_impl.db.engine import Engine
from reference_impl.ir import Kind

TRICKY = ["", "plain", "tab\there", "new\nline", "back\\slash", "\\N", "quote'\"", "ünï €"]


@pytest.fixture
def aux(engine: Engine) -> Iterator[Engine]:
    auxiliary = engine.open_auxiliary()
    yield auxiliary
    auxiliary.close()


def _tables(engine: Engine) -> set[str]:
    with engine.transaction() as tx:
        return {str(r[0]) for r in tx.fetchall(engine.dialect.list_tables_sql())}


def _create(engine: Engine, table: str, columns: list[tuple[str, Kind]]) -> None:
    with engine.transaction(write=True) as tx:
        for statement in engine.dialect.create_table(table, columns):
            tx.execute(statement)


def test_auxiliary_tables_are_apart_from_the_data(engine: Engine, aux: Engine, table: str) -> None:
    _create(aux, table, [("message", Kind.TEXT)])
    if engine.name == "sqlite":
        main_file = engine.path  # type: ignore[attr-defined]
        assert aux.path == main_file.with_name("auxiliary.db")  # type: ignore[attr-defined]
        assert table in _tables(aux)
        assert table not in _tables(engine)  # never in the data file
    else:
        with engine.transaction() as tx, aux.transaction() as atx:
            assert tx.fetchone("SELECT current_database()") == atx.fetchone(
                "SELECT current_database()"
            )
        assert table in _tables(engine)  # the same database
        assert aux.pool_stats()["pool_max"] < engine.pool_stats()["pool_max"]


def test_auxiliary_writes_do_not_wait_for_a_record_writer(
    engine: Engine, aux: Engine, table: str
) -> None:
    _create(engine, table, [("n", Kind.INT64)])
    _create(aux, f"{table}_aux", [("n", Kind.INT64)])
    writing, done = threading.Event(), threading.Event()

    def record_writer() -> None:  # holds the data file's writer (SQLite) for 3 s
        with engine.transaction(write=True) as tx:
            tx.execute(f"INSERT INTO {engine.dialect.table(table)} (id, n) VALUES ('a', 1)")
            writing.set()
            done.wait(3)

    thread = threading.Thread(target=record_writer)
    thread.start()
    try:
        assert writing.wait(10)
        began = time.monotonic()
        with aux.transaction(write=True) as tx:
            assert tx.copy_rows(f"{table}_aux", ["id", "n"], [("x", 1), ("y", 2)]) == 2
        assert time.monotonic() - began < 1.0
    finally:
        done.set()
        thread.join()


def test_copy_rows_loads_every_value_intact_and_a_rollback_takes_them_back(
    aux: Engine, table: str
) -> None:
    d = aux.dialect
    columns = [("message", Kind.TEXT), ("level", Kind.INT64), ("data", Kind.JSON)]
    _create(aux, table, columns)
    source: list[tuple[str, str, int, Any]] = [
        (f"r{i:014d}", TRICKY[i % len(TRICKY)] + str(i), i - 5000,
         {"n": i, "s": TRICKY[i % len(TRICKY)], "list": [1, "two", None]})
        for i in range(10_000)
    ]  # fmt: skip
    rows = ([rid, msg, level, d.to_db(Kind.JSON, data)] for rid, msg, level, data in source)
    names = ["id", "message", "level", "data"]
    with aux.transaction(write=True) as tx:
        assert tx.copy_rows(table, names, rows) == len(source)
    with aux.transaction() as tx:
        back = tx.fetchall(f"SELECT id, message, level, data FROM {d.table(table)} ORDER BY id")
    decoded = [(r[0], r[1], int(r[2]), d.from_db(Kind.JSON, r[3])) for r in back]
    assert decoded == source

    class Boom(Exception):
        pass

    with pytest.raises(Boom), aux.transaction(write=True) as tx:
        tx.copy_rows(table, ["id", "message"], [("extra1", "a"), ("extra2", "b")])
        raise Boom
    with aux.transaction() as tx:
        assert tx.fetchone(f"SELECT COUNT(*) FROM {d.table(table)}") == (len(source),)
    with aux.transaction(write=True) as tx:
        assert tx.copy_rows(table, ["id"], []) == 0
