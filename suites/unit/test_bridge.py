"""The sync-on-async bridge: waits go to the loop, errors and context come through."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from reference_impl.bridge import await_, bridged, offload, run_bridged, sleep

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
