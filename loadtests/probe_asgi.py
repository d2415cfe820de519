"""The ASGI server as a lever: the reference app under uvicorn (as served) and under granian.

One process each (no ``--workers``), same app, same engine, same wrk load as
``bench_records.py``, rounds interleaved, medians. A probe for issue 12's "weigh the ASGI
server, measured": granian is not a dependency of the reference (``pip install granian``
to run this), and under it the reference loses what its uvicorn protocol adds (Go's
header limits as 431, the 413 while a body streams, one write per response).

    python loadtests/probe_asgi.py [--engine sqlite] [--rounds 2] [--duration 5]
        [--workloads health,view,list,create] [--json reports/latest/probe_asgi.json]

``granian_app`` is the factory granian imports (``--factory``); it reads the data dir and
engine from ``PROBE_DIR`` / ``PROBE_ENGINE``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_records import CREATE_LUA, LIST_QUERY, prepare, wrk  # noqa: E402

from harness.http import free_port, spawn_server  # noqa: E402
from harness.targets._process import terminate  # noqa: E402
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD  # noqa: E402
from harness.targets.reference import serve_command  # noqa: E402

SERVERS = ("uvicorn", "granian")
console = Console(stderr=True)
_opened = contextlib.ExitStack()  # the granian worker's app stays open while it serves


def granian_app() -> Any:
    """The reference's ASGI app as ``parity serve`` builds it (one process), for granian."""
    from reference_impl import cli
    from reference_impl.api.app import create_app

    parser = argparse.ArgumentParser()
    cli.add_serve_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["serve", "--dir", os.environ["PROBE_DIR"], "--engine", os.environ["PROBE_ENGINE"]]
    )
    opened_app = cli.opened_app
    app = _opened.enter_context(opened_app(args))
    return create_app(app)


def _command(server: str, engine: str, data_dir: Path, port: int) -> list[str]:
    if server == "uvicorn":
        return serve_command(engine, data_dir, f"127.0.0.1:{port}", "--workers", "1")
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--log-level",
        "warning",
        "probe_asgi:granian_app",
    ]


def serve_once(server: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data_dir = workdir / "pb_data"
    env = {
        **os.environ,
        "PARITY_DEBUG_SQL": "0",
        "PROBE_DIR": str(data_dir),
        "PROBE_ENGINE": args.engine,
        "PYTHONPATH": f"{HERE}:{ROOT}",
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_impl",
            "superuser",
            "upsert",
            SUPERUSER_EMAIL,
            SUPERUSER_PASSWORD,
            "--engine",
            args.engine,
            "--dir",
            str(data_dir),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = _command(server, args.engine, data_dir, port)
    proc = spawn_server(command, base, workdir / f"{server}.log", env=env, cwd=HERE)
    out: dict[str, Any] = {}
    try:
        target = SimpleNamespace(base_url=base, superuser=(SUPERUSER_EMAIL, SUPERUSER_PASSWORD))
        middle = prepare(target, args.rows)  # type: ignore[arg-type]
        script = workdir / "create.lua"
        script.write_text(CREATE_LUA)
        for workload in args.workloads.split(","):
            url = {
                "health": "/api/health",
                "view": f"/api/collections/bench/records/{middle}",
                "list": LIST_QUERY,
                "create": "/api/collections/bench/records",
            }[workload]
            console.print(f"  {server} {workload} (wrk {args.duration}s)")
            out[workload] = wrk(
                base + url,
                duration=args.duration,
                connections=32,
                script=script if workload == "create" else None,
            )
    finally:
        terminate(proc)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--workloads", default="health,view,list,create")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's package `wrk` (apt-get install wrk)")
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    root = Path(tempfile.mkdtemp(prefix="probe-asgi-"))
    for round_no in range(1, args.rounds + 1):
        for server in SERVERS:
            console.print(f"[bold]round {round_no}/{args.rounds} {server}[/] ({args.engine})")
            figures = serve_once(server, args, root / f"{server}-{round_no}")
            for workload, result in figures.items():
                samples.setdefault(workload, {}).setdefault(server, []).append(result)
    table = Table(
        title=f"reference on {args.engine}, one process: uvicorn vs granian "
        f"(wrk -t2 -c32, median of {args.rounds} rounds)"
    )
    for column in ("workload", "uvicorn req/s", "granian req/s", "granian / uvicorn"):
        table.add_column(column, justify="right")
    medians: dict[str, dict[str, float]] = {}
    for workload, by_server in samples.items():
        medians[workload] = {
            s: statistics.median(r["rps"] for r in runs) for s, runs in by_server.items()
        }
        m = medians[workload]
        table.add_row(
            workload,
            f"{m['uvicorn']:,.0f}",
            f"{m['granian']:,.0f}",
            f"{m['granian'] / m['uvicorn']:.2f}x",
        )
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"medians": medians, "rounds": samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
