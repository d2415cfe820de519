"""``parity serve --workers 2`` on each engine: real processes behind one socket, over HTTP.

- both workers serve, each its own node of the event grid;
- a collection created, changed or deleted through one connection is what the very next
  request on any other connection sees (no 404 for a collection just created, the new
  field's validation at once, a 404 once deleted);
- a password change through one worker stops the old token on every worker at once;
- realtime: clients whose subscription request lands on another worker than their stream
  still get their events (the subscription was forwarded);
- concurrent writes through both workers: every one answered 200 (SQLite: no "database
  is locked" reaches a client), none lost;
- a worker killed with SIGKILL is replaced and the server keeps answering; SIGTERM stops
  the supervisor and every worker.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.sse import RealtimeClient
from harness.targets.reference import ReferenceTarget

WORKERS = 2


@pytest.fixture(scope="module")
def server(
    engine_name: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ReferenceTarget]:
    dsn, pg_server, database = None, None, f"pp_workers_{os.getpid()}"
    if engine_name == "postgres":  # a database of its own: the supervisor bootstraps it
        pg_server = request.getfixturevalue("pg_server")
        dsn = pg_server.create_database(database, exist_ok=True)
    target = ReferenceTarget(
        engine_name,
        tmp_path_factory.mktemp(f"workers-{engine_name}"),
        pg_dsn=dsn,
        env={"PARITY_WORKERS": str(WORKERS), "PARITY_DEBUG_SQL": "0"},
    )
    target.start()
    yield target
    target.stop()
    if pg_server is not None:
        pg_server.drop_database(database)


def _fresh(server: ReferenceTarget, token: str | None = None) -> httpx.Client:
    """A new connection: the kernel hands it to whichever worker accepts first."""
    headers = {"Authorization": token} if token else {}
    return httpx.Client(base_url=server.base_url, timeout=30, headers=headers)


@pytest.fixture(scope="module")
def token(server: ReferenceTarget) -> str:
    email, password = server.superuser
    with _fresh(server) as client:
        answer = client.post(
            "/api/collections/_superusers/auth-with-password",
            json={"identity": email, "password": password},
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def _by_worker(server: ReferenceTarget, token: str, tries: int = 300) -> dict[int, Any]:
    """``GET /api/parity/events`` of each worker (fresh connections until all answered)."""
    seen: dict[int, Any] = {}
    for _ in range(tries):
        with _fresh(server, token) as client:
            stats = client.get("/api/parity/events").json()
        seen[stats["worker"]["index"]] = stats
        if len(seen) == WORKERS:
            break
    return seen


def test_every_worker_serves_as_its_own_node(server: ReferenceTarget, token: str) -> None:
    seen = _by_worker(server, token)
    assert sorted(seen) == list(range(1, WORKERS + 1))
    assert len({stats["node"] for stats in seen.values()}) == WORKERS
    assert all(stats["worker"]["of"] == WORKERS for stats in seen.values())


def test_a_schema_change_is_seen_by_the_next_request_on_any_worker(
    server: ReferenceTarget, token: str
) -> None:
    with _fresh(server, token) as admin:
        for i in range(20):
            name = f"wk_{os.getpid()}_{i}"
            created = admin.post(
                "/api/collections",
                json={"name": name, "type": "base", "fields": [{"name": "t", "type": "text"}]},
            )
            assert created.status_code == 200, created.text
            with _fresh(server, token) as other:
                record = other.post(f"/api/collections/{name}/records", json={"t": "x"})
            assert record.status_code == 200, f"{i}: {record.status_code} {record.text}"
            changed = admin.patch(
                f"/api/collections/{name}",
                json={
                    "fields": [
                        *created.json()["fields"],
                        {"name": "must", "type": "text", "required": True},
                    ]
                },
            )
            assert changed.status_code == 200, changed.text
            with _fresh(server, token) as other:
                refused = other.post(f"/api/collections/{name}/records", json={"t": "y"})
            assert refused.status_code == 400, f"{i}: {refused.status_code} {refused.text}"
            assert "must" in refused.json()["data"]
            assert admin.delete(f"/api/collections/{name}").status_code == 204
            with _fresh(server, token) as other:
                gone = other.get(f"/api/collections/{name}/records")
            assert gone.status_code == 404, f"{i}: {gone.status_code} {gone.text}"


def test_a_password_change_stops_the_old_token_on_every_worker(
    server: ReferenceTarget, token: str
) -> None:
    email, old, new = f"w{os.getpid()}@example.com", "old-password-123", "new-password-456"
    with _fresh(server, token) as admin:
        user = admin.post(
            "/api/collections/users/records",
            json={"email": email, "password": old, "passwordConfirm": old},
        )
        assert user.status_code == 200, user.text
        login = admin.post(
            "/api/collections/users/auth-with-password",
            json={"identity": email, "password": old},
        )
        user_token = login.json()["token"]
        for _ in range(10):  # every worker has the user's record cached
            with _fresh(server, user_token) as client:
                assert client.post("/api/collections/users/auth-refresh").status_code == 200
        changed = admin.patch(
            f"/api/collections/users/records/{user.json()['id']}",
            json={"password": new, "passwordConfirm": new},
        )
        assert changed.status_code == 200, changed.text
    for attempt in range(10):
        with _fresh(server, user_token) as client:
            answer = client.post("/api/collections/users/auth-refresh")
        assert answer.status_code == 401, f"attempt {attempt}: {answer.status_code}"


def test_realtime_subscriptions_reach_the_worker_holding_the_stream(
    server: ReferenceTarget, token: str
) -> None:
    name = f"rt_{os.getpid()}"
    with _fresh(server, token) as admin:
        created = admin.post(
            "/api/collections",
            json={"name": name, "type": "base", "listRule": "", "viewRule": "", "fields": []},
        )
        assert created.status_code == 200, created.text
    before = sum(s["worker"]["forwarded"] for s in _by_worker(server, token).values())
    clients = [RealtimeClient(server.base_url) for _ in range(12)]
    try:
        for rt in clients:
            for _ in range(3):  # each on a fresh connection: some land on the other worker
                with _fresh(server) as other:
                    answer = other.post(
                        "/api/realtime", json={"clientId": rt.client_id, "subscriptions": [name]}
                    )
                assert answer.status_code == 204, answer.text
        with _fresh(server, token) as admin:
            assert admin.post(f"/api/collections/{name}/records", json={}).status_code == 200
        for rt in clients:
            messages = rt.wait_for(1, timeout=10)
            assert [m.event for m in messages] == [name], rt.client_id
    finally:
        for rt in clients:
            rt.close()
    assert {rt.client_id[:3] for rt in clients} <= {"w01", "w02"}
    after = sum(s["worker"]["forwarded"] for s in _by_worker(server, token).values())
    assert after > before  # some subscriptions went through the other worker


def test_concurrent_writes_through_both_workers_all_land(
    server: ReferenceTarget, token: str
) -> None:
    name = f"cw_{os.getpid()}"
    with _fresh(server, token) as admin:
        created = admin.post(
            "/api/collections",
            json={"name": name, "type": "base", "fields": [{"name": "n", "type": "number"}]},
        )
        assert created.status_code == 200, created.text

    def write(worker: int) -> list[int]:
        with _fresh(server, token) as client:
            return [
                client.post(f"/api/collections/{name}/records", json={"n": i}).status_code
                for i in range(40)
            ]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(write, range(8)) for s in batch]
    assert statuses == [200] * 320
    with _fresh(server, token) as admin:
        listed = admin.get(f"/api/collections/{name}/records", params={"perPage": 1})
    assert listed.json()["totalItems"] == 320


def _ready_count(server: ReferenceTarget, token: str) -> bool:
    """Every worker answers (the replacement included)."""
    return len(_by_worker(server, token, tries=50)) == WORKERS


def _worker_pids(supervisor: int) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == supervisor and b"spawn_main" in cmdline:
            pids.add(int(entry.name))
    return pids


def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all(
    server: ReferenceTarget, token: str
) -> None:
    """The replacement starts while the other worker keeps changing the schema (it only
    reads it, and its startup writes are not a request's: no StaleSchema there)."""
    supervisor = server.pid or 0
    workers = _worker_pids(supervisor)
    assert len(workers) == WORKERS, workers
    victim = min(workers)
    stop = threading.Event()
    failures: list[str] = []

    def churn() -> None:
        i = 0
        admin = _fresh(server, token)
        while not stop.is_set():
            i += 1
            name = f"churn_{os.getpid()}_{i}"
            try:
                made = admin.post("/api/collections", json={"name": name, "type": "base"})
                gone = admin.delete(f"/api/collections/{name}")
            except httpx.TransportError:  # its worker was the one killed: a new connection
                admin.close()
                admin = _fresh(server, token)
                continue
            if made.status_code != 200 or gone.status_code != 204:
                failures.append(f"{made.status_code} {made.text} {gone.status_code}")
        admin.close()

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    time.sleep(0.3)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _worker_pids(supervisor)
        if victim not in now and len(now) == WORKERS and _ready_count(server, token):
            break
        time.sleep(0.1)
    stop.set()
    churner.join(30)
    assert victim not in now and len(now) == WORKERS, now
    assert not failures, failures[:5]
    for _ in range(20):
        with _fresh(server, token) as client:
            assert client.get("/api/health").status_code == 200
    assert sorted(_by_worker(server, token)) == list(range(1, WORKERS + 1))
    server.stop()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in now) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in now)
