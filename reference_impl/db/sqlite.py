"""SQLite: the dialect and the engine (apsw).

Why apsw and not the standard library: this machine's ``sqlite3`` cannot load extensions
(sqlite-vec, later), and its SQLite is whatever the interpreter was built with. apsw's wheel
bundles a pinned SQLite (3.54.x, matching its version), exposes extended result codes (so
constraint errors map precisely), and never opens transactions behind our back.

Connection settings follow PocketBase's (``core/db_connect.go``): WAL, ``synchronous=NORMAL``,
``busy_timeout``, foreign keys on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import apsw

from reference_impl.bridge import LoopLock, await_, bridged, sleep
from reference_impl.db import errors
from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import (
    CHANNEL,
    AfterCommit,
    OnMessage,
    Params,
    Row,
    Session,
    backoff,
    capture,
    count_write_commit,
    stale_schema_checked,
)
from reference_impl.failpoints import blocked
from reference_impl.ir.kinds import (
    Kind,
    format_pb_datetime,
    format_us_datetime,
    parse_stored_datetime,
)

log = logging.getLogger("parity.sqlite")

AUXILIARY_FILE = "auxiliary.db"  # PocketBase's second file in pb_data (logs)
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -32000",
)


class SqliteDialect(Dialect):
    name = "sqlite"
    NOTIFIES = True
    NOTIFY_LIMIT = None
    NATIVE_NULLS_FIRST = True
    LIKE_FOLDS_ASCII_CASE = True
    EMPTY_IN_ALLOWED = True

    # PocketBase's own column types, so a data.db stays readable by both.
    TYPE_MAPPING: ClassVar[dict[Kind, str]] = {
        Kind.TEXT: "TEXT DEFAULT '' NOT NULL",
        Kind.NUMBER: "NUMERIC DEFAULT 0 NOT NULL",
        Kind.BOOL: "BOOLEAN DEFAULT FALSE NOT NULL",
        Kind.JSON: "JSON DEFAULT NULL",
        Kind.JSON_ARRAY: "JSON DEFAULT '[]' NOT NULL",
        Kind.DATETIME_MS: "TEXT DEFAULT '' NOT NULL",
        Kind.TIMESTAMP_US: "TEXT DEFAULT '' NOT NULL",
        Kind.INT64: "INTEGER DEFAULT 0 NOT NULL",
    }

    def placeholder(self, name: str) -> str:
        return f":{name}"

    def json_value(self, expr: str, path: tuple[str | int, ...]) -> str:
        text = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        return f"json_extract({expr}, {self.literal(Kind.TEXT, text)})"

    def json_compare(self, value: str, op: str, literal: str | None, literal_class: str) -> str:
        literal = literal if literal is not None else "NULL"
        if op in ("=", "!="):
            return f"{value} {'IS' if op == '=' else 'IS NOT'} {literal}"
        return f"{value} {op} {literal}"

    def each_join(self, alias: str, array: str) -> str:
        return f" LEFT JOIN json_each({array}) AS {alias}"

    def array_length(self, expr: str, kind: Kind) -> str:
        """PocketBase's ``JSONArrayLength`` normalisation, kept on SQLite although a stored
        multi-value is always a JSON array: SQLite's WHERE-clause constant propagation
        rewrites ``tags = 'a' AND json_array_length(tags) > 1`` into
        ``json_array_length('a')``, which raises "malformed JSON" unless guarded."""
        if kind is not Kind.JSON_ARRAY:
            return super().array_length(expr, kind)
        is_array = f"iif(json_valid({expr}), json_type({expr}) = 'array', FALSE)"
        empty = f"{expr} = '' OR {expr} IS NULL"
        other = f"CASE WHEN {empty} THEN json_array() ELSE json_array({expr}) END"
        return f"json_array_length(CASE WHEN {is_array} THEN {expr} ELSE ({other}) END)"

    def json_path_index(
        self, name: str, table: str, column: str, path: tuple[str | int, ...], klass: str
    ) -> str:
        """``json_extract(column, path)``: the expression every comparison at that path
        reads, whatever the literal's type."""
        index_ref, table_ref = self.index_target(name, table)
        value = self.json_value(self.quote(column), path)
        return f"CREATE INDEX IF NOT EXISTS {index_ref} ON {table_ref} ({value})"

    def list_indexes_sql(self, table_param: str) -> str:
        return (
            "SELECT name FROM sqlite_schema WHERE type = 'index' "
            f"AND tbl_name = {table_param} AND sql IS NOT NULL"
        )

    def create_table(self, table: str, columns: Sequence[tuple[str, Kind]]) -> list[str]:
        cols = [
            f"{self.quote('id')} TEXT PRIMARY KEY DEFAULT ('r'||lower(hex(randomblob(7)))) NOT NULL"
        ]
        cols += [self.column_ddl(name, kind) for name, kind in columns if name != "id"]
        return [f"CREATE TABLE {self.table(table)} ({', '.join(cols)})"]

    def change_column_kind(self, table: str, name: str, old: Kind, new: Kind) -> list[str]:
        # SQLite cannot ALTER a column's type; its columns are dynamically typed, so only
        # the values change (single <-> multi, as PocketBase does in
        # core/collection_record_table_sync.go).
        q_table, q_col = self.table(table), self.quote(name)
        if old is Kind.TEXT and new is Kind.JSON_ARRAY:
            return [
                f"UPDATE {q_table} SET {q_col} = CASE WHEN {q_col} = '' THEN '[]' "
                f"ELSE json_array({q_col}) END"
            ]
        if old is Kind.JSON_ARRAY and new is Kind.TEXT:
            return [
                f"UPDATE {q_table} SET {q_col} = CASE WHEN json_valid({q_col}) AND "
                f"json_type({q_col}) = 'array' THEN coalesce(json_extract({q_col}, '$[#-1]'), '') "
                f"ELSE {q_col} END"
            ]
        return []

    def index_target(self, name: str, table: str) -> tuple[str, str]:
        return self.table(self.index_name(name)), self.quote(table)

    def logs_schema(self, table: str) -> list[str]:
        t, q = self.table(table), self.quote
        idx = "idx_" + table.strip("_")  # PocketBase's idx_logs_* for _logs
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            f"{q('id')} TEXT PRIMARY KEY DEFAULT ('r'||lower(hex(randomblob(7)))) NOT NULL, "
            f"{q('level')} INTEGER DEFAULT 0 NOT NULL, "
            f"{q('message')} TEXT DEFAULT '' NOT NULL, "
            f"{q('data')} JSON DEFAULT '{{}}' NOT NULL, "
            f"{q('created')} TEXT DEFAULT (strftime('%Y-%m-%d %H:%M:%fZ')) NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {q(idx + '_level')} ON {q(table)} ({q('level')})",
            f"CREATE INDEX IF NOT EXISTS {q(idx + '_message')} ON {q(table)} ({q('message')})",
            f"CREATE INDEX IF NOT EXISTS {q(idx + '_created_hour')} ON {q(table)} "
            f"(strftime('%Y-%m-%d %H:00:00', {q('created')}))",
        ]

    def log_hour(self, column: str) -> str:
        return f"strftime('%Y-%m-%d %H:00:00', {column})"

    def log_insert_sql(self, table: str, rows_param: str) -> str:
        """SQLite: ``json_each`` over the array; ``->>`` gives the text, the integer, and
        for ``data`` (an object) its JSON text, which is what the column holds."""
        names = ", ".join(self.quote(c) for c, _ in self.LOG_COLUMNS)
        return (
            f"INSERT INTO {self.table(table)} ({names}) SELECT value->>0, value->>1, "
            f"value->>2, value->>3, value->>4 FROM json_each({rows_param})"
        )

    def log_retention(self, table: str, before: date) -> list[tuple[str, dict[str, Any]]]:
        cutoff = format_pb_datetime(datetime.combine(before, time_of_day.min, tzinfo=UTC))
        return [
            (f"DELETE FROM {self.table(table)} WHERE {self.quote('created')} < :c", {"c": cutoff})
        ]

    def list_tables_sql(self) -> str:
        return "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"

    def list_columns_sql(self, table_param: str) -> str:
        return f"SELECT name FROM pragma_table_info({table_param}) ORDER BY cid"

    def to_db(self, kind: Kind, value: Any) -> Any:
        if kind is Kind.BOOL:
            return 1 if value else 0
        if kind is Kind.JSON:
            return None if value is None else _dump_json(value)
        if kind is Kind.JSON_ARRAY:
            return _dump_json(value if value is not None else [])
        if kind is Kind.DATETIME_MS:
            return format_pb_datetime(value) if isinstance(value, datetime) else ""
        if kind is Kind.TIMESTAMP_US:
            return format_us_datetime(value) if isinstance(value, datetime) else ""
        return value

    def from_db(self, kind: Kind, raw: Any) -> Any:
        if kind is Kind.BOOL:
            return bool(raw)
        if kind is Kind.NUMBER:
            return _number(raw)
        if kind in (Kind.JSON, Kind.JSON_ARRAY):
            # A JSON column has NUMERIC affinity: the text '123' comes back as INTEGER 123.
            if raw is None or isinstance(raw, int | float):
                return raw
            return json.loads(raw)
        if kind in (Kind.DATETIME_MS, Kind.TIMESTAMP_US):
            return parse_stored_datetime(raw) if isinstance(raw, str) else None
        return raw


def _dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _number(raw: Any) -> int | float:
    if isinstance(raw, int | float):
        return raw
    # NUMERIC affinity keeps text that does not look like a number as text (raw SQL only).
    try:
        return int(raw)
    except (TypeError, ValueError):
        try:
            return float(raw)
        except (TypeError, ValueError):
            return 0


# Extended result codes -> meaning. https://www.sqlite.org/rescode.html
_CONSTRAINT_CLASSES: dict[int, type[errors.IntegrityError]] = {
    apsw.SQLITE_CONSTRAINT_UNIQUE: errors.UniqueViolation,
    apsw.SQLITE_CONSTRAINT_PRIMARYKEY: errors.UniqueViolation,
    apsw.SQLITE_CONSTRAINT_FOREIGNKEY: errors.ForeignKeyViolation,
    apsw.SQLITE_CONSTRAINT_NOTNULL: errors.NotNullViolation,
    apsw.SQLITE_CONSTRAINT_CHECK: errors.CheckViolation,
}


def translate(exc: apsw.Error) -> errors.DatabaseError:
    message = str(exc)
    if isinstance(exc, apsw.ConstraintError):
        cls = _CONSTRAINT_CLASSES.get(getattr(exc, "extendedresult", 0), errors.IntegrityError)
        # "UNIQUE constraint failed: posts.a, posts.b" -> columns ("a", "b")
        listed = message.partition(":")[2].split(",") if ":" in message else []
        columns = tuple(item.strip().rsplit(".", 1)[-1] for item in listed if item.strip())
        return cls(message, columns=columns)
    if isinstance(exc, apsw.BusyError):
        if getattr(exc, "extendedresult", 0) == apsw.SQLITE_BUSY_SNAPSHOT:
            return errors.SerializationFailure(message)
        return errors.LockTimeout(message)
    if isinstance(exc, apsw.CantOpenError | apsw.IOError):
        return errors.ConnectionFailed(message)
    return errors.QueryError(message)


# The event log (``Dialect.NOTIFIES``): what ``Tx.notify`` sends, one row per payload in
# the sending transaction, read by every process's listener. ``seq`` is AUTOINCREMENT: never
# reused, and contiguous except where old rows were purged (how a listener sees a gap).
EVENTS = "_pp_events"
EVENTS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {EVENTS} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "channel TEXT NOT NULL, payload TEXT NOT NULL, at REAL NOT NULL)"
)
EVENT_KEEP_S = 60.0  # seconds a payload stays readable: a listener stalled longer has a gap
PURGE_EVERY_S = 5.0  # how often a sending transaction also deletes the expired ones
POLL_S = 0.002  # how often a listener asks whether another connection committed
POLL_BATCH = 1000  # payloads read per query


class _SqliteTx(AfterCommit):
    def __init__(self, conn: apsw.Connection, engine: SqliteEngine):
        self._conn = conn
        self._engine = engine
        self.dialect = engine.dialect

    def notify(self, payload: str) -> None:
        """A row of the event log, written with the transaction (gone with a rollback);
        every few seconds the expired rows go too (``EVENT_KEEP_S``)."""
        now = time.time()
        self.execute(
            f"INSERT INTO {EVENTS} (channel, payload, at) VALUES (:c, :p, :at)",
            {"c": CHANNEL, "p": payload, "at": now},
        )
        if now - self._engine.purged_at >= PURGE_EVERY_S:
            self._engine.purged_at = now
            self.execute(f"DELETE FROM {EVENTS} WHERE at < :t", {"t": now - EVENT_KEEP_S})

    def set_session(self, session: Session) -> None:
        """SQLite has no row level security (``Dialect.ROW_LEVEL_SECURITY``)."""

    def execute(self, sql: str, params: Params | None = None) -> int:
        capture(sql, params)
        try:
            self._conn.execute(sql, params or {})
        except apsw.Error as exc:
            raise translate(exc) from exc
        return int(self._conn.changes())

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        capture(sql, params)
        try:
            return list(self._conn.execute(sql, params or {}))
        except apsw.Error as exc:
            raise translate(exc) from exc

    def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        capture(sql, params)
        try:
            row = self._conn.execute(sql, params or {}).fetchone()
        except apsw.Error as exc:
            raise translate(exc) from exc
        return None if row is None else tuple(row)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        capture(sql, rows[0] if rows else None)
        try:
            self._conn.executemany(sql, rows)
        except apsw.Error as exc:
            raise translate(exc) from exc

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """``Tx.copy_rows``: one prepared INSERT for every row."""
        names = ", ".join(self.dialect.quote(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {self.dialect.table(table)} ({names}) VALUES ({marks})"
        counted = _Counted(rows)
        capture(statement, None)
        try:
            self._conn.executemany(statement, counted)
        except apsw.Error as exc:
            raise translate(exc) from exc
        return counted.n


def _pragma_waiting(conn: apsw.Connection, pragma: str, timeout_s: float) -> None:
    """Run ``pragma``, trying again while the file is busy, up to ``timeout_s``. The busy
    timeout does not cover every case: SQLite answers SQLITE_BUSY without calling the
    busy handler where waiting could deadlock, and while another connection recovers or
    first builds the WAL index, which is what two workers opening a fresh
    ``auxiliary.db`` together meet (seen: a worker failing to start, "database is
    locked", on the journal_mode switch)."""
    deadline = time.monotonic() + timeout_s
    for attempt in itertools.count():
        try:
            conn.execute(pragma)
            return
        except apsw.BusyError:
            pause = backoff(min(attempt, 8))  # the engine's jittered backoff: rivals spread out
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)


class _Counted:
    """An iterable that counts what it hands out (``executemany`` takes any iterable)."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.n += 1
            yield row


def read_events(conn: apsw.Connection, last: int) -> tuple[list[tuple[int, str]], int]:
    """The event log's payloads after ``last`` (at most ``POLL_BATCH``), and how many rows
    between ``last`` and the first of them were purged before they were read."""
    rows = [
        (int(seq), str(payload))
        for seq, payload in conn.execute(
            f"SELECT seq, payload FROM {EVENTS} WHERE seq > :last AND channel = :c "
            "ORDER BY seq LIMIT :n",
            {"last": last, "c": CHANNEL, "n": POLL_BATCH},
        )
    ]
    missed = rows[0][0] - last - 1 if rows and last else 0
    return rows, missed


def _flock_into(fd: int, done: Future[None]) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        done.set_exception(exc)
    else:
        done.set_result(None)


def _close_when_done(fd: int, done: Future[None]) -> None:
    os.close(fd)  # releases the lock the thread took, if it took it


class _LockWaiter:
    """One daemon thread per engine that blocks in ``flock`` for a waiting writer.

    A thread per wait cost a ``Thread.start()`` on the event loop for every contended
    write, and with ``--workers 2`` most writes are contended (the loop waits for the new
    thread to signal that it started). Waits run one after another: at most one writer of
    a process waits at a time (the in-process locks come first), and a wait given up
    still blocks here until it gets the lock and lets go of it (``_close_when_done``), as
    the next one would have waited for the same holder anyway. Daemon, so a wait for a
    holder that never lets go cannot hold up the interpreter's exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[int, Future[None]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, fd: int) -> Future[None]:
        done: Future[None] = Future()
        done.set_running_or_notify_cancel()  # a timed-out wait cannot cancel it under the thread
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="parity-writer", daemon=True)
                self._thread.start()
        self._jobs.put((fd, done))
        return done

    def close(self) -> None:
        """The thread ends once the waits queued before this are done."""
        with self._start_lock:
            if self._thread is not None:
                self._jobs.put((-1, Future()))
                self._thread = None

    def _run(self) -> None:
        while True:
            fd, done = self._jobs.get()
            if fd < 0:
                return
            _flock_into(fd, done)


class SqliteEngine:
    """A small connection pool over one database file, shared by any number of processes.

    Readers get their own connections (WAL lets them run beside the writer). Writers are
    serialised before ``BEGIN IMMEDIATE``, first in-process by a lock, then across
    processes by an exclusive ``flock`` on ``<file>-writer``: SQLite has one writer, and
    queueing on a lock wakes the next writer the moment the last one is done, where
    SQLite's busy handler sleeps 1 to 100 ms between tries, blocking the server's loop
    meanwhile. ``busy_timeout`` still covers programs that write without the lock (the
    ``sqlite3`` shell); what outlasts it is a ``LockTimeout``, retried and counted
    (``run_in_transaction``), never a "database is locked" for a client.
    """

    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        pool_size: int = 4,
        busy_timeout_ms: int = 10_000,
        events: bool = True,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dialect = SqliteDialect()
        self._idle: queue.LifoQueue[apsw.Connection] = queue.LifoQueue()
        self._all: list[apsw.Connection] = []
        self._size = pool_size
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writers_waiting = 0  # the metrics' writer queue (reference_impl/metrics.py)
        self._loop_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLock]
        self._loop_write_locks = weakref.WeakKeyDictionary()
        self._busy_timeout_ms = busy_timeout_ms
        self._file_lock_path = f"{self.path}-writer"
        self._file_lock = os.open(self._file_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._lock_waiter = _LockWaiter()
        self._locks_dir = Path(f"{self.path}-locks")
        self._named: dict[str, int] = {}  # named locks this process holds: name -> fd
        self.purged_at = 0.0  # when a transaction last purged the event log
        self.file_lock_waits = 0  # writers that found another process writing
        self.schema_stale: Callable[[], bool] | None = None  # Engine.schema_stale
        self._idle.put(self._connect())
        if events:  # an auxiliary file has no event log (open_auxiliary)
            with self.transaction(write=True) as tx:
                tx.execute(EVENTS_DDL)

    def _connect(self) -> apsw.Connection:
        conn = apsw.Connection(str(self.path))
        # First: the PRAGMAs wait too. Two processes opening a new file together (the
        # workers of `serve --workers 2` on a fresh auxiliary.db) both switch it to WAL,
        # which takes an exclusive lock; without the timeout the second got "database is
        # locked" and its worker failed to start.
        conn.setbusytimeout(self._busy_timeout_ms)  # waits for writers in other processes
        conn.enable_load_extension(True)
        for pragma in PRAGMAS:
            _pragma_waiting(conn, pragma, self._busy_timeout_ms / 1000)
        with self._lock:
            self._all.append(conn)
        return conn

    def _acquire(self) -> apsw.Connection:
        while True:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    grow = len(self._all) < self._size
                if grow:
                    return self._connect()
                if not bridged():
                    return self._idle.get()
                # On the loop, the holders may be greenlets waiting on it: wait there too.
                sleep(0.001)

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """One writer at a time, taken before a connection (so waiting writers hold none).

        Threads queue on a thread lock. Bridged work on the server's loop first queues on
        the loop's lock (``bridge.LoopLock``): a writer there may wait on the loop in the
        middle of its transaction (a bcrypt hash), and a second one blocking the loop's
        thread on the thread lock would never let it finish. Then the file lock, for the
        writers of other processes (:meth:`_lock_file`).
        """
        with self._lock:
            self._writers_waiting += 1
        if self._write_lock.locked():
            blocked()  # a race schedule must not wait for this writer (failpoints.py)
        if not bridged():
            with self._write_lock, self._file_locked():
                self._writer_in()
                yield
            return
        loop = asyncio.get_running_loop()
        with self._lock:  # one LoopLock per loop: loops in other threads share the engine
            lock = self._loop_write_locks.get(loop)
            if lock is None:
                lock = self._loop_write_locks[loop] = LoopLock(loop)
        lock.acquire()
        try:
            with self._write_lock, self._file_locked():
                self._writer_in()
                yield
        finally:
            lock.release()

    @contextmanager
    def _file_locked(self) -> Iterator[None]:
        """The cross-process writer lock, held by the in-process writer of the moment.

        Free, it is taken at once (``LOCK_NB``). Held by another process, the wait is a
        blocking ``flock`` in the engine's waiter thread (:class:`_LockWaiter`; the loop
        goes on meanwhile), on a descriptor of its own, for at most the busy timeout: then
        ``LockTimeout``, as SQLite's busy handler would give. A wait given up (timed out,
        or the request cancelled) closes that descriptor once the thread returns, which
        lets go of whatever it took without touching the next writer's lock."""
        held = self._file_lock
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with self._lock:
                self.file_lock_waits += 1
            held = self._wait_file_lock()
        try:
            yield
        finally:
            if held == self._file_lock:
                fcntl.flock(held, fcntl.LOCK_UN)
            else:
                os.close(held)

    def _wait_file_lock(self) -> int:
        fd = os.open(self._file_lock_path, os.O_RDWR)
        waiting = self._lock_waiter.submit(fd)
        timeout = self._busy_timeout_ms / 1000
        try:
            if bridged():
                await_(asyncio.wait_for(asyncio.wrap_future(waiting), timeout))
            else:
                waiting.result(timeout)
        except BaseException as exc:
            waiting.add_done_callback(partial(_close_when_done, fd))
            if isinstance(exc, TimeoutError):
                raise errors.LockTimeout(
                    f"another process held the SQLite write lock for {timeout:g} s"
                ) from None
            raise
        return fd

    def _writer_in(self) -> None:
        with self._lock:
            self._writers_waiting -= 1

    row_security_role: str | None = None  # no row level security (Dialect flag)

    def use_session_fields(self, names: set[str]) -> None:
        """No policies read them."""

    @contextmanager
    def transaction(
        self, *, write: bool = False, session: Session | None = None, isolation: str | None = None
    ) -> Iterator[_SqliteTx]:
        """Any ``isolation`` runs serializable (``Dialect.SERIALIZES_EVERYTHING``).
        After-commit callbacks run once the writer lock is released."""
        tx: _SqliteTx | None = None
        try:
            with (
                self._writer() if write else contextlib.nullcontext(),
                self._transaction(write=write) as tx,
                stale_schema_checked(self.schema_stale, write=write),
            ):
                yield tx
            tx.run_after_commit()
            if write:
                count_write_commit()
        finally:
            if tx is not None:
                tx.run_after_end()

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[_SqliteTx]:
        conn = self._acquire()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except apsw.Error as exc:
                raise translate(exc) from exc
            try:
                yield _SqliteTx(conn, self)
            except BaseException:
                if not conn.getautocommit():
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except apsw.Error as exc:
                if not conn.getautocommit():
                    conn.execute("ROLLBACK")
                raise translate(exc) from exc
        finally:
            self._idle.put(conn)

    def load_extension(self, path: str) -> None:
        with self._lock:
            for conn in self._all:
                conn.load_extension(path)

    async def listen(self, on_message: OnMessage, on_gap: Callable[[], None]) -> None:
        """Read the event log (``_pp_events``) on a connection of its own until cancelled.

        Every ``POLL_S`` it asks ``PRAGMA data_version``, which moves when any other
        connection (of any process) has committed; then it reads the rows after the last
        one seen. Listening starts at the newest row ever written (``sqlite_sequence``: the
        rows before are history, as for a new ``LISTEN``), and ``on_gap`` runs then and
        whenever rows it had not read were purged (it was stalled past ``EVENT_KEEP_S``)
        or the file could not be read (reopened after a backoff)."""
        attempt = 0
        while True:
            conn: apsw.Connection | None = None
            try:
                conn = apsw.Connection(str(self.path))
                conn.setbusytimeout(self._busy_timeout_ms)
                row = conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = :n", {"n": EVENTS}
                ).fetchone()
                last = int(row[0]) if row else 0
                version = -1
                on_gap()
                attempt = 0
                while True:
                    now = conn.execute("PRAGMA data_version").get
                    if now == version:
                        await asyncio.sleep(POLL_S)
                        continue
                    rows, missed = read_events(conn, last)
                    if len(rows) < POLL_BATCH:
                        version = now  # all read: wait for the next commit
                    if missed:
                        log.warning("event log: %d event(s) purged unread", missed)
                        on_gap()
                    for seq, payload in rows:
                        last = seq
                        on_message(payload)
            except apsw.Error as exc:
                if attempt % 20 == 0:
                    log.warning("event log %s unreadable (%s); reopening", self.path, exc)
                await asyncio.sleep(0.02 + backoff(min(attempt, 8)))
                attempt += 1
            finally:
                if conn is not None:
                    conn.close()

    # Named locks: an exclusive flock on a file per name (<file>-locks/<sha1>), across every
    # process on the file; the kernel releases it when the holder dies, a crash included.
    def _lock_path(self, name: str) -> Path:
        return self._locks_dir / hashlib.sha1(name.encode()).hexdigest()

    async def try_lock(self, name: str) -> bool:
        if name in self._named:
            return False
        self._locks_dir.mkdir(exist_ok=True)
        fd = os.open(self._lock_path(name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._named[name] = fd
        return True

    async def unlock(self, name: str) -> None:
        fd = self._named.pop(name, None)
        if fd is not None:
            os.close(fd)

    async def force_unlock(self, name: str) -> bool:
        """This process's own: released. Another's (its flock cannot be taken from it): the
        lock file is unlinked, so the next locker takes a new one, while the old holder
        keeps a lock nobody else waits for until it lets go (as PostgreSQL's ended
        session, the holder learns nothing)."""
        if name in self._named:
            await self.unlock(name)
            return True
        path = self._lock_path(name)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            path.unlink(missing_ok=True)
            return True
        finally:
            os.close(fd)
        return False

    def maintain(self) -> None:
        """PocketBase's own: ``PRAGMA wal_checkpoint(TRUNCATE)``, then ``PRAGMA optimize``."""
        with self._writer():
            conn = self._acquire()
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA optimize")
            except apsw.Error as exc:
                raise translate(exc) from exc
            finally:
                self._idle.put(conn)

    async def open_async(self) -> None:
        """Nothing to open: apsw calls are in-process and run on the loop as they are."""

    async def close_async(self) -> None:
        """Nothing to close on the loop (:meth:`close` closes the connections)."""

    def version(self) -> str:
        return f"SQLite {apsw.sqlite_lib_version()} (apsw {apsw.apsw_version()})"

    def pool_stats(self) -> dict[str, int]:
        with self._lock:
            size = len(self._all)
        return {
            "pool_size": size,
            "pool_available": self._idle.qsize(),
            "pool_max": self._size,
            "writer_queue": self._writers_waiting,
        }

    def open_auxiliary(self) -> SqliteEngine:
        """``Engine.open_auxiliary``: ``auxiliary.db`` beside this file."""
        return SqliteEngine(
            self.path.with_name(AUXILIARY_FILE), busy_timeout_ms=self._busy_timeout_ms, events=False
        )

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        for fd in self._named.values():
            os.close(fd)
        self._named.clear()
        if self._file_lock >= 0:
            os.close(self._file_lock)
            self._file_lock = -1
        self._lock_waiter.close()


def build_info() -> str:
    """The pinned SQLite build: version, apsw version, and the options that matter here."""
    wanted = ("ENABLE_FTS5", "ENABLE_MATH_FUNCTIONS", "ENABLE_LOAD_EXTENSION", "THREADSAFE")
    options = [o for o in apsw.compile_options if o.startswith(wanted)]
    return f"SQLite {apsw.sqlite_lib_version()} (apsw {apsw.apsw_version()}; {', '.join(options)})"
