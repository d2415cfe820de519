"""The one protocol every system under test implements.

A target is a running PocketBase-compatible HTTP server plus a superuser seeded on it.
Scenarios only ever talk HTTP to ``base_url``; they never reach into a target's internals,
so the reference implementation on either engine, the real PocketBase binary and any URL
are interchangeable (STYLE.md item 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

SUPERUSER_EMAIL = "parity@example.com"
SUPERUSER_PASSWORD = "parity-password-1234"


class TargetStartError(RuntimeError):
    """A target could not start. The message says what was checked and how to fix it."""


@dataclass(frozen=True)
class TargetInfo:
    """What a report shows about a target (the parity matrix column header and tooltip)."""

    name: str  # column id: "sqlite", "postgres", "pocketbase", "url"
    kind: str  # "reference", "pocketbase", "url"
    engine: str | None  # "sqlite" | "postgres" | None when unknown (real PocketBase is SQLite)
    version: str  # server version ("pocketbase 0.40.6", "reference 0.1.0 / PostgreSQL 18.6")
    details: dict[str, str] = field(default_factory=dict)  # engine build, DSN (no password)


@runtime_checkable
class Target(Protocol):
    """A started, seeded PocketBase-compatible server."""

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` without a trailing slash."""
        ...

    @property
    def superuser(self) -> tuple[str, str]:
        """(email, password) of a superuser that exists on the target."""
        ...

    def info(self) -> TargetInfo: ...

    def start(self) -> None:
        """Start (if the target owns a process) and seed the superuser; idempotent."""
        ...

    def stop(self) -> None:
        """Stop what ``start`` started and remove its temporary data; idempotent."""
        ...
