"""The request-log pipeline alone (``core/logs.py``): entries/s from the buffer into ``_logs``.

One producer thread appends PocketBase-shaped request entries as fast as it can (or at
``--rate``) while the writer thread drains them in batches into the auxiliary engine
(SQLite: ``auxiliary.db``; PostgreSQL: COPY into UNLOGGED day partitions of an embedded
server, or ``--pg-dsn``). Reported: accepted, dropped (the buffer was full), written,
failed, and rows/s from the first append to the last row written. Not a test: a benchmark
(issue 13's target is 20,000 rows/s on each engine).

    python loadtests/bench_logs.py [--entries 200000] [--rate 0] [--engines sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from reference_impl.core.logs import LogBuffer, LogEntry, LogStore, LogWriter
from reference_impl.db.engine import Engine

console = Console(stderr=True)


def entry(i: int) -> LogEntry:
    """What ``logRequest`` (apis/middlewares.go) records for a plain GET."""
    data = {
        "type": "request",
        "execTime": 1.25,
        "url": f"/api/collections/posts/records?page={i % 50}",
        "method": "GET",
        "status": 200,
        "referer": "",
        "userAgent": "wrk/4.1",
        "auth": "",
        "userIP": "127.0.0.1",
        "remoteIP": "127.0.0.1",
    }
    return LogEntry(datetime.now(UTC), 0, "GET /api/collections/posts/records", data)


def measure(main: Engine, entries: int, rate: float) -> dict[str, Any]:
    aux = main.open_auxiliary()
    try:
        store = LogStore(aux)
        store.ensure_schema()
        buffer = LogBuffer()
        writer = LogWriter(buffer, store)
        writer.start()
        began = time.perf_counter()
        for i in range(entries):
            buffer.append(entry(i))
            if rate and i % 100 == 99:
                ahead = (i + 1) / rate - (time.perf_counter() - began)
                if ahead > 0:
                    time.sleep(ahead)
        produced = time.perf_counter() - began
        writer.stop(timeout=300)
        elapsed = time.perf_counter() - began
        return {
            "accepted": buffer.accepted,
            "dropped": buffer.dropped,
            "written": writer.written,
            "failed": writer.failed,
            "append_s": produced,
            "total_s": elapsed,
            "rows_per_s": writer.written / elapsed,
        }
    finally:
        aux.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=0.0, help="entries/s (0: flat out)")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--pg-dsn", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    results: dict[str, Any] = {}
    for name in args.engines.split(","):
        console.print(f"[bold]{name}[/]: {args.entries:,} entries")
        if name == "sqlite":
            from reference_impl.db.sqlite import SqliteEngine

            engine: Engine = SqliteEngine(workdir / "data.db")
            server = None
        else:
            from reference_impl.db.postgres import PostgresEngine
            from reference_impl.db.provision import provision_postgres

            server = provision_postgres(data_dir=workdir / "pg", dsn=args.pg_dsn)
            engine = PostgresEngine(server.create_database("bench_logs", exist_ok=True))
        try:
            results[name] = measure(engine, args.entries, args.rate)
        finally:
            engine.close()
            if server is not None:
                server.stop()
    table = Table(title="request-log pipeline alone: buffer -> writer thread -> _logs")
    for column in ("engine", "accepted", "dropped", "written", "failed", "rows/s", "total s"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['accepted']:,}",
            f"{r['dropped']:,}",
            f"{r['written']:,}",
            f"{r['failed']:,}",
            f"{r['rows_per_s']:,.0f}",
            f"{r['total_s']:.1f}",
        )
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
