"""Synchronous domain code on the server's event loop, with asyncio I/O underneath.

The domain (``core/``) is plain synchronous code: ``tx.fetchone(...)`` returns a row. The
server runs each request's domain work in a greenlet on the event loop
(:func:`run_bridged`); where that work has to wait (a PostgreSQL round trip through
psycopg's asyncio driver, a bcrypt hash in a worker thread), :func:`await_` switches back
to the loop, which awaits and switches in again with the result. Other requests run in the
meantime, and no thread or GIL hand-off is paid per statement (the threadpool it replaces
spent about a third of each PostgreSQL request's CPU on it: ``loadtests/README.md``).

Outside a bridged greenlet (the CLI, tests, bootstrap) :func:`bridged` is false and callers
use their blocking path. This is the technique SQLAlchemy's asyncio extension uses;
``greenlet`` is the well-kept library that provides the switching.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")


class _Bridged(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet that runs one piece of work after another for :func:`run_bridged`.

    Creating a greenlet costs ~8 us here, switching to an idle one under 1 us, so finished
    ones wait in a per-thread pool (a greenlet belongs to its thread) for the next work.
    While idle it holds nothing of the last work: ``outcome`` is taken, locals are cleared
    and its context is dropped.
    """

    outcome: _Done | None = None


@dataclass
class _Done:
    """How a piece of bridged work ended."""

    value: Any = None
    error: BaseException | None = None


_FINISHED = object()  # switched to the loop when work ends (vs. an awaitable to wait on)
_MAX_IDLE = 64
_local = threading.local()


def _serve(work: Callable[[], Any] | None) -> None:
    me = greenlet.getcurrent()
    while work is not None:
        try:
            me.outcome = _Done(work())
        except BaseException as exc:  # handed to run_bridged, which re-raises it
            me.outcome = _Done(error=exc)
        work = None
        work = me.parent.switch(_FINISHED)  # idle until the next work (GreenletExit: ends)


def _idle() -> list[_Bridged]:
    pool: list[_Bridged] | None = getattr(_local, "idle", None)
    if pool is None:
        pool = _local.idle = []
    return pool


async def run_bridged(work: Callable[[], T]) -> T:
    """Run ``work`` to completion, awaiting every awaitable it hands to :func:`await_`.

    ``work`` sees the caller's context variables (a copy of the context, so mutable values
    such as the SQL capture list are shared); its exceptions propagate to the caller.
    """
    idle = _idle()
    child = idle.pop() if idle else _Bridged(_serve)
    child.parent = greenlet.getcurrent()
    child.gr_context = contextvars.copy_context()
    value = child.switch(work)
    while value is not _FINISHED:
        try:
            result = await value
        except GeneratorExit:
            # This coroutine is being closed, not cancelled: nothing may be awaited any more.
            _abandon(child, value)
            raise
        except BaseException as exc:  # handed to the greenlet: its code decides
            value = child.throw(exc)
        else:
            value = child.switch(result)
    done, child.outcome = child.outcome, None
    child.gr_context = None
    if len(idle) < _MAX_IDLE:
        idle.append(child)
    assert done is not None
    if done.error is not None:
        raise done.error
    return done.value  # type: ignore[no-any-return]


def _abandon(child: _Bridged, pending: Any) -> None:
    """End ``child``'s work without the loop: every wait it still asks for fails at once."""
    for _ in range(100):
        if pending is _FINISHED or child.dead:
            break
        if hasattr(pending, "close"):
            pending.close()  # a coroutine never awaited: no "never awaited" warning
        pending = child.throw(greenlet.GreenletExit)
    child.outcome = None


def bridged() -> bool:
    """True inside :func:`run_bridged`: blocking here would stall every request."""
    return isinstance(greenlet.getcurrent(), _Bridged)


def await_(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` on the event loop from inside :func:`run_bridged`."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Bridged):
        raise RuntimeError("await_() outside run_bridged(): no event loop to wait on")
    return current.parent.switch(awaitable)  # type: ignore[no-any-return]


def offload(fn: Callable[..., T], *args: Any) -> T:
    """Run CPU-bound ``fn`` (bcrypt) in a worker thread when bridged, else directly."""
    if bridged():
        return await_(asyncio.to_thread(fn, *args))
    return fn(*args)


def sleep(seconds: float) -> None:
    """Back off without stalling the event loop when bridged."""
    if bridged():
        await_(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


class LoopLock:
    """A lock for bridged work on one event loop, free when uncontended.

    A thread lock would block the loop's only thread while its holder waits on that loop;
    ``asyncio.Lock`` costs a loop round trip even when free. Here a free lock is taken
    with a flag, and a waiter parks on a future that :meth:`release` hands the lock to.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    def acquire(self) -> None:
        if not self._held:
            self._held = True
            return
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            await_(waiter)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over just as we gave up: pass it on
            elif waiter in self._waiters:  # release() may have dropped it already
                self._waiters.remove(waiter)
            raise

    def locked(self) -> bool:
        return self._held

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # still held: ownership moves to that waiter
                return
        self._held = False


class SharedLock:
    """Shared/exclusive lock for bridged work and plain threads alike (the schema lock).

    Many holders share it; an exclusive holder waits until they are gone and keeps new
    ones out while it waits (a stream of writes cannot starve a schema change). Taking the
    shared side again while holding it (same greenlet or thread) never waits, so nested
    domain calls cannot deadlock behind a waiting exclusive holder. Bridged waiters park on
    a future of their loop, others on an event; nothing blocks a loop's thread.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._shared: dict[int, int] = {}  # holder (greenlet id) -> depth
        self._exclusive: int | None = None
        self._exclusive_depth = 0
        self._exclusive_waiting = 0
        self._waiters: list[Callable[[], None]] = []

    @staticmethod
    def _me() -> int:
        return id(greenlet.getcurrent())

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Called with the mutex held; returns with it held once ``ready()``."""
        while not ready():
            if bridged():
                loop = asyncio.get_running_loop()
                future: asyncio.Future[None] = loop.create_future()

                def wake(
                    loop: asyncio.AbstractEventLoop = loop,
                    future: asyncio.Future[None] = future,
                ) -> None:
                    loop.call_soon_threadsafe(_resolve, future)

                self._waiters.append(wake)
                self._mutex.release()
                try:
                    await_(future)
                finally:
                    self._mutex.acquire()
                    if wake in self._waiters:
                        self._waiters.remove(wake)
            else:
                event = threading.Event()
                self._waiters.append(event.set)
                self._mutex.release()
                try:
                    event.wait()
                finally:
                    self._mutex.acquire()
                    if event.set in self._waiters:
                        self._waiters.remove(event.set)

    def _wake_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()

    def acquire_shared(self) -> None:
        me = self._me()
        with self._mutex:
            if me in self._shared or self._exclusive == me:
                self._shared[me] = self._shared.get(me, 0) + 1
                return
            self._wait(lambda: self._exclusive is None and not self._exclusive_waiting)
            self._shared[me] = 1

    def release_shared(self) -> None:
        me = self._me()
        with self._mutex:
            depth = self._shared.pop(me) - 1
            if depth:
                self._shared[me] = depth
            elif not self._shared:
                self._wake_all()

    def acquire_exclusive(self) -> None:
        me = self._me()
        with self._mutex:
            if self._exclusive == me:
                self._exclusive_depth += 1
                return
            self._exclusive_waiting += 1
            try:
                # Holders of the shared side other than the caller must finish first.
                self._wait(lambda: self._exclusive is None and not (set(self._shared) - {me}))
            finally:
                self._exclusive_waiting -= 1
            self._exclusive, self._exclusive_depth = me, 1

    def release_exclusive(self) -> None:
        with self._mutex:
            self._exclusive_depth -= 1
            if not self._exclusive_depth:
                self._exclusive = None
                self._wake_all()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        self.acquire_exclusive()
        try:
            yield
        finally:
            self.release_exclusive()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def background(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task that carries nothing of the request that happened to start it (a task copies
    its creator's context: the request's isolation, SQL capture, ``write_commits``)."""
    return loop.create_task(coro, context=contextvars.Context())


async def cancel_tasks(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the background tasks given (None: none) and wait until each has ended; the
    event grid's workers stop so (``core/events.py``, ``hooks.py``, ``cron.py``...)."""
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
