"""``--rules app|rls|both``: which mode runs on which engine, and the startup error SQLite
gives for row level security (it has none)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reference_impl.core.row_security import PG_MODE_ENV, check_mode, default_mode


def test_default_mode_follows_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PG_MODE_ENV, raising=False)
    assert default_mode(row_level_security=True) == "both"
    assert default_mode(row_level_security=False) == "app"


def test_a_run_can_serve_postgresql_with_rls_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PG_MODE_ENV, "rls")
    assert default_mode(row_level_security=True) == "rls"
    assert default_mode(row_level_security=False) == "app"  # SQLite is never affected


@pytest.mark.parametrize("mode", ["app", "rls", "both"])
def test_postgresql_takes_every_mode(mode: str) -> None:
    assert check_mode(mode, row_level_security=True) == mode


@pytest.mark.parametrize("mode", ["rls", "both"])
def test_sqlite_refuses_row_level_security(mode: str) -> None:
    with pytest.raises(ValueError, match=f"--rules {mode} needs row level security"):
        check_mode(mode, row_level_security=False)


def test_unknown_mode_names_the_choices() -> None:
    with pytest.raises(ValueError, match="one of app, rls, both"):
        check_mode("db", row_level_security=True)


def test_serve_on_sqlite_with_rls_is_a_clear_startup_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_impl",
            "serve",
            "--engine",
            "sqlite",
            "--rules",
            "rls",
            "--dir",
            str(tmp_path),
            "--http",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--rules rls needs row level security, which SQLite does not have" in done.stderr
    assert not (tmp_path / "data.db").exists()  # refused before anything was opened
