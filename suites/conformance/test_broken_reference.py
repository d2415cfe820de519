"""The gate catches a real engine difference: flip one dialect flag and ``parity check`` fails.

``PARITY_DIALECT_OVERRIDE=postgres.NATIVE_NULLS_FIRST=true`` tells the PostgreSQL dialect
that NULLs already sort first, so it stops writing ``NULLS FIRST``/``NULLS LAST`` and
PostgreSQL's own order (NULLs last ascending) leaks into responses. The listing suite has
scenarios sorting unset values; ``parity check`` must exit 1 and print the repro block with
the SQL the PostgreSQL target ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _check(
    tmp_path: Path, pg_server: Any, override: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PARITY_DIALECT_OVERRIDE"}
    if override:
        env["PARITY_DIALECT_OVERRIDE"] = override
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "check",
            "--target",
            "sqlite,postgres",
            "--suite",
            "listing",
            "--pg-dsn",
            pg_server.admin_dsn,
            "--report-dir",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=600,
    )


@pytest.mark.slow
def test_flipped_null_ordering_fails_the_gate_with_a_repro(tmp_path: Path, pg_server: Any) -> None:
    broken = _check(tmp_path, pg_server, "postgres.NATIVE_NULLS_FIRST=true")
    out = broken.stdout
    assert broken.returncode == 1, out[-3000:] + broken.stderr[-2000:]
    assert "==== PARITY DIVERGE: GET list records sorted by json field with nulls" in out
    # the repro shows what PostgreSQL ran: an ORDER BY without the explicit NULLS clause
    assert "ORDER BY" in out and "-- re-run --" in out
    assert "parity repro 'GET list records sorted by json field with nulls (superuser)'" in out


@pytest.mark.slow
def test_the_same_run_passes_without_the_flip(tmp_path: Path, pg_server: Any) -> None:
    healthy = _check(tmp_path, pg_server, None)
    assert healthy.returncode == 0, healthy.stdout[-3000:] + healthy.stderr[-2000:]
