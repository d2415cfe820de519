"""The event grid's bus (EPIC-2.1): what changed, told after commit to this process and to
every other server process on the same database.

Domain code publishes inside its transaction (``bus.publish(tx, Event(...))``); the bus
hands the event to the engine (``Tx.notify``: PostgreSQL's NOTIFY, SQLite's event log) and
registers its local delivery as an after-commit callback, so a rolled-back transaction (a
retried attempt included) tells nobody. Other processes receive the payload through
``Engine.listen`` and ignore their own (``node_id``): a node delivers its own events once,
locally, never again by echo. After a gap in listening (the LISTEN connection was lost),
subscribers of :meth:`EventBus.on_gap` drop whatever they derived from events, since some
may have been missed (``core/coherence.py``).

The payload is small on purpose (PostgreSQL refuses 8000 bytes): the event type, the
collection id and name, the record (or collection) id, the node and the publish time.
Receivers read anything else from the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from reference_impl.bridge import cancel_tasks, run_bridged
from reference_impl.db import jobs as sql
from reference_impl.db.engine import Engine, Tx
from reference_impl.ir.kinds import Kind, format_us_datetime, parse_stored_datetime

log = logging.getLogger("parity.events")

RECORD_CREATE, RECORD_UPDATE, RECORD_DELETE = "record.create", "record.update", "record.delete"
COLLECTION_CREATE = "collection.create"
COLLECTION_UPDATE = "collection.update"  # truncation included: its records are gone
COLLECTION_DELETE = "collection.delete"
TYPES = frozenset(
    {
        RECORD_CREATE,
        RECORD_UPDATE,
        RECORD_DELETE,
        COLLECTION_CREATE,
        COLLECTION_UPDATE,
        COLLECTION_DELETE,
    }
)
SYNC = "grid.sync"  # a barrier's marker (EventBus.barrier), not an event
SYNC_TIMEOUT = 2.0  # seconds a barrier waits for its marker (a listener down: it goes on)
LATENCY_SAMPLES = 200_000  # remote deliveries kept for the latency probe (a ring)


PAYLOAD_MARGIN = 100  # bytes kept below the engine's NOTIFY_LIMIT (PostgreSQL: 8000)
OVERFLOW_KEEP = 600.0  # seconds an oversized event's record stays readable


def new_node_id() -> str:
    return secrets.token_hex(6)


def pack_record(fields: Iterable[tuple[str, Kind]], record: Mapping[str, Any]) -> dict[str, Any]:
    """A decoded record as JSON values: dates as PocketBase's microsecond text (``None``
    when unset), everything else as it is; passwords left out (nothing shows them)."""
    out: dict[str, Any] = {}
    kinds = dict(fields)
    for name, value in record.items():
        kind = kinds.get(name)
        if kind in (Kind.DATETIME_MS, Kind.TIMESTAMP_US):
            out[name] = format_us_datetime(value) if isinstance(value, datetime) else None
        else:
            out[name] = value
    return out


def unpack_record(fields: Iterable[tuple[str, Kind]], data: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`pack_record` undone for the collection as this process knows it."""
    out = dict(data)
    for name, kind in fields:
        if kind in (Kind.DATETIME_MS, Kind.TIMESTAMP_US) and name in out:
            value = out[name]
            out[name] = parse_stored_datetime(value) if isinstance(value, str) else None
    return out


@dataclass(frozen=True)
class Event:
    """One committed change. ``collection``: the collection's id; ``name``: its name at
    the time; ``id``: the record's id (the collection's own for ``collection.*``)."""

    type: str
    collection: str
    id: str
    name: str = ""
    node: str = ""
    at: float = 0.0  # time.time() at publish: same-host delivery latency
    # The record as committed (a deleted one as it was), packed (:func:`pack_record`), for
    # realtime; None for collection events, or when it did not fit the payload: then
    # ``ref`` names its row in the overflow table (``EventBus.resolve``).
    record: dict[str, Any] | None = field(default=None, compare=False)
    ref: str = ""

    @property
    def is_record(self) -> bool:
        return self.type.startswith("record.")

    def payload(self) -> str:
        data: dict[str, Any] = {
            "type": self.type,
            "collection": self.collection,
            "name": self.name,
            "id": self.id,
            "node_id": self.node,
            "at": self.at,
        }
        if self.record is not None:
            data["record"] = self.record
        if self.ref:
            data["ref"] = self.ref
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_payload(cls, text: str) -> Event | None:
        """The event of a payload; None (logged) for anything else on the channel: another
        program may NOTIFY it too."""
        try:
            data = json.loads(text)
            event = cls(
                type=str(data["type"]),
                collection=str(data["collection"]),
                id=str(data["id"]),
                name=str(data.get("name", "")),
                node=str(data["node_id"]),
                at=float(data.get("at", 0.0)),
                record=data.get("record") if isinstance(data.get("record"), dict) else None,
                ref=str(data.get("ref", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed event payload: %.200r", text)
            return None
        if event.type not in TYPES:
            log.warning("ignored an event of unknown type %.100r", event.type)
            return None
        return event


Handler = Callable[[Event], None]


class EventBus:
    """One interface on both engines (EPIC-2.1): :meth:`publish` in a transaction,
    :meth:`subscribe` to every committed event (this node's after its commit, the others'
    when they arrive), :meth:`on_gap` for "events may have been missed".

    Handlers run on the event loop (or, outside a server, on the committing thread) and
    must not block: one that needs the database schedules the work (:meth:`spawn`).
    """

    def __init__(self, engine: Engine, node_id: str | None = None):
        self.engine = engine
        self.node_id = node_id or new_node_id()
        self._handlers: list[Handler] = []
        self._in_tx: list[Callable[[Tx, Event], None]] = []
        self._gap_handlers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self.published = 0
        self.received = 0  # other nodes' events delivered here
        self.echoes = 0  # this node's own events heard back (ignored)
        self.gaps = 0
        self.latency: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._barriers: dict[str, asyncio.Future[None]] = {}

    # -- subscribing ---------------------------------------------------------------------
    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def on_gap(self, handler: Callable[[], None]) -> None:
        self._gap_handlers.append(handler)

    def on_publish(self, handler: Callable[[Tx, Event], None]) -> None:
        """``handler(tx, event)`` inside the publishing transaction: what must commit or
        roll back with the change itself (the competing hooks' jobs, ``core/hooks.py``)."""
        self._in_tx.append(handler)

    # -- publishing ----------------------------------------------------------------------
    def publish(self, tx: Tx, event: Event) -> None:
        """Tell everyone once ``tx`` commits (nobody if it rolls back)."""
        stamped = replace(event, node=self.node_id, at=time.time())
        for handler in self._in_tx:
            handler(tx, stamped)
        if self.engine.dialect.NOTIFIES:
            payload = stamped.payload()
            limit = self.engine.dialect.NOTIFY_LIMIT
            if limit is not None and len(payload.encode()) >= limit - PAYLOAD_MARGIN:
                ref = secrets.token_hex(10)
                d = self.engine.dialect
                tx.execute(*sql.purge_overflow(d, time.time() - OVERFLOW_KEEP))
                tx.execute(*sql.insert_overflow(d, ref, json.dumps(stamped.record), time.time()))
                payload = replace(stamped, record=None, ref=ref).payload()
            tx.notify(payload)
        tx.after_commit(partial(self._local, stamped))

    def resolve(self, event: Event) -> dict[str, Any] | None:
        """The event's packed record, read from the overflow table when it did not fit
        the payload (None: gone, or the event carries none)."""
        if event.record is not None or not event.ref:
            return event.record
        with self.engine.transaction() as tx:
            row = tx.fetchone(*sql.read_overflow(self.engine.dialect, event.ref))
        found = json.loads(row[0]) if row else None
        return found if isinstance(found, dict) else None

    def _local(self, event: Event) -> None:
        with self._lock:
            self.published += 1
        self._dispatch(event)

    async def barrier(self) -> bool:
        """Wait until every event other processes committed before now has been received
        here (and handed to the subscribers): a marker is sent through the engine, and the
        listener hears payloads in commit order. A subscription change waits so (``api/
        realtime.py``), so a write another worker answered before it is judged on the
        subscriptions as they were. False when the marker did not come back in time."""
        if self._task is None or self._task.done():
            return False
        token = secrets.token_hex(8)
        waiter = asyncio.get_running_loop().create_future()
        self._barriers[token] = waiter
        marker = json.dumps({"type": SYNC, "token": token, "node_id": self.node_id})

        def send() -> None:
            with self.engine.transaction(write=True) as tx:
                tx.notify(marker)

        try:
            await run_bridged(send)
            async with asyncio.timeout(SYNC_TIMEOUT):
                await waiter
            return True
        except TimeoutError:
            log.warning("no barrier marker back within %.0f s: the listener lags", SYNC_TIMEOUT)
            return False
        finally:
            self._barriers.pop(token, None)

    # -- receiving -----------------------------------------------------------------------
    def _received(self, payload: str) -> None:
        if SYNC in payload and self._barrier_marker(payload):
            return
        event = Event.from_payload(payload)
        if event is None:
            return
        if event.node == self.node_id:
            with self._lock:
                self.echoes += 1
            return
        self._dispatch(event)
        with self._lock:
            self.received += 1
            self.latency.append(time.time() - event.at)

    def _barrier_marker(self, payload: str) -> bool:
        """A barrier's marker: this node's own resolves its waiter; any node's is consumed."""
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        if not isinstance(data, dict) or data.get("type") != SYNC:
            return False
        if data.get("node_id") == self.node_id:
            waiter = self._barriers.get(str(data.get("token")))
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        return True

    def _dispatch(self, event: Event) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler %r failed on %s", handler, event.type)

    def _gap(self) -> None:
        with self._lock:
            self.gaps += 1
        for handler in self._gap_handlers:
            try:
                handler()
            except Exception:
                log.exception("gap handler %r failed", handler)

    def is_local(self, event: Event) -> bool:
        return event.node == self.node_id

    # -- running -------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on this loop (``Engine.listen``: LISTEN, or the SQLite event log's poll)."""
        if self._task is None:
            self._task = asyncio.create_task(self.engine.listen(self._received, self._gap))

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_tasks(task)

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """Counts, and the delivery latency of other nodes' events (seconds from their
        publish to the end of this node's handlers): what ``GET /api/parity/events``
        shows and the latency probe reads."""
        with self._lock:
            samples = sorted(self.latency)
            out: dict[str, Any] = {
                "node": self.node_id,
                "published": self.published,
                "received": self.received,
                "echoesIgnored": self.echoes,
                "gaps": self.gaps,
                "latency": _percentiles(samples),
            }
            if reset:
                self.latency.clear()
        return out


def _percentiles(samples: list[float]) -> dict[str, float | int]:
    if not samples:
        return {"count": 0}

    def at(q: float) -> float:
        return round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1000, 3)

    return {
        "count": len(samples),
        "p50Ms": at(0.50),
        "p95Ms": at(0.95),
        "p99Ms": at(0.99),
        "maxMs": round(samples[-1] * 1000, 3),
    }
