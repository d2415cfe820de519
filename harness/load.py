"""``parity load SCENARIO``: start each target, run a Locust scenario headless against it,
then check what the run left behind.

Scenarios (``loadtests/locust_scenarios.py``, one Locust user class each):

- ``logging_burst``: logged requests as fast as ``--rate`` allows; after the run, the
  server's request logs of this run (the logs API, ``data.url ~ 'mark=<run>'``) must be the
  requests it answered minus the entries its circuit breaker dropped (counted on the
  reference's metrics listener; PocketBase counts none), the drops under 0.1%.
- ``records_crud``: list (filtered, sorted) / view / create / update over seeded records;
  after, the collection holds the seeded rows plus every create answered 200.
- ``race_counter``: every user increments one record's ``n`` (``n+``); after, ``n`` is the
  number of increments answered 200. PocketBase loses some (registered divergence
  ``concurrent-increments``): reported, not failed.

Locust runs as a master and ``--processes`` workers (its distributed mode, all on this
machine: ``--processes``); beyond one machine, run ``locust --master`` here and ``locust
--worker --master-host ...`` elsewhere with the same file and environment (loadtests/README).
Every target of a run gets the same load in turn; the results (Locust's stats, its
per-second history, the checks) go to ``<report-dir>/load_<scenario>.json`` and the CSVs
beside it, which ``parity report`` turns into plots.

Exit 0 when every check passed on every reference target, 1 when one failed, 2 when the
run could not be made.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from harness.http import free_port, superuser_token
from harness.targets import make_target
from harness.targets.base import Target

SCENARIOS = {
    "logging_burst": "LoggingBurst",
    "records_crud": "RecordsCrud",
    "race_counter": "RaceCounter",
}
DEFAULT_USERS = {"logging_burst": 64, "records_crud": 32, "race_counter": 16}
COLLECTION = "load_items"
SEED_ROWS = 1000
MAX_DROP_SHARE = 0.001  # logging_burst: drops above 0.1% of the answers fail the run
COUNTS_TIMEOUT_S = 30.0  # how long after the master's end its workers may take (stop-timeout 5)
FLUSH_TIMEOUT_S = 60.0  # how long the logs may take to be written after the load
MAX_DURATION_S = 600  # a bounded run (loopback only, this machine's other work waits)


def locustfile() -> Path:
    """``loadtests/locust_scenarios.py`` of this checkout, else of the current directory."""
    tail = Path("loadtests", "locust_scenarios.py")
    here = Path(__file__).resolve().parent.parent / tail
    return here if here.is_file() else Path.cwd() / tail


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "load",
        help="a Locust scenario against each target, checked after the run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--target", default="pocketbase,sqlite,postgres",
        help="comma list of pocketbase, sqlite, postgres, url=URL (pocketbase,sqlite,postgres)",
    )  # fmt: skip
    parser.add_argument("--users", type=int, default=None, help="Locust users (per scenario)")
    parser.add_argument(
        "--rate", type=float, default=0.0,
        help="requests per second, all users together (0: as fast as they go)",
    )  # fmt: skip
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (30)")
    parser.add_argument(
        "--processes", type=int, default=2,
        help="Locust worker processes beside its master (2: both cores)",
    )  # fmt: skip
    parser.add_argument(
        "--server-workers", type=int, default=None,
        help="worker processes of each reference server (default: its own)",
    )  # fmt: skip
    parser.add_argument(
        "--logs", choices=("on", "off"), default="on",
        help="request logs of the reference servers (off: PARITY_LOGS_MAX_DAYS=0, for the "
        "overhead figure; nothing to check then)",
    )  # fmt: skip
    parser.add_argument("--pg-dsn", default=None, help="PostgreSQL server (default: embedded)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports/latest"))
    parser.set_defaults(handler=load)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    known: str | None = None  # a registered divergence explains the failure

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "known": self.known}


@dataclass
class TargetRun:
    target: str
    version: str
    kind: str
    stats: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    per_second: list[list[int]] = field(default_factory=list)  # [unix second, answers]
    latency_ms: dict[str, float] = field(default_factory=dict)  # exact percentiles, all routes
    answers: dict[str, dict[str, int]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    logs: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(not c.ok and c.known is None for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "version": self.version,
            "kind": self.kind,
            "stats": self.stats,
            "history": self.history,
            "per_second": self.per_second,
            "latency_ms": self.latency_ms,
            "answers": self.answers,
            "checks": [c.to_json() for c in self.checks],
            "logs": self.logs,
            "error": self.error,
        }


def load(args: argparse.Namespace) -> int:
    # wide enough for the route templates when the output is not a terminal (a CI log)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    if not 1 <= args.duration <= MAX_DURATION_S:
        console.print(f"parity load: --duration must be 1-{MAX_DURATION_S} seconds")
        return 2
    users = args.users or DEFAULT_USERS[args.scenario]
    if users < 1 or args.processes < 1 or args.rate < 0:
        console.print("parity load: --users and --processes at least 1, --rate at least 0")
        return 2
    if shutil.which("locust") is None and not _has_locust():
        console.print("parity load: Locust is not installed (pip install -e '.[load]')")
        return 2
    specs = [s.strip() for s in args.target.split(",") if s.strip()]
    run: dict[str, Any] = {
        "scenario": args.scenario,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{os.cpu_count()} cores",
        "users": users,
        "rate": args.rate,
        "duration_s": args.duration,
        "locust_processes": args.processes,
        "logs": args.logs,
        "targets": [],
    }
    out_dir = args.report_dir / f"load_{args.scenario}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="parity-load-") as tmp:
        for spec in specs:
            workdir = Path(tmp) / spec.replace("=", "_")
            result = _one_target(args, spec, users, workdir, console)
            target_dir = out_dir / _slug(spec)
            target_dir.mkdir(exist_ok=True)
            for csv_file in workdir.glob("locust_*.csv"):  # the raw figures, beside the JSON
                shutil.copy(csv_file, target_dir / csv_file.name)
            if result.error is not None:  # what the server and Locust said, for the diagnosis
                for log in (*workdir.glob("*.log"), *workdir.glob("*/*.log")):
                    shutil.copy(log, target_dir / log.name)
                result.error = result.error.replace(str(workdir), str(target_dir))
            run["targets"].append(result.to_json())
            _print(result, console)
    path = args.report_dir / f"load_{args.scenario}.json"
    path.write_text(json.dumps(run, indent=1))
    console.print(f"results: {path}")
    failed = [t["target"] for t in run["targets"] if _target_failed(t)]
    if failed:
        console.print(f"[red]FAIL[/]: checks failed on {', '.join(failed)}")
        return 1
    console.print("[green]OK[/]: every check passed (or differs only as registered)")
    return 0


def _target_failed(t: dict[str, Any]) -> bool:
    return t["error"] is not None or any(not c["ok"] and c["known"] is None for c in t["checks"])


def _has_locust() -> bool:
    try:
        import locust  # noqa: F401
    except ImportError:
        return False
    return True


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec)


def _one_target(
    args: argparse.Namespace, spec: str, users: int, workdir: Path, console: Console
) -> TargetRun:
    workdir.mkdir(parents=True)
    metrics = f"127.0.0.1:{free_port()}" if spec in ("sqlite", "postgres") else None
    target = _make(spec, workdir, args, metrics)
    try:
        target.start()
    except Exception as exc:
        return TargetRun(spec, "", "", error=f"did not start: {exc}")
    try:
        info = target.info()
    except Exception as exc:
        target.stop()
        return TargetRun(spec, "", "", error=f"did not say its version: {exc}")
    result = TargetRun(spec, info.version, info.kind)
    stage = "setup"
    try:
        token = superuser_token(target.base_url, *target.superuser)
        env = _setup(args.scenario, target.base_url, token)
        mark = uuid.uuid4().hex[:12]
        env.update(
            PARITY_LOAD_TOKEN=token,
            PARITY_LOAD_RATE=str(args.rate),
            PARITY_LOAD_USERS=str(users),
            PARITY_LOAD_MARK=mark,
            PARITY_LOAD_COLLECTION=COLLECTION,
        )
        stage = "the Locust run"
        _locust(args, spec, users, target.base_url, env, workdir, result, console)
        stage = "the checks after the run"
        if args.logs == "off" and args.scenario == "logging_burst":
            result.logs = {"answered": _answered(result), "off": 1}  # no log to count
        else:
            VERIFY[args.scenario](target.base_url, token, env, result, metrics)
    except Exception as exc:  # a refused setup, a Locust that did not run
        log = getattr(target, "log_path", None)
        where = f" (server log: {log})" if log else ""
        result.error = f"{stage} failed: {type(exc).__name__}: {exc}{where}"
    finally:
        target.stop()
    return result


def _make(spec: str, workdir: Path, args: argparse.Namespace, metrics: str | None) -> Target:
    if spec not in ("sqlite", "postgres"):
        return make_target(spec, workdir, pg_dsn=args.pg_dsn)
    from harness.targets.reference import ReferenceTarget

    env = {"PARITY_DEBUG_SQL": "0", "PARITY_METRICS": metrics or ""}
    if args.logs == "off":
        env["PARITY_LOGS_MAX_DAYS"] = "0"
    if args.server_workers:
        env["PARITY_WORKERS"] = str(args.server_workers)
    return ReferenceTarget(spec, workdir, env=env, pg_dsn=args.pg_dsn)


# -- setup ----------------------------------------------------------------------------------
def _setup(scenario: str, base_url: str, token: str) -> dict[str, str]:
    """The scenario's collection and rows; the environment the Locust users read."""
    su = {"Authorization": token}
    with httpx.Client(base_url=base_url, headers=su, timeout=60) as c:
        if scenario == "logging_burst":
            return {}
        fields = [{"name": "title", "type": "text"}, {"name": "n", "type": "number"}]
        indexes = [f"CREATE INDEX idx_{COLLECTION}_n ON {COLLECTION} (n)"]
        c.post(
            "/api/collections", json={"name": COLLECTION, "fields": fields, "indexes": indexes}
        ).raise_for_status()
        if scenario == "race_counter":
            record = c.post(f"/api/collections/{COLLECTION}/records", json={"n": 0})
            record.raise_for_status()
            return {"PARITY_LOAD_RECORD": record.json()["id"]}
        ids = []
        for i in range(SEED_ROWS):
            made = c.post(
                f"/api/collections/{COLLECTION}/records", json={"title": f"seed{i}", "n": i}
            )
            made.raise_for_status()
            ids.append(made.json()["id"])
        return {"PARITY_LOAD_IDS": ",".join(ids)}


# -- the run ----------------------------------------------------------------------------------
def _locust(
    args: argparse.Namespace,
    spec: str,
    users: int,
    base_url: str,
    env: dict[str, str],
    workdir: Path,
    result: TargetRun,
    console: Console,
) -> None:
    counts = workdir / "counts"
    counts.mkdir()
    prefix = workdir / "locust"
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile()), "--headless",
        "-H", base_url, "-u", str(users), "-r", str(users),
        "--run-time", f"{args.duration:.0f}s", "--stop-timeout", "5",
        "--processes", str(args.processes),
        "--csv", str(prefix), "--csv-full-history", "--only-summary", "--loglevel", "WARNING",
        SCENARIOS[args.scenario],
    ]  # fmt: skip
    full_env = {**os.environ, **env, "PARITY_LOAD_COUNTS": str(counts)}
    log = workdir / "locust.log"
    with log.open("wb") as out:
        # its own process group: the master's forked workers go with it on every way out
        proc = subprocess.Popen(
            command, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _watch(proc, args, spec, log, counts, console)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # nothing of the run is left by now
            proc.wait()
    files = sorted(counts.glob("counts-*.json"))
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"Locust wrote no stats; its output:\n{log.read_text()[-3000:]}")
    result.stats = [_typed(row) for row in _read_csv(stats)]
    history = Path(f"{prefix}_stats_history.csv")
    if history.exists():
        result.history = [_typed(r) for r in _read_csv(history) if r["Name"] == "Aggregated"]
    per_second: dict[int, int] = {}
    micros: dict[int, int] = {}  # response time in whole µs -> answers
    for part in files:
        written = json.loads(part.read_text())
        for us, n in written["latency_us"].items():
            micros[int(us)] = micros.get(int(us), 0) + int(n)
        for row in written["answers"]:
            by_status = result.answers.setdefault(row["name"], {})
            status = str(row["status"])
            by_status[status] = by_status.get(status, 0) + int(row["count"])
        for second, n in written["per_second"].items():
            per_second[int(second)] = per_second.get(int(second), 0) + int(n)
    if micros:  # Locust's own percentiles are whole milliseconds: these keep the µs
        result.latency_ms = _percentiles(micros)
    if per_second:  # every second from the first answer to the last, gaps as 0
        first, last = min(per_second), max(per_second)
        result.per_second = [[t, per_second.get(t, 0)] for t in range(first, last + 1)]


def _percentiles(micros: dict[int, int]) -> dict[str, float]:
    """p50/p90/p95/p99 in ms (to the µs) of a histogram of whole-µs response times."""
    total = sum(micros.values())
    out: dict[str, float] = {"answers": float(total)}
    ordered = sorted(micros.items())
    for q in (50, 90, 95, 99):
        rank, seen = total * q / 100, 0
        for us, n in ordered:
            seen += n
            if seen >= rank:
                out[f"p{q}"] = us / 1000
                break
    return out


def _watch(
    proc: subprocess.Popen[bytes],
    args: argparse.Namespace,
    spec: str,
    log: Path,
    counts: Path,
    console: Console,
) -> None:
    """Progress while Locust runs; then wait for each worker's counts (the workers write
    them as they exit, after the master, which does not wait for them)."""
    progress = Progress(
        TextColumn(f"{args.scenario} on {spec}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("load", total=args.duration)
        started = time.monotonic()
        while proc.poll() is None:
            progress.update(task, completed=min(time.monotonic() - started, args.duration))
            time.sleep(0.5)
            if time.monotonic() - started > args.duration + 120:
                raise RuntimeError(f"Locust did not end (its output: {log})")
    waited = time.monotonic() + COUNTS_TIMEOUT_S
    while (found := len(list(counts.glob("counts-*.json")))) < args.processes:
        if time.monotonic() > waited:
            raise RuntimeError(
                f"{found} of {args.processes} Locust workers wrote their counts within "
                f"{COUNTS_TIMEOUT_S:.0f} s of the run's end; its output: {log}"
            )
        time.sleep(0.1)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as rows:
        return list(csv.DictReader(rows))


def _typed(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        try:
            out[key] = float(value) if value not in ("", "N/A") else None
        except ValueError:
            out[key] = value
    return out


def _answered(result: TargetRun, name_prefix: str = "", status: str | None = None) -> int:
    """Requests of the run that got an answer (any status, or this one)."""
    total = 0
    for name, by_status in result.answers.items():
        if not name.startswith(name_prefix):
            continue
        for code, count in by_status.items():
            if code != "0" and (status is None or code == status):
                total += count
    return total


# -- checks -----------------------------------------------------------------------------------
def _metrics(address: str | None) -> dict[str, float]:
    """The reference's metrics listener, each sample summed over the workers (keyed
    ``name{label="v"}`` without the ``worker`` label), read with prometheus_client's parser."""
    if address is None:
        return {}
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://{address}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(
                f'{k}="{v}"' for k, v in sorted(sample.labels.items()) if k != "worker"
            )
            key = f"{sample.name}{{{labels}}}" if labels else sample.name
            values[key] = values.get(key, 0.0) + float(sample.value)
    return values


def _log_count(client: httpx.Client, mark: str) -> int:
    answer = client.get(
        "/api/logs", params={"filter": f"data.url ~ 'mark={mark}'", "perPage": 1}, timeout=120
    )
    answer.raise_for_status()
    return int(answer.json()["totalItems"])


def _verify_logs(
    base_url: str, token: str, env: dict[str, str], result: TargetRun, metrics: str | None
) -> None:
    answered = _answered(result)
    with httpx.Client(base_url=base_url, headers={"Authorization": token}) as c:
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        counts: dict[str, float] = {}
        if metrics is not None:  # the reference says when its buffers are empty
            while time.monotonic() < deadline:
                counts = _metrics(metrics)
                if counts.get("parity_request_logs_pending", 0) == 0:
                    break
                time.sleep(0.5)
            found = _log_count(c, env["PARITY_LOAD_MARK"])
        else:  # PocketBase: until the count stops growing past its 3 s ticker
            found, still = -1, 0
            while time.monotonic() < deadline and still < 2:
                time.sleep(2.0)
                now = _log_count(c, env["PARITY_LOAD_MARK"])
                still = still + 1 if now == found else 0
                found = now
    dropped = int(counts.get('parity_request_logs_total{outcome="dropped"}', 0))
    failed = int(counts.get('parity_request_logs_total{outcome="failed"}', 0))
    result.logs = {"answered": answered, "persisted": found, "dropped": dropped, "failed": failed}
    # the run's own setup and checks are not marked, so they are not among `found`
    expected = answered - dropped
    result.checks.append(
        Check(
            "every accepted log persisted",
            found == expected and failed == 0,
            f"{found} logs of {answered} answered requests, {dropped} dropped (counted), "
            f"{failed} not written: expected {expected}",
        )
    )
    share = dropped / answered if answered else 0.0
    result.checks.append(
        Check(
            "drops under 0.1%",
            share < MAX_DROP_SHARE,
            f"{dropped} of {answered} ({share:.3%})",
        )
    )


def _verify_crud(
    base_url: str, token: str, env: dict[str, str], result: TargetRun, metrics: str | None
) -> None:
    created = _answered(result, "POST /api/collections/", "200")
    with httpx.Client(base_url=base_url, headers={"Authorization": token}, timeout=60) as c:
        page = c.get(f"/api/collections/{COLLECTION}/records", params={"perPage": 1})
        page.raise_for_status()
        total = int(page.json()["totalItems"])
    result.checks.append(
        Check(
            "every create answered 200 is stored",
            total == SEED_ROWS + created,
            f"{total} records: {SEED_ROWS} seeded + {created} created",
        )
    )
    errors = {
        name: {s: n for s, n in by.items() if s == "0" or s.startswith("5")}
        for name, by in result.answers.items()
    }
    bad = {name: by for name, by in errors.items() if by}
    result.checks.append(
        Check("no 5xx and no unanswered request", not bad, json.dumps(bad) if bad else "none")
    )


def _verify_counter(
    base_url: str, token: str, env: dict[str, str], result: TargetRun, metrics: str | None
) -> None:
    acknowledged = _answered(result, "PATCH", "200")
    with httpx.Client(base_url=base_url, headers={"Authorization": token}, timeout=60) as c:
        record = c.get(f"/api/collections/{COLLECTION}/records/{env['PARITY_LOAD_RECORD']}")
        record.raise_for_status()
        n = int(record.json()["n"])
    lost = acknowledged - n
    result.checks.append(
        Check(
            "no increment lost",
            n == acknowledged,
            f"n = {n} after {acknowledged} increments answered 200"
            + (f": {lost} lost" if lost else ""),
            known="concurrent-increments" if result.kind == "pocketbase" and n != acknowledged
            else None,
        )
    )  # fmt: skip


VERIFY: dict[str, Callable[[str, str, dict[str, str], TargetRun, str | None], None]] = {
    "logging_burst": _verify_logs,
    "records_crud": _verify_crud,
    "race_counter": _verify_counter,
}


def _print(result: TargetRun, console: Console) -> None:
    if result.error:
        console.print(f"[red]{result.target}[/]: {result.error}")
        return
    table = Table(title=f"{result.target} ({result.version})")
    for column in ("request", "count", "fail", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for row in result.stats:
        table.add_row(
            str(row["Name"]),
            f"{row['Request Count'] or 0:,.0f}",
            f"{row['Failure Count'] or 0:,.0f}",
            f"{row['Requests/s'] or 0:,.0f}",
            f"{row['50%'] or 0:.0f}",
            f"{row['95%'] or 0:.0f}",
            f"{row['99%'] or 0:.0f}",
        )
    console.print(table)
    if result.latency_ms:
        exact = ", ".join(f"{k} {v:.3f}" for k, v in result.latency_ms.items() if k != "answers")
        console.print(f"  latency, every route, to the µs (ms): {exact}")
    for check in result.checks:
        mark = "[green]ok[/]" if check.ok else "[yellow]known[/]" if check.known else "[red]FAIL[/]"
        known = f" (registered divergence {check.known})" if check.known else ""
        console.print(f"  {mark} {check.name}: {check.detail}{known}")
