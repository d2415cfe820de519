"""Records create, list and view, and health: reference on SQLite, on PostgreSQL, real PocketBase.

One run, same machine, same load generator (wrk, from Debian's package ``wrk``), so the
ratios are comparable. Not a test: timing goals are measured here, never asserted in pytest.

    python loadtests/bench_records.py [--duration 5] [--connections 32] [--rows 2000]
        [--rounds 3] [--targets sqlite,postgres,pocketbase]
        [--json reports/latest/bench_records.json] [--html reports/latest/bench_records.html]

Workloads, each a guest's request: ``create`` POSTs a small record; ``list`` GETs
``perPage=20&sort=-n&filter=ok=true&&n>100`` over ``--rows`` rows; ``view`` GETs one of
them by id; ``health`` is ``GET /api/health``. ``--workloads`` picks some.

A reference target may name its worker processes: ``sqlite@1``, ``postgres@3`` (``parity
serve --workers N``); plain ``sqlite`` is the server's default (one per core). The
reference serves as a user runs it: without the harness's SQL capture
(``PARITY_DEBUG_SQL=0``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from harness.http import superuser_token
from harness.targets import make_target
from harness.targets.base import Target

COLLECTION = {
    "name": "bench",
    "listRule": "",
    "viewRule": "",
    "createRule": "",
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "n", "type": "number"},
        {"name": "ok", "type": "bool"},
    ],
}
LIST_QUERY = "/api/collections/bench/records?perPage=20&sort=-n&filter=ok%3Dtrue%26%26n%3E100"
WORKLOADS = ("list", "view", "health", "create")  # run in this order: create last, so the
# reads see exactly --rows rows (creates add matching ones)
LABELS = {
    "create": "records created / s",
    "list": "filtered lists served / s",
    "view": "records viewed / s",
    "health": "health checks / s",
}
CREATE_LUA = """
wrk.method = "POST"
wrk.body = '{"title":"bench","n":123,"ok":true}'
wrk.headers["Content-Type"] = "application/json"
"""
console = Console(stderr=True)


def wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    script: Path | None,
    headers: dict[str, str] | None = None,
    timeout: int | None = None,
) -> dict[str, float]:
    """wrk's figures for one URL: req/s, p50/p99 in ms, non-2xx answers, socket errors.

    ``timeout`` (s) is how long wrk waits for one answer before counting a timeout error
    (its default is 2 s, which slow lists over big tables exceed).
    """
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if timeout is not None:
        cmd[1:1] = ["--timeout", f"{timeout}s"]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    for name, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(p50),
        "p99_ms": _ms(p99),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": float(sum(map(int, socket.groups()))) if socket else 0.0,
    }


def _ms(match: re.Match[str] | None) -> float:
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def prepare(target: Target, rows: int) -> str:
    """The bench collection with ``rows`` rows; the id of the middle one (for ``view``)."""
    token = superuser_token(target.base_url, *target.superuser)
    middle = ""
    with httpx.Client(base_url=target.base_url, headers={"Authorization": token}, timeout=30) as c:
        c.post("/api/collections", json=COLLECTION).raise_for_status()
        for i in range(rows):
            answer = c.post(
                "/api/collections/bench/records",
                json={"title": f"row {i}", "n": i, "ok": i % 2 == 0},
            )
            answer.raise_for_status()
            if i == rows // 2:
                middle = str(answer.json()["id"])
    return middle


def _target(spec: str, workdir: Path, *, pg_dsn: str | None = None) -> Target:
    """``make_target``'s specs, and ``sqlite@N`` / ``postgres@N`` for N worker processes."""
    engine, _, workers = spec.partition("@")
    if engine not in ("sqlite", "postgres"):
        return make_target(spec, workdir, pg_dsn=pg_dsn)
    from harness.targets.reference import ReferenceTarget

    env = {"PARITY_DEBUG_SQL": "0"}
    if workers:
        env["PARITY_WORKERS"] = workers
    return ReferenceTarget(engine, workdir, name=spec.replace("@", "-w"), env=env, pg_dsn=pg_dsn)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``--rounds`` times: every target started fresh, seeded, read (list, view, health),
    then created into.

    Rounds interleave the targets, so drift on a shared machine hits them alike; each
    figure is the median over rounds, the samples are kept in ``rounds``.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's package `wrk` (apt-get install wrk)")
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    versions: dict[str, str] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    script = workdir / "create.lua"
    script.write_text(CREATE_LUA)
    specs = args.targets.split(",")
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"unknown workloads {unknown}: choose from {', '.join(WORKLOADS)}")
    for round_no in range(1, args.rounds + 1):
        for spec in specs:
            target = _target(spec, workdir / f"{spec}-{round_no}")
            console.print(f"[bold]round {round_no}/{args.rounds} {spec}[/]: starting")
            target.start()
            try:
                console.print(f"  seeding {args.rows} rows")
                middle = prepare(target, args.rows)
                for workload in workloads:
                    console.print(f"  {workload} (wrk)")
                    url, lua = {
                        "create": ("/api/collections/bench/records", script),
                        "list": (LIST_QUERY, None),
                        "view": (f"/api/collections/bench/records/{middle}", None),
                        "health": ("/api/health", None),
                    }[workload]
                    figures = wrk(target.base_url + url, duration=args.duration,
                                  connections=args.connections, script=lua)  # fmt: skip
                    samples.setdefault(spec, {}).setdefault(workload, []).append(figures)
                versions[spec] = target.info().version
            finally:
                target.stop()
    return {
        spec: {
            **{workload: _median(figures) for workload, figures in runs.items()},
            "version": versions[spec],
            "rounds": runs,
        }
        for spec, runs in samples.items()
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's median over the rounds."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def _spread(runs: list[dict[str, float]]) -> str:
    if len(runs) < 2:
        return ""
    values = [r["rps"] for r in runs]
    return f" ({min(values):.0f}-{max(values):.0f})"


def _workloads(results: dict[str, Any]) -> list[str]:
    first = next(iter(results.values()), {})
    return [w for w in WORKLOADS if w in first]


def report(results: dict[str, Any]) -> None:
    """One row per target and workload: the median, the range over rounds, p50, vs PB."""
    base = results.get("pocketbase")
    workloads = _workloads(results)
    rounds = len(next(iter(results.values()))["rounds"][workloads[0]]) if results else 0
    table = Table(
        title=f"records throughput (wrk -t2, loopback, same machine; median of {rounds} rounds,"
        " min-max in brackets)"
    )
    for column in ("workload", "target", "req/s", "p50 ms", "p99 ms", "vs PB"):
        table.add_column(column, justify="right")
    for workload in workloads:
        for name, r in results.items():
            ratio = f"{r[workload]['rps'] / base[workload]['rps']:.2f}x" if base else "-"
            table.add_row(
                workload,
                name,
                f"{r[workload]['rps']:.0f}{_spread(r['rounds'][workload])}",
                f"{r[workload]['p50_ms']:.2f}",
                f"{r[workload]['p99_ms']:.2f}",
                ratio,
            )
    Console().print(table)


def html_report(results: dict[str, Any]) -> str:
    """A self-contained page: one horizontal bar chart (inline SVG) per workload."""
    colours = {"pocketbase": "#6b7280", "sqlite": "#2563eb", "postgres": "#16a34a"}
    colours |= {f"{e}@{n}": c for e in ("sqlite", "postgres") for n in range(1, 9)
                for c in [colours[e]]}  # fmt: skip
    base = results.get("pocketbase")
    workloads = _workloads(results)
    charts = []
    for workload in workloads:
        top = max(r[workload]["rps"] for r in results.values()) or 1.0
        bars = []
        for i, (name, r) in enumerate(results.items()):
            rps = r[workload]["rps"]
            width = 420 * rps / top
            y = 10 + i * 34
            ratio = (
                f", {rps / base[workload]['rps']:.2f}x PB" if base and name != "pocketbase" else ""
            )
            bars.append(
                f'<text x="0" y="{y + 17}" font-size="13">{html.escape(name)}</text>'
                f'<rect x="110" y="{y}" width="{width:.1f}" height="24" '
                f'fill="{colours.get(name, "#9333ea")}"/>'
                f'<text x="{116 + width:.1f}" y="{y + 17}" font-size="13">{rps:,.0f} '
                f"(p50 {r[workload]['p50_ms']:.1f} ms{ratio})</text>"
            )
        height = 20 + 34 * len(results)
        charts.append(
            f"<h2>{LABELS[workload]}</h2><svg width='760' height='{height}'>{''.join(bars)}</svg>"
        )
    versions = "".join(
        f"<li>{html.escape(n)}: {html.escape(r['version'])}</li>" for n, r in results.items()
    )
    rounds = len(next(iter(results.values()))["rounds"][workloads[0]])
    return (
        "<!doctype html><meta charset='utf-8'><title>records throughput</title>"
        "<body style='font-family:sans-serif'><h1>Records throughput</h1>"
        "<p>wrk -t2, loopback, one machine; same load generator for every target; medians"
        f" over {rounds} rounds.</p><ul>{versions}</ul>{''.join(charts)}</body>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--targets", default="sqlite,postgres,pocketbase")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh targets per round; figures are medians"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--html", type=Path, default=None, help="write a bar-chart page here")
    args = parser.parse_args(argv)
    results = run(args)
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(html_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
