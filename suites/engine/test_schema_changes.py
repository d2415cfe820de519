"""Schema changes on both engines: catalog names, indexes kept in sync, and collection
changes while records are being written (the schema lock, ``bridge.SharedLock``)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from reference_impl.app import App
from reference_impl.core.collection import SUPERUSERS
from reference_impl.core.errors import ApiError, ValidationFailed
from reference_impl.core.records import ListQuery
from reference_impl.db import errors as dberr

_names = itertools.count()


def _name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def test_a_collection_named_like_a_catalog_table_is_its_own(app: App, superuser: Any) -> None:
    # PostgreSQL resolves an unqualified pg_class to pg_catalog first (Dialect.table).
    for name in ("pg_class", "pg_tables", "columns"):
        coll = app.store.create({"name": name, "fields": [{"type": "text", "name": "t"}]})
        try:
            app.records.create(coll, {"t": "mine"}, superuser)
            listed = app.records.list_records(coll, ListQuery(), superuser)
            assert [item["t"] for item in listed["items"]] == ["mine"]
        finally:
            app.store.delete(coll)


def test_indexes_follow_field_and_name_changes(app: App, superuser: Any) -> None:
    name = _name("idx")
    coll = app.store.create(
        {
            "name": name,
            "fields": [{"type": "text", "name": "code"}, {"type": "text", "name": "note"}],
            "indexes": [
                f"CREATE UNIQUE INDEX idx_{name}_code ON {name} (code COLLATE NOCASE)",
                f"CREATE INDEX idx_{name}_note ON {name} (note)",
            ],
        }
    )
    app.records.create(coll, {"code": "abc"}, superuser)
    with pytest.raises(ApiError) as caught:  # NOCASE: "ABC" is the same code on both engines
        app.records.create(coll, {"code": "ABC"}, superuser)
    assert caught.value.data == {
        "code": {"code": "validation_not_unique", "message": "Value must be unique."}
    }
    # Drop the indexed field together with its index, then rename: both engines follow.
    coll = app.store.update(
        coll,
        {
            "name": name + "_r",
            "fields": [{"type": "text", "name": "code"}],
            "indexes": [coll.indexes[0]],
        },
    )
    assert coll.indexes == [
        f"CREATE UNIQUE INDEX `idx_{name}_code` ON `{name}_r` (`code` COLLATE NOCASE)"
    ]
    with pytest.raises(ApiError):
        app.records.create(coll, {"code": "Abc"}, superuser)
    app.store.delete(coll)


def test_an_index_on_a_dropped_field_is_refused_before_anything_changes(app: App) -> None:
    name = _name("idxd")
    coll = app.store.create(
        {
            "name": name,
            "fields": [{"type": "text", "name": "a"}],
            "indexes": [f"CREATE INDEX idx_{name} ON {name} (a)"],
        }
    )
    with pytest.raises(ValidationFailed) as caught:
        app.store.update(coll, {"fields": []})
    assert "no such column: a" in caught.value.errors["indexes"]["0"]["message"]
    assert app.store.find(name) is not None and app.store.find(name).get_field("a")  # type: ignore[union-attr]
    app.store.delete(coll)


def test_schema_changes_under_concurrent_writes_never_fail_a_request(
    app: App, superuser: Any
) -> None:
    name = _name("race")
    base = {
        "name": name,
        "createRule": "",
        "listRule": "",
        "fields": [{"type": "text", "name": "a"}, {"type": "number", "name": "b"}],
    }
    coll = app.store.create(base)
    stop = time.monotonic() + 3
    outcomes: dict[str, int] = {}
    unexpected: list[BaseException] = []

    def count(key: str) -> None:
        outcomes[key] = outcomes.get(key, 0) + 1

    def writer() -> None:
        while time.monotonic() < stop:
            current = app.store.find(coll.id) or coll
            try:
                app.records.create(current, {"a": "x", "b": 5}, None)
                app.records.list_records(current, ListQuery(sort="-b", per_page=5), None)
                count("ok")
            except ApiError as exc:
                count(str(exc.status))
                if exc.status not in (400, 404):
                    unexpected.append(exc)
            except (dberr.DatabaseError, Exception) as exc:  # what the lock must prevent
                unexpected.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    rounds = 0
    while time.monotonic() < stop:
        current = app.store.find(coll.id)
        assert current is not None
        app.store.update(
            current,
            {
                "fields": [
                    {"type": "text", "name": "a"},
                    {"type": "text", "name": "c"},
                    {"type": "number", "name": "b"},
                ]
            },
        )
        app.store.update(
            app.store.find(coll.id),
            {
                "name": name + "_x",  # type: ignore[arg-type]
                "fields": [{"type": "number", "name": "b"}],
            },
        )
        app.store.update(
            app.store.find(coll.id),
            {
                "name": name,
                **{  # type: ignore[arg-type]
                    k: v for k, v in base.items() if k != "name"
                },
            },
        )
        rounds += 1
    for t in threads:
        t.join(10)
    assert not unexpected, unexpected[:3]
    assert outcomes.get("ok", 0) > 0 and rounds > 0
    app.store.delete(app.store.find(coll.id))  # type: ignore[arg-type]


def test_a_renamed_system_collection_is_renamed_back_at_start(app: App) -> None:
    # What an unprotected build let PATCH /api/collections/_superusers {"name": "hacked"}
    # do: rename the table and the definition. The next start repairs it.
    import copy

    from reference_impl.core.store import SYSTEM_TABLE, _row
    from reference_impl.db.engine import run_in_transaction
    from reference_impl.db.render import update_sql

    store = app.store
    original = store.find(SUPERUSERS)
    assert original is not None
    hacked = copy.deepcopy(original)
    hacked.name = "hacked"

    def rename(tx: Any) -> None:
        store._sync_table(tx, original, hacked)
        tx.execute(*update_sql(store.engine.dialect, SYSTEM_TABLE, hacked.id, _row(hacked)))

    run_in_transaction(store.engine, rename, write=True)
    store.reload()
    assert store.find(SUPERUSERS) is None
    assert store.bootstrap() is False  # not a fresh database
    repaired = store.find(SUPERUSERS)
    assert repaired is not None and repaired.id == original.id
    assert store.find("hacked") is None
    assert app.upsert_superuser("repaired@example.com", "repaired-password-1") in (
        "created",
        "updated",
    )


def test_a_collection_of_only_an_id_can_update_its_records(app: App, superuser: Any) -> None:
    # Found by schemathesis (stateful, deep profile): UPDATE ... SET  WHERE was a 500.
    coll = app.store.create({"name": _name("bare"), "fields": []})
    created = app.records.create(coll, {}, superuser)
    assert app.records.update(coll, created["id"], {"x": 1}, superuser)["id"] == created["id"]
    app.store.delete(coll)
