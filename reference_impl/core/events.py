"""The event grid's bus (EPIC-2.1): what changed, told after commit to this process and to
every other server process on the same database.

Domain code publishes inside its transaction (``bus.publish(tx, Event(...))``); the bus
hands the event to the engine (``Tx.notify``: PostgreSQL's NOTIFY, nothing on SQLite) and
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
import contextlib
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from reference_impl.db.engine import Engine, Tx

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
LATENCY_SAMPLES = 200_000  # remote deliveries kept for the latency probe (a ring)


def new_node_id() -> str:
    return secrets.token_hex(6)


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

    @property
    def is_record(self) -> bool:
        return self.type.startswith("record.")

    def payload(self) -> str:
        return json.dumps(
            {
                "type": self.type,
                "collection": self.collection,
                "name": self.name,
                "id": self.id,
                "node_id": self.node,
                "at": self.at,
            },
            separators=(",", ":"),
        )

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
        tx.notify(stamped.payload())
        tx.after_commit(partial(self._local, stamped))

    def _local(self, event: Event) -> None:
        with self._lock:
            self.published += 1
        self._dispatch(event)

    # -- receiving -----------------------------------------------------------------------
    def _received(self, payload: str) -> None:
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
        """Listen on this loop (PostgreSQL); nothing to start on SQLite."""
        if self._task is None:
            self._task = asyncio.create_task(self.engine.listen(self._received, self._gap))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

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
