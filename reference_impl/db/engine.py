"""The engine contract: connections, transactions, statement capture.

Domain code sees :class:`Engine` and :class:`Tx` only. A transaction is either a read or a
write transaction; the engine decides what that means (SQLite: ``BEGIN IMMEDIATE`` behind a
writer lock, in-process then a file lock across processes, because SQLite has one writer;
PostgreSQL: ``BEGIN`` at the configured isolation level). Transient failures (serialization,
deadlock, lock timeout) are retried by :func:`run_in_transaction`, so handlers never see them
unless retries run out.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from reference_impl.bridge import sleep
from reference_impl.db.dialect import Dialect
from reference_impl.db.errors import DatabaseError, StaleSchema, TransientError

log = logging.getLogger("parity.engine")

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


ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


def isolation_level(text: str) -> str:
    """``read-committed``, ``REPEATABLE_READ``, ``serializable``... as the SQL level name;
    ValueError naming the choices for anything else."""
    level = " ".join(text.strip().upper().replace("-", " ").replace("_", " ").split())
    if level not in ISOLATION_LEVELS:
        choices = ", ".join(v.lower().replace(" ", "-") for v in ISOLATION_LEVELS)
        raise ValueError(f"isolation must be one of {choices}, not {text!r}")
    return level


# The isolation the current operation asked for (an HTTP request's X-Parity-Isolation, a
# domain call's ``isolation(...)``): transactions opened without an explicit level use it,
# else the server's (``--isolation``). A contextvar keeps concurrent requests apart.
requested_isolation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "requested_isolation", default=None
)


@contextmanager
def isolation(level: str | None) -> Iterator[None]:
    """Run the transactions opened inside at ``level`` (None: the server's default)."""
    token = requested_isolation.set(isolation_level(level) if level else None)
    try:
        yield
    finally:
        requested_isolation.reset(token)


Role = Literal["guest", "user", "superuser", "system"]
Action = Literal["", "list", "view", "create", "update", "delete"]


@dataclass(frozen=True)
class Session:
    """Whom a transaction's statements run for: what row level security reads (EPIC-4.1).

    ``role``: ``guest`` or ``user`` (an auth record) run under the table policies;
    ``superuser`` and ``system`` (the app's own reads and writes: relation checks, cascades,
    token lookups) bypass them, as PocketBase's rules do. ``action`` picks the rule a table's
    SELECT policy applies (PostgreSQL has one SELECT command for list and view), ``record``
    is the row an insert, update or delete addresses (PostgreSQL checks the rows such a
    statement writes or returns against the SELECT policies too). ``auth``: the auth
    record's scalars (``@request.auth.id``, ...). An engine without row level security
    ignores sessions.
    """

    role: Role = "system"
    action: Action = ""
    record: str = ""
    auth: Mapping[str, Any] = field(default_factory=dict)
    context: str = "default"
    method: str = "GET"

    @property
    def bypass(self) -> bool:
        return self.role in ("superuser", "system")

    def with_action(self, action: Action, record: str = "", context: str | None = None) -> Session:
        return Session(
            self.role,
            action,
            record,
            self.auth,
            self.context if context is None else context,
            self.method,
        )


SYSTEM = Session()


class Tx(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    def set_session(self, session: Session) -> None:
        """Run the next statements for ``session`` (until the transaction ends or another
        call); nothing on an engine without row level security."""
        ...

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]: ...

    def fetchone(self, sql: str, params: Params | None = None) -> Row | None: ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Bulk-load ``rows`` (values already in the engine's form, ``Dialect.to_db``, in
        ``columns`` order) into ``table`` in this transaction; returns how many. PostgreSQL:
        ``COPY ... FROM STDIN`` (psycopg's copy, one stream for all rows); SQLite: one
        prepared ``INSERT`` run for every row (``executemany``), no round trips to save."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this transaction has committed; never after a rollback
        (a retried attempt's callbacks go with it). Callbacks run in the order given, on
        the caller's thread or greenlet, after the engine's locks are released; one that
        raises is logged and the others still run."""
        ...

    def after_end(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this transaction has ended, committed or not (after the
        after-commit callbacks of a commit): what must be undone whatever the outcome."""
        ...

    def notify(self, payload: str) -> None:
        """Send ``payload`` to the other server processes on this database when the
        transaction commits (``Dialect.NOTIFIES`` says what each engine does)."""
        ...


class AfterCommit:
    """The callbacks of one transaction (:meth:`Tx.after_commit`, :meth:`Tx.after_end`),
    shared by both engines' transaction objects: the engine calls :meth:`run_after_commit`
    once the COMMIT has succeeded and its locks are released, and :meth:`run_after_end`
    when the transaction is over, whatever its outcome."""

    _after: list[Callable[[], None]] | None = None
    _end: list[Callable[[], None]] | None = None

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self._after is None:
            self._after = []
        self._after.append(callback)

    def run_after_commit(self) -> None:
        callbacks, self._after = self._after or [], None
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the transaction is committed: the others must still run
                log.exception("after-commit callback %r failed", callback)

    def after_end(self, callback: Callable[[], None]) -> None:
        if self._end is None:
            self._end = []
        self._end.append(callback)

    def run_after_end(self) -> None:
        callbacks, self._end = self._end or [], None
        for callback in callbacks:
            try:
                callback()
            except Exception:  # an exception in flight must not be replaced by this one
                log.exception("after-end callback %r failed", callback)


# The write transactions a request has committed (a one-item list, counted by the engines
# when one is set): a request whose definitions went stale may run again only if none did.
write_commits: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "write_commits", default=None
)


def _stale_for_request(check: Callable[[], bool] | None) -> bool:
    """Only a request can run again after catching up (``write_commits`` is set for it);
    background work (cron, hooks, startup) goes on with the definitions it has."""
    return check is not None and write_commits.get() is not None and check()


@contextmanager
def stale_schema_checked(check: Callable[[], bool] | None, *, write: bool) -> Iterator[None]:
    """Around a transaction's body, inside the transaction (both engines): ``Engine.
    schema_stale`` as a request sees it. A failing statement while stale is ``StaleSchema``
    from its error; a write that finished while stale raises ``StaleSchema`` before its
    COMMIT, so nothing of it commits."""
    try:
        yield
    except DatabaseError as exc:
        if _stale_for_request(check):
            raise StaleSchema(str(exc)) from exc
        raise
    if write and _stale_for_request(check):
        raise StaleSchema("another process changed the collections")


def count_write_commit() -> None:
    counter = write_commits.get()
    if counter is not None:
        counter[0] += 1


CHANNEL = "pb_events"  # where server processes on one database tell each other (NOTIFY)

OnMessage = Callable[[str], None]


class Engine(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dialect(self) -> Dialect: ...

    @property
    def row_security_role(self) -> str | None:
        """The role requests run as when the database enforces the rules itself (``--rules
        rls|both``: policies apply to it); None when the app alone does."""
        ...

    def use_session_fields(self, names: set[str]) -> None:
        """The auth record's fields (beyond id, collectionId, collectionName, email,
        verified, emailVisibility) that policies read: sent with every session."""
        ...

    def transaction(
        self, *, write: bool = False, session: Session | None = None, isolation: str | None = None
    ) -> AbstractContextManager[Tx]:
        """``session``: whom the statements run for (row level security); None runs them
        as the app's own, bypassing the policies (schema changes, bootstrap).
        ``isolation``: one of ``ISOLATION_LEVELS`` for this transaction (None: the
        operation's ``requested_isolation``, else the server's); what an engine makes of it
        is ``Dialect.SERIALIZES_EVERYTHING``."""
        ...

    schema_stale: Callable[[], bool] | None
    """Set by a worker of ``parity serve --workers`` (``core/coherence.py``): True when
    another process committed a collection change this process has not caught up to. A
    request's write transaction then raises ``StaleSchema`` instead of committing, and a
    statement of a request that fails meanwhile raises ``StaleSchema`` from its error
    (``stale_schema_checked``); None: never stale."""

    def version(self) -> str:
        """Engine and build, e.g. ``SQLite 3.54.1 (apsw 3.54.1.0)``."""
        ...

    def pool_stats(self) -> dict[str, int]: ...

    async def listen(self, on_message: OnMessage, on_gap: Callable[[], None]) -> None:
        """Receive what other processes :meth:`Tx.notify` until cancelled: ``on_message``
        per payload, on this event loop. ``on_gap`` is called each time listening
        (re)starts, once nothing can be missed any more: whatever was sent before may have
        been lost, so what the caller derived from it must be dropped. Returns at once when
        the engine has no notifications (``Dialect.NOTIFIES``)."""
        ...

    async def try_lock(self, name: str) -> bool:
        """Take the named lock for this process, without waiting: False when any process
        (this one included) holds it. Held until :meth:`unlock` or until this process dies
        (PostgreSQL: a session advisory lock on a dedicated connection, released by the
        server when that session ends, a crash included; SQLite: an exclusive ``flock`` on a
        file per name, released by the kernel when the process ends)."""
        ...

    async def unlock(self, name: str) -> None: ...

    async def force_unlock(self, name: str) -> bool:
        """Release the named lock whoever holds it; True when it was held. PostgreSQL ends
        the holder's lock session (``pg_terminate_backend``), which releases every lock that
        process held; it reconnects on its next lock call. SQLite unlinks another process's
        lock file (``SqliteEngine.force_unlock``)."""
        ...

    def maintain(self) -> None:
        """PocketBase's nightly ``__pbDBOptimize__``: what keeps the engine's statistics and
        files in shape (SQLite: WAL checkpoint and ``PRAGMA optimize``; PostgreSQL:
        ``ANALYZE``, autovacuum does the rest)."""
        ...

    async def open_async(self) -> None:
        """Called once on the server's event loop before it serves: from then on, work run
        through ``reference_impl.bridge.run_bridged`` waits for I/O on that loop (PostgreSQL
        opens its asyncio pool here; SQLite, in-process, has nothing to open)."""
        ...

    async def close_async(self) -> None: ...

    def close(self) -> None: ...

    def open_auxiliary(self) -> Engine:
        """A second engine for the app's auxiliary tables (request logs, traces): what they
        write never queues behind record writes. SQLite: the file ``auxiliary.db`` beside
        the data file (never the data file; PocketBase's layout), its own writer lock, WAL
        and ``synchronous=NORMAL``, no event log. PostgreSQL: the same database through a
        small pool of its own (no row level security role, nothing installed), so a burst
        of log writes cannot take the connections requests wait for; the tables it holds
        are ``UNLOGGED`` where their module says so. The caller closes it."""
        ...


class RetryCounter:
    """Transactions retried after a transient failure, per error class (``Deadlock``,
    ``SerializationFailure``, ``LockTimeout``) and those that ran out of attempts: what the
    metrics listener exports (``parity_transaction_retries_total``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._retries: Counter[str] = Counter()
        self._exhausted: Counter[str] = Counter()

    def count(self, reason: str, *, exhausted: bool = False) -> None:
        with self._lock:
            (self._exhausted if exhausted else self._retries)[reason] += 1

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self._retries), dict(self._exhausted)


RETRIES = RetryCounter()
_jitter = random.Random()
ATTEMPTS = 10
BACKOFF_BASE, BACKOFF_CAP = 0.004, 0.25


def backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (0-based): "full jitter", uniform in [0, min(cap,
    base * 2^attempt)]. Rivals that failed together (every waiter on a hot row's lock fails
    at once under REPEATABLE READ when its holder commits) spread out instead of queueing on
    the lock together again, so each wave lets more than one of them through."""
    return _jitter.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


def run_in_transaction(
    engine: Engine,
    work: Callable[[Tx], T],
    *,
    write: bool = False,
    session: Session | None = None,
    isolation: str | None = None,
    attempts: int = ATTEMPTS,
) -> T:
    """Run ``work`` in a transaction, retrying it from the start on a transient failure
    (serialization failure, deadlock, lock timeout / SQLite busy), at most ``attempts``
    times, after a jittered exponential backoff (:func:`backoff`); every retry counted in
    ``RETRIES``, and the failure that ran out of attempts too (the API answers it with a
    503 that says so).

    ``work`` must be safe to repeat: it reads what it needs inside the transaction.
    """
    for attempt in range(attempts):
        try:
            with engine.transaction(write=write, session=session, isolation=isolation) as tx:
                return work(tx)
        except TransientError as exc:
            reason = type(exc).__name__
            if attempt == attempts - 1:
                RETRIES.count(reason, exhausted=True)
                raise
            RETRIES.count(reason)
            sleep(backoff(attempt))
    raise AssertionError("unreachable")


@contextmanager
def capturing_sql() -> Iterator[list[dict[str, Any]]]:
    sink: list[dict[str, Any]] = []
    token = captured_sql.set(sink)
    try:
        yield sink
    finally:
        captured_sql.reset(token)
