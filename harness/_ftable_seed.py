"""Seed the filter table's fixture into any target through its HTTP API, as superuser.

Collections go in two passes, so a relation may point at a collection created later in
the file or at itself, and a rule may name a relation field: pass one creates each
collection (dependency order) with its plain fields only; pass two updates it with the
fields the server answered (their ids, and an auth collection's system fields) plus the
relation fields (target named by ``collectionId``) and its indexes; pass three sets its
rules. Then the records go in (dependency order, file order inside a collection). A
fixture collection that already exists (PocketBase's and the reference's default
``users`` included) is deleted first, dependants before what they point at.

A rule the server refuses as invalid (``validation_invalid_rule``: the reference does
not support all of the language yet) is left null, which is the most restrictive rule
(superusers only), and ``seed`` returns a line saying so: the cases on that collection
then fail on that target (and say why) instead of the whole fixture failing to seed.
"""

from __future__ import annotations

from typing import Any

import httpx

from harness._ftable_model import CollectionDef, Fixture

RULES = ("listRule", "viewRule", "createRule", "updateRule", "deleteRule")


class SeedError(RuntimeError):
    """A seeding call did not succeed; the message names the call and the answer."""


def _call(client: httpx.Client, token: str, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, path, json=body, headers={"Authorization": token})
    if response.status_code >= 300 and not (method == "DELETE" and response.status_code == 404):
        raise SeedError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
    return response.json() if response.content else None


def drop(client: httpx.Client, token: str, fixture: Fixture) -> None:
    """Delete every fixture collection that exists (ignoring missing ones)."""
    for coll in reversed(fixture.collections):
        response = client.get(f"/api/collections/{coll.name}", headers={"Authorization": token})
        if response.status_code == 404:
            continue
        # Relations from other, unknown collections would block the delete; fixture
        # collections only point at each other, and they go dependants first.
        _call(client, token, "DELETE", f"/api/collections/{coll.name}")


def seed(client: httpx.Client, token: str, fixture: Fixture) -> list[str]:
    """Seed the fixture; return what could not be applied as written (see the docstring)."""
    drop(client, token, fixture)
    ids: dict[str, str] = {}
    created: dict[str, dict[str, Any]] = {}
    for coll in fixture.collections:
        body = _first_pass(coll)
        answer = _call(client, token, "POST", "/api/collections", body)
        ids[coll.name] = answer["id"]
        created[coll.name] = answer
    for coll in fixture.collections:
        body = _second_pass(coll, created[coll.name], ids)
        _call(client, token, "PATCH", f"/api/collections/{ids[coll.name]}", body)
    degraded: list[str] = []
    for coll in fixture.collections:
        degraded += _set_rules(client, token, coll, ids[coll.name])
    for rec in fixture.records:
        data = dict(rec.data)
        owner = fixture.collection(rec.collection)
        if owner is not None and owner.is_auth and "password" in data:
            data.setdefault("passwordConfirm", data["password"])
        _call(client, token, "POST", f"/api/collections/{rec.collection}/records", data)
    return degraded


def _set_rules(client: httpx.Client, token: str, coll: CollectionDef, cid: str) -> list[str]:
    rules = {rule: coll.body.get(rule) for rule in RULES}  # left out = null, superusers only
    response = client.patch(f"/api/collections/{cid}", json=rules, headers={"Authorization": token})
    if response.status_code == 200:
        return []
    errors = response.json().get("data", {}) if response.status_code == 400 else {}
    refused = {
        k: v.get("message", "")
        for k, v in errors.items()
        if k in RULES and isinstance(v, dict) and v.get("code") == "validation_invalid_rule"
    }
    if not refused or set(errors) - set(refused):
        raise SeedError(
            f"PATCH /api/collections/{cid} (rules of {coll.name}) answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    _call(client, token, "PATCH", f"/api/collections/{cid}", {**rules, **dict.fromkeys(refused)})
    return [f"{coll.name}.{k} left null (refused: {msg})" for k, msg in sorted(refused.items())]


def _plain_fields(coll: CollectionDef) -> list[dict[str, Any]]:
    return [dict(f) for f in coll.body.get("fields", []) if f["type"] != "relation"]


def _first_pass(coll: CollectionDef) -> dict[str, Any]:
    body = {k: v for k, v in coll.body.items() if k not in (*RULES, "indexes", "fields")}
    body["fields"] = _plain_fields(coll)
    return body


def _second_pass(
    coll: CollectionDef, answer: dict[str, Any], ids: dict[str, str]
) -> dict[str, Any]:
    fields = list(answer["fields"])
    for f in coll.body.get("fields", []):
        if f["type"] == "relation":
            rel = {k: v for k, v in f.items() if k != "collection"}
            fields.append({**rel, "collectionId": ids[f["collection"]]})
    body: dict[str, Any] = {"fields": fields}
    if "indexes" in coll.body:
        body["indexes"] = list(coll.body["indexes"])
    return body


def login(client: httpx.Client, collection: str, identity: str, password: str) -> str:
    path = f"/api/collections/{collection}/auth-with-password"
    response = client.post(path, json={"identity": identity, "password": password})
    if response.status_code != 200:
        raise SeedError(
            f"POST {path} as {identity!r} answered {response.status_code}: {response.text[:300]}"
        )
    return str(response.json()["token"])
