"""The request-log pipeline (``core/logs.py``) on both engines' auxiliary engines: every
accepted entry is written, intact, by the writer thread (a stop drains the rest); a full
buffer drops and counts; PostgreSQL's rows go to UNLOGGED day partitions; retention drops
old days (partitions on PostgreSQL, rows on SQLite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from reference_impl.core.logs import LogBuffer, LogEntry, LogStore, LogWriter
from reference_impl.db.engine import Engine

TODAY = datetime.now(UTC).date()


@pytest.fixture
def aux(engine: Engine) -> Iterator[Engine]:
    auxiliary = engine.open_auxiliary()
    yield auxiliary
    auxiliary.close()


def _entry(i: int, day: date = TODAY) -> LogEntry:
    created = datetime(day.year, day.month, day.day, 12, 0, 0, (i % 1000) * 1000, tzinfo=UTC)
    data = {"type": "request", "status": 200 + i % 3, "url": f"/api/x?i={i}\t\\N", "n": i}
    return LogEntry(created, i % 5 - 4, f"GET /api/x {i}", data)


def _rows(store: LogStore) -> list[tuple[int, str, dict[str, object], datetime]]:
    d = store.aux.dialect
    with store.aux.transaction() as tx:
        raw = tx.fetchall(f"SELECT level, message, data, created FROM {d.table(store.table)}")
    kinds = dict(d.LOG_COLUMNS)
    return sorted(
        (int(r[0]), str(r[1]), d.from_db(kinds["data"], r[2]), d.from_db(kinds["created"], r[3]))
        for r in raw
    )


def test_every_accepted_entry_is_written_intact(aux: Engine, table: str) -> None:
    store = LogStore(aux, table=f"{table}_logs")
    store.ensure_schema()
    buffer = LogBuffer(batch_size=500)
    writer = LogWriter(buffer, store, interval=0.05)
    writer.start()
    entries = [_entry(i) for i in range(20_000)]

    def produce(part: list[LogEntry]) -> None:
        for entry in part:
            assert buffer.append(entry)

    producers = [threading.Thread(target=produce, args=(entries[k::2],)) for k in range(2)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    writer.stop()
    assert (buffer.accepted, buffer.dropped, writer.written, writer.failed) == (
        20_000,
        0,
        20_000,
        0,
    )
    expected = sorted((e.level, e.message, e.data, e.created) for e in entries)
    assert _rows(store) == expected


def test_a_full_buffer_drops_and_counts_and_keeps_what_it_took(aux: Engine, table: str) -> None:
    store = LogStore(aux, table=f"{table}_logs")
    store.ensure_schema()
    buffer = LogBuffer(capacity=100, batch_size=40)
    results = [buffer.append(_entry(i)) for i in range(150)]  # no writer yet: it fills
    assert results == [True] * 100 + [False] * 50
    assert (buffer.accepted, buffer.dropped) == (100, 50)
    writer = LogWriter(buffer, store, interval=0.05)
    writer.start()
    writer.stop()
    assert writer.written == 100 and len(_rows(store)) == 100
    assert buffer.append(_entry(999))  # room again


def test_postgres_keeps_logs_in_unlogged_day_partitions(aux: Engine, table: str) -> None:
    if aux.name != "postgres":
        pytest.skip("SQLite has no partitions or unlogged tables: auxiliary.db holds the rows")
    name = f"{table}_logs"
    store = LogStore(aux, table=name)
    store.ensure_schema()
    store.write([_entry(1), _entry(2, TODAY + timedelta(days=1))])
    with aux.transaction() as tx:
        kinds = dict(tx.fetchall(
            "SELECT relname, relkind::text || relpersistence::text FROM pg_class "
            "WHERE relname LIKE %(p)s", {"p": f"{name}%"},
        ))  # fmt: skip
        where = dict(
            tx.fetchall(f"SELECT tableoid::regclass::text, count(*) FROM {name} GROUP BY 1")
        )
    days = [f"{name}_p{(TODAY + timedelta(days=i)):%Y%m%d}" for i in range(3)]
    assert kinds[name] == "pp"  # partitioned parent (logged: PostgreSQL 18 refuses unlogged)
    assert {kinds[p] for p in [*days, f"{name}_default"]} == {"ru"}  # unlogged partitions
    assert where == {days[0]: 1, days[1]: 1}


def test_retention_removes_the_days_past_max_days(aux: Engine, table: str) -> None:
    name = f"{table}_logs"
    old_store = LogStore(aux, table=name, today=lambda: TODAY - timedelta(days=10))
    old_store.ensure_schema()  # as a server ten days ago: partitions for those days
    old_store.write([_entry(1, TODAY - timedelta(days=10)), _entry(2, TODAY - timedelta(days=9))])
    store = LogStore(aux, table=name)
    store.ensure_schema()
    store.write([_entry(3, TODAY - timedelta(days=3)), _entry(4)])  # -3: the default partition
    assert len(_rows(store)) == 4
    store.prune(keep_days=5)  # keeps the last five whole days and today
    assert [message for _, message, _, _ in _rows(store)] == ["GET /api/x 3", "GET /api/x 4"]
    listing = aux.dialect.log_partitions_sql(aux.dialect.placeholder("t"))
    if listing is not None:
        with aux.transaction() as tx:
            left = {str(r[0]) for r in tx.fetchall(listing, {"t": name})}
        assert f"{name}_p{(TODAY - timedelta(days=10)):%Y%m%d}" not in left  # dropped whole
        assert f"{name}_p{TODAY:%Y%m%d}" in left


def test_a_clean_stop_writes_the_partial_batch_at_once(aux: Engine, table: str) -> None:
    """SIGTERM's path: nothing accepted is lost, and the stop does not wait the interval."""
    store = LogStore(aux, table=f"{table}_logs")
    store.ensure_schema()
    buffer = LogBuffer(batch_size=1_000)
    writer = LogWriter(buffer, store, interval=60)
    writer.start()
    for i in range(10):  # a partial batch: the writer would wait a minute for more
        buffer.append(_entry(i))
    began = time.monotonic()
    writer.stop()
    assert time.monotonic() - began < 10
    assert writer.written == 10 and len(_rows(store)) == 10


def test_a_hostile_url_is_logged_and_loses_nobody_elses_entry(aux: Engine, table: str) -> None:
    """A NUL in a request URI (``%00``, unescaped into the message): SQLite keeps it,
    PostgreSQL (TEXT and JSONB refuse it) stores U+FFFD. It once failed the whole batch on
    PostgreSQL, losing every request logged beside it."""
    store = LogStore(aux, table=f"{table}_logs")
    store.ensure_schema()
    buffer = LogBuffer(batch_size=1_000)
    writer = LogWriter(buffer, store, interval=60)
    writer.start()
    for i in range(50):
        buffer.append(_entry(i))
    hostile = LogEntry(datetime.now(UTC), 8, "GET /api/x?a=\x00b", {"url": "/api/x?a=%00b\x00"})
    buffer.append(hostile)
    writer.stop()
    assert (writer.written, writer.failed) == (51, 0)
    stored = "\x00" if aux.dialect.TEXT_ALLOWS_NUL else "\ufffd"
    rows = [r for r in _rows(store) if r[0] == 8 and r[1].startswith("GET /api/x?a=")]
    assert [(r[1], r[2]["url"]) for r in rows] == [
        (f"GET /api/x?a={stored}b", f"/api/x?a=%00b{stored}")
    ]


def test_workers_making_the_log_table_together_all_start(engine: Engine, table: str) -> None:
    """``serve --workers N`` starts its workers at once and each makes ``_logs``: on
    PostgreSQL two ``CREATE ... IF NOT EXISTS`` collide in the catalogue; both must start."""
    auxes = [engine.open_auxiliary() for _ in range(4)]
    barrier = threading.Barrier(len(auxes))
    failures: list[BaseException] = []

    def make(aux: Engine) -> None:
        barrier.wait()
        try:
            LogStore(aux, table=f"{table}_logs").ensure_schema()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=make, args=(aux,)) for aux in auxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for aux in auxes:
        aux.close()
    assert failures == []
