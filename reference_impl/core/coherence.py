"""Cache invalidation across server processes (EPIC-2.2): what each process keeps in memory,
and how the event grid keeps it true.

What a process keeps:

- the collections (``CollectionStore``: definitions by id and name, the row level security
  policies compiled from their rules, the JSON-path index advisor's counts);
- auth records by id (:class:`RecordCache`): every authenticated request resolves its
  token's record, so this is the hottest read of the server.

A process's own changes update its memory as they commit. Another process's changes arrive
as events (``core/events.py``): a record event drops that record from the cache on the
spot; a collection event drops the collection's cached records and re-reads its
definition from the database (in order, one at a time, under the schema lock, so record
work in flight finishes on the definition it started with). A gap in listening drops
everything and re-reads every collection.

Events arrive a little after their commit (a NOTIFY's trip, the SQLite log's poll), so the
workers of one ``parity serve --workers N`` also share :class:`SharedGenerations`: a
committed collection change, or an auth record updated or deleted, bumps a counter in a
file all of them map before the writer answers; every request first compares the
counters with what its worker last caught up to (two memory reads) and, when one moved,
re-reads the collections or drops the cached auth records before it goes on
(:meth:`Coherence.catch_up`). So a change is seen by every worker from its next request.
While a collection change is in flight (inside its transaction, until after its bump), the
other workers' writes refuse to commit on their old definitions and run again once it has
ended.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import mmap
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from reference_impl.bridge import background, cancel_tasks, run_bridged
from reference_impl.core.events import RECORD_CREATE, Event, EventBus

log = logging.getLogger("parity.coherence")

Key = tuple[str, str]  # (collection id, record id)


class RecordCache:
    """A bounded LRU of records by (collection id, record id), each kept at most ``ttl``
    seconds: the bound on staleness for writers that publish no event (direct SQL, another
    process on one SQLite file).

    Fills race with drops: a reader that loaded a record before a write committed must not
    store it after the write's drop, or the stale copy would outlive the drop. Every drop
    takes the next ``generation`` and remembers it for the key (or the collection, or all);
    a reader takes :meth:`token` before its database read, and :meth:`put` refuses when its
    key was dropped since. The memory of drops is bounded: the oldest forgotten raise a
    floor below which every token is refused."""

    def __init__(self, capacity: int = 10_000, ttl: float = 5.0):
        self.capacity = capacity
        self.ttl = ttl
        self._items: OrderedDict[Key, tuple[float, dict[str, Any]]] = OrderedDict()
        self._dropped: OrderedDict[Key | str, int] = OrderedDict()  # key or collection id
        self._floor = 0
        self._lock = threading.Lock()
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> dict[str, Any] | None:
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < now:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return dict(found[1])

    def token(self) -> int:
        with self._lock:
            return self.generation

    def put(self, key: Key, record: dict[str, Any], token: int) -> None:
        with self._lock:
            newest = max(self._floor, self._dropped.get(key, 0), self._dropped.get(key[0], 0))
            if newest > token:
                return
            self._items[key] = (time.monotonic() + self.ttl, dict(record))
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def _note_drop(self, what: Key | str) -> None:
        self.generation += 1
        self._dropped[what] = self.generation
        self._dropped.move_to_end(what)
        while len(self._dropped) > self.capacity:
            _, generation = self._dropped.popitem(last=False)
            self._floor = max(self._floor, generation)

    def drop(self, key: Key) -> None:
        with self._lock:
            self._note_drop(key)
            self._items.pop(key, None)

    def drop_collection(self, collection_id: str) -> None:
        with self._lock:
            self._note_drop(collection_id)
            for key in [k for k in self._items if k[0] == collection_id]:
                del self._items[key]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._floor = self.generation
            self._dropped.clear()
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class SharedGenerations:
    """Counters shared by the worker processes of one server through a mapped file:
    ``SCHEMA`` moves with every committed collection change, ``AUTH`` with every auth
    record updated or deleted. A bump is an increment under an exclusive ``flock`` (two
    workers bumping at once both count); reading is lock-free (a torn read can only make a
    worker catch up once too often). ``seen`` is what this process has caught up to.

    Beside them, one slot per worker (``index`` 1..``MAX_WORKERS``) counts its collection
    changes in flight: raised inside the change's transaction before its COMMIT, lowered
    once the transaction has ended, committed (after the ``SCHEMA`` bump) or rolled back.
    Only its worker writes a slot, except the supervisor, which zeroes the slot of a worker
    that died (:meth:`clear`): a crash mid-change leaves nothing in flight for ever."""

    SCHEMA, AUTH = 0, 1
    MAX_WORKERS = 64
    _FORMAT = "<QQ"
    _SLOTS = f"<{MAX_WORKERS}Q"
    _SLOTS_AT = struct.calcsize(_FORMAT)

    def __init__(self, path: str | os.PathLike[str], index: int = 0):
        """``index``: this process's slot (0: a process with none, e.g. the supervisor)."""
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = self._SLOTS_AT + struct.calcsize(self._SLOTS)
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)
        self.index = index
        self._own = threading.Lock()
        if index:
            self.clear(index)  # a replaced worker's slot starts empty
        self.seen = list(self.read())

    def read(self) -> tuple[int, int]:
        schema, auth = struct.unpack_from(self._FORMAT, self._map)
        return int(schema), int(auth)

    def stale(self) -> bool:
        return list(self.read()) != self.seen

    def schema_stale(self) -> bool:
        return self.read()[self.SCHEMA] != self.seen[self.SCHEMA]

    def bump(self, slot: int) -> None:
        """One more change in ``slot``, this process's own: it needs no catching up for it,
        unless another bump it has not caught up to came first."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            values = list(self.read())
            old = values[slot]
            values[slot] = old + 1
            struct.pack_into(self._FORMAT, self._map, 0, *values)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if self.seen[slot] == old:
            self.seen[slot] = old + 1

    def _slot_at(self, index: int) -> int:
        if not 1 <= index <= self.MAX_WORKERS:
            raise ValueError(f"worker index {index} is not in 1..{self.MAX_WORKERS}")
        return self._SLOTS_AT + 8 * (index - 1)

    def begin_change(self) -> None:
        """A collection change of this worker is about to commit."""
        at = self._slot_at(self.index)
        with self._own:
            (count,) = struct.unpack_from("<Q", self._map, at)
            struct.pack_into("<Q", self._map, at, count + 1)

    def end_change(self) -> None:
        """That change's transaction has ended (committed and bumped, or rolled back)."""
        at = self._slot_at(self.index)
        with self._own:
            (count,) = struct.unpack_from("<Q", self._map, at)
            struct.pack_into("<Q", self._map, at, max(0, count - 1))

    def changing_elsewhere(self) -> bool:
        """Whether another worker has a collection change in flight."""
        slots = struct.unpack_from(self._SLOTS, self._map, self._SLOTS_AT)
        own = self.index - 1
        return any(count for i, count in enumerate(slots) if count and i != own)

    def clear(self, index: int) -> None:
        """Nothing in flight in worker ``index`` (it died, or starts)."""
        struct.pack_into("<Q", self._map, self._slot_at(index), 0)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class Coherence:
    """Subscribes the caches to the bus. ``refresh(collection_id)`` and ``reload_all()``
    re-read definitions (the store's); they run as bridged tasks on the server's loop, one
    at a time in arrival order, or inline outside a server."""

    def __init__(
        self,
        bus: EventBus,
        records: RecordCache,
        refresh: Callable[[str], None],
        reload_all: Callable[[], None],
        is_auth: Callable[[str], bool] = lambda collection_id: True,
    ):
        self.bus = bus
        self.records = records
        self._refresh = refresh
        self._reload_all = reload_all
        self._is_auth = is_auth
        self._queue: asyncio.Queue[Callable[[], None]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.refreshed = 0
        self.shared: SharedGenerations | None = None  # set by a worker (reference_impl/workers.py)
        self._catching_up: asyncio.Lock | None = None
        self.caught_up = 0  # requests that waited for a catch-up
        bus.subscribe(self.on_event)
        bus.on_gap(self.on_gap)
        bus.on_publish(self._publishing)

    def share(self, shared: SharedGenerations) -> None:
        """Join a worker group: bump and watch its counters."""
        self.shared = shared

    def schema_stale(self) -> bool:
        """``Engine.schema_stale``: another worker committed a collection change that this
        one has not caught up to, or has one in flight."""
        shared = self.shared
        return shared is not None and (shared.schema_stale() or shared.changing_elsewhere())

    def _publishing(self, tx: Any, event: Event) -> None:
        """Inside the transaction of a collection change, before its COMMIT: in flight
        until the transaction ends. Meanwhile the other workers' writes refuse to commit on
        their old definitions (``StaleSchema``) and run again once it has ended
        (:meth:`catch_up` with ``settle``); ``SCHEMA`` moves after the COMMIT
        (:meth:`on_event`), before the change stops being in flight, so no worker can
        catch up to a count whose change it cannot read yet."""
        shared = self.shared
        if shared is not None and not event.is_record:
            shared.begin_change()
            tx.after_end(shared.end_change)

    def on_event(self, event: Event) -> None:
        local = self.bus.is_local(event)
        if event.is_record:
            self.records.drop((event.collection, event.id))
            shared = self.shared if local and event.type != RECORD_CREATE else None
            if shared is not None and self._is_auth(event.collection):
                shared.bump(SharedGenerations.AUTH)
            return
        self.records.drop_collection(event.collection)
        if local:  # this node's own change is in memory already
            if self.shared:
                self.shared.bump(SharedGenerations.SCHEMA)
        else:
            self._later(lambda: self._refresh(event.collection))

    def behind(self) -> bool:
        """Whether another worker changed a collection or an auth record since this one
        last caught up (always False outside ``--workers``)."""
        return self.shared is not None and self.shared.stale()

    SETTLE_S = 30.0  # the longest a replayed request waits for another worker's change

    async def catch_up(self, *, settle: bool = False) -> None:
        """Before a request, on the loop: what :meth:`behind` saw, applied (collections
        re-read under the schema lock; cached auth records dropped). One request does it;
        the others arriving meanwhile wait for it. ``settle`` (a request running again
        after ``StaleSchema``): first wait, up to ``SETTLE_S``, until no other worker has a
        collection change in flight, as a write on one SQLite file or one PostgreSQL table
        waits for a schema change's locks."""
        shared = self.shared
        if shared is None:
            return
        if self._catching_up is None:
            self._catching_up = asyncio.Lock()
        async with self._catching_up:
            if settle:
                deadline = time.monotonic() + self.SETTLE_S
                pause = 0.001
                while shared.changing_elsewhere() and time.monotonic() < deadline:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.05)
            schema, auth = shared.read()
            if schema != shared.seen[SharedGenerations.SCHEMA]:
                self.records.clear()
                await run_bridged(self._reload_all)
            elif auth != shared.seen[SharedGenerations.AUTH]:
                self.records.clear()
            else:
                return
            shared.seen = [schema, auth]
            self.caught_up += 1

    def on_gap(self) -> None:
        self.records.clear()
        self._later(self._reload_all)

    def _later(self, work: Callable[[], None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a blocking caller (CLI, tests): nothing else is running
            work()
            return
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = background(loop, self._drain(self._queue))
        self._queue.put_nowait(work)

    async def _drain(self, queue: asyncio.Queue[Callable[[], None]]) -> None:
        while True:
            work = await queue.get()
            try:
                await run_bridged(work)
                self.refreshed += 1
            except Exception:
                log.exception("re-reading collections after an event failed")

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        await cancel_tasks(worker)
