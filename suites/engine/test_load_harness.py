"""``parity load`` runs a Locust scenario against a real ``parity serve`` and checks it after
the run; ``parity report`` turns the results into a release report that a real headless
Chromium renders with its charts and no console error.

Short, slow-rate runs (a few seconds, a few hundred requests): what is tested is the harness
(the run, the counts, the checks that can fail, the report), not the throughput, which the
benchmarks in loadtests/ measure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.browser import BrowserMissing, check_page, find_browser

# found, never imported here: importing Locust monkey-patches the process for gevent
if importlib.util.find_spec("locust") is None:
    pytest.skip("parity load needs Locust (pip install -e '.[load]')", allow_module_level=True)

SHORT = ["--duration", "3", "--processes", "1"]


def _parity(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PARITY_PG_DSN", "PARITY_WORKERS")}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean, **(env or {})},
    )


def _result(report_dir: Path, scenario: str) -> dict[str, Any]:
    run: dict[str, Any] = json.loads((report_dir / f"load_{scenario}.json").read_text())
    [target] = run["targets"]
    return target


@pytest.fixture(scope="module")
def pg_dsn(request: pytest.FixtureRequest) -> str:
    server: Any = request.getfixturevalue("pg_server")
    name = f"load_{os.getpid()}"
    server.drop_database(name)
    dsn: str = server.create_database(name)
    return dsn


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Path:
    """Two real runs into one results folder: logging_burst on SQLite, race_counter on
    PostgreSQL (each a fresh server the command starts and stops)."""
    out = tmp_path_factory.mktemp("load-results")
    burst = _parity(
        "load", "logging_burst", "--target", "sqlite", "--users", "4", "--rate", "150",
        *SHORT, "--server-workers", "2", "--report-dir", str(out),
    )  # fmt: skip
    assert burst.returncode == 0, burst.stderr[-3000:]
    race = _parity(
        "load", "race_counter", "--target", "postgres", "--users", "6", "--pg-dsn", pg_dsn,
        *SHORT, "--server-workers", "2", "--report-dir", str(out),
    )  # fmt: skip
    assert race.returncode == 0, race.stderr[-3000:]
    return out


def test_logging_burst_every_answered_request_logged(results: Path) -> None:
    target = _result(results, "logging_burst")
    logs = target["logs"]
    assert logs["answered"] > 150, logs  # ~3 s at 150/s, beside the ramp-up
    assert logs["persisted"] == logs["answered"] - logs["dropped"], logs
    assert logs["failed"] == 0
    assert {c["name"]: c["ok"] for c in target["checks"]} == {
        "every accepted log persisted": True,
        "drops under 0.1%": True,
    }
    names = {row["Name"] for row in target["stats"]}
    assert names == {"GET /api/health", "Aggregated"}  # the route, never the query string
    assert target["history"], "Locust's per-second history is kept for the throughput plot"
    csvs = {p.name for p in (results / "load_logging_burst" / "sqlite").iterdir()}
    assert {"locust_stats.csv", "locust_stats_history.csv"} <= csvs


def test_race_counter_no_increment_lost_on_postgres(results: Path) -> None:
    target = _result(results, "race_counter")
    [check] = target["checks"]
    assert check["name"] == "no increment lost" and check["ok"], check
    answered = sum(
        n for by in target["answers"].values() for status, n in by.items() if status == "200"
    )
    assert answered > 20 and f"n = {answered} after {answered} increments" in check["detail"]


def test_lost_request_logs_fail_the_run(tmp_path: Path) -> None:
    """With request logs off (``PARITY_LOGS_MAX_DAYS=0``) the server answers but keeps no
    log: the run must fail, and say why, instead of reporting a throughput."""
    run = _parity(
        "load", "logging_burst", "--target", "sqlite", "--users", "2", "--rate", "50",
        *SHORT, "--report-dir", str(tmp_path),
        env={"PARITY_LOGS_MAX_DAYS": "0"},
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-3000:]
    target = _result(tmp_path, "logging_burst")
    answered = target["logs"]["answered"]
    assert answered > 50 and target["logs"]["persisted"] == 0, target["logs"]
    [lost] = [c for c in target["checks"] if not c["ok"]]
    assert lost["name"] == "every accepted log persisted"
    assert lost["detail"].startswith(f"0 logs of {answered} answered requests"), lost
    assert "FAIL" in run.stderr


def test_release_report_renders_with_its_charts(results: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    made = _parity(
        "report", "--from", str(results), "--reports", str(reports), "--release", "9.9.9"
    )
    assert made.returncode == 0, made.stderr[-3000:]
    out = reports / "9.9.9"
    assert {"index.html", "summary.md", "load_logging_burst.json", "load_race_counter.json"} <= {
        p.name for p in out.iterdir()
    }
    assert (out / "load_race_counter" / "postgres" / "locust_stats.csv").is_file()
    summary = (out / "summary.md").read_text()
    assert "| GET /api/health | sqlite |" in summary and "no increment lost" in summary
    try:
        find_browser()
    except BrowserMissing as exc:
        pytest.skip(str(exc))
    page = check_page(out / "index.html", screenshot=tmp_path / "report.png")
    assert page.errors == []
    assert page.title == "PocketParity report 9.9.9"
    # per scenario: throughput over time + one percentile chart per route
    assert len(page.drawn) == len(page.charts) == 4, page.charts
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_browser_check_sees_a_broken_page(tmp_path: Path) -> None:
    try:
        find_browser()
    except BrowserMissing as exc:
        pytest.skip(str(exc))
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!doctype html><title>b</title><img src='gone.png'>"
        "<svg class='chart' width='10' height='10'></svg><script>nope()</script>"
    )
    page = check_page(broken)
    assert len(page.errors) == 2, page.errors  # the missing image, the uncaught exception
    assert page.charts and page.drawn == []  # a chart with nothing drawn in it
