"""The engine layer driven from bridged work on an event loop, as the server runs it.

PostgreSQL then uses its asyncio pool and waits on the loop; SQLite writers queue on the
loop's lock. The same behaviour as the blocking path is required: statements, error
classes, and no lost update under concurrency, including writers that wait on the loop in
the middle of their transaction (a bcrypt hash does), which must not deadlock SQLite.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from reference_impl.bridge import run_bridged, sleep
from reference_impl.db import errors
from reference_impl.db.engine import Engine, Tx, run_in_transaction
from reference_impl.db.render import insert_sql, update_sql
from reference_impl.ir import Kind

T = TypeVar("T")


def _on_loop(engine: Engine, *works: Callable[[], T], timeout: float = 60) -> list[T]:
    """Run ``works`` concurrently on a fresh loop in its own thread: a deadlock blocks that
    loop (nothing on it can time out), so the test's thread is the one that notices."""

    async def main() -> list[T]:
        await engine.open_async()
        try:
            return list(await asyncio.gather(*(run_bridged(w) for w in works)))
        finally:
            await engine.close_async()

    outcome: list[Any] = []
    runner = threading.Thread(target=lambda: outcome.append(_capture(main)), daemon=True)
    runner.start()
    runner.join(timeout)
    assert not runner.is_alive(), f"bridged work did not finish in {timeout} s (deadlock?)"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]  # type: ignore[no-any-return]


def _capture(main: Callable[[], Any]) -> Any:
    try:
        return asyncio.run(main())
    except BaseException as exc:  # re-raised in the test's thread
        return exc


def _create(engine: Engine, table: str) -> None:
    d = engine.dialect
    with engine.transaction(write=True) as tx:
        for statement in d.create_table(table, [("n", Kind.INT64)]):
            tx.execute(statement)
        sql, params = insert_sql(d, table, [("id", Kind.TEXT, "c"), ("n", Kind.INT64, 0)])
        tx.execute(sql, params)


@pytest.mark.parametrize("wait_inside", [False, True], ids=["plain", "waits-mid-transaction"])
def test_bridged_increments_are_not_lost(engine: Engine, table: str, wait_inside: bool) -> None:
    d = engine.dialect
    _create(engine, table)
    select = f"SELECT n FROM {d.quote(table)} WHERE id = {d.placeholder('id')}"

    def increment(tx: Tx) -> None:
        row = tx.fetchone(select + d.for_update(table), {"id": "c"})
        assert row is not None
        if wait_inside:
            sleep(0.001)  # on the loop, holding the write transaction
        sql, params = update_sql(d, table, "c", [("n", Kind.INT64, row[0] + 1)])
        tx.execute(sql, params)

    def worker() -> None:
        for _ in range(10):
            run_in_transaction(engine, increment, write=True)

    _on_loop(engine, *[worker] * 6)
    with engine.transaction() as tx:  # the blocking path again, after the loop closed
        assert tx.fetchone(select, {"id": "c"}) == (60,)


def test_bridged_errors_map_to_the_same_classes(engine: Engine, table: str) -> None:
    d = engine.dialect
    _create(engine, table)

    def duplicate() -> Any:
        with engine.transaction(write=True) as tx:
            sql, params = insert_sql(d, table, [("id", Kind.TEXT, "c"), ("n", Kind.INT64, 1)])
            try:
                tx.execute(sql, params)
            except errors.UniqueViolation as exc:
                return type(exc)
        return None

    def bad_sql() -> Any:
        try:
            with engine.transaction() as tx:
                tx.execute("SELECT no_such_column FROM no_such_table")
        except errors.QueryError as exc:
            return type(exc)
        return None

    assert _on_loop(engine, duplicate, bad_sql) == [errors.UniqueViolation, errors.QueryError]


def test_writers_on_two_loops_do_not_deadlock(engine: Engine, table: str) -> None:
    """Loops in two threads write through one SQLite engine while a writer on the first
    waits mid-transaction: each loop queues on its own lock, then on the thread lock."""
    if engine.name != "sqlite":
        pytest.skip("PostgreSQL's asyncio pool serves only the loop that opened it (below)")
    _create(engine, table)
    d = engine.dialect
    sql, params = update_sql(d, table, "c", [("n", Kind.INT64, 1)])

    def write(pause: float) -> None:
        with engine.transaction(write=True) as tx:
            tx.execute(sql, params)
            sleep(pause)  # waits on its loop holding the write transaction

    async def loop_a() -> None:
        first = asyncio.ensure_future(run_bridged(lambda: write(0.2)))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, run_bridged(lambda: write(0)))

    async def loop_b() -> None:
        await asyncio.sleep(0.02)
        await run_bridged(lambda: write(0))

    threads = [
        threading.Thread(target=asyncio.run, args=(f(),), daemon=True) for f in (loop_a, loop_b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a loop deadlocked"


def test_postgres_bridged_work_needs_the_loop_that_opened_it(engine: Engine) -> None:
    """The asyncio pool wakes waiters on its own loop only, and blocking another loop on the
    blocking pool could wait for a greenlet parked on it: refused with a clear error."""
    if engine.name != "postgres":
        pytest.skip("SQLite has no asyncio pool")

    def read() -> Any:
        with engine.transaction() as tx:
            return tx.fetchone("SELECT 1")

    with pytest.raises(RuntimeError, match="open_async"):
        asyncio.run(run_bridged(read))
    assert _on_loop(engine, read) == [(1,)]
