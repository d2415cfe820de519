"""Drive the official PocketBase JS SDK (``harness/sdk``) against a target.

The SDK is the client real applications use, so running its CRUD flow against every target
checks the wire format as an app sees it, not as our own HTTP helpers assume it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.targets.base import Target

SDK_DIR = Path(__file__).resolve().parent / "sdk"
CRUD_SCRIPT = "crud.mjs"
REALTIME_SCRIPT = "realtime.mjs"
SDK_PACKAGE = "pocketbase"


class SdkError(RuntimeError):
    """The SDK could not be installed or run. The message says what was checked."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SdkError(
            f"`{name}` not found on PATH; the SDK checks need Node.js >= 18 with npm "
            "(https://nodejs.org, or your distribution's nodejs/npm packages)."
        )
    return path


def _pinned_version() -> str:
    manifest = json.loads((SDK_DIR / "package.json").read_text())
    version: str = manifest["dependencies"][SDK_PACKAGE]
    return version


def installed_version() -> str | None:
    """Version of the SDK in ``harness/sdk/node_modules``, or None if absent."""
    manifest = SDK_DIR / "node_modules" / SDK_PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def _all_installed() -> bool:
    """Every package of ``package.json`` in ``node_modules`` at its pinned version (the SDK
    and ``eventsource``, the EventSource Node lacks, which the SDK's realtime needs)."""
    wanted = json.loads((SDK_DIR / "package.json").read_text())["dependencies"]
    for name, version in wanted.items():
        manifest = SDK_DIR / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


def ensure_sdk_installed() -> Path:
    """Install the pinned packages with ``npm ci`` unless already there; the SDK dir."""
    _tool("node")
    if _all_installed():
        return SDK_DIR
    npm = _tool("npm")
    # pytest-xdist workers may all get here at once; two `npm ci` runs in one directory
    # would delete each other's node_modules, so serialise them on a per-checkout lock.
    key = hashlib.sha256(str(SDK_DIR).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"pocketparity-sdk-{key}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _all_installed():  # another worker finished meanwhile
            return SDK_DIR
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=SDK_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
    if result.returncode != 0 or not _all_installed():
        raise SdkError(
            f"`npm ci` in {SDK_DIR} failed (exit {result.returncode}); it needs the npm "
            f"registry to be reachable. Output:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return SDK_DIR


def run_sdk_crud(target: Target, collection: str, *, timeout: float = 120.0) -> dict[str, Any]:
    """Run ``crud.mjs`` against a started target; return its parsed JSON document.

    ``collection`` must not exist on the target; the script creates and finally deletes it.
    """
    return run_sdk_script(CRUD_SCRIPT, target, collection, timeout=timeout)


def run_sdk_realtime(target: Target, collection: str, *, timeout: float = 120.0) -> dict[str, Any]:
    """Run ``realtime.mjs`` (the SDK's ``subscribe()``: a superuser and a guest client)
    against a started target; the events each client received, normalised."""
    return run_sdk_script(REALTIME_SCRIPT, target, collection, timeout=timeout)


def run_sdk_script(
    script: str, target: Target, collection: str, *, timeout: float = 120.0
) -> dict[str, Any]:
    """Run one of ``harness/sdk``'s scripts against ``target``; its JSON document."""
    sdk_dir = ensure_sdk_installed()
    email, password = target.superuser
    env = {
        **os.environ,
        "BASE_URL": target.base_url,
        "EMAIL": email,
        "PASSWORD": password,
        "COLLECTION": collection,
    }
    command = [_tool("node"), script]
    result = subprocess.run(
        command,
        cwd=sdk_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    where = f"node {script} against {target.name} ({target.base_url})"
    if result.returncode != 0:
        raise SdkError(f"{where} exited with code {result.returncode}:\n{result.stderr}")
    try:
        document: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise SdkError(f"{where} printed invalid JSON ({exc}):\n{result.stdout[:2000]}") from exc
    return document
