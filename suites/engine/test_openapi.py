"""``GET /api/openapi.json`` stays true: a valid OpenAPI 3.1 document, covering every route,
whose schemas the server's real answers satisfy, on both engines.

The app runs in-process on the engine fixture, served by uvicorn on a loopback port in a
thread (lifespan included, so PostgreSQL uses its asyncio pool as when serving). The
collections are the fuzz tier's (``harness.fuzz.collections``: every field type), with a
unique suffix because the engine database is shared by the session. Validation uses
schemathesis' bundled OpenAPI 3.1 meta-schema and jsonschema-rs (both come with
schemathesis; ``openapi-spec-validator`` and ``jsonschema`` are not installed).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
import uvicorn
from schemathesis.core.result import Err
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from starlette.applications import Starlette
from starlette.routing import Route

from harness.fuzz import ALL, MEMBERS, TAGS, collections
from harness.http import free_port, wait_healthy
from reference_impl.api.app import create_app, superuser_only_stub
from reference_impl.app import App
from reference_impl.db.engine import Engine

EMAIL, PASSWORD = "openapi@example.com", "openapi-password-1"
_counter = itertools.count()
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 20


class Api:
    """A client for the in-process app, the document, and names of this test's collections."""

    def __init__(self, client: httpx.Client, web: Starlette, suffix: str) -> None:
        self.client, self.web = client, web
        self.tags, self.all, self.members = TAGS + suffix, ALL + suffix, MEMBERS + suffix
        token = client.post(
            "/api/collections/_superusers/auth-with-password",
            json={"identity": EMAIL, "password": PASSWORD},
        ).json()["token"]
        self.su = {"Authorization": token}
        for payload in collections(suffix):
            assert client.post("/api/collections", json=payload, headers=self.su).status_code == 200
        response = client.get("/api/openapi.json", headers=self.su)
        assert response.status_code == 200, response.text
        self.doc: dict[str, Any] = response.json()

    def check(self, template: str, response: httpx.Response) -> Any:
        """Fail unless the documented response of ``template`` for this method and status
        describes ``response``; return its JSON body (None for a 204 or a file)."""
        method = response.request.method.lower()
        operation = self.doc["paths"].get(template, {}).get(method)
        assert operation is not None, f"{method.upper()} {template} is not documented"
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, (
            f"{method.upper()} {template} answered {response.status_code}, documented: "
            f"{sorted(operation['responses'])}\n{response.text[:500]}"
        )
        if "$ref" in documented:  # "#/components/responses/404"
            documented = self.doc["components"]["responses"][documented["$ref"].rsplit("/")[-1]]
        content = documented.get("content", {})
        if "application/json" not in content:
            assert not content or "*/*" in content, content
            return None
        body = response.json()
        root = {**content["application/json"]["schema"], "components": self.doc["components"]}
        errors = [str(e) for e in jsonschema_rs.Draft202012Validator(root).iter_errors(body)]
        assert not errors, f"{method.upper()} {template} {response.status_code}: " + "\n".join(
            errors[:5]
        )
        return body


@contextlib.contextmanager
def serving(web: Starlette) -> Iterator[str]:
    """``web`` on ``127.0.0.1:<free port>`` in a thread (uvicorn leaves signals alone there)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="openapi-server", daemon=True)
    thread.start()
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def api(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    app = App(engine, storage_dir=tmp_path_factory.mktemp("openapi") / "storage")
    app.bootstrap()
    app.upsert_superuser(EMAIL, PASSWORD)
    web = create_app(app)
    with serving(web) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield Api(client, web, f"_{os.getpid()}_{next(_counter)}")


def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    errors = [str(e)[:300] for e in OPENAPI_31_VALIDATOR.iter_errors(api.doc)]
    assert not errors, errors
    for name, schema in api.doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), f"components/schemas/{name}"
    # Loading every operation resolves every $ref and parameter; a broken one is an Err.
    results = list(schemathesis.openapi.from_dict(api.doc).get_all_operations())
    broken = [str(r.err()) for r in results if isinstance(r, Err)]
    assert not broken, broken
    assert len(results) == sum(1 for i in api.doc["paths"].values() for m in i if m != "parameters")


def test_every_route_is_documented(api: Api) -> None:
    """Collection CRUD is templated; record, auth and file paths are per collection."""
    templated = {"/api/collections/{collection}", "/api/collections/{collection}/truncate"}
    expected = set()
    for route in api.web.routes:
        assert isinstance(route, Route)
        if route.endpoint is superuser_only_stub:
            continue  # groups not in this build: 401/403/404 for everyone
        name = api.all if route.path.startswith("/api/files/") else api.members
        path = route.path if route.path in templated else route.path.replace("{collection}", name)
        expected |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}
    documented = {(m, p) for p, item in api.doc["paths"].items() for m in item}
    assert expected - documented == set()


def test_records_of_every_field_type_conform(api: Api) -> None:
    c, su, every, one = api.client, api.su, api.all, f"/api/collections/{api.all}/records/{{id}}"
    many = f"/api/collections/{api.all}/records"
    tag = api.check(
        f"/api/collections/{api.tags}/records",
        c.post(f"/api/collections/{api.tags}/records", json={"label": "x"}, headers=su),
    )
    full = {
        "t": "text", "code": "AB", "n": 1.5, "ni": 7, "b": True, "e": "a@example.com",
        "u": "https://example.com/x", "ed": "<p>hi</p>", "d": "2024-01-02 03:04:05.678Z",
        "s": "b", "sm": ["a", "c"], "j": {"nested": [1, None, "x"]}, "r": tag["id"],
        "rm": [tag["id"]], "g": {"lon": 12.5, "lat": -45}, "h": "hidden",
    }  # fmt: skip
    created = api.check(many, c.post(many, json=full, headers=su))
    assert created["h"] == "hidden"  # superusers see hidden fields
    upload = c.post(many, files={"f": ("one.png", PNG, "image/png")}, headers=su)
    with_file = api.check(many, upload)
    api.check(many, c.post(many, json={}, headers=su))  # every field at its zero value

    rid = created["id"]
    api.check(one, c.get(f"{many}/{rid}", params={"expand": "r,rm"}, headers=su))
    api.check(one, c.get(f"{many}/{rid}"))  # a guest: no hidden field
    api.check(many, c.get(many, params={"expand": "r", "sort": "-n"}))
    api.check(many, c.get(many, params={"skipTotal": "true", "perPage": 1}, headers=su))
    api.check(one, c.patch(f"{many}/{rid}", json={"n+": 2, "sm-": "a", "rm": []}, headers=su))
    files = f"/api/files/{every}/{{recordId}}/{{filename}}"
    api.check(files, c.get(f"/api/files/{every}/{with_file['id']}/{with_file['f']}"))
    api.check(files, c.get(f"/api/files/{every}/{with_file['id']}/missing.png"))
    api.check(one, c.delete(f"{many}/{rid}", headers=su))


def test_a_password_field_conforms(api: Api) -> None:
    """A password field outside the auth system fields (in fz_tags): stored hashed, never
    served (PocketBase answers ``"p": ""``)."""
    many = f"/api/collections/{api.tags}/records"
    created = api.check(many, api.client.post(many, json={"p": "pass-1234"}, headers=api.su))
    assert created["p"] == ""
    one = api.client.patch(f"{many}/{created['id']}", json={"p": "pass-5678"}, headers=api.su)
    assert api.check(f"{many}/{{id}}", one)["p"] == ""


def test_auth_collections_conform(api: Api) -> None:
    c, su, base = api.client, api.su, f"/api/collections/{api.members}"
    body = {"email": "m@example.com", "password": "member-pass-1",
            "passwordConfirm": "member-pass-1", "nick": "m"}  # fmt: skip
    api.check(f"{base}/records", c.post(f"{base}/records", json=body, headers=su))
    api.check(f"{base}/records", c.get(f"{base}/records", headers=su))
    login = {"identity": "m@example.com", "password": "member-pass-1"}
    auth = api.check(f"{base}/auth-with-password", c.post(f"{base}/auth-with-password", json=login))
    member = {"Authorization": auth["token"]}
    api.check(f"{base}/auth-refresh", c.post(f"{base}/auth-refresh", headers=member))
    api.check(f"{base}/auth-refresh", c.post(f"{base}/auth-refresh"))  # 401
    api.check(f"{base}/auth-refresh", c.post(f"{base}/auth-refresh", headers=su))  # 403
    api.check(f"{base}/auth-methods", c.get(f"{base}/auth-methods"))
    api.check("/api/files/token", c.post("/api/files/token", headers=member))
    api.check("/api/files/token", c.post("/api/files/token"))  # 401
    api.check("/api/openapi.json", c.get("/api/openapi.json", headers=member))  # 403
    api.check("/api/openapi.json", c.get("/api/openapi.json"))  # 401
    api.check(f"{base}/records/{{id}}", c.get(f"{base}/records/{auth['record']['id']}",
                                               headers=member))  # fmt: skip


def test_collections_health_and_errors_conform(api: Api) -> None:
    c, su = api.client, api.su
    api.check("/api/health", c.get("/api/health"))
    api.check("/api/health", c.get("/api/health", headers=su))
    listed = api.check("/api/collections", c.get("/api/collections", headers=su))
    assert {api.all, api.members, "users", "_superusers"} <= {i["name"] for i in listed["items"]}
    one = "/api/collections/{collection}"
    api.check(one, c.get(f"/api/collections/{api.all}", headers=su))
    api.check(one, c.get("/api/collections/users"))  # 401
    api.check(one, c.get("/api/collections/missing", headers=su))  # 404
    api.check("/api/collections", c.post("/api/collections", json={"name": "?"}, headers=su))
    many = f"/api/collections/{api.all}/records"
    api.check(many, c.get(many, params={"filter": "nope ~"}, headers=su))  # 400
    api.check(many, c.post(many, json={"s": "zzz", "e": "not an email"}, headers=su))  # 400
    api.check(f"{many}/{{id}}", c.get(f"{many}/missing000000000", headers=su))  # 404
    users = "/api/collections/users/records"
    api.check(users, c.get(users, params={"filter": "@request.auth.id != ''"}))  # 403
