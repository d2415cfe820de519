"""Several reference servers on one database: the event grid's cluster (EPIC-2).

:class:`Cluster` starts N ``parity serve`` processes on one PostgreSQL database, each with
its own node id (``node1``...), port and data dir (uploaded files are per node: shared file
storage is not part of this build), one after the other so only the first bootstraps the
schema. On SQLite a cluster is one node here: the nodes' data dirs are their own, and a
SQLite database is one file; several processes on one file is ``parity serve --workers N``
(``reference_impl/workers.py``).

``parity cluster up --instances 3`` runs one in the foreground, prints the URLs, and stops
them on Ctrl-C, SIGTERM or ``parity cluster down`` (which signals the ``up`` process whose
pid ``up`` wrote to ``<dir>/cluster.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.targets.base import TargetStartError
from harness.targets.reference import ReferenceTarget

STATE_FILE = "cluster.json"


class Cluster:
    """``instances`` reference servers on one database, started by :meth:`start`."""

    def __init__(
        self,
        workdir: Path,
        *,
        instances: int = 3,
        engine: str = "postgres",
        pg_dsn: str | None = None,
        env: dict[str, str] | None = None,
    ):
        if engine == "sqlite" and instances != 1:
            raise ValueError(
                "a SQLite cluster is one node: each node has a data dir of its own and SQLite's "
                "database is one file; serve one file with several processes by "
                "`parity serve --workers N`, or use --engine postgres for several instances"
            )
        if instances < 1:
            raise ValueError(f"--instances must be at least 1, not {instances}")
        self.workdir = Path(workdir)
        self.instances = instances
        self.engine = engine
        self.pg_dsn = pg_dsn
        self.env = env or {}
        self.nodes: list[ReferenceTarget] = []
        self._stack = contextlib.ExitStack()

    @property
    def urls(self) -> list[str]:
        return [node.base_url for node in self.nodes]

    def start(self) -> Cluster:
        try:
            dsn = self.pg_dsn
            if self.engine == "postgres":
                dsn = self._stack.enter_context(self._database())
            for i in range(self.instances):
                node_id = f"node{i + 1}"
                # one process per node: the cluster's nodes are its instances
                env = {"PARITY_NODE_ID": node_id, "PARITY_DEBUG_SQL": "0", "PARITY_WORKERS": "1"}
                env |= self.env
                node = ReferenceTarget(self.engine, self.workdir, pg_dsn=dsn, name=node_id, env=env)
                self._stack.callback(node.stop)
                node.start()
                self.nodes.append(node)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()
        self.nodes = []

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def _database(self) -> Iterator[str]:
        """The cluster's database: on the given server (``pg_dsn``), else the embedded one."""
        from reference_impl.db.provision import ProvisionError, provision_postgres

        try:
            server = provision_postgres(data_dir=self.workdir / "pg", dsn=self.pg_dsn)
        except ProvisionError as exc:
            raise TargetStartError(f"PostgreSQL for the cluster: {exc}") from exc
        name = f"pp_cluster_{os.getpid()}"
        try:
            server.drop_database(name)
            yield server.create_database(name)
        finally:
            with contextlib.suppress(ProvisionError):
                server.drop_database(name)
            server.stop()


# -- the command ------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "cluster", help="several reference servers on one PostgreSQL (the event grid)"
    )
    actions = parser.add_subparsers(dest="cluster_action", required=True)
    up = actions.add_parser("up", help="start N servers, print their URLs, run until stopped")
    up.add_argument("--instances", type=int, default=3, help="servers to start (3)")
    up.add_argument("--engine", choices=("postgres", "sqlite"), default="postgres")
    up.add_argument(
        "--pg-dsn",
        default=os.environ.get("PARITY_PG_DSN") or None,
        help="PostgreSQL server (else PARITY_PG_DSN, else an embedded one under --dir)",
    )
    up.add_argument("--dir", default="pp_cluster", help="where the nodes keep data and logs")
    up.add_argument(
        "--hooks",
        default=None,
        metavar="MODULE[:FUNCTION]",
        help="hooks and cron jobs every node serves with (parity serve --hooks)",
    )
    up.set_defaults(handler=cluster_up)
    down = actions.add_parser("down", help="stop the cluster `up` started in --dir")
    down.add_argument("--dir", default="pp_cluster")
    down.set_defaults(handler=cluster_down)


def cluster_up(args: argparse.Namespace) -> int:
    workdir = Path(args.dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / STATE_FILE
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cluster = Cluster(
            workdir,
            instances=args.instances,
            engine=args.engine,
            pg_dsn=args.pg_dsn,
            env={"PARITY_HOOKS": args.hooks} if args.hooks else None,
        )
    except ValueError as exc:
        print(f"parity cluster: {exc}", file=sys.stderr)
        return 2
    print(f"Starting {args.instances} {args.engine} node(s) in {workdir} ...", flush=True)
    try:
        cluster.start()
    except TargetStartError as exc:
        print(f"parity cluster: {exc}", file=sys.stderr)
        return 2
    try:
        nodes = [
            {"node": f"node{i + 1}", "url": n.base_url, "pid": n.pid, "log": str(n.log_path)}
            for i, n in enumerate(cluster.nodes)
        ]
        state.write_text(json.dumps({"pid": os.getpid(), "nodes": nodes}, indent=2))
        for node in nodes:
            print(f"  {node['node']}  {node['url']}  (log {node['log']})", flush=True)
        print("Running; stop with Ctrl-C or `parity cluster down --dir ...`.", flush=True)
        while not stop.wait(0.5):
            dead = [n for n in cluster.nodes if n._proc is not None and n._proc.poll() is not None]
            if dead:
                print(f"parity cluster: {dead[0].name} exited; stopping", file=sys.stderr)
                return 1
        return 0
    finally:
        cluster.stop()
        state.unlink(missing_ok=True)
        print("Cluster stopped.", flush=True)


def cluster_down(args: argparse.Namespace, *, timeout: float = 30.0) -> int:
    state = Path(args.dir).resolve() / STATE_FILE
    try:
        pid = int(json.loads(state.read_text())["pid"])
    except (OSError, ValueError, KeyError) as exc:
        print(f"parity cluster: no running cluster in {state.parent} ({exc})", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state.unlink(missing_ok=True)
        print(f"parity cluster: process {pid} is gone; removed {state}", file=sys.stderr)
        return 0
    deadline = time.monotonic() + timeout
    while state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if state.exists():
        print(f"parity cluster: {pid} did not stop within {timeout:.0f} s", file=sys.stderr)
        return 1
    print("Cluster stopped.")
    return 0
