"""Isolation per server and per operation, on the engine and through the API.

PostgreSQL runs the level asked for one transaction (``SET TRANSACTION ISOLATION LEVEL`` as
its first statement, only when it differs from the pool's); SQLite serialises every
transaction and accepts any level (``Dialect.SERIALIZES_EVERYTHING``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reference_impl.db.engine import Engine, isolation, isolation_level, run_in_transaction


def _level(engine: Engine, **kwargs: Any) -> str | None:
    if engine.dialect.SERIALIZES_EVERYTHING:
        return None
    with engine.transaction(**kwargs) as tx:
        row = tx.fetchone("SELECT current_setting('transaction_isolation')")
    return str(row[0]) if row else None


def test_level_names_are_read_leniently_and_refused_clearly() -> None:
    assert isolation_level("repeatable-read") == "REPEATABLE READ"
    assert isolation_level(" Serializable ") == "SERIALIZABLE"
    assert isolation_level("read_committed") == "READ COMMITTED"
    with pytest.raises(ValueError, match="read-committed, repeatable-read, serializable"):
        isolation_level("snapshot")


def test_a_transaction_runs_at_the_level_asked(engine: Engine) -> None:
    if engine.dialect.SERIALIZES_EVERYTHING:
        with engine.transaction(isolation="SERIALIZABLE") as tx:  # accepted, no effect
            assert tx.fetchone("SELECT 1") == (1,)
        return
    assert _level(engine) == "read committed"
    assert _level(engine, isolation="SERIALIZABLE") == "serializable"
    with isolation("repeatable-read"):
        assert _level(engine) == "repeatable read"
        assert _level(engine, isolation="SERIALIZABLE") == "serializable"  # explicit wins
        seen = run_in_transaction(
            engine, lambda tx: tx.fetchone("SELECT current_setting('transaction_isolation')")
        )
        assert seen == ("repeatable read",)
    assert _level(engine) == "read committed"  # nothing leaks into the pooled connection


def test_requests_choose_their_level_with_a_header(parity_targets: Any) -> None:
    """``X-Parity-Isolation`` on one request; a bad value is a 400 that names the choices."""
    for name, session in parity_targets.sessions.items():
        info = parity_targets.infos[name]
        if info.kind != "reference":
            continue
        headers = {"Authorization": session.superuser_token()}
        with httpx.Client(base_url=session.target.base_url, headers=headers) as c:
            ok = c.get("/api/collections", headers={"X-Parity-Isolation": "serializable"})
            assert ok.status_code == 200
            sql = json.loads(ok.headers.get("x-parity-sql", "[]"))
            statements = [s["sql"] for s in sql]
            if info.engine == "postgres":
                assert "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE" in statements
            else:
                assert not any("ISOLATION" in s for s in statements)
            bad = c.get("/api/collections", headers={"X-Parity-Isolation": "snapshot"})
            assert bad.status_code == 400
            assert "repeatable-read" in bad.json()["message"]
