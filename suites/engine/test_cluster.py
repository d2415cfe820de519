"""The event grid end to end: three reference servers on one PostgreSQL database (and the
single-node SQLite equivalent), real processes over HTTP, hooks and cron from
``harness/cluster_hooks.py``.

- a schema change on one node is served by the others once its event arrived; an auth
  record changed on one node stops authenticating on the others long before the record
  cache's TTL would have (so the drop, not the TTL, did it);
- each node ignores its own events (echo) and receives every other node's;
- 1,000 record events: each competing hook ran exactly once in the cluster, each broadcast
  hook once per node; a hook that always fails ends dead after its attempts, visible and
  retryable through the API;
- a cron job runs once per tick across the cluster; ``kill -9`` of the node that ran a
  tick leaves the next ticks to the others;
- ``pg_terminate_backend`` of a node's LISTEN session: it reconnects within a second, counts
  a gap (its caches dropped) and receives events again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from harness.cluster import Cluster
from harness.sse import RealtimeClient
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD

HOOKS = {"PARITY_HOOKS": "harness.cluster_hooks"}
TTL = 5.0  # the record cache's (core/coherence.py)


class Node:
    def __init__(self, url: str):
        self.client = httpx.Client(base_url=url, timeout=30)
        self.login()

    def login(self) -> None:
        answer = self.client.post(
            "/api/collections/_superusers/auth-with-password",
            json={"identity": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD},
        )
        assert answer.status_code == 200, answer.text
        self.client.headers["Authorization"] = answer.json()["token"]

    def get(self, path: str, **params: Any) -> Any:
        answer = self.client.get(path, params=params)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
        return answer.json()

    def post(self, path: str, body: Any, status: int = 200) -> Any:
        answer = self.client.post(path, json=body)
        assert answer.status_code == status, f"{path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def all(self, collection: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, 100):
            got = self.get(f"/api/collections/{collection}/records", page=page, perPage=1000,
                           skipTotal=1, **params)["items"]  # fmt: skip
            items += got
            if len(got) < 1000:
                return items
        raise AssertionError("more than 99 pages")

    def total(self, collection: str, filter_text: str = "") -> int:
        page = self.get(f"/api/collections/{collection}/records", perPage=1, filter=filter_text)
        return int(page["totalItems"])

    def events(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.get("/api/parity/events")
        return stats


def until(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until ``check()`` is truthy; fails naming ``what`` after ``timeout``."""
    began = time.monotonic()
    while True:
        if check():
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.01)


def _collections(node: Node) -> None:
    for name, fields in {
        "items": [{"name": "name", "type": "text"}],
        "doomed": [{"name": "name", "type": "text"}],
        "hook_runs": [{"name": n, "type": "text"} for n in ("hook", "event", "node")],
        "cron_runs": [{"name": "tick", "type": "number"}, {"name": "node", "type": "text"}],
    }.items():
        node.post("/api/collections", {"name": name, "type": "base", "fields": fields})


@pytest.fixture(scope="module")
def cluster(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    dsn = pg_server.dsn_for("postgres")
    with Cluster(tmp_path_factory.mktemp("cluster"), instances=3, pg_dsn=dsn, env=HOOKS) as running:
        first = Node(running.urls[0])
        _collections(first)
        first.client.close()
        yield running


@pytest.fixture
def nodes(cluster: Cluster) -> Iterator[list[Node]]:
    for node in cluster.nodes:  # a test may have killed one
        node.start()
    clients = [Node(url) for url in cluster.urls]
    yield clients
    for client in clients:
        client.client.close()


def test_a_schema_change_is_served_by_every_node(nodes: list[Node]) -> None:
    a, b, c = nodes
    a.post("/api/collections", {"name": "grid1", "type": "base",
                                "fields": [{"name": "a", "type": "text"}]})  # fmt: skip
    for other in (b, c):
        until(lambda o=other: o.client.get("/api/collections/grid1").status_code == 200, 2,
              "the new collection on another node")  # fmt: skip
    b.client.patch("/api/collections/grid1", json={"fields": [
        {"name": "a", "type": "text"}, {"name": "n", "type": "number"}]})  # fmt: skip
    until(lambda: "n" in [f["name"] for f in c.get("/api/collections/grid1")["fields"]], 2,
          "the new field on a third node")  # fmt: skip
    created = c.post("/api/collections/grid1/records", {"a": "x", "n": 5})
    assert created["n"] == 5
    a.client.delete("/api/collections/grid1")
    until(lambda: b.client.get("/api/collections/grid1").status_code == 404, 2,
          "the deleted collection gone on another node")  # fmt: skip


def test_an_auth_change_on_one_node_stops_its_tokens_on_the_others(nodes: list[Node]) -> None:
    a, b, c = nodes
    email = f"grid{time.monotonic_ns()}@example.com"
    old, new = "password-123", "password-456"
    user = a.post("/api/collections/users/records",
                  {"email": email, "password": old, "passwordConfirm": old})  # fmt: skip
    login = b.client.post("/api/collections/users/auth-with-password",
                          json={"identity": email, "password": old})  # fmt: skip
    token = login.json()["token"]

    def accepted(node: Node) -> bool:
        answer = node.client.get(
            f"/api/collections/users/records/{user['id']}", headers={"Authorization": token}
        )
        return answer.status_code == 200

    assert accepted(b) and accepted(b)  # the second one is served from b's record cache
    hits = b.events()["cache"]["hits"]
    assert hits > 0
    # A new password changes the tokenKey: every token issued before is invalid.
    c.client.patch(f"/api/collections/users/records/{user['id']}",
                   json={"password": new, "passwordConfirm": new})  # fmt: skip
    waited = until(lambda: not accepted(b), TTL / 2, "the old token refused on another node")
    assert waited < TTL / 2  # the event dropped the cached record, not its TTL
    assert not accepted(a)


def test_each_node_ignores_its_echo_and_hears_the_others(nodes: list[Node]) -> None:
    before = [n.events() for n in nodes]
    for i, node in enumerate(nodes):
        for k in range(10 * (i + 1)):
            node.post("/api/collections/items/records", {"name": f"echo{i}-{k}"})

    def deltas(key: str) -> list[int]:
        return [int(n.events()[key]) - int(b[key]) for n, b in zip(nodes, before, strict=True)]

    def settled() -> bool:
        sent, echoes, received = deltas("published"), deltas("echoesIgnored"), deltas("received")
        return echoes == sent and all(received[i] == sum(sent) - sent[i] for i in range(3))

    until(settled, 10, "each node ignored its own events and received exactly the others'")
    assert [s >= p for s, p in zip(deltas("published"), [10, 20, 30], strict=True)] == [True] * 3


def test_competing_hooks_run_once_and_broadcast_hooks_on_every_node(nodes: list[Node]) -> None:
    a = nodes[0]
    base_c, base_b = (
        a.total("hook_runs", "hook='competing'"),
        a.total("hook_runs", "hook='broadcast'"),
    )
    items = 1000

    def create(i: int) -> str:
        node = nodes[i % 3]
        return str(node.post("/api/collections/items/records", {"name": f"hook{i}"})["id"])

    with ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(create, range(items)))
    until(lambda: a.total("hook_runs", "hook='competing'") - base_c >= items
          and a.total("hook_runs", "hook='broadcast'") - base_b >= 3 * items, 60,
          "every hook run recorded")  # fmt: skip
    time.sleep(1.0)  # a duplicate run would show up now
    runs = a.all("hook_runs", sort="id")
    per_event = Counter((r["hook"], r["event"]) for r in runs if r["event"] in ids)
    competing = [n for (hook, _), n in per_event.items() if hook == "competing"]
    broadcast = [
        (r["event"], r["node"]) for r in runs if r["hook"] == "broadcast" and r["event"] in ids
    ]
    assert len(competing) == items and set(competing) == {1}, "each competing hook once"
    assert len(broadcast) == 3 * items and len(set(broadcast)) == 3 * items, "once per node"
    by_node = Counter(r["node"] for r in runs if r["hook"] == "competing" and r["event"] in ids)
    assert set(by_node) <= {"node1", "node2", "node3"}


def test_a_failing_hook_ends_dead_and_can_be_retried(nodes: list[Node]) -> None:
    a, b, _ = nodes
    record = a.post("/api/collections/doomed/records", {"name": "x"})

    def dead() -> list[dict[str, Any]]:
        items = b.get("/api/parity/jobs", status="dead")["items"]
        return [j for j in items if j["event"] and j["event"]["id"] == record["id"]]

    until(dead, 15, "the doomed job dead")
    job = dead()[0]
    assert job["hook"] == "doomed" and job["attempts"] == 3 and "refuses" in job["lastError"]
    assert b.client.post(f"/api/parity/jobs/{job['id']}/retry").status_code == 204
    assert b.client.post(f"/api/parity/jobs/{job['id']}/retry").status_code == 404  # not dead
    until(lambda: dead() and dead()[0]["updated"] > job["updated"], 15, "dead again")
    bad = b.client.get("/api/parity/jobs", params={"status": "lost"})
    assert bad.status_code == 400 and "status must be one of" in bad.json()["message"]


def _ticks(node: Node, since: float) -> list[tuple[float, str]]:
    items = node.all("cron_runs", sort="tick", filter=f"tick > {since}")
    return [(float(r["tick"]), str(r["node"])) for r in items]


def test_a_cron_job_runs_once_per_tick_across_the_cluster(nodes: list[Node]) -> None:
    a = nodes[0]
    since = time.time()
    until(lambda: len(_ticks(a, since)) >= 4, 15, "four ticks of cluster_tick")
    time.sleep(0.5)
    ticks = _ticks(a, since)
    counts = Counter(t for t, _ in ticks)
    assert set(counts.values()) == {1}, f"a tick ran twice: {counts}"
    assert all(t % 2 == 0 for t in counts), "ticks fall on the even seconds"
    state = {j["id"]: j for j in nodes[1].get("/api/parity/crons")["items"]}["cluster_tick"]
    assert state["runs"] >= 4 and state["holder"] in {"node1", "node2", "node3"}
    assert state["nextRun"] > time.time() - 1
    listed = a.get("/api/crons")
    assert [j["id"] for j in listed][:1] == ["cluster_tick"]
    assert {"id": "__pbOTPCleanup__", "expression": "0 * * * *"} in listed
    assert a.client.post("/api/crons/__pbOTPCleanup__").status_code == 204
    missing = a.client.post("/api/crons/nope")
    assert (
        missing.status_code == 404 and missing.json()["message"] == "Missing or invalid cron job."
    )


def test_killing_the_cron_holder_leaves_the_next_ticks_to_the_others(
    cluster: Cluster, nodes: list[Node]
) -> None:
    since = time.time()
    until(lambda: _ticks(nodes[0], since), 10, "a tick")
    holder = _ticks(nodes[0], since)[-1][1]
    victim = next(n for n in cluster.nodes if n.name == holder)
    survivors = [nodes[i] for i, n in enumerate(cluster.nodes) if n.name != holder]
    assert victim._proc is not None
    victim._proc.kill()  # SIGKILL: no cleanup, its lock session just ends
    victim._proc.wait()
    killed_at = time.time()
    until(lambda: len(_ticks(survivors[0], killed_at)) >= 2, 10, "two ticks after the kill")
    after = _ticks(survivors[0], killed_at)
    assert holder not in {n for _, n in after}
    assert len({t for t, _ in after}) == len(after)


def test_a_terminated_listen_session_reconnects_and_drops_caches(
    cluster: Cluster, nodes: list[Node], pg_server: Any
) -> None:
    a, b, _ = nodes
    pid = cluster.nodes[1].pid
    gaps = b.events()["gaps"]
    with psycopg.connect(pg_server.dsn_for("postgres"), autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"parity-listen-{pid}",),
        ).fetchall()
    assert killed == [(True,)]
    terminated = time.monotonic()
    until(lambda: b.events()["gaps"] == gaps + 1, 1.0, "the LISTEN session restored")
    assert time.monotonic() - terminated < 1.0
    received = b.events()["received"]
    a.post("/api/collections/items/records", {"name": "after the gap"})
    until(lambda: b.events()["received"] > received, 2, "events received again")


def test_realtime_events_reach_other_nodes_as_the_rules_allow(nodes: list[Node]) -> None:
    a, b, c = nodes
    fields = [{"name": "title", "type": "text"}, {"name": "public", "type": "bool"},
              {"name": "secret", "type": "text", "hidden": True}]  # fmt: skip
    live = {"name": "live", "type": "base", "listRule": "public = true", "viewRule": ""}
    a.post("/api/collections", {**live, "fields": fields})
    token = str(b.client.headers["Authorization"])
    with (
        RealtimeClient(b.client.base_url.__str__().rstrip("/")) as su,
        RealtimeClient(str(c.client.base_url).rstrip("/")) as guest,
    ):
        until(lambda: c.client.get("/api/collections/live").status_code == 200, 2, "live on c")
        assert su.subscribe(["live/*"], token).status_code == 204
        assert guest.subscribe(["live/*"]).status_code == 204
        sent = time.time()
        shown = a.post("/api/collections/live/records", {"title": "shown", "public": True,
                                                       "secret": "x"})  # fmt: skip
        hidden = a.post("/api/collections/live/records", {"title": "hidden", "public": False})
        a.client.patch(f"/api/collections/live/records/{hidden['id']}", json={"public": True})
        got = su.wait_for(3)
        seen = guest.wait_for(2)
        time.sleep(0.3)
        expected = [("create", shown["id"]), ("create", hidden["id"]), ("update", hidden["id"])]
        assert [(m.data["action"], m.data["record"]["id"]) for m in su.messages] == expected
        assert all(m.event == "live/*" and "secret" in m.data["record"] for m in got)
        assert [(m.data["action"], m.data["record"]["id"]) for m in guest.messages] == [
            ("create", shown["id"]), ("update", hidden["id"])]  # fmt: skip
        assert all("secret" not in m.data["record"] for m in seen)
        assert got[0].at - sent < 2.0


def _login(node: Node, email: str, password: str) -> str:
    answer = node.client.post(
        "/api/collections/users/auth-with-password",
        json={"identity": email, "password": password},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def test_a_password_change_elsewhere_drops_a_realtime_clients_auth(nodes: list[Node]) -> None:
    a, b, _ = nodes
    signed_in = {"name": "mine", "type": "base", "listRule": "@request.auth.id != ''",
                 "fields": [{"name": "title", "type": "text"}]}  # fmt: skip
    a.post("/api/collections", signed_in)
    email, old, new = f"rt{time.monotonic_ns()}@example.com", "password-123", "password-456"
    user = a.post("/api/collections/users/records",
                  {"email": email, "password": old, "passwordConfirm": old})  # fmt: skip
    token = _login(b, email, old)
    until(lambda: b.client.get("/api/collections/mine").status_code == 200, 2, "mine on b")
    with RealtimeClient(str(b.client.base_url).rstrip("/")) as client:
        assert client.subscribe(["mine/*"], token).status_code == 204
        a.post("/api/collections/mine/records", {"title": "one"})
        assert len(client.wait_for(1)) == 1
        changed = {"password": new, "passwordConfirm": new}
        a.client.patch(f"/api/collections/users/records/{user['id']}", json=changed)
        time.sleep(0.3)  # the update's event reaches b
        a.post("/api/collections/mine/records", {"title": "two"})
        assert len(client.wait_for(2, timeout=1.0)) == 1, "the old auth no longer counts"
        # the client is a guest again, and a guest may become authenticated
        assert client.subscribe(["mine/*"], _login(b, email, new)).status_code == 204
        a.post("/api/collections/mine/records", {"title": "three"})
        assert [m.data["record"]["title"] for m in client.wait_for(2)] == ["one", "three"]


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Node]:
    with Cluster(tmp_path, instances=1, engine="sqlite", env=HOOKS) as running:
        node = Node(running.urls[0])
        _collections(node)
        yield node
        node.client.close()


def test_the_same_grid_on_one_sqlite_node(single: Node) -> None:
    for i in range(20):
        single.post("/api/collections/items/records", {"name": f"s{i}"})
    until(lambda: single.total("hook_runs", "hook='competing'") == 20
          and single.total("hook_runs", "hook='broadcast'") == 20, 10,
          "both hooks once per event on the one node")  # fmt: skip
    since = time.time()
    until(lambda: len(_ticks(single, since)) >= 2, 10, "two cron ticks")
    assert len({t for t, _ in _ticks(single, since)}) == len(_ticks(single, since))
    stats = single.events()
    assert stats["received"] == 0  # no other process
    assert stats["published"] >= 40
    # The SQLite event log brings the node's own events back, and it ignores them.
    until(lambda: single.events()["echoesIgnored"] >= 40, 5, "its own events, ignored")
    with pytest.raises(ValueError, match="one node"):
        Cluster(Path("/tmp"), instances=2, engine="sqlite")


def test_bad_realtime_input_gets_a_clear_answer(single: Node) -> None:
    """PocketBase's answers for malformed forms; odd topics are accepted and inert."""
    deep = "posts?options=" + "[" * 1200 + "]" * 1200  # deeper than json.loads recurses
    with RealtimeClient(str(single.client.base_url).rstrip("/")) as client:
        cid = client.client_id
        cases = [
            ({}, 400), ({"clientId": 5}, 400), ({"clientId": cid, "subscriptions": "x"}, 400),
            ({"clientId": cid, "subscriptions": [1]}, 400), ({"clientId": "x" * 256}, 400),
            ({"clientId": cid, "subscriptions": ["a" * 2501]}, 400),
            ({"clientId": cid, "subscriptions": ["a"] * 1001}, 400),
            ({"clientId": "nope", "subscriptions": []}, 404),
            ({"clientId": cid, "subscriptions": [deep, "%zz?options=%zz", "?options={", ""]}, 204),
            ({"clientId": cid, "subscriptions": ['items?options={"query":{"filter":"((("}}']}, 204),
        ]  # fmt: skip
        for body, status in cases:
            answer = single.client.post("/api/realtime", json=body)
            assert answer.status_code == status, (body, answer.text)
        raw = single.client.post(
            "/api/realtime", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert raw.status_code == 400
        single.post("/api/collections/items/records", {"name": "after odd topics"})
        assert client.wait_for(1, timeout=0.5) == []  # a broken filter denies, quietly
        assert single.client.get("/api/health").status_code == 200
