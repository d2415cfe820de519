"""The logs API's reads (``core/log_reads.py``) on both engines' auxiliary engines, against
a model of the rows written: hourly stats across hours and days (the conformance scenarios
only ever see one hour), filters over the columns and paths into ``data``, sorts, pages,
write order for ``@rowid``, one log by id, and what the logs' resolver refuses."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reference_impl.core.errors import ApiError
from reference_impl.core.log_reads import LogReads
from reference_impl.core.logs import LogEntry, LogStore
from reference_impl.db.engine import Engine

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def reads(engine: Engine, table: str) -> Iterator[tuple[LogReads, list[LogEntry]]]:
    aux = engine.open_auxiliary()
    store = LogStore(aux, table=f"{table}_logs")
    store.ensure_schema()
    rng = random.Random(7)
    entries = []
    for i in range(300):
        # spread over yesterday and today, some at the edges of an hour
        created = TODAY - timedelta(hours=24) + timedelta(minutes=rng.randrange(0, 48 * 60))
        if i % 50 == 0:
            created = TODAY - timedelta(milliseconds=1)  # yesterday's last hour
        data = {"status": rng.choice([200, 404, 400]), "n": i, "url": f"/api/x?i={i}"}
        level = 8 if data["status"] >= 400 else 0
        entries.append(LogEntry(created, level, f"GET /api/x?i={i}", data))
    for start in range(0, len(entries), 64):  # write order is @rowid order
        store.write(entries[start : start + 64])
    yield LogReads(aux, table=store.table), entries
    aux.close()


def _hour(entry: LogEntry) -> str:
    return entry.created.strftime("%Y-%m-%d %H:00:00.000Z")


def test_stats_count_per_hour_oldest_first(reads: tuple[LogReads, list[LogEntry]]) -> None:
    logs, entries = reads
    expected = sorted(Counter(_hour(e) for e in entries).items())
    assert [(s["date"], s["total"]) for s in logs.stats("")] == expected
    failed = sorted(Counter(_hour(e) for e in entries if e.level > 0).items())
    assert [(s["date"], s["total"]) for s in logs.stats("level > 0")] == failed
    last = (TODAY - timedelta(hours=1)).strftime("%Y-%m-%d %H:00:00.000Z")
    assert dict(expected)[last] >= 6  # the edge rows are in yesterday's 23:00, not today's


def test_list_filters_sorts_and_pages_as_the_model(
    reads: tuple[LogReads, list[LogEntry]],
) -> None:
    logs, entries = reads
    want = [e for e in entries if e.data["status"] == 404 and e.data["n"] >= 100]
    want.sort(key=lambda e: -int(e.data["n"]))
    got: list[int] = []
    for page in (1, 2, 3, 4):
        answer = logs.list(
            page=page,
            per_page=10,
            sort="-data.n",
            filter_text="data.status = 404 && data.n >= 100",
            skip_total=False,
        )
        assert answer["totalItems"] == len(want)
        got += [item["data"]["n"] for item in answer["items"]]
    assert got == [e.data["n"] for e in want][:40]
    first = logs.list(page=1, per_page=5, sort="@rowid", filter_text="", skip_total=True)
    assert [i["data"]["n"] for i in first["items"]] == [0, 1, 2, 3, 4]
    assert (first["totalItems"], first["totalPages"]) == (-1, -1)
    newest = logs.list(page=1, per_page=1, sort="-@rowid", filter_text="", skip_total=True)
    assert newest["items"][0]["data"]["n"] == 299
    since = TODAY.strftime("%Y-%m-%d %H:%M:%S")
    today = logs.list(
        page=1, per_page=1, sort="", filter_text=f"created >= '{since}'", skip_total=False
    )
    assert today["totalItems"] == sum(e.created >= TODAY for e in entries)
    by_message = logs.list(
        page=1, per_page=30, sort="", filter_text="message ~ 'i=29'", skip_total=False
    )
    assert sorted(i["data"]["n"] for i in by_message["items"]) == [29, *range(290, 300)]


def test_view_is_one_log_in_pocketbase_shape(reads: tuple[LogReads, list[LogEntry]]) -> None:
    logs, entries = reads
    item = logs.list(page=1, per_page=1, sort="@rowid", filter_text="", skip_total=True)
    one = logs.view(item["items"][0]["id"])
    assert list(one) == ["id", "created", "data", "message", "level"]
    assert list(one["data"]) == ["n", "status", "url"]  # Go writes a map's keys sorted
    assert one["message"] == entries[0].message and one["level"] == entries[0].level
    assert one["created"] == entries[0].created.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    with pytest.raises(ApiError) as missing:
        logs.view("nosuchlog000000")
    assert missing.value.status == 404
    with pytest.raises(ApiError):
        logs.view("a\x00b")


@pytest.mark.parametrize(
    "text",
    [
        "@request.method = 'GET'",
        "@request.auth.id != ''",
        "@collection.users.id != ''",
        "status = 200",
        "message:lower = 'x'",
        "message.a = 'x'",
        "data = 1 &&",
    ],
)
def test_the_logs_resolver_refuses_what_pocketbase_refuses(
    reads: tuple[LogReads, list[LogEntry]], text: str
) -> None:
    logs, _ = reads
    with pytest.raises(ApiError) as listed:
        logs.list(page=1, per_page=1, sort="", filter_text=text, skip_total=True)
    assert listed.value.status == 400
    with pytest.raises(ApiError) as stats:
        logs.stats(text)
    assert (stats.value.status, stats.value.message) == (400, "Invalid filter format.")


def test_macros_and_json_paths_resolve(reads: tuple[LogReads, list[LogEntry]]) -> None:
    logs, entries = reads
    future = logs.list(
        page=1, per_page=1, sort="", filter_text="created > @tomorrow", skip_total=False
    )
    assert future["totalItems"] == 0
    assert sum(s["total"] for s in logs.stats("data.url ~ 'i=1'")) == sum(
        "i=1" in str(e.data["url"]) for e in entries
    )
    with pytest.raises(ApiError):
        logs.list(page=1, per_page=1, sort="status", filter_text="", skip_total=True)
