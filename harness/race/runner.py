"""``parity race``: start a server, run a workload's clients against it, check the history.

Clients are threads spread over processes (``--processes``), all over HTTP. Operations go
in rounds, one per client, sent at once; with a reference target the seed also fixes the
order in which the round's operations pass the failpoints (``reference_impl/failpoints.py``),
so a seed replays its interleaving. ``--free`` leaves the order to the OS (what a load run
sees; PocketBase, which has no failpoints, always runs so).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.race import levels
from harness.race.checker import server_errors
from harness.race.history import Anomaly, Op
from harness.race.workloads import Spec, Workload, make

STEP_MS = 100.0


@dataclass
class RaceConfig:
    workload: str
    target: str = "sqlite"  # sqlite | postgres | pocketbase
    isolation: str = "read-committed"
    clients: int = 8
    ops: int = 200
    seed: int = 0
    unsafe: bool = False
    processes: int = 2
    keys: int = 1
    free: bool = False
    step_ms: float = STEP_MS

    @property
    def rounds(self) -> int:
        return max(1, -(-self.ops // self.clients))

    @property
    def scheduled(self) -> bool:
        return not self.free and self.target != "pocketbase"

    def replay_command(self) -> str:
        target = f"--target {self.target}" if self.target == "pocketbase" else (
            f"--engine {self.target}")  # fmt: skip
        level = "" if self.target == "pocketbase" else f" --isolation {self.isolation}"
        parts = [
            f"parity race {self.workload} {target}{level}",
            f"--clients {self.clients} --ops {self.ops} --seed {self.seed}",
            f"--processes {self.processes}",
        ]
        if self.keys != 1:
            parts.append(f"--keys {self.keys}")
        if self.unsafe:
            parts.append("--unsafe")
        if self.free:
            parts.append("--free")
        return " ".join(parts)


@dataclass
class RaceResult:
    config: RaceConfig
    history: list[Op]
    anomalies: list[Anomaly]
    seconds: float
    target_version: str = ""
    retries: dict[str, float] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metrics_sample: dict[str, float] = field(default_factory=dict)

    def forbidden(self) -> list[Anomaly]:
        engine = self.config.target
        return [
            a for a in self.anomalies if levels.forbidden(a.name, engine, self.config.isolation)
        ]

    @property
    def exit_code(self) -> int:
        return 1 if self.forbidden() else 0

    def signature(self) -> list[tuple[str, tuple[str, ...]]]:
        """What must be equal when a seed is replayed: each anomaly and its operations."""
        return sorted((a.name, tuple(sorted(a.ops))) for a in self.anomalies)

    def to_json(self) -> dict[str, Any]:
        c = self.config
        counts: dict[str, int] = {}
        for op in self.history:
            counts[op.type] = counts.get(op.type, 0) + 1
        return {
            "workload": c.workload, "target": c.target, "target_version": self.target_version,
            "isolation": c.isolation,
            "effective_isolation": levels.effective_level(c.target, c.isolation),
            "clients": c.clients, "ops": len(self.history), "rounds": c.rounds,
            "seed": c.seed, "unsafe": c.unsafe, "scheduled": c.scheduled,
            "processes": c.processes, "keys": c.keys, "seconds": round(self.seconds, 3),
            "ops_per_second": round(len(self.history) / self.seconds, 1) if self.seconds else 0,
            "outcomes": counts, "retries": self.retries, "summary": self.summary,
            "metrics_under_load": self.metrics_sample,
            "anomalies": [
                {**a.to_json(), "forbidden": levels.forbidden(a.name, c.target, c.isolation),
                 "hermitage_postgres_allows": levels.hermitage_allows(a.name, c.isolation)}
                for a in self.anomalies
            ],
            "replay": c.replay_command(),
            "exit_code": self.exit_code,
        }  # fmt: skip


# -- the schedule -------------------------------------------------------------------------------
def schedule_for(workload: Workload, rounds: list[list[Spec]], seed: int) -> list[list[list[str]]]:
    """Per round, the operations' failpoint events merged in a seeded random order that
    keeps each operation's own points in sequence."""
    out = []
    for r, specs in enumerate(rounds):
        rng = random.Random(f"{seed}:{r}")
        queues = [[(s.id, p) for p in workload.points(s)] for s in specs]
        queues = [q for q in queues if q]
        events: list[list[str]] = []
        while queues:
            q = rng.choice(queues)
            events.append(list(q.pop(0)))
            if not q:
                queues.remove(q)
        out.append(events)
    return out


# -- clients ------------------------------------------------------------------------------------
def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": token}, timeout=120)


def _run_client(
    base_url: str, token: str, workload: Workload, specs: list[Spec | None],
    barrier: Any, out: list[Op], rounds: bool = True,
) -> None:  # fmt: skip
    """One client: per round, wait for every client (the barrier), then its operation (None:
    it has none in a last, partial round). Without ``rounds`` (free interleaving, what the
    throughput benchmark runs) only the start is shared: each client then goes on at its
    own pace. Anything but an HTTP answer is an ``info`` op."""
    with _client(base_url, token) as client:
        for i, spec in enumerate(specs):
            if rounds or i == 0:
                barrier.wait(timeout=600)
            if spec is None:
                continue
            op = Op(spec.id, spec.client, spec.f, spec.key, spec.value)
            op.invoke = time.monotonic_ns()
            try:
                outcome = _execute(client, workload, spec)
            except Exception as exc:  # a dropped connection, a body that is not JSON...
                op.complete = time.monotonic_ns()
                op.type, op.error = "info", f"{type(exc).__name__}: {exc}"[:200]
                out.append(op)
                continue
            op.complete = time.monotonic_ns()
            op.status, op.result, op.error = outcome.status, outcome.result, outcome.error
            op.type = "ok" if outcome.status < 300 else "fail" if outcome.status < 500 else "info"
            out.append(op)


def _execute(client: httpx.Client, workload: Workload, spec: Spec) -> Any:
    client.headers["X-Parity-Op"] = spec.id
    return workload.execute(client, spec)


def _worker(
    base_url: str, token: str, workload: Workload, per_client: dict[int, list[Spec | None]],
    barrier: Any, results: Any, rounds: bool = True,
) -> None:  # fmt: skip
    """One process: a thread per client it was given; its history goes back on ``results``."""
    out: list[Op] = []
    threads = [
        threading.Thread(
            target=_run_client, args=(base_url, token, workload, specs, barrier, out, rounds)
        )
        for specs in per_client.values()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put([op.to_json() for op in out])


def run_clients(
    config: RaceConfig, base_url: str, token: str, workload: Workload, plan: list[list[Spec]]
) -> list[Op]:
    by_client: dict[int, list[Spec | None]] = {c: [] for c in range(config.clients)}
    for specs in plan:
        mine = {spec.client: spec for spec in specs}
        for c in range(config.clients):
            by_client[c].append(mine.get(c))
    processes = max(1, min(config.processes, config.clients))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(config.clients)
    results = ctx.Queue()
    groups = [
        {c: by_client[c] for c in range(config.clients) if c % processes == p}
        for p in range(processes)
    ]
    workers = [
        ctx.Process(
            target=_worker,
            args=(base_url, token, workload, g, barrier, results, config.scheduled),
        )
        for g in groups
    ]
    for w in workers:
        w.start()
    history: list[Op] = []
    for _ in workers:
        history += [Op(**raw) for raw in results.get(timeout=3600)]
    for w in workers:
        w.join(timeout=60)
    return sorted(history, key=lambda op: op.invoke)


# -- a run --------------------------------------------------------------------------------------
def run_race(
    config: RaceConfig, workdir: Path, *, pg_dsn: str | None = None, progress: Any = None
) -> RaceResult:
    from harness.http import superuser_token

    with _started(config, workdir, pg_dsn) as (target, metrics_url):
        base_url = target.base_url
        token = superuser_token(base_url, *target.superuser)
        with _client(base_url, token) as client:
            workload = make(config.workload, config.keys)
            workload.setup(client, config.rounds, config.clients)
            plan = workload.plan(random.Random(config.seed), config.rounds, config.clients)
            plan = _trim(plan, config.ops)
            if config.scheduled:
                rounds = schedule_for(workload, plan, config.seed)
                response = client.post(
                    "/api/parity/schedule", json={"rounds": rounds, "step_ms": config.step_ms}
                )
                if response.status_code != 200:
                    raise RuntimeError(f"the server refused the schedule: {response.text[:300]}")
            if progress:
                progress(f"{config.workload}: {config.ops} ops, {config.clients} clients")
            started = time.perf_counter()
            with _sampling(metrics_url) as sample:
                history = run_clients(config, base_url, token, workload, plan)
            seconds = time.perf_counter() - started
            trace = []
            if config.scheduled:
                trace = client.get("/api/parity/schedule").json().get("trace", [])
            anomalies = server_errors(history) + workload.check(client, history)
            version = target.info().version
        retries = _scrape_retries(metrics_url) if metrics_url else {}
    result = RaceResult(config, history, anomalies, seconds, version, retries, trace,
                        dict(workload.state.get("finals", {})))  # fmt: skip
    result.metrics_sample = sample
    return result


@contextlib.contextmanager
def _sampling(url: str | None) -> Iterator[dict[str, float]]:
    """The server's pool gauges (``parity_pool_*``) while the clients run: the sample with the
    most connections in use (what ``/metrics`` showed under the load)."""
    best: dict[str, float] = {}
    if url is None:
        yield best
        return
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.25):
            try:
                text = httpx.get(url, timeout=2).text
            except httpx.HTTPError:
                continue
            gauges = {m.group(1): float(m.group(2)) for m in map(_GAUGE.match, text.splitlines())
                      if m}  # fmt: skip
            if _in_use(gauges) >= _in_use(best):
                best.clear()
                best.update(gauges)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield best
    finally:
        done.set()
        thread.join(5)


def _in_use(gauges: dict[str, float]) -> float:
    keys = [k for k in gauges if k.startswith("parity_pool_connections") and "in_use" in k]
    return gauges[keys[0]] if keys else -1.0


_GAUGE = re.compile(r"^(parity_(?:pool|sqlite)_\w+(?:\{[^}]*\})?) (\S+)$")


def _trim(plan: list[list[Spec]], ops: int) -> list[list[Spec]]:
    """Exactly ``ops`` operations: the last round may be partial."""
    out, left = [], ops
    for specs in plan:
        out.append(specs[: max(0, left)])
        left -= len(specs)
    return [specs for specs in out if specs]


@contextlib.contextmanager
def _started(config: RaceConfig, workdir: Path, pg_dsn: str | None) -> Iterator[Any]:
    from harness.http import free_port

    if config.target == "pocketbase":
        from harness.targets.pocketbase import PocketBaseTarget

        target: Any = PocketBaseTarget(workdir / "pocketbase")
        target.start()
        try:
            yield target, None
        finally:
            target.stop()
        return
    from harness.targets.reference import ReferenceTarget

    metrics = f"127.0.0.1:{free_port()}"
    env = {
        "PARITY_DEBUG_SQL": "0",
        "PARITY_FAILPOINTS": "1" if config.scheduled else "0",
        "PARITY_UNSAFE_RMW": "1" if config.unsafe else "0",
        "PARITY_PG_ISOLATION": config.isolation,
        "PARITY_METRICS": metrics,
        "PARITY_PG_POOL_MAX_SIZE": str(max(10, min(config.clients + 2, 60))),
    }
    with contextlib.ExitStack() as stack:
        dsn = pg_dsn
        if config.target == "postgres" and dsn is None:
            dsn = stack.enter_context(_database(workdir))
        target = ReferenceTarget(config.target, workdir / config.target, pg_dsn=dsn, env=env)
        target.start()
        stack.callback(target.stop)
        yield target, f"http://{metrics}/metrics"


@contextlib.contextmanager
def _database(workdir: Path) -> Iterator[str]:
    import os

    from reference_impl.db.provision import provision_postgres

    server = provision_postgres(data_dir=workdir / "pg")
    name = f"race_{os.getpid()}"
    try:
        server.drop_database(name)
        yield server.create_database(name)
    finally:
        with contextlib.suppress(Exception):
            server.drop_database(name)
        server.stop()


_METRIC = re.compile(r'^parity_transaction_retries(_exhausted)?_total\{reason="(\w+)"\} (\S+)$')


def _scrape_retries(url: str) -> dict[str, float]:
    try:
        text = httpx.get(url, timeout=10).text
    except httpx.HTTPError:
        return {}
    out = {}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if m:
            out[("exhausted:" if m.group(1) else "") + m.group(2)] = float(m.group(3))
    return out


def write_json(result: RaceResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = result.to_json()
    data["history"] = [op.to_json() for op in result.history]
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
