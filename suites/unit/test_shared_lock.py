"""The schema lock (``bridge.SharedLock``): shared for record work, exclusive for schema
changes; bridged greenlets and plain threads alike; no starvation, no nested deadlock."""

from __future__ import annotations

import asyncio
import threading
import time

from reference_impl.bridge import SharedLock, run_bridged, sleep


def test_exclusive_waits_for_shared_holders_and_keeps_new_ones_out() -> None:
    lock = SharedLock()
    events: list[str] = []
    held = threading.Event()

    def reader(name: str, hold: float) -> None:
        with lock.shared():
            events.append(f"{name} in")
            held.set()
            time.sleep(hold)
            events.append(f"{name} out")

    first = threading.Thread(target=reader, args=("r1", 0.3))
    first.start()
    held.wait()
    writer_started = threading.Event()

    def writer() -> None:
        writer_started.set()
        with lock.exclusive():
            events.append("w in")
            time.sleep(0.1)
            events.append("w out")

    w = threading.Thread(target=writer)
    w.start()
    writer_started.wait()
    time.sleep(0.05)  # the writer is waiting now; a new reader must queue behind it
    late = threading.Thread(target=reader, args=("r2", 0))
    late.start()
    for t in (first, w, late):
        t.join(5)
    assert events == ["r1 in", "r1 out", "w in", "w out", "r2 in", "r2 out"]


def test_nested_shared_does_not_wait_behind_a_waiting_exclusive() -> None:
    lock = SharedLock()
    inner_done = threading.Event()
    entered = threading.Event()

    def nested() -> None:
        with lock.shared():
            entered.set()
            time.sleep(0.1)  # the writer queues meanwhile
            with lock.shared():  # would deadlock without reentrancy
                inner_done.set()

    t = threading.Thread(target=nested)
    t.start()
    entered.wait()
    w = threading.Thread(target=lambda: lock.exclusive().__enter__())
    w.start()
    t.join(5)
    w.join(5)
    assert inner_done.is_set() and not t.is_alive() and not w.is_alive()


def test_bridged_waiters_park_on_the_loop() -> None:
    lock = SharedLock()
    order: list[str] = []

    def schema_change() -> None:
        with lock.exclusive():
            order.append("change start")
            sleep(0.05)  # yields to the loop: the readers get to queue
            order.append("change end")

    def record_work(i: int) -> None:
        with lock.shared():
            order.append(f"work {i}")

    async def main() -> None:
        change = asyncio.ensure_future(run_bridged(schema_change))
        await asyncio.sleep(0.01)
        await asyncio.gather(change, *(run_bridged(lambda i=i: record_work(i)) for i in range(3)))

    asyncio.run(main())
    assert order[:2] == ["change start", "change end"]
    assert sorted(order[2:]) == ["work 0", "work 1", "work 2"]
