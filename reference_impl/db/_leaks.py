"""Leak detection for pooled connections (EPIC-1.5): psycopg_pool has none built in (no
borrow timeout, no stack capture; research/ecosystem.md section 7).

Every transaction registers the connection it holds with the stack that took it: the code
objects and line numbers of up to 16 frames (no locals kept alive; formatted only when
reported: 7 us per transaction at a depth of 12 frames, where a StackSummary cost 26 us).
A daemon thread looks every ``threshold / 2`` seconds (at most 1 s) and logs one warning
per hold that passed the threshold, naming how long and where it was taken; ``leaks``
counts them for the metrics listener. The hold itself is not interrupted: a slow
transaction and a leak look the same from here, the stack tells them apart.
"""

from __future__ import annotations

import itertools
import linecache
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, FrameType

log = logging.getLogger("reference_impl.pool")


@dataclass
class _Hold:
    since: float
    stack: tuple[tuple[CodeType, int], ...]
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
        stack: list[tuple[CodeType, int]] = []
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and len(stack) < 16:
            stack.append((frame.f_code, frame.f_lineno))
            frame = frame.f_back
        key = next(self._ids)
        hold = _Hold(time.monotonic(), tuple(stack), threading.current_thread().name)
        with self._lock:
            self._holds[key] = hold
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
            taken = "".join(traceback.format_list(_summary(hold.stack)))
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


def _summary(stack: tuple[tuple[CodeType, int], ...]) -> traceback.StackSummary:
    """Outermost first, with the source lines looked up now."""
    return traceback.StackSummary.from_list(
        [
            (
                code.co_filename,
                line,
                code.co_name,
                linecache.getline(code.co_filename, line).strip(),
            )
            for code, line in reversed(stack)
        ]
    )
