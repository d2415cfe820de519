"""What every subprocess server target shares: a private root, a log, a free port, health.

Subclasses say how to prepare the data dir (seed the superuser) and which command serves;
this base starts it on ``127.0.0.1:<free port>``, retries when another process grabbed the
port first, waits for ``GET /api/health``, and stops it (SIGTERM, then kill) and removes
its data. Output goes to ``<workdir>/<name>.log``, which outlives ``stop`` so a failed run
can be read afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from harness.http import ServerCheckError, free_port, wait_healthy
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD, TargetStartError

_STOP_GRACE = 10.0  # both servers exit on SIGTERM in milliseconds; this is for loaded machines
_BIND_ATTEMPTS = 3  # free_port() can race with another process grabbing the port
_LOG_TAIL_LINES = 20


def tail(path: Path, start: int) -> str:
    """The last lines written to ``path`` since byte offset ``start``."""
    try:
        with path.open("rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(could not read {path}: {exc})"
    lines = text.splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(no output)"


def terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ServerProcessTarget:
    """Base for targets that own a server process. Subclasses implement ``_prepare`` and
    ``_serve_command`` and may set ``_env`` and ``startup_timeout``."""

    startup_timeout = 20.0
    fix_hint = ""  # appended to start errors: how to fix what most often goes wrong

    def __init__(self, workdir: Path, *, name: str):
        self._workdir = Path(workdir)
        self._name = name
        self._env: dict[str, str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], ServerProcessTarget] | None = (
            None
        )
        self._root: Path | None = None
        self._port: int | None = None
        self.log_path = self._workdir / f"{name}.log"
        self.startup_seconds: float | None = None  # last measured start() wall time

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

    @property
    def pid(self) -> int | None:
        """The server process id while it runs (the hostile suite samples its memory)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def ended_on_its_own(self) -> str | None:
        """Why the started server is gone, when it ended without ``stop`` (its exit code and
        the last lines of its log); None while it runs, and before a start."""
        if self._proc is None or (code := self._proc.poll()) is None:
            return None
        return f"{self._name} exited with code {code}; its log ({self.log_path}):\n" + tail(
            self.log_path, max(0, self._log_size() - 64_000)
        )

    @property
    def data_dir(self) -> Path:
        if self._root is None:
            raise RuntimeError(f"target {self._name!r} is not started")
        return self._root / "pb_data"

    # -- subclass hooks ------------------------------------------------------------------
    def _prepare(self) -> None:
        """Prepare ``data_dir`` before serving (seed the superuser)."""
        raise NotImplementedError

    def _serve_command(self, port: int) -> list[str]:
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.stop()  # a process that died on its own still leaves data to remove
        began = time.monotonic()
        self._workdir.mkdir(parents=True, exist_ok=True)
        # A private root: PocketBase puts pb_migrations/pb_hooks beside its data dir, and
        # embedded PostgreSQL runs as an unprivileged user that must be able to enter it.
        self._root = Path(tempfile.mkdtemp(prefix=f"{self._name}-", dir=self._workdir))
        os.chmod(self._root, 0o755)
        try:
            self._prepare()
            self._serve()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def run_logged(self, args: list[str], *, label: str, timeout: float = 60.0) -> None:
        """Run a preparation command to completion, failing with its output."""
        offset = self._log_size()
        proc = self._spawn(args)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            terminate(proc)
            code = -1
        if code != 0:
            raise TargetStartError(
                f"{self._name}: `{label}` exited with code {code}. "
                f"Output ({self.log_path}):\n{tail(self.log_path, offset)}{self.fix_hint}"
            )

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {' '.join(args)}\n".encode())
            log.flush()
            # The child keeps its own copy of the descriptor; closing ours right away
            # leaves nothing to leak (filterwarnings=error turns leaks into failures).
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._root,
                env=None if self._env is None else {**os.environ, **self._env},
            )

    def _serve(self) -> None:
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            offset = self._log_size()
            self._port = free_port()
            args = self._serve_command(self._port)
            self._proc = proc = self._spawn(args)
            # Never leave an orphaned server behind if the harness forgets stop().
            self._finalizer = weakref.finalize(self, terminate, proc)
            try:
                wait_healthy(self.base_url, self.startup_timeout, proc)
                return
            except ServerCheckError as exc:
                terminate(proc)
                output = tail(self.log_path, offset)
                if "address already in use" in output and attempt < _BIND_ATTEMPTS:
                    continue
                raise TargetStartError(
                    f"{self._name} did not become healthy: {exc}. Command: {' '.join(args)}. "
                    f"Last output ({self.log_path}):\n{output}{self.fix_hint}"
                ) from exc

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc)
            self._proc = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self._port = None
