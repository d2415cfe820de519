"""How list, view and create change with table size: PocketBase and the reference on both engines.

The workloads of ``bench_records.py`` (same collection, same filtered list, same wrk) over
a ``bench`` table of 2,000 / 100,000 / 1,000,000 rows, with and without an index for the
list's filter and sort, and the list once with its total (what clients ask by default) and
once with ``skipTotal=1`` (PocketBase's way out of the count). Not a test: a benchmark.

    python loadtests/bench_datasize.py [--sizes 2000,100000,1000000] [--duration 5]
        [--indexes none,ok_n] [--targets pocketbase,sqlite,postgres]
        [--json reports/latest/bench_datasize.json] [--html reports/latest/bench_datasize.html]

Rows past the first are loaded in bulk with SQL straight into the target's database (one
``INSERT ... SELECT`` from a generated series; through the API, a million rows would take
minutes per target): the same rows for every target, in PocketBase's table layout, which
the reference shares (``id``, ``title``, ``n``, ``ok``; ids ``s`` + 14 digits, in order).
PostgreSQL is ``VACUUM ANALYZE``d after the load (autovacuum would do it within a minute); the
SQLite files are not (PocketBase does not either).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_records import COLLECTION, CREATE_LUA, LIST_QUERY, _target, wrk

from harness.http import superuser_token
from harness.targets.base import Target

INDEXES = {
    "none": [],
    # the filter's equality first, then the sort key: both the page (a range scan in
    # index order, stopped after 20 rows) and the count (an index-only range) use it
    "ok_n": ["CREATE INDEX idx_bench_ok_n ON bench (ok, n)"],
    "n": ["CREATE INDEX idx_bench_n ON bench (n)"],
}
WORKLOADS = {
    "list": LIST_QUERY,
    "list_skiptotal": LIST_QUERY + "&skipTotal=1",
    "view": "/api/collections/bench/records/{middle}",
    "create": "/api/collections/bench/records",
}
LABELS = {
    "list": "filtered list with totalItems (req/s)",
    "list_skiptotal": "filtered list, skipTotal=1 (req/s)",
    "view": "view by id (req/s)",
    "create": "create (req/s)",
}
BODY = {"title": "bench", "n": 123, "ok": True}  # what CREATE_LUA posts
SQLITE_SEED = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
INSERT INTO bench (id, title, n, ok) SELECT printf('s%014d', i), 'row ' || i, i, i % 2 = 0 FROM s
"""
POSTGRES_SEED = """
INSERT INTO bench (id, title, n, ok)
SELECT 's' || lpad(i::text, 14, '0'), 'row ' || i, i, i %% 2 = 0 FROM generate_series(1, %s) i
"""
console = Console(stderr=True)


def middle_id(rows: int) -> str:
    return f"s{rows // 2:014d}"


def seed(target: Target, rows: int, indexes: list[str], pg_dsn: str | None) -> float:
    """The bench collection (with ``indexes``) and ``rows`` rows; seconds the load took."""
    token = superuser_token(target.base_url, *target.superuser)
    with httpx.Client(base_url=target.base_url, headers={"Authorization": token}, timeout=60) as c:
        c.post("/api/collections", json={**COLLECTION, "indexes": indexes}).raise_for_status()
    began = time.monotonic()
    if pg_dsn is not None:
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(POSTGRES_SEED, (rows,))  # type: ignore[arg-type]
            conn.execute("VACUUM ANALYZE bench")  # what autovacuum does after a bulk load
    else:
        db = sqlite3.connect(target.data_dir / "data.db", timeout=60)
        try:
            with db:
                db.execute(SQLITE_SEED, (rows,))
        finally:
            db.close()
    return time.monotonic() - began


def latency_ms(url: str, *, post: bool) -> float:
    """One request at a time: the median of 5 (after one to warm), in ms."""
    times = []
    with httpx.Client(timeout=120) as c:
        for _ in range(6):
            began = time.perf_counter()
            answer = c.post(url, json=BODY) if post else c.get(url)
            answer.raise_for_status()
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times[1:])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Per size, index variant and target: a fresh target, loaded, then each workload."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-size-"))
    script = workdir / "create.lua"
    script.write_text(CREATE_LUA)
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = args.indexes.split(",")
    specs = args.targets.split(",")
    unknown = sorted(set(variants) - set(INDEXES))
    if unknown:
        raise SystemExit(f"unknown index variants {unknown}: choose from {', '.join(INDEXES)}")
    server = None
    if "postgres" in specs:
        from reference_impl.db.provision import provision_postgres

        server = provision_postgres(data_dir=workdir / "pg", dsn=args.pg_dsn)
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            for variant in variants:
                for spec in specs:
                    results.append(
                        measure(spec, size, variant, workdir, script, server, args.duration)
                    )
    finally:
        if server is not None:
            server.stop()
    return {"duration_s": args.duration, "results": results}


def measure(
    spec: str,
    size: int,
    variant: str,
    workdir: Path,
    script: Path,
    server: Any,
    duration: int,
) -> dict[str, Any]:
    pg_dsn = None
    if spec == "postgres":
        database = f"size_{size}_{variant}"
        server.drop_database(database)
        pg_dsn = server.create_database(database)
    target = _target(spec, workdir / f"{spec}-{size}-{variant}", pg_dsn=pg_dsn)
    console.print(f"[bold]{size:,} rows, index {variant}, {spec}[/]: starting")
    target.start()
    try:
        load_s = seed(target, size, INDEXES[variant], pg_dsn)
        console.print(f"  loaded in {load_s:.1f} s")
        out: dict[str, Any] = {
            "target": spec,
            "rows": size,
            "index": variant,
            "load_s": load_s,
            "version": target.info().version,
        }
        for workload, path in WORKLOADS.items():
            url = target.base_url + path.format(middle=middle_id(size))
            single_ms = latency_ms(url, post=workload == "create")
            # A slow request (a count over a big table) under 32 connections would not
            # finish inside the run: fewer connections (still enough for both cores) and
            # a run long enough for several answers per connection.
            connections = 32 if single_ms < 20 else 4
            seconds = min(60, max(duration, math.ceil(single_ms / 1000 * connections / 2 * 4)))
            console.print(
                f"  {workload}: one request {single_ms:.1f} ms; wrk -c{connections} {seconds}s"
            )
            out[workload] = {
                **wrk(
                    url,
                    duration=seconds,
                    connections=connections,
                    script=script if workload == "create" else None,
                    timeout=60,
                ),
                "single_ms": single_ms,
                "connections": connections,
                "seconds": seconds,
            }
        return out
    finally:
        target.stop()
        if pg_dsn is not None:
            server.drop_database(f"size_{size}_{variant}")


def report(out: dict[str, Any]) -> None:
    results = out["results"]
    table = Table(title="records by table size (wrk -t2 -c32, loopback, one machine, one run)")
    for column in ("rows", "index", "target", *WORKLOADS, "one list ms", "vs PB (list, create)"):
        table.add_column(column, justify="right")
    base = {(r["rows"], r["index"]): r for r in results if r["target"] == "pocketbase"}
    for r in results:
        pb = base.get((r["rows"], r["index"]))
        ratio = f"{_ratio(r, pb, 'list')}, {_ratio(r, pb, 'create')}" if pb and r is not pb else "-"
        table.add_row(
            f"{r['rows']:,}",
            r["index"],
            r["target"],
            *(f"{r[w]['rps']:,.0f}" for w in WORKLOADS),
            f"{r['list']['single_ms']:.1f}",
            ratio,
        )
    Console(width=170).print(table)


def _ratio(r: dict[str, Any], pb: dict[str, Any], workload: str) -> str:
    base = pb[workload]["rps"]
    return f"{r[workload]['rps'] / base:.2f}x" if base else "PB 0"


def html_report(out: dict[str, Any]) -> str:
    """One line chart (inline SVG, log-scaled rows and req/s) per workload and index."""
    results = out["results"]
    colours = {"pocketbase": "#6b7280", "sqlite": "#2563eb", "postgres": "#16a34a"}
    sizes = sorted({r["rows"] for r in results})
    variants = list(dict.fromkeys(r["index"] for r in results))
    charts = []
    for workload in WORKLOADS:
        for variant in variants:
            rows = [r for r in results if r["index"] == variant]
            values = [r[workload]["rps"] for r in rows if r[workload]["rps"] > 0]
            if not values:
                continue
            low, high = math.log10(min(values)) - 0.1, math.log10(max(values)) + 0.1

            def x(size: int) -> float:
                return 60 + 440 * (sizes.index(size) / max(1, len(sizes) - 1))

            def y(rps: float, low: float = low, high: float = high) -> float:
                return 210 - 190 * (math.log10(max(rps, 1e-3)) - low) / max(high - low, 1e-9)

            parts = []
            for name, colour in colours.items():
                points = [(r["rows"], r[workload]["rps"]) for r in rows if r["target"] == name]
                if not points:
                    continue
                path = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
                parts += [
                    f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>'
                    f'<text x="{x(s) + 5:.1f}" y="{y(v) - 5:.1f}" font-size="11" '
                    f'fill="{colour}">{v:,.0f}</text>'
                    for s, v in points
                ]
            ticks = "".join(
                f'<text x="{x(s) - 20:.1f}" y="232" font-size="11">{s:,}</text>' for s in sizes
            )
            legend = "".join(
                f'<text x="520" y="{30 + 16 * i}" font-size="12" fill="{c}">{html.escape(n)}</text>'
                for i, (n, c) in enumerate(colours.items())
            )
            charts.append(
                f"<h2>{html.escape(LABELS[workload])}, index: {html.escape(variant)}</h2>"
                f"<svg width='640' height='240'>{''.join(parts)}{ticks}{legend}</svg>"
            )
    versions = sorted({f"{r['target']}: {r['version']}" for r in results})
    return (
        "<!doctype html><meta charset='utf-8'><title>records by table size</title>"
        "<body style='font-family:sans-serif'><h1>Records by table size</h1>"
        f"<p>wrk -t2 -c32 for {out['duration_s']} s per point, loopback, one machine, one run;"
        " req/s on a log scale against rows.</p><ul>"
        + "".join(f"<li>{html.escape(v)}</li>" for v in versions)
        + f"</ul>{''.join(charts)}</body>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,100000,1000000")
    parser.add_argument("--indexes", default="none,ok_n")
    parser.add_argument("--targets", default="pocketbase,sqlite,postgres")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--pg-dsn", default=None, help="a PostgreSQL server (else embedded)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--html", type=Path, default=None)
    args = parser.parse_args(argv)
    out = run(args)
    if args.json:  # first: the figures outlive a report that fails
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    report(out)
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(html_report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
