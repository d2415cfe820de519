"""``parity serve`` stops cleanly on SIGTERM and SIGINT: exit 0, the database closed, and an
embedded PostgreSQL it started shut down (not left running for the next session to trip
over), even when the server is SIGKILLed (its reaper stops PostgreSQL) or its event loop is
stuck (the signal watchdog exits after the grace period). A real server process on a real
port, like ``pocketbase serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.http import ServerCheckError, free_port, spawn_server
from harness.targets.reference import serve_command


def _serve(engine: str, data_dir: Path) -> subprocess.Popen[bytes]:
    base_url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "PARITY_PG_DSN"}  # embedded, for real
    cmd = serve_command(engine, data_dir, base_url.removeprefix("http://"))
    try:
        return spawn_server(cmd, base_url, data_dir.parent / f"{data_dir.name}.log", env=env)
    except ServerCheckError as exc:
        raise AssertionError(str(exc)) from exc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sqlite_server_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _serve("sqlite", tmp_path)
    assert (tmp_path / "data.db-wal").exists()  # open in WAL mode while serving
    proc.send_signal(sig)
    assert proc.wait(20) == 0
    assert not (tmp_path / "data.db-wal").exists()  # the last connection closed


def test_embedded_postgres_stops_with_the_server(tmp_path: Path) -> None:
    proc = _serve("postgres", tmp_path)
    pid_file = tmp_path / "pg" / "postmaster.pid"
    assert pid_file.exists()
    postmaster = int(pid_file.read_text().split()[0])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not pid_file.exists()
    deadline = time.monotonic() + 10
    while _running(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(postmaster), f"postmaster {postmaster} still running"


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphaned postmaster is reaped by whoever is PID 1)."""
    if not Path("/proc").is_dir():  # no procfs (macOS): a zombie counts as running here
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_embedded_postgres_does_not_outlive_a_killed_server(tmp_path: Path) -> None:
    # SIGKILL runs no cleanup at all: the reaper (db/_pg_reaper.py) stops the server.
    proc = _serve("postgres", tmp_path)
    postmaster = int((tmp_path / "pg" / "postmaster.pid").read_text().split()[0])
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 30
    while _running(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(postmaster), f"postmaster {postmaster} outlived a killed parity serve"
    # ... and the next start finds a clean directory and serves again.
    again = _serve("postgres", tmp_path)
    again.send_signal(signal.SIGTERM)
    assert again.wait(30) == 0


_STUCK_PROCESS = """
import signal, sys
from reference_impl import cli
signal.pthread_sigmask(signal.SIG_BLOCK, cli._SIGNALS)
cli._Watchdog()
print("spinning", flush=True)
while True:  # the main thread never yields, as a handler stuck in CPU work would
    pass
"""


def test_sigterm_ends_a_process_whose_loop_is_stuck(tmp_path: Path) -> None:
    from reference_impl.cli import STOP_GRACE_S

    with subprocess.Popen(
        [sys.executable, "-c", _STUCK_PROCESS], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == b"spinning\n"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=STOP_GRACE_S + 10)
        assert proc.returncode == 1
        assert time.monotonic() - started >= STOP_GRACE_S - 0.5  # it waited for the grace
        assert b"did not stop within" in stderr


def test_a_dead_session_target_says_why_and_starts_again(tmp_path: Path) -> None:
    """What the plugin reports when a session server dies under the suites (its exit code
    and log, instead of 'connection refused' in every later test), then the restart."""
    from harness.hostile._restart import restart
    from harness.targets.reference import ReferenceTarget

    target = ReferenceTarget("sqlite", tmp_path, env={"PARITY_WORKERS": "1"})
    target.start()
    try:
        assert target.ended_on_its_own() is None
        first = target.base_url
        assert target.pid is not None
        os.kill(target.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (why := target.ended_on_its_own()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert why is not None and "sqlite exited with code -9" in why
        assert "Server started at " + first in why  # the log's last lines come with it
        restart(target)
        assert target.ended_on_its_own() is None
        assert httpx.get(target.base_url + "/api/health", timeout=10).status_code == 200
    finally:
        target.stop()
