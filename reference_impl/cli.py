"""``parity serve`` and ``parity superuser upsert`` (PocketBase's ``serve`` / ``superuser``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reference_impl.app import App
from reference_impl.workers import Worker, workers_option


def _engine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="storage engine (default: sqlite)",
    )
    parser.add_argument(
        "--dir",
        default="pb_data",
        type=Path,
        help="data directory (SQLite file, embedded PostgreSQL data, uploaded files)",
    )
    parser.add_argument(
        "--pg-dsn",
        default=None,
        help="PostgreSQL DSN (else PARITY_PG_DSN, else the embedded server)",
    )
    parser.add_argument(
        "--pg",
        choices=("embedded", "container"),
        default="embedded",
        help="where PostgreSQL comes from when no DSN is given",
    )
    parser.add_argument(
        "--rules",
        choices=("app", "rls", "both"),
        default=None,
        help="where API rules are enforced: app (SQLite's only choice), rls (PostgreSQL row "
        "level security alone), both (default on PostgreSQL)",
    )
    pool = parser.add_argument_group(
        "PostgreSQL pool (else PARITY_PG_POOL_MIN_SIZE, _MAX_SIZE, _TIMEOUT, _MAX_IDLE, "
        "_MAX_LIFETIME, _LEAK_AFTER and PARITY_PG_ISOLATION)"
    )
    pool.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default=None,
        help="transaction isolation (default: read-committed)",
    )
    pool.add_argument("--pool-min", type=int, default=None, help="connections kept open (2)")
    pool.add_argument("--pool-max", type=int, default=None, help="most connections (10)")
    pool.add_argument(
        "--pool-timeout", type=float, default=None, help="seconds to wait for a connection (10)"
    )
    pool.add_argument(
        "--pool-max-idle", type=float, default=None, help="seconds an idle one is kept (300)"
    )
    pool.add_argument(
        "--pool-max-lifetime", type=float, default=None, help="seconds a connection lives (3600)"
    )
    pool.add_argument(
        "--statement-timeout",
        type=float,
        default=None,
        help="seconds a statement may run before PostgreSQL cancels it (0: off, the default; "
        "else PARITY_PG_STATEMENT_TIMEOUT)",
    )
    pool.add_argument(
        "--leak-after",
        type=float,
        default=None,
        help="warn, with the stack that took it, when a connection is held longer (30; 0 off)",
    )
    parser.add_argument(
        "--id-mode",
        choices=("pocketbase", "uuid7"),
        default="pocketbase",
        help="record ids: PocketBase's 15 chars [a-z0-9] or UUID v7",
    )


def add_serve_parser(sub: Any) -> None:
    parser = sub.add_parser("serve", help="run the reference server (like `pocketbase serve`)")
    _engine_args(parser)
    parser.add_argument("--http", default="127.0.0.1:8090", help="listen address host:port")
    parser.add_argument(
        "--workers",
        type=workers_option,
        default=os.environ.get("PARITY_WORKERS") or "auto",
        metavar="N|auto",
        help="server processes behind the one socket (else PARITY_WORKERS; auto: one per "
        "core, one with --failpoints)",
    )
    parser.add_argument(
        "--metrics",
        default=os.environ.get("PARITY_METRICS") or None,
        metavar="HOST:PORT",
        help="serve GET /metrics (Prometheus text: pool state, retries) on this separate "
        "address (else PARITY_METRICS; off by default); with --workers, every worker's, "
        'labelled worker="i"',
    )
    parser.add_argument(
        "--node-id",
        default=os.environ.get("PARITY_NODE_ID") or None,
        help="this server's name in the event grid (else PARITY_NODE_ID; default: random)",
    )
    parser.add_argument(
        "--hooks",
        default=os.environ.get("PARITY_HOOKS") or None,
        metavar="MODULE[:FUNCTION]",
        help="import MODULE and call FUNCTION(app) (default register) to register hooks and "
        "cron jobs (else PARITY_HOOKS)",
    )
    race = parser.add_argument_group("race suite (parity race starts servers with these)")
    race.add_argument(
        "--failpoints",
        action="store_true",
        default=os.environ.get("PARITY_FAILPOINTS") == "1",
        help="turn the interleaving points on and open /api/parity/schedule "
        "(else PARITY_FAILPOINTS=1)",
    )
    race.add_argument(
        "--unsafe-rmw",
        action="store_true",
        default=os.environ.get("PARITY_UNSAFE_RMW") == "1",
        help="DELIBERATELY BROKEN: updates read and write in two transactions, unlocked, so "
        "concurrent modifiers lose updates; the race suite's proof that its checker works",
    )
    parser.set_defaults(handler=serve)


def add_superuser_parser(sub: Any) -> None:
    parser = sub.add_parser("superuser", help="manage superusers")
    actions = parser.add_subparsers(dest="action", required=True)
    upsert = actions.add_parser("upsert", help="create a superuser or reset its password")
    upsert.add_argument("email")
    upsert.add_argument("password")
    _engine_args(upsert)
    upsert.set_defaults(handler=superuser_upsert)


@contextlib.contextmanager
def opened_app(args: argparse.Namespace, *, bootstrap: bool = True) -> Iterator[App]:
    """The app on the engine ``args`` name. ``bootstrap``: create what is missing (system
    tables, default collections, policies); a worker of ``--workers`` only reads what its
    supervisor created, since the others may already be changing it."""
    from reference_impl.core.logs import max_days_from
    from reference_impl.core.row_security import check_mode, default_mode
    from reference_impl.db import has_row_level_security, open_engine
    from reference_impl.db.errors import ConnectionFailed
    from reference_impl.db.provision import ProvisionError

    has_rls = has_row_level_security(args.engine)
    try:
        rules = check_mode(args.rules or default_mode(has_rls), has_rls)
        max_days_from(os.environ)  # checked before anything opens
    except ValueError as exc:
        print(f"parity: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    try:
        engine, server = open_engine(
            args.engine,
            args.dir,
            pg_dsn=args.pg_dsn,
            pg_container=args.pg == "container",
            row_security=rules != "app",
            pool_options=_pool_options(args),
        )
    except (ProvisionError, ConnectionFailed, ValueError) as exc:
        print(f"parity: cannot open the {args.engine} engine: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    # Uploaded files live next to the database, as PocketBase's pb_data/storage.
    unsafe = bool(getattr(args, "unsafe_rmw", False))
    app = App(
        engine,
        id_mode=args.id_mode,
        storage_dir=Path(args.dir) / "storage",
        rules=rules,
        unsafe_rmw=unsafe,
        node_id=getattr(args, "node_id", None) or None,
    )
    try:
        if bootstrap:
            app.bootstrap()
        else:
            app.store.reload_all()
        yield app
    finally:
        engine.close()
        if server is not None:
            server.stop()  # type: ignore[attr-defined]


ISOLATIONS = ("read-committed", "repeatable-read", "serializable")


def _pool_options(args: argparse.Namespace) -> dict[str, Any]:
    """The pool flags given (None: the environment or the default decides)."""
    from reference_impl.db.engine import isolation_level

    isolation = isolation_level(args.isolation) if args.isolation else None
    return {
        "isolation": isolation,
        "min_size": args.pool_min,
        "max_size": args.pool_max,
        "timeout": args.pool_timeout,
        "max_idle": args.pool_max_idle,
        "max_lifetime": args.pool_max_lifetime,
        "leak_after": args.leak_after,
        "statement_timeout": args.statement_timeout,
    }


def superuser_upsert(args: argparse.Namespace) -> int:
    with opened_app(args) as app:
        try:
            outcome = app.upsert_superuser(args.email, args.password)
        except Exception as exc:  # an ApiError with validation data, or a damaged database
            body = getattr(exc, "body", None)
            reason = body() if body else (str(exc) or type(exc).__name__)
            print(f"parity: cannot upsert superuser: {reason}", file=sys.stderr)
            return 1
    print(f"Superuser {args.email} {outcome}.")
    return 0


STOP_GRACE_S = 5.0  # after SIGTERM/SIGINT: a clean shutdown, or a forced exit after this
_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class _Watchdog:
    """Takes SIGTERM/SIGINT in its own thread (they are blocked everywhere else), so a
    stop is honoured whatever the event loop is doing. The first signal asks uvicorn to
    shut down (in-flight requests get a few seconds); if the loop has not returned within
    ``STOP_GRACE_S`` (a handler stuck in CPU work never yields to it), or on a second
    signal, it exits at once with status 1. Closing the engine after the loop returned is
    not timed (an embedded PostgreSQL's checkpoint may take a while). An embedded
    PostgreSQL is stopped either way: by the engine's cleanup on a clean exit, by its
    reaper (``db/_pg_reaper.py``) on a forced one.
    """

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.served = threading.Event()  # the loop has returned: cleanup is under way
        self.server: Any = None
        self.before_stop: Any = None  # called first on a stop (App.end_streams_threadsafe)
        threading.Thread(target=self._run, name="parity-signals", daemon=True).start()

    def _run(self) -> None:
        signal.sigwait(_SIGNALS)
        self.stopping.set()
        if self.before_stop is not None:
            self.before_stop()
        if self.server is not None:
            self.server.should_exit = True
        forced = threading.Thread(target=self._force_after_grace, daemon=True)
        forced.start()
        signal.sigwait(_SIGNALS)  # a second signal: no more waiting
        self._exit_now("a second signal")

    def _force_after_grace(self) -> None:
        if not self.served.wait(STOP_GRACE_S):
            self._exit_now(f"the server did not stop within {STOP_GRACE_S:.0f} s")

    @staticmethod
    def _exit_now(why: str) -> None:
        print(f"parity serve: {why}; exiting now", file=sys.stderr, flush=True)
        os._exit(1)


def serve(
    args: argparse.Namespace,
    *,
    sockets: list[Any] | None = None,
    worker: Worker | None = None,
    ready: Any = None,
) -> int:
    """Serve until SIGTERM/SIGINT, then stop cleanly and exit 0 (see :class:`_Watchdog`).
    With ``--workers`` above 1, supervise that many worker processes instead
    (``reference_impl/workers.py``), each of which comes back here with its ``worker``,
    the shared listening ``sockets`` and a ``ready()`` to call once it serves."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # before any thread starts
    try:
        count = _worker_count(args)
        if count == 0:
            return 2
        if count > 1 and worker is None:
            from reference_impl.workers import Supervisor

            return Supervisor(args, count).run()
        return _serve(args, _Watchdog(), sockets=sockets, worker=worker, ready=ready)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def _worker_count(args: argparse.Namespace) -> int:
    """``--workers`` resolved: auto is one per core, one under ``--failpoints`` (the race
    schedule orders the requests of one process); 0 for a request that cannot be served."""
    from reference_impl.workers import default_workers

    wanted = args.workers if isinstance(args.workers, int) else workers_option(args.workers)
    if args.failpoints:
        if wanted > 1:
            print(
                f"parity serve: --failpoints orders the requests of one process; "
                f"it cannot run with --workers {wanted}",
                file=sys.stderr,
            )
            return 0
        return 1
    return wanted or default_workers()


def _serve(
    args: argparse.Namespace,
    watchdog: _Watchdog,
    *,
    sockets: list[Any] | None = None,
    worker: Worker | None = None,
    ready: Any = None,
) -> int:
    import uvicorn

    from reference_impl import failpoints
    from reference_impl.api._limits import HttpProtocol
    from reference_impl.api.app import create_app

    host, _, port = args.http.rpartition(":")
    failpoints.enable(args.failpoints)
    first = worker is None or worker.index == 1  # says what the whole server says, once
    if args.failpoints:
        print("Failpoints on: /api/parity/schedule orders requests", file=sys.stderr)
    if args.unsafe_rmw and first:
        print(
            "WARNING: --unsafe-rmw: updates are read-then-write without locks and WILL lose "
            "concurrent modifier updates (the race suite's self-test; never serve data so)",
            file=sys.stderr,
        )
    shared = None
    if worker is not None:  # read before the collections load: nothing changed unseen
        from reference_impl.core.coherence import SharedGenerations

        shared = SharedGenerations(worker.generations_path, worker.index)
    with opened_app(args, bootstrap=worker is None) as app:
        if args.hooks:
            try:
                app.load_hooks(args.hooks)
            except (ImportError, AttributeError, ValueError) as exc:
                print(f"parity serve: --hooks {args.hooks}: {exc}", file=sys.stderr)
                return 2
        if worker is None:
            if app.superuser_count() == 0:
                print(
                    "No superuser yet. Create one with:\n"
                    f"  parity superuser upsert EMAIL PASSWORD --dir {args.dir} "
                    f"--engine {args.engine}",
                    file=sys.stderr,
                )
            print(
                f"Server started at http://{host or '127.0.0.1'}:{port} "
                f"({app.engine.version()}; node {app.node_id})",
                file=sys.stderr,
                flush=True,
            )
        else:
            from reference_impl.workers import Peers, bind_worker_socket

            app.join_workers(shared, Peers(worker), worker.key)
            sockets = [*(sockets or []), bind_worker_socket(worker)]
        metrics = None
        if args.metrics:
            from reference_impl.metrics import serve_metrics

            try:
                metrics = serve_metrics(app.engine, args.metrics, app.logs)
            except (OSError, ValueError) as exc:
                print(
                    f"parity serve: cannot serve --metrics {args.metrics}: {exc}", file=sys.stderr
                )
                return 2
            print(f"Metrics at http://{args.metrics}/metrics", file=sys.stderr, flush=True)
        config = uvicorn.Config(
            create_app(app, ready=ready),
            host=host or "127.0.0.1",
            port=int(port),
            log_level="warning",
            access_log=False,
            lifespan="on",
            http=HttpProtocol,
            # PocketBase's idle keep-alive: Go's IdleTimeout unset falls back to its
            # ReadTimeout, 5 minutes (apis/serve.go). uvicorn's own 5 s closed connections
            # that clients were about to reuse (a reset under load).
            timeout_keep_alive=300,
            timeout_graceful_shutdown=max(int(STOP_GRACE_S) - 2, 1),
        )
        server = uvicorn.Server(config)
        watchdog.before_stop = app.end_streams_threadsafe
        watchdog.server = server
        try:
            if not watchdog.stopping.is_set():
                server.run(sockets=sockets)
        finally:
            watchdog.served.set()
            if metrics is not None:
                metrics.shutdown()
            if shared is not None:
                shared.close()
    return 0
