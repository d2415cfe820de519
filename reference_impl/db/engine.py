"""The engine contract: connections, transactions, statement capture.

Domain code sees :class:`Engine` and :class:`Tx` only. A transaction is either a read or a
write transaction; the engine decides what that means (SQLite: ``BEGIN IMMEDIATE`` behind an
in-process writer lock, because SQLite has one writer; PostgreSQL: ``BEGIN`` at the
configured isolation level). Transient failures (serialization, deadlock, lock timeout) are
retried by :func:`run_in_transaction`, so handlers never see them unless retries run out.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar

from reference_impl.bridge import sleep
from reference_impl.db.dialect import Dialect
from reference_impl.db.errors import TransientError

Params = Mapping[str, Any]
Row = tuple[Any, ...]
T = TypeVar("T")

# Statements run by the current request, when the server runs with PARITY_DEBUG_SQL=1; the
# harness shows them in repro blocks. A contextvar keeps concurrent requests apart.
captured_sql: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "captured_sql", default=None
)


def capture(sql: str, params: Params | None) -> None:
    sink = captured_sql.get()
    if sink is not None:
        sink.append({"sql": sql, "params": {k: _printable(v) for k, v in (params or {}).items()}})


def _printable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class Tx(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]: ...

    def fetchone(self, sql: str, params: Params | None = None) -> Row | None: ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...


class Engine(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dialect(self) -> Dialect: ...

    def transaction(self, *, write: bool = False) -> AbstractContextManager[Tx]: ...

    def version(self) -> str:
        """Engine and build, e.g. ``SQLite 3.54.1 (apsw 3.54.1.0)``."""
        ...

    def pool_stats(self) -> dict[str, int]: ...

    async def open_async(self) -> None:
        """Called once on the server's event loop before it serves: from then on, work run
        through ``reference_impl.bridge.run_bridged`` waits for I/O on that loop (PostgreSQL
        opens its asyncio pool here; SQLite, in-process, has nothing to open)."""
        ...

    async def close_async(self) -> None: ...

    def close(self) -> None: ...


def run_in_transaction(
    engine: Engine,
    work: Callable[[Tx], T],
    *,
    write: bool = False,
    attempts: int = 5,
) -> T:
    """Run ``work`` in a transaction, retrying it from the start on a transient failure.

    ``work`` must be safe to repeat: it reads what it needs inside the transaction.
    """
    for attempt in range(attempts):
        try:
            with engine.transaction(write=write) as tx:
                return work(tx)
        except TransientError:
            if attempt == attempts - 1:
                raise
            sleep(0.002 * (2**attempt))
    raise AssertionError("unreachable")


@contextmanager
def capturing_sql() -> Iterator[list[dict[str, Any]]]:
    sink: list[dict[str, Any]] = []
    token = captured_sql.set(sink)
    try:
        yield sink
    finally:
        captured_sql.reset(token)
