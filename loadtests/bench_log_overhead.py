"""What request logging costs a request: the reference with logs on and off, side by side.

For each engine two servers run at once, one worker each, one logging every request (the
default) and one with ``PARITY_LOGS_MAX_DAYS=0``; wrk then loads them in interleaved rounds
(on, off, off, on, ...) so that drift in the machine's state falls on both alike, and the
medians over the rounds are compared. ``GET /api/health`` is the worst case: the cheapest
route, so the fixed per-request cost of logging (the entry built and buffered on the
request's path, the writer thread's share of the GIL and the cores) is the largest part of
it. ``--connections 2`` keeps the servers below saturation (two requests in flight: the
latency of a request, not a queue); more connections measure the throughput cost too.

``--route view`` loads a record view as a superuser instead (a typical read: the token
checked, one row read and serialised), where the same fixed cost is a smaller share.

    python loadtests/bench_log_overhead.py [--route health|view] [--rounds 8] [--duration 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_records import wrk

from harness.http import superuser_token
from harness.targets.reference import ReferenceTarget

console = Console(stderr=True)


ROUTES = {
    "health": "GET /api/health",
    "view": "GET /api/collections/posts/records/{id} (superuser, a record of four fields)",
}


def _route_url(target: ReferenceTarget, route: str) -> tuple[str, dict[str, str]]:
    """The URL wrk loads and its headers; ``view`` first makes the collection and record."""
    if route == "health":
        return target.base_url + "/api/health", {}
    token = superuser_token(target.base_url, *target.superuser)
    auth = {"Authorization": token}
    with httpx.Client(base_url=target.base_url, headers=auth, timeout=30) as client:
        fields = [
            {"name": "title", "type": "text"},
            {"name": "n", "type": "number"},
            {"name": "ok", "type": "bool"},
            {"name": "meta", "type": "json"},
        ]
        client.post("/api/collections", json={"name": "posts", "fields": fields}).raise_for_status()
        body = {"title": "hello", "n": 42, "ok": True, "meta": {"k": [1, 2, 3]}}
        made = client.post("/api/collections/posts/records", json=body)
        made.raise_for_status()
    return f"{target.base_url}/api/collections/posts/records/{made.json()['id']}", auth


def run(args: argparse.Namespace) -> dict[str, Any]:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="parity-log-overhead-") as tmp:
        targets: dict[tuple[str, str], ReferenceTarget] = {}
        urls: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
        try:
            for engine in engines:
                for logs in ("on", "off"):
                    env = {"PARITY_DEBUG_SQL": "0", "PARITY_WORKERS": "1"}
                    if logs == "off":
                        env["PARITY_LOGS_MAX_DAYS"] = "0"
                    target = ReferenceTarget(
                        engine, Path(tmp), name=f"{engine}-{logs}", env=env, pg_dsn=args.pg_dsn
                    )
                    target.start()
                    targets[(engine, logs)] = target
                    urls[(engine, logs)] = _route_url(target, args.route)
            for round_no in range(args.rounds):
                order = ("on", "off") if round_no % 2 == 0 else ("off", "on")
                for engine in engines:
                    for logs in order:
                        url, headers = urls[(engine, logs)]
                        figures = wrk(
                            url,
                            duration=args.duration,
                            connections=args.connections,
                            script=None,
                            headers=headers,
                        )
                        results.setdefault(engine, {}).setdefault(logs, []).append(figures)
                console.print(f"round {round_no + 1}/{args.rounds} done")
        finally:
            for target in targets.values():
                target.stop()
    summary = {}
    for engine, by_logs in results.items():
        row: dict[str, float] = {}
        for logs, runs in by_logs.items():
            for key in ("rps", "p50_ms", "p99_ms"):
                row[f"{key}_{logs}"] = statistics.median(r[key] for r in runs)
        row["p50_overhead"] = row["p50_ms_on"] / row["p50_ms_off"] - 1
        row["rps_cost"] = 1 - row["rps_on"] / row["rps_off"]
        summary[engine] = row
    return {
        "route": ROUTES[args.route],
        "rounds": args.rounds,
        "duration_s": args.duration,
        "connections": args.connections,
        "runs": results,
        "summary": summary,
    }


def report(out: dict[str, Any]) -> None:
    table = Table(
        title=f"{out['route']}, logs on vs off: medians of {out['rounds']} interleaved rounds, "
        f"wrk -c{out['connections']} -d{out['duration_s']}s"
    )
    for column in (
        "engine",
        "p50 on",
        "p50 off",
        "p50 overhead",
        "req/s on",
        "req/s off",
        "req/s cost",
    ):
        table.add_column(column, justify="right")
    for engine, row in out["summary"].items():
        table.add_row(
            engine,
            f"{row['p50_ms_on'] * 1000:.0f} µs",
            f"{row['p50_ms_off'] * 1000:.0f} µs",
            f"{row['p50_overhead']:+.1%}",
            f"{row['rps_on']:,.0f}",
            f"{row['rps_off']:,.0f}",
            f"{row['rps_cost']:+.1%}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--route", choices=sorted(ROUTES), default="health")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--pg-dsn", default=None, help="a PostgreSQL server (else embedded)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    out = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
