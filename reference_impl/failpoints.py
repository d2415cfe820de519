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
must happen. An operation reaching a point waits until every earlier event of its round has
happened. An earlier event can fail to come: its operation finished without reaching the
point (a 404 before the write), or it waits on a database lock held by an operation parked
here. The first is seen when its request ends (:func:`finished`); the second when its
request has arrived and ``step_ms`` passed without progress: the waiter skips that event. An
event whose request has not arrived yet is waited for (up to ``arrive_s``). Both depend on
the order alone, not on timing, as long as ``step_ms`` exceeds what an unblocked operation
takes between two points, so one schedule gives one interleaving. An operation passing a point
more often than the schedule lists (a transaction retried after a serialization failure)
passes the further times freely.
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
    "records.update.read",  # the stored record read, the new values not yet written
    "records.create.checked",  # relations checked, the row not yet inserted
    "records.delete.read",  # the record found, not yet deleted
    "records.delete.deleted",  # the row deleted, references to it not yet detached
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
    cursor: int = 0
    progress: float = 0.0

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
        self._started: set[str] = set()
        self._lock = threading.Lock()
        self._rounds = [_Round(list(events)) for events in rounds]
        self._where: dict[tuple[str, str], tuple[int, int]] = {}
        self._ops: dict[str, list[tuple[int, int]]] = {}
        for r, rnd in enumerate(self._rounds):
            for i, (op, point) in enumerate(rnd.events):
                if (op, point) in self._where:
                    raise ValueError(f"event {op} at {point} is listed twice")
                self._where[(op, point)] = (r, i)
                self._ops.setdefault(op, []).append((r, i))
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

    def arrive(self, op: str, point: str) -> None:
        where = self._where.get((op, point))
        if where is None:
            return
        r, index = where
        rnd = self._rounds[r]
        with self._lock:
            if rnd.resolved[index]:  # a retried transaction passing again
                return
            if rnd.progress == 0.0:
                rnd.progress = time.monotonic()
        while True:
            with self._lock:
                if rnd.cursor >= index:
                    self._resolve(r, index, "passed")
                    return
                waited = time.monotonic() - rnd.progress
                blocking = rnd.events[rnd.cursor][0]
                if waited > (self.step if blocking in self._started else self.arrive_s):
                    self._resolve(r, rnd.cursor, "skipped")  # blocked elsewhere, or lost
                    continue
            sleep(_POLL)

    def rounds_events(self) -> list[list[tuple[str, str]]]:
        return [list(rnd.events) for rnd in self._rounds]

    def started(self, op: str) -> None:
        with self._lock:
            self._started.add(op)

    def finished(self, op: str) -> None:
        with self._lock:
            for r, index in self._ops.get(op, ()):
                if not self._rounds[r].resolved[index]:
                    self._resolve(r, index, "not reached")

    def _resolve(self, r: int, index: int, how: str) -> None:
        rnd = self._rounds[r]
        rnd.resolved[index] = True
        op, point = rnd.events[index]
        self.trace.append({"round": r, "op": op, "point": point, "how": how})
        while rnd.cursor < len(rnd.events) and rnd.resolved[rnd.cursor]:
            rnd.cursor += 1
        rnd.progress = time.monotonic()
