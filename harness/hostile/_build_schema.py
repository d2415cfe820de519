"""Categories that attack the schema: regex, system collections, names, indexes."""

from __future__ import annotations

from typing import Any

from harness.hostile import fixtures
from harness.hostile._make import Builder, expect_of, short
from harness.hostile.case import OK, OK_2XX, REJECT, Category, Expect

COLLECTIONS = "/api/collections"
SYSTEM = ("_superusers", "_mfas", "_otps", "_externalAuths", "_authOrigins")


def _text_collection(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "base", "fields": [{"name": "title", "type": "text"}], **extra}


# --- regex ------------------------------------------------------------------------------


def regex(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["regex"]
    b = Builder("regex", seed)
    records = "/api/collections/{regex}/records"
    b.json("POST", "record matching (a+)+$", records, {"t": "aaaa"}, OK_2XX, actor="guest")
    b.json("POST", "record not matching (a+)+$", records, {"t": "b"}, REJECT, actor="guest")
    for n in v["evil_lengths"]:
        what = f"a{{{n}}}! against (a+)+$"
        quick = n in v["quick_evil_lengths"]
        b.json("POST", what, records, {"t": "a" * n + "!"}, REJECT, actor="guest", quick=quick)
    for n, bomb in enumerate(v["evil"], 1):
        name = f"hx_re_bomb{n}"
        field = {"name": "t", "type": "text", "pattern": bomb["pattern"]}
        definition = {**_text_collection(name, createRule=""), "fields": [field]}
        what = f"collection with pattern {short(bomb['pattern'])}"
        b.json("POST", what, COLLECTIONS, definition, OK_2XX, quick=False)
        value = bomb["unit"] * bomb["count"] + bomb["tail"]
        shown = f"{bomb['unit'].strip()}{{{bomb['count']}}}{bomb['tail']}"  # a{40}!
        what = f"{shown} against {short(bomb['pattern'])}"
        path = f"/api/collections/{name}/records"
        expect = expect_of(bomb.get("expect"), REJECT)
        b.json("POST", what, path, {"t": value}, expect, actor="guest", quick=False)
    for n, pattern in enumerate(v["invalid_patterns"]):
        quick = n < v["quick_invalid"]
        field = {"name": "t", "type": "text", "pattern": pattern}
        definition = {**_text_collection(f"hx_badre{n}"), "fields": [field]}
        expect = expect_of(v.get("pattern_expect", {}).get(pattern), REJECT)
        what = f"collection with pattern {short(pattern)}"
        b.json("POST", what, COLLECTIONS, definition, expect, quick=quick)
        if n < 2 * v["quick_invalid"]:
            path = f"{COLLECTIONS}/{fixtures.REGEX}"
            what = f"fixture pattern changed to {short(pattern)}"
            b.json("PATCH", what, path, {"fields": [field]}, expect, quick=quick)
    posts_id = fixtures.collection_id(fixtures.POSTS)
    for n, option in enumerate(v["options"]):
        field = {"name": "f", **_substitute(option["field"], posts_id)}
        definition = {**_text_collection(f"hx_badopt{n}"), "fields": [field]}
        expect = expect_of(option.get("expect"), REJECT)
        b.json(
            "POST",
            f"collection with {option['what']}",
            COLLECTIONS,
            definition,
            expect,
            quick=n % 4 == 0,
        )
    return Category("regex", b.cases, summary="backtracking patterns, invalid patterns and options")


def _substitute(field: dict[str, Any], posts_id: str) -> dict[str, Any]:
    special = {"@long": "x" * 300, "@posts": posts_id}
    return {k: special.get(v, v) if isinstance(v, str) else v for k, v in field.items()}


# --- system collections -----------------------------------------------------------------


def system(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab.get("system", {})
    b = Builder("system", seed)
    for name in SYSTEM:
        path = f"{COLLECTIONS}/{name}"
        auth = name == "_superusers"

        def ex(key: str, default: Expect = REJECT, name: str = name) -> Expect:
            spec = v.get("expect_for", {}).get(f"{name} {key}", v.get("expect", {}).get(key))
            return expect_of(spec, default)

        b.get(f"system collection {name}", path, ex("get", OK_2XX))
        b.get(
            f"system collection {name}", path, ex("get guest", REJECT), actor="guest", quick=False
        )
        b.get(f"records of {name}", path + "/records", ex("list", OK_2XX))
        b.get(
            f"records of {name}",
            path + "/records",
            ex("list guest", OK),
            actor="guest",
            quick=False,
        )
        b.get(
            f"records of {name}", path + "/records", ex("list user", OK), actor="user", quick=False
        )
        b.json("PATCH", f"rename {name} to hacked", path, {"name": "hacked"}, ex("rename"))
        b.json(
            "PATCH",
            f"rename {name} to {name}2",
            path,
            {"name": f"{name}2"},
            ex("rename"),
            quick=False,
        )
        b.json(
            "PATCH",
            f"{name} type to {'base' if auth else 'auth'}",
            path,
            {"type": "base" if auth else "auth"},
            ex("type"),
        )
        b.json(
            "PATCH",
            f"{name} type to view",
            path,
            {"type": "view", "viewQuery": "SELECT 1 as id"},
            ex("type"),
            quick=False,
        )
        b.json(
            "PATCH",
            f"{name} system false",
            path,
            {"system": False},
            ex("system false", OK),
            quick=False,
        )
        b.json("PATCH", f"{name} listRule open", path, {"listRule": ""}, ex("rule"), quick=False)
        b.json(
            "PATCH", f"{name} createRule open", path, {"createRule": ""}, ex("rule"), quick=False
        )
        b.json("PATCH", f"{name} fields emptied", path, {"fields": []}, ex("fields", OK))
        id_only = [{"name": "id", "type": "text", "primaryKey": True}]
        b.json(
            "PATCH",
            f"{name} fields id only",
            path,
            {"fields": id_only},
            ex("fields", OK),
            quick=False,
        )
        b.json(
            "PATCH",
            f"{name} indexes emptied",
            path,
            {"indexes": []},
            ex("indexes", OK),
            quick=False,
        )
        if auth:
            b.json(
                "PATCH",
                f"{name} token duration 0",
                path,
                {"authToken": {"duration": 0}},
                ex("token duration"),
                quick=False,
            )
            b.json(
                "PATCH",
                f"{name} password auth off",
                path,
                {"passwordAuth": {"enabled": False}},
                ex("password auth off"),
                quick=False,
            )
            b.json(
                "PATCH",
                f"{name} identity field removed",
                path,
                {"passwordAuth": {"enabled": True, "identityFields": []}},
                ex("identity fields"),
                quick=False,
            )
        b.get(f"system collection {name}", path, ex("delete"), method="DELETE")
        b.get(
            f"truncate {name}", path + "/truncate", ex("truncate", OK), method="DELETE", quick=False
        )
        b.json(
            "POST",
            f"collection named {name}",
            COLLECTIONS,
            _text_collection(name),
            REJECT,
            quick=False,
        )
        b.json(
            "POST",
            f"collection named {name.upper()}",
            COLLECTIONS,
            _text_collection(name.upper()),
            REJECT,
            quick=False,
        )
    return Category(
        "system", b.cases, check_each=True, summary="system collections: change, delete"
    )


# --- names ------------------------------------------------------------------------------


def _name(value: str) -> str:
    if value.startswith("@a") and value[2:].isdigit():
        return "a" * int(value[2:])
    return value


def names(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["names"]
    b = Builder("names", seed)
    accepted = set(v["accepted"])
    for raw in v["collections"]:
        name = _name(raw)
        quick = raw in v["quick"]
        label = short(name)
        expect = OK_2XX if raw in accepted else REJECT
        case = b.json(
            "POST",
            f"collection named {label}",
            COLLECTIONS,
            _text_collection(name),
            expect,
            quick=quick,
        )
        _engine_limited(b, case, name, raw in accepted)
        b.get(f"collections after creating {label}", COLLECTIONS, OK_2XX, quick=quick)
        b.get(
            f"records of collection {label}",
            f"{COLLECTIONS}/{_path(name)}/records",
            OK,
            quick=quick,
        )
        # By id, never by name: names resolve case-insensitively, and "HX_POSTS" is the
        # posts fixture. The id of a collection that was not created does not exist: 404.
        own = f"{COLLECTIONS}/{fixtures.collection_id(name)}"
        b.get(f"collection {label}", own, OK, method="DELETE", quick=quick)
    b.json(
        "POST", "scratch collection for renames", COLLECTIONS, _text_collection("hx_ren"), OK_2XX
    )
    scratch = f"{COLLECTIONS}/{fixtures.collection_id('hx_ren')}"
    for raw in v["collections"]:
        name = _name(raw)
        quick = raw in v["quick"]
        label = short(name)
        expect = OK_2XX if raw in accepted else REJECT
        case = b.json(
            "PATCH",
            f"rename to {label}",
            scratch,
            {"name": name},
            expect,
            quick=quick,
        )
        _engine_limited(b, case, name, raw in accepted)
        b.get(f"collections after renaming to {label}", COLLECTIONS, OK_2XX, quick=quick)
        b.get(
            f"records of renamed {label}", f"{COLLECTIONS}/{_path(name)}/records", OK, quick=quick
        )
        b.json(
            "PATCH",
            f"rename {label} back",
            scratch,
            {"name": "hx_ren"},
            OK,
            quick=quick,
        )
    for n, field_name in enumerate(v["fields"]):
        quick = field_name in v["quick_fields"]
        label = short(field_name)
        coll = f"hx_fld{n}"
        definition = {
            "name": coll,
            "type": "base",
            "listRule": "",
            "fields": [{"name": field_name, "type": "text"}],
        }
        expect = REJECT if field_name in v["fields_rejected"] else OK_2XX
        case = b.json(
            "POST", f"collection with field {label}", COLLECTIONS, definition, expect, quick=quick
        )
        if field_name in v["fields_engine_reserved"]:
            b.diverging(case, "postgres-identifier-limits", REJECT)
        path = f"{COLLECTIONS}/{coll}/records"
        b.json("POST", f"record with field {label}", path, {field_name: "x"}, OK, quick=quick)
        b.get(
            f"records with field {label}", path, OK, quick=quick, query=f"sort={_query(field_name)}"
        )
        b.get(f"collections after field {label}", COLLECTIONS, OK_2XX, quick=quick)
    return Category("names", b.cases, summary="collections and fields named like engine objects")


_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1


def _engine_limited(b: Builder, case: Any, name: str, accepted: bool) -> None:
    """A name PocketBase accepts but PostgreSQL cannot hold whole: the registered
    divergence postgres-identifier-limits (the reference refuses it there)."""
    if accepted and len(name.encode("utf-8")) > _IDENTIFIER_BYTES:
        b.diverging(case, "postgres-identifier-limits", REJECT)


def _path(name: str) -> str:
    """A name as one path segment (``/`` and ``%`` escaped; the runner encodes the rest)."""
    return name.replace("%", "%25").replace("/", "%2F")


def _query(text: str) -> str:
    return text.replace("%", "%25").replace("&", "%26").replace("=", "%3D")


# --- indexes ----------------------------------------------------------------------------


def _index_sql(sql: str, own: str) -> str:
    sql = sql.replace("{self}", own)
    sql = sql.replace("@long", "idx_" + "l" * 10_000)
    return sql.replace("@wide", ", ".join(["title"] * 200))


def indexes(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["indexes"]
    b = Builder("indexes", seed)
    posts = f"{COLLECTIONS}/{fixtures.POSTS}"
    b.json(
        "PATCH",
        "fixture index that a later name collides with",
        posts,
        {"indexes": [v["taken"]]},
        OK_2XX,
    )
    for n, entry in enumerate(v["on_create"]):
        own = f"hx_idx{n}"
        quick = entry["what"] in v["quick"]
        fields = [{"name": "title", "type": "text"}, {"name": "n", "type": "number"}]
        definition = {
            "name": own,
            "type": "base",
            "fields": fields,
            "indexes": [_index_sql(entry["sql"], own)],
        }
        expect = OK_2XX if entry["what"] in v["accepted"] else REJECT
        case = b.json(
            "POST",
            f"collection with index: {entry['what']}",
            COLLECTIONS,
            definition,
            expect,
            quick=quick,
        )
        if entry["what"] in v["reference_refuses"]:
            b.diverging(case, v["reference_refuses"][entry["what"]], REJECT)
        b.get(f"posts after index: {entry['what']}", posts + "/records", OK_2XX, quick=quick)
        path = f"{COLLECTIONS}/{fixtures.collection_id(own)}"
        b.get(f"collection hx_idx{n}", path, OK, method="DELETE", quick=quick)
    for n, sql in enumerate(v["on_fixture"]):
        what = f"fixture index {short(sql, 60)}"
        expect = OK_2XX if sql in v["fixture_accepted"] else REJECT
        b.json("PATCH", what, posts, {"indexes": [sql]}, expect, quick=n < 2)
        b.get(f"posts after fixture index #{n}", posts + "/records", OK_2XX, quick=n < 2)
    b.json("PATCH", "fixture indexes emptied", posts, {"indexes": []}, OK_2XX)
    extra = {"name": "hx_extra", "type": "text"}
    for name, fields in (
        (fixtures.POSTS, fixtures.POSTS_FIELDS),
        (fixtures.DEEP, fixtures.DEFINITIONS[fixtures.DEEP]["fields"]),
    ):
        path = f"{COLLECTIONS}/{name}"
        b.json(
            "PATCH",
            f"column added to {name} after the index attacks",
            path,
            {"fields": [*fields, extra]},
            OK_2XX,
        )
        b.get(f"records of {name} with the added column", path + "/records", OK_2XX)
        b.json(
            "PATCH",
            f"column dropped from {name} after the index attacks",
            path,
            {"fields": fields},
            OK_2XX,
        )
    b.json(
        "POST",
        "scratch collection after the index attacks",
        COLLECTIONS,
        _text_collection("hx_idx_after"),
        OK_2XX,
    )
    after = f"{COLLECTIONS}/hx_idx_after"
    base_fields = [{"name": "title", "type": "text"}]
    b.json(
        "PATCH",
        "column added to the scratch collection",
        after,
        {"fields": [*base_fields, extra]},
        OK_2XX,
    )
    b.json(
        "PATCH",
        "column dropped from the scratch collection",
        after,
        {"fields": base_fields},
        OK_2XX,
    )
    return Category("indexes", b.cases, summary="index statements that are not one index")
