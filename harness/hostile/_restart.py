"""Restart a target into a fresh state after a hostile case hung or broke it.

A hung request can keep burning the server's CPU (a backtracking regex) and a broken one can
leave state that poisons every later case (a renamed ``_superusers``), so the runner restarts
the target: stop, a fresh data dir (``ServerProcessTarget.start`` makes one), and for a
reference server on PostgreSQL a fresh database (the old one would keep the damage). A URL
target cannot be restarted: ``restart`` says so and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.targets.base import Target, TargetStartError
from harness.targets.url import UrlTarget

_ATTEMPTS = 3


def can_restart(target: Target) -> bool:
    return not isinstance(target, UrlTarget)


def restart(target: Target, *, hung: bool = False) -> None:
    """Stop, reset the database if it has its own, start (``TargetStartError`` if it won't).

    ``hung``: the server is stuck (its event loop busy in a regex, say), so it would not act
    on SIGTERM and ``stop`` would wait out its grace period: kill it outright first.
    """
    if not can_restart(target):
        raise TargetStartError(f"target {target.name!r} is a URL; it cannot be restarted")
    pid = getattr(target, "pid", None)
    if hung and isinstance(pid, int):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # the server process this harness started
    target.stop()
    dsn = getattr(target, "pg_dsn", None)
    if isinstance(dsn, str) and dsn:
        _recreate_database(dsn)
    try:
        target.start()
    except TargetStartError:
        time.sleep(1.0)  # once more: a port grabbed meanwhile, a slow database
        target.start()


def database_name(dsn: str) -> str | None:
    """The database a libpq DSN names: URL form (``postgresql://h/db``) or ``dbname=db``."""
    if dsn.startswith(("postgres://", "postgresql://")):
        name = unquote(urlsplit(dsn).path.lstrip("/"))
        return name or None
    match = re.search(r"(?:^|\s)dbname\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))", dsn)
    if match is None:
        return None
    quoted: str | None = match.group(1)
    return quoted.replace("\\'", "'") if quoted is not None else match.group(2)


def _recreate_database(dsn: str) -> None:
    from reference_impl.db.provision import ProvisionError, mask_dsn, provision_postgres

    name = database_name(dsn)
    if name is None:
        raise TargetStartError(f"cannot tell which database {mask_dsn(dsn)} names")
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            server = provision_postgres(data_dir=Path(tempfile.gettempdir()), dsn=dsn)
            server.drop_database(name)
            server.create_database(name)
            return
        # ProvisionError, or a driver error the engine layer let through (its classes
        # cannot be named here: drivers stay in reference_impl/db)
        except Exception as exc:
            if attempt == _ATTEMPTS:
                detail = exc if isinstance(exc, ProvisionError) else repr(exc)
                raise TargetStartError(f"could not recreate database {name!r}: {detail}") from exc
            time.sleep(1.0)
