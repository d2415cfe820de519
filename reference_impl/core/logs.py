"""Request logs: a bounded buffer that requests append to without waiting, drained in
batches into ``_logs`` on the auxiliary engine (``Engine.open_auxiliary``) by a writer
thread of its own.

Business first: when the buffer is full a new entry is dropped and counted, never waited
for. Every accepted entry is written (``LogWriter.stop`` drains what is left), or counted
as failed when its batch could not be written. The table's shape, its partitions and its
retention are the dialect's (``Dialect.logs_schema`` / ``log_days`` / ``log_retention``):
PocketBase's table in ``auxiliary.db`` on SQLite, day partitions on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reference_impl.bridge import offload
from reference_impl.core.records.ids import new_record_ids
from reference_impl.db.engine import Engine
from reference_impl.db.errors import AlreadyExists, DatabaseError, UniqueViolation
from reference_impl.ir.kinds import format_pb_datetime

log = logging.getLogger(__name__)

LOGS_TABLE = "_logs"
DAYS_AHEAD = 2  # day partitions exist this many days past today (PostgreSQL)
BUFFER_CAPACITY = 100_000  # entries waiting to be written; more are dropped and counted
BATCH_SIZE = 2_000  # entries per write (one COPY / one prepared INSERT run)
FLUSH_INTERVAL_S = 3.0  # how long a partial batch may wait (PocketBase: its 3 s ticker)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log row before it is written (PocketBase's ``Log``: level, message, data)."""

    created: datetime
    level: int
    message: str
    data: dict[str, Any]


class LogBuffer:
    """Entries waiting for the writer, at most ``capacity``: :meth:`append` never blocks."""

    def __init__(self, capacity: int = BUFFER_CAPACITY, batch_size: int = BATCH_SIZE) -> None:
        self.capacity = capacity
        self.batch_size = batch_size
        self._entries: deque[LogEntry] = deque()
        self._lock = threading.Lock()
        self.accepted = 0
        self.dropped = 0  # refused because the buffer was full (the circuit breaker)
        self.ready = threading.Event()  # a full batch is waiting

    def append(self, entry: LogEntry) -> bool:
        with self._lock:
            if len(self._entries) >= self.capacity:
                self.dropped += 1
                return False
            self._entries.append(entry)
            self.accepted += 1
            full = len(self._entries) >= self.batch_size
        if full:
            self.ready.set()
        return True

    def take(self, limit: int) -> list[LogEntry]:
        with self._lock:
            n = min(limit, len(self._entries))
            return [self._entries.popleft() for _ in range(n)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _today() -> date:
    return datetime.now(UTC).date()


class LogStore:
    """``_logs`` on the auxiliary engine: its schema and partitions, batched writes,
    retention."""

    def __init__(
        self, aux: Engine, *, table: str = LOGS_TABLE, today: Callable[[], date] = _today
    ) -> None:
        self.aux = aux
        self.table = table
        self._today = today
        self._days_from: date | None = None  # partitions made for today..today+DAYS_AHEAD

    def ensure_schema(self) -> None:
        """Idempotent, and safe when the workers of one server run it together:
        PostgreSQL's ``CREATE ... IF NOT EXISTS`` is not (two creators collide on the
        catalogue's unique index, or one sees the other's table and says it exists), so a
        collision is retried once the other has made it."""
        for attempt in range(3):
            try:
                with self.aux.transaction(write=True) as tx:
                    for statement in self.aux.dialect.logs_schema(self.table):
                        tx.execute(statement)
                break
            except (UniqueViolation, AlreadyExists):
                if attempt == 2:
                    raise
        self.ensure_days()

    def ensure_days(self) -> None:
        """Today's partition and the next days', once per day. A day whose rows already
        sit in the default partition cannot get one (PostgreSQL refuses): logged, and its
        rows stay in the default partition, which retention also prunes."""
        today = self._today()
        if self._days_from == today:
            return
        for day in (today + timedelta(days=i) for i in range(DAYS_AHEAD + 1)):
            for statement in self.aux.dialect.log_days(self.table, [day]):
                try:
                    with self.aux.transaction(write=True) as tx:
                        tx.execute(statement)
                except (UniqueViolation, AlreadyExists):
                    pass  # another worker made it at the same moment
                except DatabaseError as exc:
                    log.warning("log partition for %s not created: %s", day, exc)
        self._days_from = today

    def write(self, entries: list[LogEntry]) -> int:
        """One statement, one transaction for the batch (``Dialect.log_insert_sql``: the
        rows go as one JSON text); the number of rows written."""
        self.ensure_days()
        d = self.aux.dialect
        ids = new_record_ids(len(entries))
        created = _created_texts(entries)
        rows: list[list[Any]] = [
            [ids[i], e.level, e.message, e.data, created[i]] for i, e in enumerate(entries)
        ]
        text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
        if not d.TEXT_ALLOWS_NUL and "\\u0000" in text:  # rare: walk the batch only then
            for row in rows:
                row[2] = d.storable_text(str(row[2]))
                row[3] = _storable(d.storable_text, row[3])
            text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
        with self.aux.transaction(write=True) as tx:
            tx.execute(d.log_insert_sql(self.table, d.placeholder("rows")), {"rows": text})
        return len(rows)

    def prune(self, keep_days: int) -> None:
        """Remove the rows created before the last ``keep_days`` whole days (PocketBase's
        ``logs.maxDays``; it deletes what is older than exactly that many days, every six
        hours, and day partitions only go whole, so a row is kept up to a day longer here):
        day partitions dropped where there are any, rows deleted else."""
        before = self._today() - timedelta(days=keep_days)
        d = self.aux.dialect
        with self.aux.transaction(write=True) as tx:
            listing = d.log_partitions_sql(d.placeholder("t"))
            if listing is not None:
                for (name,) in tx.fetchall(listing, {"t": self.table}):
                    statement = d.drop_log_day(self.table, str(name), before)
                    if statement is not None:
                        tx.execute(statement)
            for statement, params in d.log_retention(self.table, before):
                tx.execute(statement, params)


def _created_texts(entries: list[LogEntry]) -> list[str]:
    """Each entry's ``created`` in PocketBase's layout; the entries of one second share the
    formatting of its date and time (a batch holds thousands of them from a few seconds)."""
    out = []
    second: datetime | None = None
    prefix = ""
    for entry in entries:
        at = entry.created
        if at.tzinfo is not UTC:
            out.append(format_pb_datetime(at))
            continue
        whole = at.replace(microsecond=0)
        if whole != second:
            second, prefix = whole, format_pb_datetime(whole)[:-5]  # without ".000Z"
        out.append(f"{prefix}.{at.microsecond // 1000:03d}Z")
    return out


class LogWriter:
    """Drains a :class:`LogBuffer` into a :class:`LogStore` from a daemon thread: a full
    batch is written at once, a partial one after ``interval`` seconds. The request's
    event loop never waits for a log write."""

    def __init__(
        self, buffer: LogBuffer, store: LogStore, *, interval: float = FLUSH_INTERVAL_S
    ) -> None:
        self.buffer = buffer
        self.store = store
        self.interval = interval
        self.written = 0
        self.failed = 0  # accepted entries whose batch could not be written
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="parity-logs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything accepted so far, then end the thread (a clean shutdown)."""
        self._stopping.set()
        self.buffer.ready.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            self.buffer.ready.wait(self.interval)
            self.buffer.ready.clear()
            self.drain()
            if self._stopping.is_set():
                self.drain()  # what came in while the last batch was written
                return

    def drain(self) -> None:
        while batch := self.buffer.take(self.buffer.batch_size):
            try:
                self.written += self.store.write(batch)
            except Exception:  # a log write must never take the writer down
                log.exception("writing %d log entries failed; writing them one by one", len(batch))
                self._one_by_one(batch)

    def _one_by_one(self, batch: list[LogEntry]) -> None:
        """A failed batch, entry by entry: one entry that cannot be written loses only
        itself, not the requests logged beside it."""
        for entry in batch:
            try:
                self.written += self.store.write([entry])
            except Exception as exc:
                self.failed += 1
                log.warning("a log entry could not be written and is lost: %s", exc)


_MAX_DEPTH = 64  # log data is shallow (PocketBase's request attributes, an error's data)


def _storable(text: Callable[[str], str], value: Any, depth: int = 0) -> Any:
    """``value`` with every string in it (keys included) made storable by ``text``."""
    if isinstance(value, str):
        return text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {text(str(k)): _storable(text, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(text, v, depth + 1) for v in value]
    return value


MAX_DAYS = 5  # PocketBase's default logs.maxDays (core/settings_model.go)
MAX_DAYS_ENV = "PARITY_LOGS_MAX_DAYS"  # until the settings API exists (0: no request logs)


def max_days_from(environ: Mapping[str, str]) -> int:
    """``logs.maxDays`` from ``PARITY_LOGS_MAX_DAYS`` (else PocketBase's 5); a value that
    is not a whole number of days from 0 is refused with the reason."""
    raw = environ.get(MAX_DAYS_ENV, "").strip()
    if not raw:
        return MAX_DAYS
    if not raw.isdigit():
        raise ValueError(f"{MAX_DAYS_ENV}={raw!r}: a whole number of days (0 turns logs off)")
    return int(raw)


class RequestLogs:
    """The app's request log: what requests :meth:`record`, written in the background
    into ``_logs`` on the auxiliary engine once started (:meth:`start`); ``max_days`` = 0 keeps
    none (PocketBase's "logs off"). PocketBase's defaults: the IPs logged, the auth id
    not."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_days: int = MAX_DAYS,
        log_ip: bool = True,
        log_auth_id: bool = False,
        buffer: LogBuffer | None = None,
    ) -> None:
        self._engine = engine
        self.max_days = max_days
        self.log_ip = log_ip
        self.log_auth_id = log_auth_id
        self.buffer = buffer or LogBuffer()
        self.store: LogStore | None = None
        self.writer: LogWriter | None = None

    def start(self) -> None:
        """Open the auxiliary engine, make the table and start the writer (blocking: the
        server calls it from a thread)."""
        aux = self._engine.open_auxiliary()
        try:
            self.store = LogStore(aux)
            self.store.ensure_schema()
        except BaseException:
            aux.close()
            raise
        self.writer = LogWriter(self.buffer, self.store)
        self.writer.start()

    def stop(self) -> None:
        """Write what was accepted, then close the auxiliary engine."""
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
        if self.store is not None:
            self.store.aux.close()
            self.store = None

    def record(self, entry: LogEntry) -> None:
        if self.max_days > 0:
            self.buffer.append(entry)

    def prune(self) -> None:
        """``__pbLogsCleanup__``: the cron job every six hours. In a thread: the auxiliary
        engine is the writer thread's kind (blocking), never bridged on the loop."""
        if self.store is not None and self.max_days > 0:
            offload(self.store.prune, self.max_days)

    def counts(self) -> dict[str, int]:
        """accepted / dropped (buffer full) / written / failed (a batch could not be
        written) / pending: what the metrics and the logs API report."""
        writer = self.writer
        return {
            "accepted": self.buffer.accepted,
            "dropped": self.buffer.dropped,
            "written": writer.written if writer else 0,
            "failed": writer.failed if writer else 0,
            "pending": len(self.buffer),
        }
