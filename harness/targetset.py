"""Start the targets a run asks for (``--target sqlite,postgres,pocketbase``), stop them after.

Shared by ``parity check``, ``parity repro`` and the pytest plugin, so the three start
targets the same way: PostgreSQL is provisioned here (a DSN server, else embedded) with a
fresh database per run, the reference server is started with ``PARITY_DEBUG_SQL=1`` so it
can show its SQL in repros, and a spec given twice (``pocketbase,pocketbase``: a self-test
of the normaliser) gets a distinct column name.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.runner import Session
from harness.targets import PocketBaseTarget, Target, TargetInfo, make_target, pocketbase_available
from harness.targets.base import TargetStartError

DEBUG_SQL_ENV = "PARITY_DEBUG_SQL"


def default_specs() -> list[str]:
    """PocketBase (the oracle) when its binary is installed, then both reference engines."""
    return (["pocketbase"] if pocketbase_available() else []) + ["sqlite", "postgres"]


def parse_specs(text: str | None) -> list[str]:
    """``"sqlite,postgres"`` -> specs; None or "" -> ``default_specs()``."""
    if not text:
        return default_specs()
    return [part.strip() for part in text.split(",") if part.strip()]


def labels(specs: Sequence[str]) -> list[str]:
    """Column names: the spec ("url" for url=...), with -2, -3 for repeats."""
    seen: dict[str, int] = {}
    result = []
    for spec in specs:
        base = "url" if spec.startswith("url=") else spec
        seen[base] = seen.get(base, 0) + 1
        result.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return result


@dataclass
class Started:
    sessions: dict[str, Session] = field(default_factory=dict)
    infos: dict[str, TargetInfo] = field(default_factory=dict)


@contextlib.contextmanager
def started(
    specs: Sequence[str],
    workdir: Path,
    *,
    pg_dsn: str | None = None,
    pg_database: str | None = None,
) -> Iterator[Started]:
    """Start every target (raising ``TargetStartError`` naming the one that failed).

    ``pg_dsn`` names a PostgreSQL server (default: ``$PARITY_PG_DSN``, else an embedded one
    under ``workdir``); a database ``pg_database`` (default ``pp_<pid>``) is created on it for
    this run and dropped afterwards. Pass ``pg_database=""`` when ``pg_dsn`` already names
    the database to use (the pytest plugin prepares per-worker databases itself).
    """
    os.environ.setdefault(DEBUG_SQL_ENV, "1")
    result = Started()
    with contextlib.ExitStack() as stack:
        target_dsn = pg_dsn
        if "postgres" in specs and pg_database != "":
            target_dsn = stack.enter_context(
                _database(workdir, pg_dsn, pg_database or f"pp_{os.getpid()}")
            )
        for spec, label in zip(specs, labels(specs), strict=True):
            target = _make(spec, label, workdir, target_dsn)
            try:
                target.start()
            except TargetStartError:
                raise
            except Exception as exc:  # a reference bug at boot still needs a clear message
                raise TargetStartError(f"target {label!r} failed to start: {exc!r}") from exc
            finally:
                stack.callback(target.stop)
            session = Session(target)
            stack.callback(session.close)
            result.sessions[label] = session
            info = target.info()
            result.infos[label] = info
        yield result


def _make(spec: str, label: str, workdir: Path, pg_dsn: str | None) -> Target:
    target_dir = workdir / label
    if spec == "pocketbase" and label != "pocketbase":
        return PocketBaseTarget(target_dir, name=label)
    try:
        return make_target(spec, target_dir, pg_dsn=pg_dsn)
    except ImportError as exc:
        raise TargetStartError(f"target {spec!r} is not available: {exc}") from exc
    except ValueError as exc:
        raise TargetStartError(str(exc)) from exc


@contextlib.contextmanager
def _database(workdir: Path, dsn: str | None, name: str) -> Iterator[str]:
    from reference_impl.db.provision import ProvisionError, provision_postgres

    try:
        server = provision_postgres(data_dir=workdir / "pg", dsn=dsn)
    except ProvisionError as exc:
        raise TargetStartError(f"PostgreSQL for target 'postgres': {exc}") from exc
    try:
        server.drop_database(name)  # a leftover of an interrupted run with the same pid
        yield server.create_database(name)
    finally:
        with contextlib.suppress(ProvisionError):
            server.drop_database(name)
        server.stop()


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """What every command that starts targets takes: ``--target`` and ``--pg-dsn``."""
    parser.add_argument(
        "--target",
        default=None,
        help="comma list of sqlite, postgres, pocketbase, url=URL "
        "(default: pocketbase if installed, sqlite, postgres)",
    )
    parser.add_argument(
        "--pg-dsn", default=None, help="PostgreSQL server (default $PARITY_PG_DSN, else embedded)"
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What every command that runs scenarios takes: targets, PostgreSQL, seed, scenarios."""
    add_target_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed for generated rows (default 0)")
    parser.add_argument(
        "--scenarios",
        type=Path,
        default=None,
        help="scenario directory (default suites/conformance/scenarios)",
    )
