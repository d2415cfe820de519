"""The sync-on-async bridge: waits go to the loop, errors and context come through."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import weakref

import pytest

from reference_impl.bridge import LoopLock, await_, bridged, offload, run_bridged, sleep

_var: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("_var", default=None)


async def _value(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


async def _fail() -> None:
    await asyncio.sleep(0)
    raise KeyError("from the loop")


def test_await_outside_the_bridge_is_an_error() -> None:
    assert not bridged()
    coro = _value(1)
    with pytest.raises(RuntimeError, match="outside run_bridged"):
        await_(coro)
    coro.close()


def test_results_and_errors_cross_the_bridge() -> None:
    def work() -> tuple[int, str, bool]:
        assert bridged()
        doubled = await_(_value(21))
        try:
            await_(_fail())
        except KeyError as exc:  # raised on the loop, caught in the sync code
            caught = str(exc)
        return doubled, caught, bridged()

    assert asyncio.run(run_bridged(work)) == (42, "'from the loop'", True)


def test_an_error_in_work_reaches_the_caller() -> None:
    def work() -> None:
        await_(_value(1))
        raise ValueError("in work")

    with pytest.raises(ValueError, match="in work"):
        asyncio.run(run_bridged(work))


def test_bridged_work_interleaves_on_one_loop() -> None:
    """Two pieces of work waiting on the loop overlap: the order shows both started first."""
    log: list[str] = []

    def work(name: str) -> None:
        log.append(f"{name} start")
        sleep(0.01)
        log.append(f"{name} end")

    async def main() -> None:
        await asyncio.gather(run_bridged(lambda: work("a")), run_bridged(lambda: work("b")))

    asyncio.run(main())
    assert log[:2] == ["a start", "b start"]
    assert sorted(log[2:]) == ["a end", "b end"]


def test_context_variables_are_visible_and_shared_values_collect() -> None:
    """The SQL capture list set by the caller is the list the work appends to."""
    sink: list[str] = []

    def work() -> None:
        found = _var.get()
        assert found is sink
        found.append("SELECT 1")

    async def main() -> None:
        _var.set(sink)
        await run_bridged(work)

    asyncio.run(main())
    assert sink == ["SELECT 1"]


def test_offload_uses_a_worker_thread_only_when_bridged() -> None:
    loop_thread = threading.get_ident()
    assert offload(threading.get_ident) == loop_thread  # not bridged: runs right here
    worker = asyncio.run(run_bridged(lambda: offload(threading.get_ident)))
    assert worker != loop_thread


def test_a_cancelled_lock_waiter_ends_cancelled_even_when_release_dropped_it() -> None:
    """Cancelled, then the holder releases before the waiter runs again: the waiter still
    ends with CancelledError (not an error from its cleanup) and the lock ends free."""

    async def main() -> tuple[type[BaseException], bool]:
        lock = LoopLock(asyncio.get_running_loop())
        lock.acquire()  # free: taken without waiting, so this coroutine holds it

        def waiter() -> None:
            lock.acquire()
            lock.release()

        w = asyncio.ensure_future(run_bridged(waiter))
        await asyncio.sleep(0)  # the waiter is parked on its future
        w.cancel()
        lock.release()  # in the same tick, before the waiter runs again
        try:
            await w
        except BaseException as exc:
            return type(exc), lock.locked()
        raise AssertionError("the waiter was not cancelled")

    assert asyncio.run(main()) == (asyncio.CancelledError, False)


def test_a_closed_bridged_coroutine_unwinds_its_work_without_the_loop() -> None:
    """A task destroyed while pending closes its coroutine: the work's cleanup still runs
    (its waits fail at once) and what it held is released."""
    cleaned: list[str] = []

    def work() -> None:
        try:
            sleep(10)
        finally:
            cleaned.append("cleanup")
            sleep(0)  # a cleanup that waits, as a transaction's rollback does

    async def main() -> None:
        coro = run_bridged(work)
        coro.send(None)  # parked in sleep(10)
        coro.close()

    asyncio.run(main())
    assert cleaned == ["cleanup"]


def test_an_idle_greenlet_keeps_nothing_of_the_last_work() -> None:
    class Payload:
        pass

    async def main() -> weakref.ref[Payload]:
        result = await run_bridged(Payload)  # the work's result ...
        ref = weakref.ref(result)
        del result  # ... is gone once the caller lets go (not kept by the idle greenlet)
        return ref

    ref = asyncio.run(main())
    gc.collect()
    assert ref() is None
