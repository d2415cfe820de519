"""One SQLite file, several processes (what ``parity serve --workers N`` runs on SQLite).

- writers in different processes are serialised by the engine's file lock: concurrent
  read-modify-write increments from two processes lose nothing and no client-visible
  "database is locked" comes out of them;
- a named lock held by another process is refused, is released by the kernel when that
  process is killed, and a forced release lets the next locker in;
- a payload one process notifies reaches another process's listener.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reference_impl.db import errors
from reference_impl.db.sqlite import SqliteEngine

INCREMENTS = 2000


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)  # reaps it and closes its pipes


INCREMENTER = """
    import sys, time
    from reference_impl.db.engine import RETRIES, run_in_transaction
    from reference_impl.db.sqlite import SqliteEngine

    engine = SqliteEngine(sys.argv[1])
    time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # both start together

    def bump(tx):
        (n,) = tx.fetchone("SELECT n FROM counter WHERE id = 1")
        tx.execute("UPDATE counter SET n = :n WHERE id = 1", {"n": n + 1})

    for _ in range(int(sys.argv[2])):
        run_in_transaction(engine, bump, write=True)
    print(engine.file_lock_waits, sum(RETRIES.snapshot()[0].values()))
"""


def test_writers_in_two_processes_lose_no_increment(tmp_path: Path) -> None:
    path = tmp_path / "data.db"
    engine = SqliteEngine(path)
    with engine.transaction(write=True) as tx:
        tx.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        tx.execute("INSERT INTO counter VALUES (1, 0)")
    start = str(time.time() + 1.5)
    workers = [_python(INCREMENTER, str(path), str(INCREMENTS), start) for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    waits = 0
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert "locked" not in err
        waits += int(out.split()[0])
    assert waits > 0  # they did overlap, and queued on the file lock
    with engine.transaction() as tx:
        assert tx.fetchone("SELECT n FROM counter WHERE id = 1") == (2 * INCREMENTS,)
    engine.close()


WRITER_LOCK_HOLDER = """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1] + "-writer", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what another process's writer holds while it writes
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_writes_given_up_on_a_held_lock_time_out_and_leave_it_free(tmp_path: Path) -> None:
    """Past the busy timeout a writer gets ``LockTimeout`` (retried and counted by
    ``run_in_transaction``); its wait goes on in the engine's waiter thread and lets go of
    the lock once it gets it, so the writes after the holder is gone go through."""
    path = tmp_path / "data.db"
    engine = SqliteEngine(path, busy_timeout_ms=200)
    with engine.transaction(write=True) as tx:
        tx.execute("CREATE TABLE t (n INTEGER NOT NULL)")
    holder = _python(WRITER_LOCK_HOLDER, str(path), "1.5")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for _ in range(2):  # two waits given up, both left queued behind the holder
            began = time.monotonic()
            with pytest.raises(errors.LockTimeout), engine.transaction(write=True) as tx:
                tx.execute("INSERT INTO t VALUES (1)")
            assert 0.15 < time.monotonic() - began < 1.4
        holder.communicate(timeout=10)
        with engine.transaction(write=True) as tx:
            tx.execute("INSERT INTO t VALUES (2)")
        with engine.transaction() as tx:
            assert tx.fetchall("SELECT n FROM t") == [(2,)]
        fd = os.open(f"{path}-writer", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody kept it
        finally:
            os.close(fd)
        waiters = _waiter_threads()
        assert waiters  # the engine's waiter thread took the waits
        engine.close()
        deadline = time.monotonic() + 5
        while len(_waiter_threads()) >= len(waiters) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(_waiter_threads()) < len(waiters)  # and ends with the engine
    finally:
        if holder.poll() is None:
            _kill(holder)
        engine.close()


def _waiter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "parity-writer" and t.is_alive()]


HOLDER = """
    import asyncio, sys, time
    from reference_impl.db.sqlite import SqliteEngine

    engine = SqliteEngine(sys.argv[1])
    print(asyncio.run(engine.try_lock("cron:job")), flush=True)
    time.sleep(60)
"""


def test_a_named_lock_is_per_file_and_dies_with_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "data.db"
    engine = SqliteEngine(path)
    holder = _python(HOLDER, str(path))
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "True"

    async def attempts() -> list[bool]:
        refused = await engine.try_lock("cron:job")
        other = await engine.try_lock("cron:other")
        await engine.unlock("cron:other")
        return [refused, other]

    assert asyncio.run(attempts()) == [False, True]
    _kill(holder)
    assert asyncio.run(engine.try_lock("cron:job")) is True  # the kernel let go
    asyncio.run(engine.unlock("cron:job"))

    forced = _python(HOLDER, str(path))
    assert forced.stdout is not None
    assert forced.stdout.readline().strip() == "True"

    async def force() -> list[bool]:
        return [
            await engine.try_lock("cron:job"),
            await engine.force_unlock("cron:job"),
            await engine.try_lock("cron:job"),
        ]

    try:
        assert asyncio.run(force()) == [False, True, True]
    finally:
        _kill(forced)
    asyncio.run(engine.unlock("cron:job"))
    engine.close()


LISTENER = """
    import asyncio, sys
    from reference_impl.db.sqlite import SqliteEngine

    engine = SqliteEngine(sys.argv[1])

    async def main():
        got = []
        ready = asyncio.Event()
        task = asyncio.create_task(engine.listen(got.append, ready.set))
        await ready.wait()
        print("listening", flush=True)
        while not got:
            await asyncio.sleep(0.001)
        print(got[0], flush=True)
        task.cancel()

    asyncio.run(main())
"""


def test_a_notification_reaches_another_process(tmp_path: Path) -> None:
    path = tmp_path / "data.db"
    engine = SqliteEngine(path)
    listener = _python(LISTENER, str(path))
    assert listener.stdout is not None
    assert listener.stdout.readline().strip() == "listening"
    sent = time.monotonic()
    with engine.transaction(write=True) as tx:
        tx.notify('{"hello": "other process"}')
    out, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    assert out.strip() == '{"hello": "other process"}'
    assert time.monotonic() - sent < 5
    engine.close()


def test_opening_a_file_another_connection_holds_waits_instead_of_failing(tmp_path: Path) -> None:
    """The workers of ``serve --workers 2`` open a fresh ``auxiliary.db`` together: each
    switches it to WAL, which needs an exclusive lock. Opening must wait for the busy
    timeout like any statement (it once failed at once: "database is locked")."""
    import apsw

    path = tmp_path / "fresh.db"
    holder = apsw.Connection(str(path))
    holder.execute("BEGIN EXCLUSIVE")  # what the other worker's switch to WAL holds
    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    began = time.monotonic()
    engine = SqliteEngine(path, busy_timeout_ms=10_000, events=False)
    try:
        assert time.monotonic() - began >= 0.4  # it waited for the holder
        with engine.transaction(write=True) as tx:
            tx.execute("CREATE TABLE t (n INTEGER)")
    finally:
        engine.close()
        holder.close()


_OPEN_FRESH = """
import sys, time
from pathlib import Path
from reference_impl.db.sqlite import SqliteEngine
path, at = Path(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))  # all of them at the same moment
engine = SqliteEngine(path, busy_timeout_ms=10_000, events=False)
with engine.transaction(write=True) as tx:
    tx.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
engine.close()
print("opened")
"""


def test_processes_opening_one_fresh_file_at_once_all_start(tmp_path: Path) -> None:
    """What two or more workers do with a fresh ``auxiliary.db``: each switches it to WAL
    while another may be building its WAL index, where SQLite answers "database is locked"
    without waiting for the busy timeout (seen: a worker failing to start). Four
    processes, five fresh files: every one must open."""
    for attempt in range(5):
        path = tmp_path / f"fresh{attempt}.db"
        at = time.time() + 1.0
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_FRESH, str(path), str(at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outcomes = [p.communicate(timeout=60) for p in procs]
        failed = [err[-800:] for (out, err) in outcomes if out.strip() != "opened"]
        assert failed == [], failed
