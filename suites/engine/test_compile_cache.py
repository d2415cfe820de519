"""Compiled filters, sorts and rules are reused across requests (``CompileCache``) and never
outlive the definitions they were compiled against, on both engines."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from reference_impl.app import App
from reference_impl.core.errors import ApiError
from reference_impl.core.filter import CompileCache
from reference_impl.core.records import ListQuery

_names = itertools.count()


def titles(app: App, coll: Any, query: ListQuery) -> list[str]:
    listed = app.records.list_records(app.store.find(coll.id), query, None)
    return sorted(item["t"] for item in listed["items"])


def test_a_repeated_list_compiles_once_and_a_schema_change_recompiles(
    app: App, superuser: Any
) -> None:
    coll = app.store.create({
        "name": f"cc{next(_names)}", "listRule": "n > 0",
        "fields": [{"type": "text", "name": "t"}, {"type": "number", "name": "n"}],
    })  # fmt: skip
    try:
        for t, n in (("a", 1), ("b", 2), ("c", 9)):
            app.records.create(coll, {"t": t, "n": n}, superuser)
        query = ListQuery(filter="t != 'b'", sort="-n")
        cache = app.store.compiled
        assert titles(app, coll, query) == ["a", "c"]
        misses, hits = cache.misses, cache.hits
        assert titles(app, coll, query) == ["a", "c"]
        assert cache.misses == misses  # rule, filter and sort all reused
        assert cache.hits >= hits + 3

        # A changed rule: a cached compile of the old one would still list "a".
        coll = app.store.update(app.store.find(coll.id), {"listRule": "n > 5"})
        assert titles(app, coll, query) == ["c"]
        assert cache.misses > misses

        # A renamed field: the old filter no longer compiles (400), the new one does.
        fields = [f.to_json() for f in app.store.find(coll.id).fields]
        for spec in fields:
            if spec["name"] == "t":
                spec["name"] = "u"
        coll = app.store.update(app.store.find(coll.id), {"fields": fields, "listRule": ""})
        with pytest.raises(ApiError) as refused:
            app.records.list_records(coll, query, None)
        assert refused.value.status == 400
        listed = app.records.list_records(coll, ListQuery(filter="u != 'b'"), None)
        assert sorted(item["u"] for item in listed["items"]) == ["a", "c"]
    finally:
        app.store.delete(app.store.find(coll.id))


def test_the_cache_is_bounded_and_keeps_nothing_compiled_before_a_clear() -> None:
    cache = CompileCache()
    for n in range(CompileCache.MAX_ENTRIES + 10):
        cache.get(("filter", str(n)), lambda n=n: n)
    assert len(cache) <= CompileCache.MAX_ENTRIES

    def compile_while_the_schema_changes() -> str:
        cache.clear()  # another request changed a definition during this compile
        return "stale"

    assert cache.get(("filter", "x"), compile_while_the_schema_changes) == "stale"
    assert cache.get(("filter", "x"), lambda: "fresh") == "fresh"
    assert cache.get(None, lambda: "uncached") == "uncached"
