"""Transient-error classes: what each engine raises under contention, mapped to one class.

PostgreSQL SQLSTATEs 40P01 (deadlock), 40001 (serialization failure) and 55P03 (lock not
available) and SQLite's SQLITE_BUSY are provoked for real, not simulated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reference_impl.db import errors
from reference_impl.db.engine import Engine, Tx, run_in_transaction
from reference_impl.db.render import insert_sql
from reference_impl.ir import Kind


def _two_rows(engine: Engine, table: str) -> None:
    with engine.transaction(write=True) as tx:
        for statement in engine.dialect.create_table(table, [("n", Kind.INT64)]):
            tx.execute(statement)
        for row_id in ("a", "b"):
            sql, params = insert_sql(
                engine.dialect, table, [("id", Kind.TEXT, row_id), ("n", Kind.INT64, 0)]
            )
            tx.execute(sql, params)


@pytest.fixture
def pg_engine(pg_server: Any, request: pytest.FixtureRequest) -> Iterator[Engine]:
    from reference_impl.db.postgres import PoolConfig, PostgresEngine

    isolation = getattr(request, "param", "READ COMMITTED")
    dsn = pg_server.create_database("pp_errors", exist_ok=True)
    engine = PostgresEngine(dsn, pool=PoolConfig(min_size=2, max_size=4, isolation=isolation))
    yield engine
    engine.close()


Step = Callable[[Tx, str], object]


def _crossing(engine: Engine, before: Step, after: Step) -> list[BaseException]:
    """Two write transactions at once, one on rows ("a", "b"), the other on ("b", "a"):
    each runs ``before`` on its first row, waits for the other, then ``after`` on its
    second row. Returns what they raised."""
    barrier = threading.Barrier(2)
    raised: list[BaseException] = []

    def run(first: str, second: str) -> None:
        try:
            with engine.transaction(write=True) as tx:
                before(tx, first)
                barrier.wait()
                after(tx, second)
        except errors.DatabaseError as exc:
            raised.append(exc)

    threads = [
        threading.Thread(target=run, args=("a", "b")),
        threading.Thread(target=run, args=("b", "a")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return raised


def test_postgres_deadlock_is_detected_and_classified(pg_engine: Engine, table: str) -> None:
    _two_rows(pg_engine, table)
    q = pg_engine.dialect.quote(table)

    def bump(tx: Tx, row: str) -> object:
        return tx.execute(f"UPDATE {q} SET n = n + 1 WHERE id = '{row}'")

    raised = _crossing(pg_engine, bump, bump)
    assert len(raised) == 1 and isinstance(raised[0], errors.Deadlock), raised
    assert isinstance(raised[0], errors.TransientError)


@pytest.mark.parametrize("pg_engine", ["SERIALIZABLE"], indirect=True)
def test_postgres_serialization_failure_is_classified(pg_engine: Engine, table: str) -> None:
    """Write skew: each reads one row and writes the other."""
    _two_rows(pg_engine, table)
    q = pg_engine.dialect.quote(table)

    def read(tx: Tx, row: str) -> object:
        return tx.fetchone(f"SELECT sum(n) FROM {q} WHERE id = '{row}'")

    def write(tx: Tx, row: str) -> object:
        return tx.execute(f"UPDATE {q} SET n = n + 1 WHERE id = '{row}'")

    raised = _crossing(pg_engine, read, write)
    assert len(raised) == 1 and isinstance(raised[0], errors.SerializationFailure), raised


def test_postgres_lock_not_available_is_a_lock_timeout(pg_engine: Engine, table: str) -> None:
    _two_rows(pg_engine, table)
    q = pg_engine.dialect.quote(table)
    with pg_engine.transaction(write=True) as holder:
        holder.execute(f"UPDATE {q} SET n = 1 WHERE id = 'a'")
        with pytest.raises(errors.LockTimeout), pg_engine.transaction(write=True) as other:
            other.fetchone(f"SELECT n FROM {q} WHERE id = 'a' FOR UPDATE NOWAIT")


def test_sqlite_busy_beyond_the_timeout_is_a_lock_timeout(tmp_path: Path, table: str) -> None:
    from reference_impl.db.sqlite import SqliteEngine

    holder = SqliteEngine(tmp_path / "busy.db")
    other = SqliteEngine(tmp_path / "busy.db", busy_timeout_ms=50)  # like another process
    try:
        with holder.transaction(write=True) as tx:
            for statement in holder.dialect.create_table(table, [("n", Kind.INT64)]):
                tx.execute(statement)
        with (
            holder.transaction(write=True),
            pytest.raises(errors.LockTimeout),
            other.transaction(write=True),
        ):
            pass
    finally:
        holder.close()
        other.close()


def test_transient_errors_are_retried_from_the_start(engine: Engine) -> None:
    attempts: list[int] = []

    def flaky(tx: Tx) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise errors.SerializationFailure("simulated conflict")
        return "done"

    assert run_in_transaction(engine, flaky, write=True) == "done"
    assert len(attempts) == 3


def test_non_transient_errors_are_not_retried(engine: Engine) -> None:
    attempts: list[int] = []

    def broken(tx: Tx) -> None:
        attempts.append(1)
        raise errors.UniqueViolation("duplicate")

    with pytest.raises(errors.UniqueViolation):
        run_in_transaction(engine, broken, write=True)
    assert attempts == [1]


def test_unique_violation_is_classified_with_its_columns(engine: Engine, table: str) -> None:
    """PostgreSQL 23505 / SQLite SQLITE_CONSTRAINT_PRIMARYKEY: one class, the column named
    where the engine names it (SQLite) or the constraint (PostgreSQL)."""
    _two_rows(engine, table)
    sql, params = insert_sql(engine.dialect, table, [("id", Kind.TEXT, "a"), ("n", Kind.INT64, 1)])
    with pytest.raises(errors.UniqueViolation) as caught, engine.transaction(write=True) as tx:
        tx.execute(sql, params)
    assert caught.value.columns or caught.value.constraint
    assert not isinstance(caught.value, errors.TransientError)


def test_foreign_key_violation_is_classified(engine: Engine, table: str) -> None:
    """PostgreSQL 23503 / SQLite SQLITE_CONSTRAINT_FOREIGNKEY (``PRAGMA foreign_keys = ON``):
    PocketBase's own tables (``_externalAuths``...) reference records through such keys."""
    _two_rows(engine, table)
    parent, child = engine.dialect.quote(table), engine.dialect.quote(f"{table}_child")
    with engine.transaction(write=True) as tx:
        tx.execute(f"CREATE TABLE {child} (ref TEXT REFERENCES {parent} (id))")
    with pytest.raises(errors.ForeignKeyViolation), engine.transaction(write=True) as tx:
        tx.execute(f"INSERT INTO {child} (ref) VALUES ('missing')")


def test_postgres_statement_timeout_is_its_own_class(pg_server: Any) -> None:
    """57014 after ``--statement-timeout``: not transient (the same statement would run as
    long again), so not retried."""
    from reference_impl.db.postgres import PoolConfig, PostgresEngine

    dsn = pg_server.create_database("pp_errors", exist_ok=True)
    engine = PostgresEngine(dsn, pool=PoolConfig(min_size=1, max_size=2, statement_timeout=0.2))
    attempts: list[int] = []

    def slow(tx: Tx) -> object:
        attempts.append(1)
        return tx.fetchone("SELECT pg_sleep(2)")

    try:
        started = __import__("time").monotonic()
        with pytest.raises(errors.StatementTimeout):
            run_in_transaction(engine, slow)
        assert attempts == [1]
        assert __import__("time").monotonic() - started < 1.5
        with engine.transaction() as tx:  # the pool's connections keep working
            assert tx.fetchone("SELECT current_setting('statement_timeout')") == ("200ms",)
    finally:
        engine.close()
