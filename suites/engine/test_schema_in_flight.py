"""A collection change in flight on one worker of ``parity serve --workers``, as the other
workers see it (``core/coherence.py``: ``SharedGenerations``' in-flight slots).

In-process, on one SQLite file (two engines, as two workers hold): the worker doing the
change is a real ``App``; the one watching is its counters and its engine. What must hold:
while the change's transaction is open, another worker's request writes refuse to commit
(``StaleSchema``, nothing written) and a replay's catch-up waits; once it has ended,
committed or rolled back, nothing is in flight and the committed change has moved
``SCHEMA`` first, so a catch-up never settles on a count whose change it cannot read."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from reference_impl.app import App
from reference_impl.core.coherence import SharedGenerations
from reference_impl.core.events import COLLECTION_CREATE, Event
from reference_impl.db.engine import write_commits
from reference_impl.db.errors import StaleSchema
from reference_impl.db.sqlite import SqliteEngine


@pytest.fixture
def world(tmp_path: Path) -> Any:
    changer = App(SqliteEngine(tmp_path / "data.db"))
    changer.bootstrap()
    changer.join_workers(SharedGenerations(tmp_path / "generations", 1), None, "w01")
    watcher = App(SqliteEngine(tmp_path / "data.db"))
    watcher.join_workers(SharedGenerations(tmp_path / "generations", 2), None, "w02")
    yield changer, watcher
    changer.engine.close()
    watcher.engine.close()


def _request_write(app: App) -> None:
    """A write as a request of ``app``'s worker makes it (``write_commits`` set)."""
    token = write_commits.set([0])
    try:
        with app.engine.transaction(write=True) as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)")
            tx.execute("INSERT INTO probe VALUES (1)")
    finally:
        write_commits.reset(token)


def _probe_rows(app: App) -> int:
    with app.engine.transaction() as tx:
        found = tx.fetchone("SELECT count(*) FROM sqlite_master WHERE name = 'probe'")
        if not found or not found[0]:
            return 0
        row = tx.fetchone("SELECT count(*) FROM probe")
        return int(row[0]) if row else 0


def test_a_change_is_in_flight_inside_its_transaction_and_over_after_it(world: Any) -> None:
    changer, watcher = world
    theirs = watcher.coherence.shared
    before = theirs.read()[SharedGenerations.SCHEMA]
    seen_inside: list[tuple[bool, bool]] = []
    changer.events.on_publish(
        lambda tx, event: seen_inside.append(
            (theirs.changing_elsewhere(), watcher.coherence.schema_stale())
        )
    )
    changer.store.create(
        {"name": "docs", "type": "base", "fields": [{"name": "t", "type": "text"}]}
    )
    # on_publish handlers run in order: the coherence's (registered first) had raised the slot
    assert seen_inside and all(seen_inside[0])
    assert not theirs.changing_elsewhere()
    assert theirs.read()[SharedGenerations.SCHEMA] > before  # bumped before the slot fell
    assert watcher.coherence.behind()


def test_a_rolled_back_change_leaves_nothing_in_flight(world: Any) -> None:
    changer, watcher = world
    theirs = watcher.coherence.shared
    with pytest.raises(RuntimeError), changer.engine.transaction(write=True) as tx:
        changer.events.publish(tx, Event(COLLECTION_CREATE, "c1", "c1", "docs"))
        assert theirs.changing_elsewhere()
        raise RuntimeError("the change failed after publishing")
    assert not theirs.changing_elsewhere()
    assert not watcher.coherence.behind()  # nothing committed: nothing to catch up to


def test_another_workers_write_refuses_to_commit_while_a_change_is_in_flight(world: Any) -> None:
    changer, watcher = world
    mine = changer.coherence.shared
    mine.begin_change()
    try:
        with pytest.raises(StaleSchema):
            _request_write(watcher)
        assert _probe_rows(watcher) == 0  # nothing of it committed
        _request_write(changer)  # the changing worker's own writes go on
    finally:
        mine.end_change()
    _request_write(watcher)
    assert _probe_rows(watcher) == 2


def test_a_replay_waits_for_the_change_to_end_before_catching_up(world: Any) -> None:
    changer, watcher = world
    mine = changer.coherence.shared

    async def scenario() -> None:
        mine.begin_change()
        waiting = asyncio.create_task(watcher.coherence.catch_up(settle=True))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        mine.end_change()
        await asyncio.wait_for(waiting, 2)

    asyncio.run(scenario())


def test_the_supervisor_clears_a_dead_workers_changes(tmp_path: Path) -> None:
    dead = SharedGenerations(tmp_path / "generations", 1)
    alive = SharedGenerations(tmp_path / "generations", 2)
    dead.begin_change()
    dead.begin_change()
    assert alive.changing_elsewhere() and not dead.changing_elsewhere()
    supervisor = SharedGenerations(tmp_path / "generations")  # index 0: no slot of its own
    supervisor.clear(1)
    assert not alive.changing_elsewhere()
    with pytest.raises(ValueError, match="worker index 65"):
        supervisor.clear(65)
    for shared in (dead, alive, supervisor):
        shared.close()
