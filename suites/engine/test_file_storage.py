"""Uploaded files on disk through the record service, on both engines.

The conformance scenarios see files only through the API, where a deleted record's file is
a 404 whether or not its bytes are gone; these tests look at the storage directory.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from reference_impl.app import App
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import SUPERUSERS
from reference_impl.core.errors import ApiError
from reference_impl.core.files import FormBody, Upload
from reference_impl.db.engine import Engine

_counter = itertools.count()


@pytest.fixture
def app(engine: Engine, tmp_path: Path) -> App:
    app = App(engine, storage_dir=tmp_path / "storage")
    app.bootstrap()
    return app


def superuser(app: App) -> AuthContext:
    coll = app.store.find(SUPERUSERS)
    assert coll is not None
    return AuthContext({"id": ""}, coll.id, SUPERUSERS)


def form(uploads: dict[str, list[Upload]], **values: object) -> FormBody:
    return FormBody(dict(values), uploads)


def stored(app: App, coll_id: str, record_id: str) -> set[str]:
    base = app.storage_dir
    assert base is not None
    path = base / coll_id / record_id
    return {p.name for p in path.iterdir()} if path.is_dir() else set()


def test_files_follow_the_record_through_update_and_delete(app: App) -> None:
    su = superuser(app)
    coll = app.store.create({
        "name": f"files{os.getpid()}_{next(_counter)}",
        "fields": [{"name": "docs", "type": "file", "maxSelect": 3},
                   {"name": "small", "type": "file", "maxSize": 3}],
    })  # fmt: skip
    one, two = Upload.from_part("one.txt", b"1"), Upload.from_part("two.txt", b"2")
    record = app.records.create(coll, form({"docs": [one, two]}), su)
    assert stored(app, coll.id, record["id"]) == {one.name, two.name}

    app.records.update(coll, record["id"], {"docs-": one.name}, su)
    assert stored(app, coll.id, record["id"]) == {two.name}

    # A rejected update writes nothing and removes nothing.
    three, too_big = Upload.from_part("three.txt", b"3"), Upload.from_part("big.txt", b"1234")
    with pytest.raises(ApiError):
        app.records.update(coll, record["id"], form({"docs+": [three], "small": [too_big]}), su)
    assert stored(app, coll.id, record["id"]) == {two.name}

    app.records.update(coll, record["id"], form({"docs": [three]}), su)  # replaces the list
    assert stored(app, coll.id, record["id"]) == {three.name}

    app.records.delete(coll, record["id"], su)
    assert stored(app, coll.id, record["id"]) == set()


def test_a_failed_create_leaves_no_files(app: App) -> None:
    su = superuser(app)
    coll = app.store.create({
        "name": f"files{os.getpid()}_{next(_counter)}",
        "fields": [{"name": "doc", "type": "file"}],
    })  # fmt: skip
    app.records.create(coll, {"id": "duplicate000001"}, su)
    with pytest.raises(ApiError):  # unique id violation, after the file was written
        app.records.create(coll, form({"doc": [Upload.from_part("a.txt", b"a")]},
                                      id="duplicate000001"), su)  # fmt: skip
    assert stored(app, coll.id, "duplicate000001") == set()


def test_cascade_delete_removes_the_related_records_files(app: App) -> None:
    su = superuser(app)
    suffix = f"{os.getpid()}_{next(_counter)}"
    parent = app.store.create({"name": f"parent{suffix}", "fields": []})
    child = app.store.create({
        "name": f"child{suffix}",
        "fields": [{"name": "doc", "type": "file"},
                   {"name": "up", "type": "relation", "collectionId": parent.id,
                    "cascadeDelete": True, "maxSelect": 1}],
    })  # fmt: skip
    p = app.records.create(parent, {}, su)
    c = app.records.create(child, form({"doc": [Upload.from_part("a.txt", b"a")]}, up=p["id"]), su)
    assert stored(app, child.id, c["id"]) == {c["doc"]}
    app.records.delete(parent, p["id"], su)
    assert stored(app, child.id, c["id"]) == set()
