"""Named interleaving points ("failpoints") and the seeded schedule that orders them.

The race suite (``harness/race``) needs the same interleaving twice to replay an anomaly from
its seed; the OS scheduler gives a different one each run. So the write paths call
:func:`failpoint` at the moments an interleaving matters (a record read and not yet written,
a relation checked and the row not yet inserted, ...), and a :class:`Schedule` installed by
the harness makes operations pass those points in the order it lists.

Off by default: then :func:`failpoint` is one global read. ``parity serve --failpoints`` (or
``PARITY_FAILPOINTS=1``) turns them on, which also opens ``/api/parity/schedule``
(superuser): ``POST`` installs a schedule, ``GET`` returns what happened at each point,
``DELETE`` removes it. Each request names its operation with ``X-Parity-Op``.

A schedule is a list of rounds; a round, the events ``(operation, point)`` in the order they
must happen. Within a round one operation runs at a time: an operation reaching a point
waits until every earlier event of its round has happened *and* the operation released by
the last one has reached its next point or finished (its "segment" is done). So what runs
between two points never overlaps across operations, and one schedule gives one
interleaving.

Two things stop a segment from finishing, and both depend on the order alone: it waits on
a lock held by an operation parked at a point (the engine says so, :func:`blocked`, for
SQLite's writer lock; a PostgreSQL row lock is seen as ``step_ms`` without progress), or its
operation ends without reaching the point (a 404 before the write: :func:`finished`). Then
the next event goes ahead. An event whose request has not arrived yet is waited for (up to
``arrive_s``). An operation passing a point more often than the schedule lists (a
transaction retried after a serialization failure) passes the further times freely.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from reference_impl.bridge import sleep

ENV = "PARITY_FAILPOINTS"
OP_HEADER = "x-parity-op"

# The points the reference has, for the harness and the schedule check.
POINTS = (
    "records.update.begin",  # an update started, nothing read yet
    "records.update.read",  # the stored record read, the new values not yet written
    "records.create.checked",  # relations checked, the row not yet inserted
    "records.delete.read",  # the record found, not yet deleted
    "records.delete.deleted",  # the row deleted, references to it not yet detached
    "records.view.begin",  # a view by id started, nothing read yet
)

current_op: contextvars.ContextVar[str | None] = contextvars.ContextVar("parity_op", default=None)

_enabled = os.environ.get(ENV) == "1"
_schedule: Schedule | None = None
_POLL = 0.0005


def enable(on: bool = True) -> None:
    global _enabled, _schedule
    _enabled = on
    if not on:
        _schedule = None


def enabled() -> bool:
    return _enabled


def failpoint(name: str) -> None:
    """Wait here until the installed schedule lets the current operation pass ``name``."""
    if not _enabled:
        return
    schedule, op = _schedule, current_op.get()
    if schedule is not None and op is not None:
        schedule.arrive(op, name)


def blocked() -> None:
    """The current operation is about to wait for a lock another may hold while parked at a
    point: its segment stops holding the schedule back."""
    if not _enabled:
        return
    schedule, op = _schedule, current_op.get()
    if schedule is not None and op is not None:
        schedule.blocked(op)


@contextmanager
def operation(op: str | None) -> Iterator[None]:
    """The request's operation (``X-Parity-Op``) for the points it reaches; when the request
    ends, the events it did not reach stop holding the others back."""
    if not _enabled or not op:
        yield
        return
    token = current_op.set(op)
    schedule = _schedule
    if schedule is not None:
        schedule.started(op)
    try:
        yield
    finally:
        current_op.reset(token)
        schedule = _schedule
        if schedule is not None:
            schedule.finished(op)


def install(data: Mapping[str, Any]) -> Schedule:
    """``{"rounds": [[[op, point], ...], ...], "step_ms": 25}``; ValueError saying what is
    wrong with anything else."""
    global _schedule
    schedule = Schedule.parse(data)
    _schedule = schedule
    return schedule


def current() -> Schedule | None:
    return _schedule


def clear() -> None:
    global _schedule
    _schedule = None


@dataclass
class _Round:
    events: list[tuple[str, str]]
    resolved: list[bool] = field(default_factory=list)
    cursor: int = 0  # the first unresolved event
    running: str | None = None  # the operation released last, until its segment is done
    progress: float = 0.0  # when something last happened

    def __post_init__(self) -> None:
        self.resolved = [False] * len(self.events)


class Schedule:
    def __init__(
        self,
        rounds: Sequence[Sequence[tuple[str, str]]],
        step_ms: float = 100.0,
        arrive_s: float = 10.0,
    ):
        self.step = step_ms / 1000.0
        self.arrive_s = arrive_s
        self._lock = threading.Lock()
        self._started: set[str] = set()
        self._rounds = [_Round(list(events)) for events in rounds]
        self._where: dict[tuple[str, str], tuple[int, int]] = {}
        self._round_of: dict[str, int] = {}
        for r, rnd in enumerate(self._rounds):
            for i, (op, point) in enumerate(rnd.events):
                if (op, point) in self._where:
                    raise ValueError(f"event {op} at {point} is listed twice")
                if self._round_of.setdefault(op, r) != r:
                    raise ValueError(f"operation {op} is listed in two rounds")
                self._where[(op, point)] = (r, i)
        self.trace: list[dict[str, Any]] = []  # what happened, in order

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Schedule:
        rounds = data.get("rounds")
        if not isinstance(rounds, list):
            raise ValueError("rounds must be a list of rounds, each a list of [op, point]")
        parsed: list[list[tuple[str, str]]] = []
        for rnd in rounds:
            if not isinstance(rnd, list):
                raise ValueError("each round must be a list of [op, point]")
            events = []
            for event in rnd:
                if (
                    not isinstance(event, list)
                    or len(event) != 2
                    or not all(isinstance(part, str) for part in event)
                ):
                    raise ValueError(f"an event is [op, point] (two strings), not {event!r}")
                if event[1] not in POINTS:
                    raise ValueError(f"unknown point {event[1]!r}; the points: {', '.join(POINTS)}")
                events.append((event[0], event[1]))
            parsed.append(events)
        step = data.get("step_ms", 100)
        if not isinstance(step, int | float) or isinstance(step, bool) or not 0 < step <= 10_000:
            raise ValueError("step_ms must be a number of milliseconds in (0, 10000]")
        arrive = data.get("arrive_s", 10)
        if not isinstance(arrive, int | float) or isinstance(arrive, bool) or not 0 < arrive <= 600:
            raise ValueError("arrive_s must be a number of seconds in (0, 600]")
        return cls(parsed, float(step), float(arrive))

    def rounds_events(self) -> list[list[tuple[str, str]]]:
        return [list(rnd.events) for rnd in self._rounds]

    def started(self, op: str) -> None:
        with self._lock:
            self._started.add(op)

    def arrive(self, op: str, point: str) -> None:
        r = self._round_of.get(op)
        if r is None:
            return
        rnd = self._rounds[r]
        with self._lock:
            self._segment_done(rnd, op, "arrived")
            where = self._where.get((op, point))
            if where is None or rnd.resolved[where[1]]:  # unlisted, or a retry passing again
                return
            index = where[1]
            if rnd.progress == 0.0:
                rnd.progress = time.monotonic()
        while True:
            with self._lock:
                if rnd.cursor == index and rnd.running is None:
                    self._resolve(r, index, "passed")
                    rnd.running = op
                    return
                waited = time.monotonic() - rnd.progress
                if rnd.running is not None:
                    if waited > self.step:  # a row lock held by an operation parked here
                        self._segment_done(rnd, rnd.running, "timed out")
                else:
                    waiting_for = rnd.events[rnd.cursor][0]
                    limit = self.step if waiting_for in self._started else self.arrive_s
                    if waited > limit:
                        self._resolve(r, rnd.cursor, "skipped")
            sleep(_POLL)

    def blocked(self, op: str) -> None:
        r = self._round_of.get(op)
        if r is not None:
            with self._lock:
                self._segment_done(self._rounds[r], op, "blocked")

    def finished(self, op: str) -> None:
        r = self._round_of.get(op)
        if r is None:
            return
        rnd = self._rounds[r]
        with self._lock:
            self._segment_done(rnd, op, "finished")
            for index, (event_op, _) in enumerate(rnd.events):
                if event_op == op and not rnd.resolved[index]:
                    self._resolve(r, index, "not reached")

    def _segment_done(self, rnd: _Round, op: str, how: str) -> None:
        if rnd.running == op:
            rnd.running = None
            rnd.progress = time.monotonic()
            if how in ("timed out", "blocked"):
                self.trace.append({"op": op, "segment": how})

    def _resolve(self, r: int, index: int, how: str) -> None:
        rnd = self._rounds[r]
        rnd.resolved[index] = True
        op, point = rnd.events[index]
        self.trace.append({"round": r, "op": op, "point": point, "how": how})
        while rnd.cursor < len(rnd.events) and rnd.resolved[rnd.cursor]:
            rnd.cursor += 1
        rnd.progress = time.monotonic()
