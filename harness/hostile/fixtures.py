"""The collections every hostile case runs against, set up through the API as superuser.

Names and record ids are constants, so a case (and its curl repro) is the same on every
target. Setup starts from a clean slate (every non-system collection is deleted: the
targets of a run are private; a PostgreSQL reference keeps its database across a restart),
and ``restore`` puts the fixtures back after a category: scratch collections deleted, the
fixture schemas re-applied.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

POSTS = "hx_posts"  # base: guests may list, view and create; superuser-only update/delete
REGEX = "hx_regex"  # base: a text field with a catastrophic-backtracking pattern, guest create
DEEP = "hx_deep"  # base: a json field for deeply nested values
USERS = "hx_users"  # auth: guest sign-up; the "user" actor is its one seeded record
FIXTURES = (POSTS, REGEX, DEEP, USERS)

USER_EMAIL = "hx-user@example.com"
USER_PASSWORD = "hx-user-password-1"
EVIL_PATTERN = "(a+)+$"

PLACEHOLDERS = {"coll": POSTS, "regex": REGEX, "deep": DEEP, "users": USERS}

POSTS_FIELDS: list[dict[str, Any]] = [
    {"name": "title", "type": "text"},
    {"name": "views", "type": "number"},
    {"name": "data", "type": "json"},
]

DEFINITIONS: dict[str, dict[str, Any]] = {
    POSTS: {
        "name": POSTS,
        "type": "base",
        "listRule": "",
        "viewRule": "",
        "createRule": "",
        "updateRule": None,
        "deleteRule": None,
        "fields": POSTS_FIELDS,
        "indexes": [],
    },
    REGEX: {
        "name": REGEX,
        "type": "base",
        "listRule": "",
        "viewRule": "",
        "createRule": "",
        "fields": [{"name": "t", "type": "text", "pattern": EVIL_PATTERN}],
        "indexes": [],
    },
    DEEP: {
        "name": DEEP,
        "type": "base",
        "listRule": "",
        "viewRule": "",
        "createRule": "",
        "fields": [{"name": "data", "type": "json", "maxSize": 2_000_000}],
        "indexes": [],
    },
    USERS: {
        "name": USERS,
        "type": "auth",
        "listRule": "id = @request.auth.id",
        "viewRule": "id = @request.auth.id",
        "createRule": "",
        "fields": [{"name": "nick", "type": "text"}],
        "passwordAuth": {"enabled": True, "identityFields": ["email"]},
    },
}

# Seeded posts: ids fixed (15 chars, [a-z0-9]), content checked after every category.
SEED_POSTS: dict[str, dict[str, Any]] = {
    "hxpost000000001": {"title": "first", "views": 1, "data": {"k": [1, 2]}},
    "hxpost000000002": {"title": "zweite \u00fc", "views": -2, "data": None},
    "hxpost000000003": {"title": "third", "views": 3.5, "data": "x"},
}
USER_ID = "hxuser000000001"


def collection_id(name: str, kind: str = "base") -> str:
    """The id PocketBase gives a new collection: ``pbc_`` + CRC-32 of type and name."""
    return f"pbc_{zlib.crc32((kind + name).encode())}"


class FixtureError(RuntimeError):
    """A fixture call did not succeed; the message names the call and the answer."""


@dataclass
class Tokens:
    superuser: str
    user: str


def _call(client: httpx.Client, method: str, path: str, token: str | None, body: Any = None) -> Any:
    headers = {"Authorization": token} if token else {}
    response = client.request(method, path, json=body, headers=headers)
    if response.status_code >= 300:
        raise FixtureError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else None


def login(client: httpx.Client, collection: str, identity: str, password: str) -> str:
    body = {"identity": identity, "password": password}
    answer = _call(client, "POST", f"/api/collections/{collection}/auth-with-password", None, body)
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise FixtureError(f"login to {collection} as {identity} answered without a token")
    return token


def setup(client: httpx.Client, superuser_token: str) -> Tokens:
    """Clean slate, then every fixture collection, the seeded posts and the user."""
    delete_scratch(client, superuser_token, keep=())
    for definition in DEFINITIONS.values():
        _call(client, "POST", "/api/collections", superuser_token, definition)
    for record_id, data in SEED_POSTS.items():
        path = f"/api/collections/{POSTS}/records"
        _call(client, "POST", path, superuser_token, {"id": record_id, **data})
    user = {
        "id": USER_ID,
        "email": USER_EMAIL,
        "password": USER_PASSWORD,
        "passwordConfirm": USER_PASSWORD,
        "nick": "hx",
    }
    _call(client, "POST", f"/api/collections/{USERS}/records", superuser_token, user)
    return Tokens(superuser_token, login(client, USERS, USER_EMAIL, USER_PASSWORD))


def collections(client: httpx.Client, token: str) -> list[dict[str, Any]]:
    listing = _call(client, "GET", "/api/collections?perPage=500&skipTotal=1", token)
    items = listing.get("items") if isinstance(listing, dict) else None
    if not isinstance(items, list):
        raise FixtureError(f"GET /api/collections answered without items: {listing!r:.300}")
    return items


def delete_scratch(client: httpx.Client, token: str, keep: tuple[str, ...] = FIXTURES) -> None:
    """Delete every non-system collection not named in ``keep`` (by id: names may be odd).

    A collection another one's relation field points at cannot go first (400 "existing
    reference", on PocketBase and the reference alike): whatever is refused is tried again
    after the rest, until a round deletes nothing (then the last refusal is raised).
    """
    left = [
        item["id"]
        for item in collections(client, token)
        if not item.get("system") and item.get("name") not in keep
    ]
    while left:
        refused: list[str] = []
        error: FixtureError | None = None
        for collection_id in left:
            try:
                _call(client, "DELETE", f"/api/collections/{collection_id}", token)
            except FixtureError as exc:
                refused.append(collection_id)
                error = exc
        if error is not None and len(refused) == len(left):
            raise error
        left = refused


def restore(client: httpx.Client, token: str) -> None:
    """Delete scratch collections and re-apply the fixture schemas (rules, fields, indexes)."""
    delete_scratch(client, token)
    for name, definition in DEFINITIONS.items():
        _call(client, "PATCH", f"/api/collections/{name}", token, definition)


def count(client: httpx.Client, token: str, collection: str = POSTS) -> int:
    listing = _call(client, "GET", f"/api/collections/{collection}/records?perPage=1", token)
    total = listing.get("totalItems") if isinstance(listing, dict) else None
    if not isinstance(total, int):
        raise FixtureError(f"list of {collection} answered without totalItems")
    return total


def seed_differences(client: httpx.Client, token: str) -> list[str]:
    """The seeded posts that are missing or changed (empty when all are intact)."""
    problems = []
    for record_id, data in SEED_POSTS.items():
        path = f"/api/collections/{POSTS}/records/{record_id}"
        response = client.get(path, headers={"Authorization": token})
        if response.status_code != 200:
            problems.append(f"{record_id}: GET -> {response.status_code}")
            continue
        got = response.json()
        changed = {k: got.get(k) for k, v in data.items() if got.get(k) != v}
        if changed:
            problems.append(f"{record_id}: changed {json.dumps(changed)[:200]}")
    return problems
