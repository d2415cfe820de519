"""The event grid's latency: a write on one node -> its cache drop on the other nodes.

Not a test: one run, one machine. Starts a cluster (``harness.cluster``: N reference servers
on one embedded PostgreSQL), then for each target rate sends record creates round-robin to
every node for ``--duration`` seconds, open loop (each writer keeps its own schedule; a late
request does not push the next ones back), from this process alone (the servers measure,
so the probe's own CPU does not sit between the event and the clock: research testing.md
7.2). Each node times every event it receives from another node, from the publisher's
``time.time()`` at publish to the end of its handlers (the record cache's drop): same host,
same clock. ``GET /api/parity/events?reset=1`` reads and clears each node's samples per
rate.

    python loadtests/probe_events.py [--rates 100,1000,3000] [--duration 10] [--instances 3]
        [--json reports/latest/probe_events.json]

Write -> SSE delivery (and PocketBase's same-instance figure) comes with realtime.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from harness.cluster import Cluster
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD

console = Console(stderr=True)
WRITERS_PER_NODE = 4


def login(url: str) -> str:
    with httpx.Client(base_url=url) as c:
        answer = c.post(
            "/api/collections/_superusers/auth-with-password",
            json={"identity": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD},
        )
        answer.raise_for_status()
        return str(answer.json()["token"])


def drive(urls: list[str], token: str, rate: float, duration: float) -> dict[str, Any]:
    """Creates at ``rate`` per second in total for ``duration`` seconds; what was achieved."""
    writers = [(url, k) for url in urls for k in range(WRITERS_PER_NODE)]
    interval = len(writers) / rate
    start = time.monotonic() + 0.2
    counts = {"ok": 0, "failed": 0, "late": 0}
    lock = threading.Lock()

    def writer(url: str, index: int) -> None:
        ok = failed = late = 0
        with httpx.Client(base_url=url, headers={"Authorization": token}, timeout=30) as c:
            due = start + index * interval / len(writers)
            while due < start + duration:
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -interval:
                    late += 1
                answer = c.post("/api/collections/probe/records", json={"n": index})
                ok, failed = (ok + 1, failed) if answer.status_code == 200 else (ok, failed + 1)
                due += interval
        with lock:
            counts["ok"] += ok
            counts["failed"] += failed
            counts["late"] += late

    threads = [threading.Thread(target=writer, args=(u, i)) for i, (u, _) in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return {**counts, "achieved_per_s": round(counts["ok"] / elapsed, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,1000,3000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("reports/latest/probe_events.json"))
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    out: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%F"),
        "instances": args.instances,
        "duration_s": args.duration,
        "runs": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="probe-events-") as tmp,
        Cluster(Path(tmp), instances=args.instances) as cluster,
    ):
        urls = cluster.urls
        token = login(urls[0])
        with httpx.Client(base_url=urls[0], headers={"Authorization": token}) as c:
            c.post("/api/collections", json={"name": "probe", "type": "base",
                   "fields": [{"name": "n", "type": "number"}]}).raise_for_status()  # fmt: skip
        time.sleep(0.5)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("rates", total=len(rates))
            for rate in rates:
                progress.update(task, description=f"{rate:.0f} writes/s")
                for url in urls:
                    httpx.get(f"{url}/api/parity/events", params={"reset": 1},
                              headers={"Authorization": token})  # fmt: skip
                driven = drive(urls, token, rate, args.duration)
                time.sleep(1.0)  # the last events arrive
                nodes = []
                for url in urls:
                    stats = httpx.get(f"{url}/api/parity/events", params={"reset": 1},
                                      headers={"Authorization": token}).json()  # fmt: skip
                    nodes.append({"node": stats["node"], **stats["latency"]})
                out["runs"].append({"target_per_s": rate, **driven, "nodes": nodes})
                progress.advance(task)
    table = Table(title="write on one node -> cache drop on another (ms, measured by receivers)")
    for col in ("target/s", "achieved/s", "failed", "node", "events", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="right")
    for run in out["runs"]:
        for node in run["nodes"]:
            ms = [f"{node.get(k, 0):.2f}" for k in ("p50Ms", "p95Ms", "p99Ms", "maxMs")]
            table.add_row(f"{run['target_per_s']:.0f}", f"{run['achieved_per_s']:.0f}",
                          str(run["failed"]), node["node"], str(node["count"]), *ms)  # fmt: skip
    Console().print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
