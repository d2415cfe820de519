"""One small world for the rules suites: users, teams, memberships and documents with fixed
ids, built through the app (collections and records API in process) on any engine and rule
mode, so the same rows exist on SQLite, PostgreSQL with app-layer rules and PostgreSQL with
row level security.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from reference_impl.app import App
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import SUPERUSERS, USERS_ID
from reference_impl.core.records import ListQuery
from reference_impl.core.row_security import Mode
from reference_impl.db import ROW_SECURITY_ROLE
from reference_impl.db.engine import Engine

USERS = [  # id, name, verified
    ("u1aaaaaaaaaaaaa", "Ann", True),
    ("u2bbbbbbbbbbbbb", "Bob", False),
    ("u3ccccccccccccc", "Cid", True),
]
TEAMS = [("t1aaaaaaaaaaaaa", "red"), ("t2bbbbbbbbbbbbb", "blue")]
MEMBERS = [  # user, team
    ("m1aaaaaaaaaaaaa", "u1aaaaaaaaaaaaa", "t1aaaaaaaaaaaaa"),
    ("m2bbbbbbbbbbbbb", "u2bbbbbbbbbbbbb", "t2bbbbbbbbbbbbb"),
    ("m3ccccccccccccc", "u3ccccccccccccc", "t1aaaaaaaaaaaaa"),
]
STATUSES = ("public", "draft", "secret")
TAGS = ("a", "b", "c")


def doc_rows() -> list[dict[str, Any]]:
    """Documents covering owners (incl. none), teams (incl. none), statuses, tags, numbers."""
    rows = []
    owners = [u[0] for u in USERS] + [""]
    teams = [t[0] for t in TEAMS] + [""]
    for i in range(16):
        rows.append(
            {
                "id": f"d{i:02d}" + "x" * 12,
                "title": ["alpha", "Beta", "gamma", ""][i % 4],
                "status": STATUSES[i % 3],
                "n": i % 7,
                "flag": i % 2 == 0,
                "owner": owners[i % 4],
                "team": teams[(i // 2) % 3],
                "tags": [TAGS[j] for j in range(3) if (i >> j) & 1],
            }
        )
    return rows


def build(app: App) -> None:
    su = superuser(app)
    store = app.store
    store.create({"name": "teams", "type": "base", "fields": [{"name": "name", "type": "text"}]})
    teams = store.find("teams")
    assert teams is not None
    store.create(
        {
            "name": "members",
            "type": "base",
            "fields": [
                {"name": "user", "type": "relation", "collectionId": USERS_ID, "maxSelect": 1},
                {"name": "team", "type": "relation", "collectionId": teams.id, "maxSelect": 1},
            ],
        }
    )
    store.create(
        {
            "name": "docs",
            "type": "base",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "status", "type": "text"},
                {"name": "n", "type": "number"},
                {"name": "flag", "type": "bool"},
                {"name": "owner", "type": "relation", "collectionId": USERS_ID, "maxSelect": 1},
                {"name": "team", "type": "relation", "collectionId": teams.id, "maxSelect": 1},
                {"name": "tags", "type": "select", "values": list(TAGS), "maxSelect": 3},
            ],
        }
    )
    users = store.find(USERS_ID)
    members, docs = store.find("members"), store.find("docs")
    assert users is not None and members is not None and docs is not None
    for user_id, name, verified in USERS:
        app.records.create(
            users,
            {
                "id": user_id,
                "name": name,
                "email": f"{name.lower()}@example.com",
                "password": "password-1234",
                "passwordConfirm": "password-1234",
                "verified": verified,
            },
            su,
        )
    for team_id, name in TEAMS:
        app.records.create(teams, {"id": team_id, "name": name}, su)
    for member_id, user_id, team_id in MEMBERS:
        app.records.create(members, {"id": member_id, "user": user_id, "team": team_id}, su)
    for row in doc_rows():
        app.records.create(docs, row, su)


def superuser(app: App) -> AuthContext:
    coll = app.store.find(SUPERUSERS)
    assert coll is not None
    return AuthContext({"id": ""}, coll.id, SUPERUSERS)


def actors(app: App) -> list[tuple[str, AuthContext | None]]:
    """A guest and every user, as the records service sees them."""
    users = app.store.find(USERS_ID)
    assert users is not None
    out: list[tuple[str, AuthContext | None]] = [("guest", None)]
    for user_id, name, _ in USERS:
        record = app.records.find_auth_record(users, user_id)
        assert record is not None
        out.append((name, AuthContext(record, users.id, users.name)))
    return out


def set_rules(app: App, collection: str, **rules: str | None) -> None:
    coll = app.store.find(collection)
    assert coll is not None
    app.store.update(coll, rules)


def list_ids(app: App, collection: str, auth: AuthContext | None, filter: str = "") -> list[str]:
    coll = app.store.find(collection)
    assert coll is not None
    page = app.records.list_records(coll, ListQuery(per_page=1000, sort="id", filter=filter), auth)
    return [item["id"] for item in page["items"]]


def postgres_app(request: pytest.FixtureRequest, name: str, rules: Mode) -> Iterator[App]:
    """An app on its own PostgreSQL database (per xdist worker) in the given rule mode."""
    from reference_impl.db.postgres import PoolConfig, PostgresEngine

    server: Any = request.getfixturevalue("pg_server")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    database = f"pp_{name}_{worker}"
    server.drop_database(database)
    dsn = server.create_database(database)
    role = None if rules == "app" else ROW_SECURITY_ROLE
    engine: Engine = PostgresEngine(
        dsn, pool=PoolConfig(min_size=1, max_size=3), row_security_role=role
    )
    app = App(engine, rules=rules)
    app.bootstrap()
    try:
        yield app
    finally:
        engine.close()
        server.drop_database(database)
