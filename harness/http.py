"""Tiny synchronous HTTP helpers shared by the targets and the harness.

This module deliberately knows nothing about ``harness.targets``: it raises its own
``ServerCheckError`` and the targets turn that into ``TargetStartError`` with a fix hint.
(Importing the targets package from here would be circular, since the targets import this.)
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

HEALTH_PATH = "/api/health"
SUPERUSER_AUTH_PATH = "/api/collections/_superusers/auth-with-password"

_POLL_INTERVAL = 0.025  # PocketBase answers /api/health ~100 ms after exec; poll tightly.


class ServerCheckError(RuntimeError):
    """A check against a server failed. The message says what was checked and what came back."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    There is an unavoidable window between closing this socket and the server binding the
    port; callers that spawn a server should retry with a new port if the bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """True if nothing listens on ``127.0.0.1:port`` (a connect attempt is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _describe(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {response.text[:300]}"


def wait_healthy(
    base_url: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> float:
    """Poll ``GET {base_url}/api/health`` until it answers 200; return the seconds waited.

    If ``proc`` is given and exits first, fail at once instead of waiting out the timeout.
    """
    url = base_url.rstrip("/") + HEALTH_PATH
    started = time.monotonic()
    deadline = started + timeout
    last = "no attempt made"
    with httpx.Client(timeout=2.0) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                raise ServerCheckError(
                    f"server process exited with code {proc.returncode} before GET {url} "
                    f"answered 200 (last result: {last})"
                )
            try:
                response = client.get(url)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return time.monotonic() - started
                last = _describe(response)
            if time.monotonic() >= deadline:
                raise ServerCheckError(
                    f"GET {url} did not answer 200 within {timeout:.1f}s (last result: {last})"
                )
            time.sleep(_POLL_INTERVAL)


def spawn_server(
    cmd: list[str],
    base_url: str,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start a server process (its output into ``log``) and wait until ``base_url``
    answers health; a server that dies or never answers is killed and reported with its
    output (``ServerCheckError``)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(base_url, timeout, proc)
    except ServerCheckError as exc:
        proc.kill()
        proc.wait()
        raise ServerCheckError(f"{exc}\n{log.read_text(errors='replace')}") from exc
    return proc


def superuser_token(base_url: str, email: str, password: str, *, timeout: float = 10.0) -> str:
    """Authenticate a superuser with email/password and return the auth token."""
    url = base_url.rstrip("/") + SUPERUSER_AUTH_PATH
    try:
        response = httpx.post(url, json={"identity": email, "password": password}, timeout=timeout)
    except httpx.TransportError as exc:
        raise ServerCheckError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise ServerCheckError(
            f"POST {url} as superuser {email!r} did not authenticate ({_describe(response)})"
        )
    token = response.json().get("token")
    if not isinstance(token, str) or not token:
        raise ServerCheckError(f"POST {url} answered 200 without a token: {response.text[:300]}")
    return token
