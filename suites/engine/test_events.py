"""After-commit callbacks, the event bus and named locks, on each engine.

A transaction's callbacks run once it commits and never after a rollback or a retried
attempt; the bus delivers a published event locally after commit, and on PostgreSQL the
same payload reaches a ``LISTEN pb_events`` session only at commit. Named locks exclude
every other holder, this process's second try included, and a crashed holder's lock is
released (PostgreSQL: its session ended).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from reference_impl.app import App
from reference_impl.core.auth import AuthContext
from reference_impl.core.events import RECORD_CREATE, Event, EventBus
from reference_impl.db.engine import Engine, Tx, run_in_transaction
from reference_impl.db.errors import SerializationFailure


def test_after_commit_runs_once_committed_and_never_after_a_rollback(engine: Engine) -> None:
    seen: list[str] = []
    with engine.transaction(write=True) as tx:
        tx.after_commit(lambda: seen.append("first"))
        tx.after_commit(lambda: seen.append("second"))
        assert seen == []  # not before the COMMIT
    assert seen == ["first", "second"]

    with pytest.raises(RuntimeError), engine.transaction(write=True) as tx:
        tx.after_commit(lambda: seen.append("rolled back"))
        raise RuntimeError("abort")
    assert seen == ["first", "second"]


def test_a_failing_callback_does_not_stop_the_others(engine: Engine) -> None:
    seen: list[str] = []

    def boom() -> None:
        raise ValueError("callback bug")

    with engine.transaction(write=True) as tx:
        tx.after_commit(boom)
        tx.after_commit(lambda: seen.append("still runs"))
    assert seen == ["still runs"]


def test_a_retried_attempt_tells_nobody(engine: Engine) -> None:
    seen: list[int] = []
    attempts = iter(range(3))

    def work(tx: Tx) -> None:
        attempt = next(attempts)
        tx.after_commit(lambda: seen.append(attempt))
        if attempt < 2:
            raise SerializationFailure("provoked")

    run_in_transaction(engine, work, write=True)
    assert seen == [2]


def test_the_bus_delivers_local_events_after_commit_only(engine: Engine) -> None:
    bus = EventBus(engine, "local-node")
    got: list[Event] = []
    bus.subscribe(got.append)
    event = Event(RECORD_CREATE, "c1", "r1", name="posts")
    with engine.transaction(write=True) as tx:
        bus.publish(tx, event)
        assert got == []
    with pytest.raises(RuntimeError), engine.transaction(write=True) as tx:
        bus.publish(tx, Event(RECORD_CREATE, "c1", "r2"))
        raise RuntimeError("abort")
    assert [(e.type, e.id, e.node, e.name) for e in got] == [
        (RECORD_CREATE, "r1", "local-node", "posts")
    ]
    assert got[0].at > 0
    assert bus.stats()["published"] == 1


def test_payloads_round_trip_and_junk_is_ignored() -> None:
    event = Event(RECORD_CREATE, "c1", "r1", name="posts", node="n1", at=12.5)
    assert Event.from_payload(event.payload()) == event
    assert len(event.payload().encode()) < 300  # far under NOTIFY's 8000 bytes
    for junk in ("", "not json", "[]", json.dumps({"type": "record.create"}),
                 json.dumps({**json.loads(event.payload()), "type": "drop.tables"})):  # fmt: skip
        assert Event.from_payload(junk) is None


def test_records_writes_publish_one_event_each(app: App, superuser: AuthContext) -> None:
    got: list[Event] = []
    app.events.subscribe(got.append)
    coll = app.store.create(
        {"name": f"ev{id(got) % 100000}", "type": "base", "fields": [{"name": "a", "type": "text"}]}
    )
    created = app.records.create(coll, {"a": "x"}, superuser)
    app.records.update(coll, created["id"], {"a": "y"}, superuser)
    with pytest.raises(Exception):  # noqa: B017 - a validation error: nothing committed
        app.records.update(coll, created["id"], {"id": "other"}, superuser)
    app.records.delete(coll, created["id"], superuser)
    app.store.delete(coll)
    kinds = [(e.type, e.id) for e in got]
    assert kinds == [
        ("collection.create", coll.id),
        ("record.create", created["id"]),
        ("record.update", created["id"]),
        ("record.delete", created["id"]),
        ("collection.delete", coll.id),
    ]


def test_notify_reaches_a_listener_only_at_commit(engine: Engine) -> None:
    async def scenario() -> tuple[list[str], list[str], int]:
        received: list[str] = []
        gaps: list[int] = []
        listener = asyncio.create_task(engine.listen(received.append, lambda: gaps.append(1)))
        for _ in range(100):  # the LISTEN is in place once the gap handler ran
            if gaps:
                break
            await asyncio.sleep(0.02)
        before: list[str] = []
        with engine.transaction(write=True) as tx:
            tx.notify("inside")
            await asyncio.sleep(0.2)
            before = list(received)
        with pytest.raises(RuntimeError), engine.transaction(write=True) as tx:
            tx.notify("rolled back")
            raise RuntimeError("abort")
        with engine.transaction(write=True) as tx:
            tx.notify("second")
        for _ in range(100):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.02)
        listener.cancel()
        return before, received, len(gaps)

    before, received, gaps = asyncio.run(scenario())
    assert before == []
    assert received == ["inside", "second"]
    assert gaps == 1


def test_an_oversized_payload_is_refused_before_it_is_sent(engine: Engine) -> None:
    if engine.dialect.NOTIFY_LIMIT is None:
        pytest.skip("SQLite's event log takes a payload of any size (next test)")
    with pytest.raises(ValueError, match="8000"), engine.transaction(write=True) as tx:
        tx.notify("x" * 8000)


def test_the_sqlite_event_log_carries_any_size_and_reports_a_purge_as_a_gap(
    engine: Engine,
) -> None:
    if engine.dialect.NOTIFY_LIMIT is not None:
        pytest.skip("PostgreSQL refuses 8000 bytes (previous test)")
    from reference_impl.db import sqlite

    async def scenario() -> tuple[list[str], int]:
        received: list[str] = []
        gaps: list[int] = []
        listener = asyncio.create_task(engine.listen(received.append, lambda: gaps.append(1)))
        while not gaps:
            await asyncio.sleep(0.005)
        with engine.transaction(write=True) as tx:
            tx.notify("x" * 100_000)
        while not received:
            await asyncio.sleep(0.005)
        listener.cancel()  # stalled: two events sent, then purged before it looks again
        await asyncio.gather(listener, return_exceptions=True)
        with engine.transaction(write=True) as tx:
            tx.notify("lost 1")
            tx.notify("lost 2")
        with engine.transaction(write=True) as tx:
            tx.execute(f"DELETE FROM {sqlite.EVENTS} WHERE payload LIKE 'lost%'")
            tx.notify("after")
        return received, len(gaps)

    received, gaps = asyncio.run(scenario())
    assert received == ["x" * 100_000]
    assert gaps == 1  # the start's own
    # Where the stalled listener would resume (after the big one): the two purged rows
    # are counted as missed, the one after them is read.
    import apsw

    eng: Any = engine
    conn = apsw.Connection(str(eng.path))
    try:
        newest = int(conn.execute(f"SELECT max(seq) FROM {sqlite.EVENTS}").get)
        rows, missed = sqlite.read_events(conn, newest - 3)
    finally:
        conn.close()
    assert [payload for _, payload in rows] == ["after"]
    assert missed == 2


def test_named_locks_exclude_every_other_holder(engine: Engine) -> None:
    async def scenario() -> list[bool]:
        out = [await engine.try_lock("job-a"), await engine.try_lock("job-a")]
        out.append(await engine.try_lock("job-b"))
        await engine.unlock("job-a")
        out.append(await engine.try_lock("job-a"))
        out.append(await engine.force_unlock("job-a"))
        out.append(await engine.try_lock("job-a"))
        await engine.unlock("job-a")
        await engine.unlock("job-b")
        await engine.close_async()  # the lock session belongs to this loop
        return out

    assert asyncio.run(scenario()) == [True, False, True, True, True, True]
