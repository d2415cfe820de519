"""``parity serve --workers N``: N server processes behind one listening socket.

Python serves one request at a time per process (the GIL), so one process uses one core
however many the machine has; PocketBase (Go) uses them all. N workers are N full servers
(each its own ``App``, engine pool, event loop) on one database, sharing:

- **the socket**: the supervisor (this module, the process ``parity serve`` starts) binds
  the listening socket and hands it to each worker; the kernel queues connections until a
  worker accepts, so a worker that restarts drops no connection attempt;
- **the database**: on PostgreSQL each worker is a node of the event grid (its own node
  id); on SQLite the writers of all workers queue on the engine's file lock and the event
  grid runs over the SQLite event log (``Dialect.NOTIFIES``, ``db/sqlite.py``);
- **what must be true before the next request**: :class:`~reference_impl.core.coherence.
  SharedGenerations` in the run directory (a collection change or an auth record change on
  one worker is caught up by every other from its next request);
- **realtime clients**: a stream lives in the worker that accepted it, while the client's
  ``POST /api/realtime`` may land on any worker; client ids start with their worker's
  route key (``w01``...), and a worker that does not hold the client forwards the request
  to the owner over the owner's Unix socket in the run directory (:class:`Peers`).

The supervisor bootstraps the database once (and starts the embedded PostgreSQL, which
the workers reach by DSN; a worker only reads the schema, since the first one up may
already be serving changes to it), starts the workers together, prints one "Server
started" line once all are ready, restarts a worker that dies (a crash-looping one stops the
server), and on SIGTERM/SIGINT stops them all (SIGTERM each; killed after the grace). Each
worker runs in its own process group and stops when the supervisor's end of its pipe
closes (the supervisor was killed). Why not uvicorn's own ``--workers`` supervisor: it
gives every worker the same arguments, while these need their index (route key, Unix
socket, metrics port, node id) and the embedded server's DSN.

The default N is the machine's core count (``os.sched_getaffinity``): the figures behind
that choice are in ``loadtests/README.md`` ("Workers").
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 120.0  # a worker that has not served by then is a failed start
RESTARTS_PER_MINUTE = 5  # more deaths than this: the server stops (a crash loop)
BACKLOG = 2048


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def workers_option(text: str) -> int:
    """``--workers``: a count of at least 1, or ``auto`` (0 here: resolved at start)."""
    if text == "auto":
        return 0
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of processes or 'auto', not {text!r}") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"between 1 and 64 worker processes, not {count}")
    return count


def route_key(index: int) -> str:
    """The first characters of the realtime client ids of worker ``index``."""
    return f"w{index:02d}"


@dataclass(frozen=True)
class Worker:
    """What one worker process knows of its group."""

    index: int  # 1..count
    count: int
    run_dir: str  # the group's shared files: generations, Unix sockets

    @property
    def key(self) -> str:
        return route_key(self.index)

    @property
    def socket_path(self) -> str:
        return os.path.join(self.run_dir, f"{self.key}.sock")

    @property
    def generations_path(self) -> str:
        return os.path.join(self.run_dir, "generations")


class Peers:
    """The other workers of the group, by the route key a realtime client id starts with,
    and the HTTP client that forwards to them (httpx over their Unix sockets)."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self._clients: dict[str, Any] = {}
        self.forwarded = 0  # requests this worker forwarded to another

    async def post(
        self, path: str, url_path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Any:
        """``POST url_path?query`` to the worker listening on ``path``; OSError when it
        cannot be reached."""
        import httpx

        client = self._clients.get(path)
        if client is None:
            transport = httpx.AsyncHTTPTransport(uds=path)
            client = self._clients[path] = httpx.AsyncClient(
                transport=transport, base_url="http://worker", timeout=10.0
            )
        url = f"{url_path}?{query}" if query else url_path
        self.forwarded += 1
        try:
            return await client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise OSError(f"worker at {path}: {exc}") from exc

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    def owner_socket(self, client_id: str) -> str | None:
        """The Unix socket of the worker holding ``client_id``'s stream, when that is
        another worker of this group; None otherwise (this worker's, or no worker's)."""
        key = client_id[:3]
        if key == self.worker.key or not (key[:1] == "w" and key[1:].isdigit()):
            return None
        path = os.path.join(self.worker.run_dir, f"{key}.sock")
        return path if os.path.exists(path) else None


def _start_method() -> multiprocessing.context.SpawnContext:
    # spawn, not fork: the supervisor has threads (and may hold an embedded server's pipes).
    return multiprocessing.get_context("spawn")


class _Child:
    def __init__(self, index: int, process: Any, ready: Connection, lifeline: Connection):
        self.index = index
        self.process = process
        self.ready = ready
        self.lifeline = lifeline  # the worker stops when this end closes
        self.started_at = time.monotonic()

    def close(self) -> None:
        self.ready.close()
        self.lifeline.close()


class Supervisor:
    def __init__(self, args: argparse.Namespace, count: int):
        self.args = args
        self.count = count
        self.children: dict[int, _Child] = {}
        self.deaths: list[float] = []

    def run(self) -> int:
        from multiprocessing import resource_tracker

        from reference_impl.cli import _SIGNALS, STOP_GRACE_S, opened_app

        resource_tracker.ensure_running()  # now, while no signal can be missed
        _block_signals()
        host, _, port = self.args.http.rpartition(":")
        host = host or "127.0.0.1"
        worker_args = copy.copy(self.args)
        with opened_app(self.args) as app:  # bootstrap once; the embedded server stays up
            if self.args.engine == "postgres" and not self.args.pg_dsn:
                worker_args.pg_dsn = app.engine.dsn  # type: ignore[attr-defined]
            version = app.engine.version()
            no_superuser = app.superuser_count() == 0
            app.engine.close()  # the workers have their own pools
            try:
                sock = socket.create_server(
                    (host, int(port)), backlog=BACKLOG, family=_family(host)
                )
            except OSError as exc:
                print(f"parity serve: cannot listen on {self.args.http}: {exc}", file=sys.stderr)
                return 1
            run_dir = tempfile.mkdtemp(prefix="parity-w-")  # short: Unix socket paths <108
            metrics = None
            try:
                if no_superuser:
                    print(
                        "No superuser yet. Create one with:\n"
                        f"  parity superuser upsert EMAIL PASSWORD --dir {self.args.dir} "
                        f"--engine {self.args.engine}",
                        file=sys.stderr,
                    )
                metrics = self._serve_metrics(run_dir)
                for index in range(1, self.count + 1):  # all at once: startup is mostly imports
                    self._spawn(index, worker_args, sock, run_dir)
                if not all(self._wait_ready(child) for child in list(self.children.values())):
                    self._stop_all(STOP_GRACE_S)
                    return 2
                print(
                    f"Server started at http://{host}:{port} ({version}; {self.count} workers)",
                    file=sys.stderr,
                    flush=True,
                )
                return self._supervise(worker_args, sock, run_dir, _SIGNALS, STOP_GRACE_S)
            finally:
                if metrics is not None:
                    metrics.shutdown()
                sock.close()
                shutil.rmtree(run_dir, ignore_errors=True)

    def _serve_metrics(self, run_dir: str) -> Any:
        """``--metrics``: one listener, every worker's families labelled ``worker``."""
        if not self.args.metrics:
            return None
        from reference_impl.metrics import serve_workers_metrics

        sockets = [
            (i, Worker(i, self.count, run_dir).socket_path) for i in range(1, self.count + 1)
        ]
        try:
            server = serve_workers_metrics(sockets, self.args.metrics)
        except (OSError, ValueError) as exc:
            message = f"parity serve: cannot serve --metrics {self.args.metrics}: {exc}"
            raise SystemExit(message) from None
        print(f"Metrics at http://{self.args.metrics}/metrics", file=sys.stderr, flush=True)
        return server

    def _spawn(
        self, index: int, args: argparse.Namespace, sock: socket.socket, run_dir: str
    ) -> None:
        ctx = _start_method()
        ready_r, ready_w = ctx.Pipe(duplex=False)
        life_r, life_w = ctx.Pipe(duplex=False)
        worker = Worker(index, self.count, run_dir)
        process = ctx.Process(
            target=worker_main,
            args=(args, sock, worker, ready_w, life_r),
            name=f"parity-worker-{index}",
        )
        process.start()
        _block_signals()  # multiprocessing's resource tracker unblocks SIGINT/SIGTERM
        ready_w.close()  # the child's ends: ours closed, so EOF tells us it died
        life_r.close()
        self.children[index] = _Child(index, process, ready_r, life_w)

    def _wait_ready(self, child: _Child) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if child.ready.poll(0.2):
                    child.ready.recv()
                    return True
            except (EOFError, OSError):
                break
            if not child.process.is_alive():
                break
        child.process.join(5)  # its exit code, if it is exiting
        code = child.process.exitcode
        print(
            f"parity serve: worker {child.index} did not start (exit code {code}); stopping",
            file=sys.stderr,
            flush=True,
        )
        return False

    def _supervise(
        self,
        args: argparse.Namespace,
        sock: socket.socket,
        run_dir: str,
        signals: set[signal.Signals],
        grace: float,
    ) -> int:
        while True:
            received = signal.sigtimedwait(signals, 0.5)
            if received is not None:
                return self._stop_all(grace, signals)
            for index, child in list(self.children.items()):
                if child.process.is_alive():
                    continue
                now = time.monotonic()
                self.deaths = [t for t in self.deaths if now - t < 60] + [now]
                print(
                    f"parity serve: worker {index} (pid {child.process.pid}) exited with "
                    f"code {child.process.exitcode}; restarting it",
                    file=sys.stderr,
                    flush=True,
                )
                child.close()
                self._clear_in_flight(run_dir, index)
                if len(self.deaths) > RESTARTS_PER_MINUTE:
                    print(
                        f"parity serve: {len(self.deaths)} worker deaths within a minute; stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    self._stop_all(grace, signals)
                    return 1
                self._spawn(index, args, sock, run_dir)
                if not self._wait_ready(self.children[index]):
                    self._stop_all(grace, signals)
                    return 1

    def _clear_in_flight(self, run_dir: str, index: int) -> None:
        """A dead worker's collection changes in flight never end: they rolled back with
        its connections (``SharedGenerations.clear``)."""
        from reference_impl.core.coherence import SharedGenerations

        shared = SharedGenerations(Worker(index, self.count, run_dir).generations_path)
        try:
            shared.clear(index)
        finally:
            shared.close()

    def _stop_all(self, grace: float, signals: set[signal.Signals] | None = None) -> int:
        """SIGTERM to every worker; those still running after the grace (or at a second
        signal) are killed. 0 when all stopped by themselves."""
        for child in self.children.values():
            if child.process.is_alive():
                os.kill(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace + 2.0
        clean = True
        for child in self.children.values():
            while child.process.is_alive() and time.monotonic() < deadline:
                if signals and signal.sigtimedwait(signals, 0.05) is not None:
                    deadline = 0.0  # a second signal: no more waiting
                child.process.join(0.05)
            if child.process.is_alive():
                clean = False
                child.process.kill()
                child.process.join(5)
            elif child.process.exitcode != 0:
                clean = False
            child.close()
        self.children.clear()
        return 0 if clean else 1


def _block_signals() -> None:
    """Starting multiprocessing's resource tracker (the first spawn does) unblocks SIGINT
    and SIGTERM in the calling thread (``resource_tracker.ensure_running``); the supervisor
    takes them with ``sigtimedwait``, so they must stay blocked."""
    from reference_impl.cli import _SIGNALS

    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def worker_main(
    args: argparse.Namespace,
    sock: socket.socket,
    worker: Worker,
    ready: Connection,
    lifeline: Connection,
) -> None:
    """One worker: ``parity serve`` on the inherited socket, as node ``<node id>-w<i>``."""
    from reference_impl import cli

    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the supervisor alone, which stops us once
    threading.Thread(target=_stop_when_orphaned, args=(lifeline,), daemon=True).start()
    args = copy.copy(args)
    if args.node_id:
        args.node_id = f"{args.node_id}-w{worker.index}"
    args.metrics = None  # the supervisor serves every worker's (metrics.WorkersCollector)
    code = cli.serve(args, sockets=[sock], worker=worker, ready=lambda: ready.send(True))
    sys.exit(code)


def _stop_when_orphaned(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv()
    os.kill(os.getpid(), signal.SIGTERM)


def bind_worker_socket(worker: Worker) -> socket.socket:
    """This worker's Unix socket, where the others forward realtime requests."""
    path = Path(worker.socket_path)
    path.unlink(missing_ok=True)  # a previous incarnation's
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(path))
    os.chmod(path, 0o600)
    unix.listen(BACKLOG)
    return unix
