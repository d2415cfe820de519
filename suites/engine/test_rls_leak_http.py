"""No context leak through the real server: ``parity serve --engine postgres --rules rls``
(the database alone enforces the rules) with its asyncio pool (10 connections) under 48
concurrent clients, each a different user or a guest, 300 requests. Every list returns
exactly that caller's rows, and a view of another user's record is always 404.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.http import superuser_token
from harness.targets.reference import ReferenceTarget

USERS = 8
DOCS_PER_USER = 3
PASSWORD = "leak-password-1"


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    engines = str(request.config.getoption("engines", "sqlite,postgres"))
    if "postgres" not in engines:
        pytest.skip("row level security is PostgreSQL's")
    pg: Any = request.getfixturevalue("pg_server")
    database = f"pp_leak_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    pg.drop_database(database)
    dsn = pg.create_database(database)
    target = ReferenceTarget(
        "postgres",
        Path(tmp_path_factory.mktemp("leak")),
        pg_dsn=dsn,
        env={"PARITY_PG_RULES": "rls"},
    )
    target.start()
    try:
        yield target.base_url
    finally:
        target.stop()
        pg.drop_database(database)


def _seed(base: str) -> dict[str, str]:
    su = {"Authorization": superuser_token(base, "parity@example.com", "parity-password-1234")}
    with httpx.Client(base_url=base, headers=su, timeout=30) as c:
        c.post(
            "/api/collections",
            json={
                "name": "notes",
                "fields": [
                    {"name": "title", "type": "text"},
                    {
                        "name": "owner",
                        "type": "relation",
                        "collectionId": "_pb_users_auth_",
                        "maxSelect": 1,
                    },
                ],
                "listRule": "owner = @request.auth.id && @request.auth.id != ''",
                "viewRule": "owner = @request.auth.id && @request.auth.id != ''",
            },
        ).raise_for_status()
        for u in range(USERS):
            c.post(
                "/api/collections/users/records",
                json={
                    "id": f"leakuser{u:07d}",
                    "email": f"leak{u}@example.com",
                    "password": PASSWORD,
                    "passwordConfirm": PASSWORD,
                },
            ).raise_for_status()
            for n in range(DOCS_PER_USER):
                c.post(
                    "/api/collections/notes/records",
                    json={"id": f"note{u:02d}{n:09d}", "title": "t", "owner": f"leakuser{u:07d}"},
                ).raise_for_status()
        status = c.get("/api/parity/rules").json()
    assert status["mode"] == "rls"
    assert status["collections"]["notes"]["list"] == "policy"
    tokens = {"guest": ""}
    for u in range(USERS):
        r = httpx.post(
            f"{base}/api/collections/users/auth-with-password",
            json={"identity": f"leak{u}@example.com", "password": PASSWORD},
        )
        r.raise_for_status()
        tokens[f"leakuser{u:07d}"] = r.json()["token"]
    return tokens


def test_no_request_sees_another_callers_rows(server: str) -> None:
    tokens = _seed(server)
    expected = {
        who: sorted(f"note{int(who[-2:]):02d}{n:09d}" for n in range(DOCS_PER_USER))
        if who != "guest"
        else []
        for who in tokens
    }
    rng = random.Random(11)
    calls = [(rng.choice(list(tokens)), rng.random() < 0.3) for _ in range(300)]

    def one(call: tuple[str, bool]) -> str | None:
        who, view_other = call
        headers = {"Authorization": tokens[who]} if tokens[who] else {}
        with httpx.Client(base_url=server, headers=headers, timeout=30) as c:
            if view_other:  # someone else's note: 404 whoever asks
                other = next(u for u in tokens if u not in (who, "guest"))
                r = c.get(f"/api/collections/notes/records/{expected[other][0]}")
                return None if r.status_code == 404 else f"{who} viewed {other}'s note"
            r = c.get("/api/collections/notes/records", params={"perPage": 100, "sort": "id"})
            ids = [item["id"] for item in r.json()["items"]]
            return None if ids == expected[who] else f"{who} listed {ids}"

    with ThreadPoolExecutor(48) as pool:
        problems = [p for p in pool.map(one, calls) if p]
    assert not problems, problems[:5]
