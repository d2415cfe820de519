"""Every request a real ``parity serve`` (two workers) answers is in ``_logs`` after a clean
stop (SIGTERM drains each worker's buffer), in PocketBase's shape, on both engines:
SQLite's in ``auxiliary.db``, PostgreSQL's in the same database."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.http import ServerCheckError, free_port, spawn_server
from harness.targets.reference import serve_command
from reference_impl.db.engine import Engine
from reference_impl.ir import Kind


def _serve(engine: str, data_dir: Path, dsn: str | None) -> tuple[subprocess.Popen[bytes], str]:
    base_url = f"http://127.0.0.1:{free_port()}"
    cmd = serve_command(engine, data_dir, base_url.removeprefix("http://"), "--workers", "2")
    if dsn:
        cmd += ["--pg-dsn", dsn]
    env = {k: v for k, v in os.environ.items() if k not in ("PARITY_PG_DSN", "PARITY_WORKERS")}
    try:
        proc = spawn_server(cmd, base_url, data_dir.parent / f"{data_dir.name}.log", env=env)
    except ServerCheckError as exc:
        raise AssertionError(str(exc)) from exc
    return proc, base_url


def _logs(engine: Engine) -> list[tuple[int, str, dict[str, Any]]]:
    d = engine.dialect
    with engine.transaction() as tx:
        rows = tx.fetchall(f"SELECT level, message, data FROM {d.table('_logs')}")
    return [(int(r[0]), str(r[1]), d.from_db(Kind.JSON, r[2])) for r in rows]


def test_every_answered_request_is_logged_as_pocketbase_logs_it(
    engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dsn = None
    if engine_name == "postgres":
        server: Any = request.getfixturevalue("pg_server")
        name = f"logs_{os.getpid()}"
        server.drop_database(name)
        dsn = server.create_database(name)
    data_dir = tmp_path / "pb_data"
    proc, base = _serve(engine_name, data_dir, dsn)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(40):
                assert client.get("/api/health").status_code == 200
            for _ in range(5):
                assert client.get("/api/collections/nope/records").status_code == 404
            answer = client.get("/api/health?x=a%20b", headers={"User-Agent": "probe/1"})
            assert answer.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    if engine_name == "sqlite":
        from reference_impl.db.sqlite import SqliteEngine

        reader: Engine = SqliteEngine(data_dir / "auxiliary.db", events=False)
    else:
        from reference_impl.db.postgres import PostgresEngine

        assert dsn is not None
        reader = PostgresEngine(dsn, install=False)
    try:
        rows = _logs(reader)
    finally:
        reader.close()
    health = [r for r in rows if r[2]["url"] == "/api/health" and r[2]["status"] == 200]
    missing = [r for r in rows if r[2]["status"] == 404]
    probe = [r for r in rows if r[2]["url"] == "/api/health?x=a%20b"]
    # ours, plus wait_healthy's (one 200 or more: under load it may time out and ask again)
    assert len(health) >= 41 and (len(missing), len(probe)) == (5, 1)
    level, message, data = probe[0]
    assert (level, message) == (0, "GET /api/health?x=a b")
    assert data["type"] == "request" and data["method"] == "GET" and data["status"] == 200
    assert data["userAgent"] == "probe/1" and data["auth"] == "" and data["referer"] == ""
    assert data["userIP"] == data["remoteIP"] == "127.0.0.1"
    assert isinstance(data["execTime"], float) and data["execTime"] > 0
    level, message, data = missing[0]
    assert (level, message) == (8, "GET /api/collections/nope/records")
    assert (
        data["error"] == "Missing collection context."
        and data["details"] == "sql: no rows in result set"
    )
