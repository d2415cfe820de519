"""Targets: the interchangeable systems under test, and a factory from a CLI spec string."""

from __future__ import annotations

import os
from pathlib import Path

from harness.targets.base import (
    SUPERUSER_EMAIL,
    SUPERUSER_PASSWORD,
    Target,
    TargetInfo,
    TargetStartError,
)
from harness.targets.pocketbase import PocketBaseTarget, find_pocketbase
from harness.targets.url import UrlTarget

__all__ = [
    "SUPERUSER_EMAIL",
    "SUPERUSER_PASSWORD",
    "PocketBaseTarget",
    "Target",
    "TargetInfo",
    "TargetStartError",
    "UrlTarget",
    "make_target",
    "pocketbase_available",
]

URL_EMAIL_ENV = "PARITY_URL_EMAIL"
URL_PASSWORD_ENV = "PARITY_URL_PASSWORD"
SPECS = ("pocketbase", "sqlite", "postgres", "url=http://HOST:PORT")


def pocketbase_available() -> bool:
    """True if the real PocketBase binary can be found (see ``find_pocketbase``)."""
    try:
        find_pocketbase()
    except TargetStartError:
        return False
    return True


def make_target(spec: str, workdir: Path, *, pg_dsn: str | None = None) -> Target:
    """Build an unstarted target from a spec: pocketbase, sqlite, postgres or url=<base url>."""
    if spec == "pocketbase":
        return PocketBaseTarget(workdir)
    if spec in ("sqlite", "postgres"):
        # Imported lazily: the reference app pulls in the engine drivers and the web stack,
        # which runs against PocketBase or a URL never need.
        from harness.targets.reference import ReferenceTarget

        reference: Target = ReferenceTarget(spec, workdir, pg_dsn=pg_dsn)
        return reference
    if spec.startswith("url="):
        base_url = spec.removeprefix("url=")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"target spec {spec!r}: the URL must start with http:// or https://")
        return UrlTarget(
            base_url,
            os.environ.get(URL_EMAIL_ENV, SUPERUSER_EMAIL),
            os.environ.get(URL_PASSWORD_ENV, SUPERUSER_PASSWORD),
        )
    raise ValueError(f"unknown target spec {spec!r}; expected one of: {', '.join(SPECS)}")
