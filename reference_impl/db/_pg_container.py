"""A throwaway PostgreSQL container via testcontainers (optional extra ``[container]``).

The Docker check runs first and only looks at ``DOCKER_HOST`` and ``/var/run/docker.sock``
(the docker SDK's defaults): without an engine, testcontainers fails only inside the
``PostgresContainer`` constructor, after importing the docker SDK, with a bare
"Error while fetching server API version".
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import socket
from collections.abc import Callable

from reference_impl.db.provision import ProvisionError, server_settings

DOCKER_SOCKET = "/var/run/docker.sock"
_INSTALL_HINT = "pip install 'pocketparity[container]'"


def start_container(image: str, *, logical: bool) -> tuple[str, Callable[[], None]]:
    """Start ``image`` and return (superuser DSN to the ``postgres`` database, stop)."""
    problem = docker_problem()
    if problem is not None:
        installed = importlib.util.find_spec("testcontainers") is not None
        also = "" if installed else f"; testcontainers is not installed either ({_INSTALL_HINT})"
        raise ProvisionError(
            f"container=True needs a Docker engine, but {problem}{also}. Start Docker or set "
            "DOCKER_HOST, or drop container=True to use the embedded PostgreSQL (no Docker), "
            "or pass a DSN / set PARITY_PG_DSN"
        )
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        raise ProvisionError(
            f"container=True needs testcontainers, which is not installed: {_INSTALL_HINT}"
        ) from None

    # Arguments after the image's entrypoint become `postgres -c name=value ...`. The image's
    # default locale (en_US.utf8) does not matter: databases are created with C collation.
    command = ["postgres"]
    for name, value in server_settings(logical=logical).items():
        command += ["-c", f"{name}={value}"]
    container = PostgresContainer(
        image,
        username="postgres",
        password=secrets.token_urlsafe(16),  # per run; the port is published on the host
        dbname="postgres",
        driver=None,  # plain postgresql:// URL for libpq, not SQLAlchemy's postgresql+psycopg2
    ).with_command(command)
    try:
        container.start()
        dsn: str = container.get_connection_url(driver=None)
    except Exception as exc:  # docker SDK and testcontainers errors share no base class
        _stop_quietly(container)
        raise ProvisionError(f"starting container {image} failed: {exc}") from exc
    stop: Callable[[], None] = container.stop
    return dsn, stop


def docker_problem() -> str | None:
    """Why no Docker engine is reachable, or None when one may be (fast, no docker import)."""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return None  # tcp:// or ssh://: only the docker client can tell; it fails quickly
    path = host.removeprefix("unix://") or DOCKER_SOCKET
    where = f"DOCKER_HOST={host}" if host else f"DOCKER_HOST is not set and {DOCKER_SOCKET}"
    if not os.path.exists(path):
        return f"{where} does not exist" if not host else f"{where}: {path} does not exist"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
    except OSError as exc:
        return f"{path} exists but refuses connections ({exc}); is the Docker daemon running?"
    return None


def _stop_quietly(container: object) -> None:
    stop = getattr(container, "stop", None)
    if callable(stop):
        with contextlib.suppress(Exception):  # best effort: the start error is what matters
            stop()
