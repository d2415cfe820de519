"""Leak detection for pooled connections (EPIC-1.5): psycopg_pool has none built in (no
borrow timeout, no stack capture; research/ecosystem.md section 7).

Every transaction registers the connection it holds with the stack that took it (a cheap
``StackSummary`` without source lines, formatted only when reported). A daemon thread
looks every ``threshold / 2`` seconds (at most 1 s) and logs one warning per hold that
passed the threshold, naming how long and where it was taken; ``leaks`` counts them for
the metrics listener. The hold itself is not interrupted: a slow transaction and a leak
look the same from here, the stack tells them apart.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("reference_impl.pool")


@dataclass
class _Hold:
    since: float
    stack: traceback.StackSummary
    thread: str
    reported: bool = False


@dataclass
class LeakWatch:
    """``threshold`` seconds (0: off)."""

    threshold: float
    leaks: int = 0
    _holds: dict[int, _Hold] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _thread: threading.Thread | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        if self.threshold <= 0:
            yield
            return
        stack = traceback.StackSummary.extract(
            traceback.walk_stack(None), limit=16, lookup_lines=False
        )
        key = next(self._ids)
        with self._lock:
            self._holds[key] = _Hold(time.monotonic(), stack, threading.current_thread().name)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="parity-leak-watch", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._holds.pop(key, None)

    def check(self) -> int:
        """Report the holds past the threshold (once each); how many were new."""
        now = time.monotonic()
        found: list[tuple[float, _Hold]] = []
        with self._lock:
            for hold in self._holds.values():
                if not hold.reported and now - hold.since >= self.threshold:
                    hold.reported = True
                    found.append((now - hold.since, hold))
            self.leaks += len(found)
        for age, hold in found:
            taken = "".join(traceback.format_list(_lines(hold.stack)))
            log.warning(
                "a PostgreSQL connection has been held for %.1f s (threshold %.1f s) by "
                "thread %s; it was taken at:\n%s",
                age,
                self.threshold,
                hold.thread,
                taken,
            )
        return len(found)

    def _watch(self) -> None:
        interval = min(1.0, self.threshold / 2)
        while True:
            time.sleep(interval)
            self.check()


def _lines(stack: traceback.StackSummary) -> traceback.StackSummary:
    """The stack outermost first, with its source lines (looked up only now)."""
    frames = list(reversed(stack))
    return traceback.StackSummary.from_list(
        [(f.filename, f.lineno or 0, f.name, f.line or "") for f in frames]
    )
