"""A request running past ``--statement-timeout`` (PostgreSQL 57014) answers a clear 503 in
PocketBase's error shape, never a bare 500, and the server goes on serving.

The statement is made slow for certain by a lock: the test holds the record's row lock on
its own connection while the API updates the record (the update reads it FOR UPDATE and
waits; the statement timeout counts the wait)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psycopg

from harness.http import superuser_token
from harness.targets.reference import ReferenceTarget


def test_statement_timeout_is_a_clear_503(pg_server: Any, tmp_path: Path) -> None:
    pg_server.drop_database("pp_timeout_http")
    dsn = pg_server.create_database("pp_timeout_http")
    env = {"PARITY_PG_STATEMENT_TIMEOUT": "0.5", "PARITY_DEBUG_SQL": "0"}
    target = ReferenceTarget("postgres", tmp_path / "ref", pg_dsn=dsn, env=env)
    target.start()
    try:
        token = superuser_token(target.base_url, *target.superuser)
        with httpx.Client(base_url=target.base_url, headers={"Authorization": token},
                          timeout=60) as c:  # fmt: skip
            created = c.post("/api/collections", json={
                "name": "big", "type": "base", "fields": [{"name": "n", "type": "number"}],
                "listRule": "",
            })  # fmt: skip
            assert created.status_code == 200, created.text
            record = c.post("/api/collections/big/records", json={"n": 1}).json()
            url = f"/api/collections/big/records/{record['id']}"
            with psycopg.connect(dsn) as holder:
                holder.execute("SELECT 1 FROM big WHERE id = %s FOR UPDATE", (record["id"],))
                slow = c.patch(url, json={"n+": 1})
                holder.rollback()
            assert slow.status_code == 503, slow.text
            body = slow.json()
            assert body["status"] == 503 and body["data"] == {}
            assert "statement timeout" in body["message"]
            after = c.patch(url, json={"n+": 1})
            assert after.status_code == 200 and after.json()["n"] == 2
    finally:
        target.stop()
        pg_server.drop_database("pp_timeout_http")
