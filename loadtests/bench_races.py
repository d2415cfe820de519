"""Races: the anomaly table per isolation level, and writer throughput under contention.

Not a test: one run, one machine. Two parts, both through ``parity race``'s runner (a real
server per run, clients as threads in two processes, over HTTP):

1. **Anomalies**: every workload on both engines at every isolation level, scheduled from
   the seed (failpoints), plus the deliberately broken ``--unsafe`` update; the anomalies
   found beside what Hermitage's PostgreSQL table allows at that level.
2. **Throughput**: the ``counter`` workload with 16 / 64 / 256 concurrent writers on one
   hot record, free interleaving (no schedule), per engine and level: operations per
   second, the retries the server counted (``parity_transaction_retries_total``), answers
   that were not 2xx.

    python loadtests/bench_races.py [--ops 160] [--writers 16,64,256] [--part both]
        [--json reports/latest/bench_races.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from harness.race import levels
from harness.race.runner import RaceConfig, RaceResult, run_race
from harness.race.workloads import WORKLOADS

console = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=160)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--writers", default="16,64,256")
    parser.add_argument("--writer-ops", type=int, default=10, help="operations per writer")
    parser.add_argument("--part", choices=("anomalies", "throughput", "both"), default="both")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="anomaly part only")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--json", type=Path, default=Path("reports/latest/bench_races.json"))
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%F")}
    from reference_impl.db.provision import provision_postgres

    with tempfile.TemporaryDirectory(prefix="bench-races-") as tmp:
        server = provision_postgres(data_dir=Path(tmp) / "pg")
        try:
            if args.part in ("anomalies", "both"):
                out["anomalies"] = anomalies(args, Path(tmp), server)
            if args.part in ("throughput", "both"):
                out["throughput"] = throughput(args, Path(tmp), server)
        finally:
            server.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    console.print(f"written: {args.json}")
    return 0


def _run(config: RaceConfig, workdir: Path, server: Any, n: int) -> RaceResult:
    dsn = None
    name = f"race_bench_{n}"
    if config.target == "postgres":
        server.drop_database(name)
        dsn = server.create_database(name)
    try:
        return run_race(config, workdir / str(n), pg_dsn=dsn)
    finally:
        if dsn:
            with contextlib.suppress(Exception):
                server.drop_database(name)


def anomalies(args: argparse.Namespace, workdir: Path, server: Any) -> list[dict[str, Any]]:
    engines = ("sqlite", "postgres")
    chosen = [w for w in args.workloads.split(",") if w]
    runs = [(w, e, lvl, False) for w in chosen for e in engines for lvl in levels.LEVELS]
    runs += [(w, e, lvl, True) for w in ("counter", "list-append") if w in chosen
             for e in engines for lvl in levels.LEVELS]  # fmt: skip
    rows = []
    with Progress(console=console) as progress:
        task = progress.add_task("anomaly runs", total=len(runs))
        for n, (workload, engine, level, unsafe) in enumerate(runs):
            config = RaceConfig(workload, engine, level, args.clients, args.ops, args.seed,
                                unsafe=unsafe)  # fmt: skip
            result = _run(config, workdir, server, n)
            data = result.to_json()
            rows.append({k: data[k] for k in (
                "workload", "target", "isolation", "unsafe", "ops", "seconds", "outcomes",
                "retries", "exit_code", "replay")} | {
                "anomalies": sorted({a["name"] for a in data["anomalies"]}),
                "forbidden": sorted({a["name"] for a in data["anomalies"] if a["forbidden"]}),
            })  # fmt: skip
            progress.advance(task)
    table = Table("workload", "engine", "level", "unsafe", "ops/s", "anomalies", "forbidden")
    for r in rows:
        table.add_row(r["workload"], r["target"], r["isolation"], "yes" if r["unsafe"] else "",
                      f"{r['ops'] / r['seconds']:.0f}", ", ".join(r["anomalies"]) or "-",
                      ", ".join(r["forbidden"]) or "-")  # fmt: skip
    console.print(table)
    return rows


def throughput(args: argparse.Namespace, workdir: Path, server: Any) -> list[dict[str, Any]]:
    writers = [int(w) for w in args.writers.split(",")]
    runs = [(e, lvl, w) for w in writers for e in ("sqlite", "postgres") for lvl in levels.LEVELS]
    rows = []
    with Progress(console=console) as progress:
        task = progress.add_task("throughput runs", total=len(runs))
        for n, (engine, level, w) in enumerate(runs):
            config = RaceConfig("counter", engine, level, w, w * args.writer_ops, args.seed,
                                free=True)  # fmt: skip
            result = _run(config, workdir, server, 1000 + n)
            data = result.to_json()
            latencies = sorted((op.complete - op.invoke) / 1e6 for op in result.history)
            rows.append({
                "engine": engine, "isolation": level, "writers": w, "ops": data["ops"],
                "seconds": data["seconds"], "ops_per_second": data["ops_per_second"],
                "p50_ms": round(latencies[len(latencies) // 2], 1),
                "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1),
                "retries": data["retries"], "outcomes": data["outcomes"],
                "anomalies": sorted({a["name"] for a in data["anomalies"]}),
            })  # fmt: skip
            progress.advance(task)
    table = Table("writers", "engine", "level", "ops/s", "p50 ms", "p99 ms", "retries",
                  "outcomes", "anomalies")  # fmt: skip
    for r in rows:
        table.add_row(str(r["writers"]), r["engine"], r["isolation"], str(r["ops_per_second"]),
                      str(r["p50_ms"]), str(r["p99_ms"]), json.dumps(r["retries"]),
                      json.dumps(r["outcomes"]), ", ".join(r["anomalies"]) or "-")  # fmt: skip
    console.print(table)
    return rows


if __name__ == "__main__":
    sys.exit(main())
