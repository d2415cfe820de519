"""The filter table as data: the fixture and the cases, loaded and validated.

Files live in ``suites/conformance/filters/``: ``fixture.toml`` (the schema and rows, its
header documents the format) and one case file per topic (``*.toml``, every other file
there). A case file holds ``[[case]]`` tables; every key is checked, an unknown one is an
error, so a typo never silently turns a case into a weaker one:

    [[case]]
    name = "text_eq_null_is_empty"     # unique across files; the pytest id
    why = "..."                        # one line: the PocketBase behaviour it pins
    collection = "items"
    filter = "t = null"                # left out: no filter parameter at all
    sort = "-n,id"                     # default "id"; "" sends no sort parameter
    actor = "guest"                    # guest (default) | user | superuser
    headers = { "X-Token" = "abc" }    # optional extra request headers
    query = { foo = "bar" }            # optional extra query parameters
    todo = "json paths"                # the reference cannot answer it yet: strict xfail
    todo_on = ["postgres"]             # ... only on these reference engines (default: all)
    divergence = "int64-precision"     # a harness/divergences.toml key: strict xfail
    # the recorded answer (written by `python -m harness.filter_table record`):
    status = 200
    ids = ["ihello000000000"]          # for 200, in the order returned
    message = "..."                    # for any other status

Keep each case's answer lines (status, ids, message) on one line each: the recorder
rewrites exactly those lines and nothing else, so comments and layout survive.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILTERS_DIR = Path(__file__).resolve().parents[1] / "suites" / "conformance" / "filters"
FIXTURE_FILE = "fixture.toml"
ACTORS = ("guest", "user", "superuser")
ANSWER_KEYS = ("status", "ids", "message")
ID_RE = re.compile(r"^[a-z0-9]{15}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
RESERVED_QUERY = ("filter", "sort", "perPage", "page")

_CASE_KEYS = {
    "name",
    "why",
    "collection",
    "filter",
    "sort",
    "actor",
    "headers",
    "query",
    "todo",
    "todo_on",
    "divergence",
    *ANSWER_KEYS,
}
ENGINES = ("sqlite", "postgres")
_COLLECTION_KEYS = {
    "name",
    "type",
    "fields",
    "indexes",
    "listRule",
    "viewRule",
    "createRule",
    "updateRule",
    "deleteRule",
    "passwordAuth",
}
_RECORD_KEYS = {"collection", "data", "data_json"}
_USER_KEYS = {"collection", "identity", "password"}


class TableError(ValueError):
    """A filter table file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class CollectionDef:
    name: str
    body: dict[str, Any]  # the POST body, relation fields still naming `collection`

    @property
    def is_auth(self) -> bool:
        return self.body.get("type") == "auth"

    def relation_targets(self) -> set[str]:
        return {f["collection"] for f in self.body.get("fields", []) if f["type"] == "relation"}


@dataclass(frozen=True)
class RecordDef:
    collection: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])


@dataclass(frozen=True)
class UserDef:
    collection: str
    identity: str
    password: str


@dataclass(frozen=True)
class Fixture:
    collections: tuple[CollectionDef, ...]  # in dependency order
    records: tuple[RecordDef, ...]  # in insert order
    user: UserDef

    def collection(self, name: str) -> CollectionDef | None:
        return next((c for c in self.collections if c.name == name), None)


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    collection: str
    file: Path
    filter: str | None = None
    sort: str = "id"
    actor: str = "guest"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    todo: str | None = None
    todo_on: tuple[str, ...] = ENGINES
    divergence: str | None = None
    status: int | None = None  # None: not recorded yet
    ids: tuple[str, ...] | None = None
    message: str | None = None

    @property
    def topic(self) -> str:
        return self.file.stem

    @property
    def recorded(self) -> bool:
        return self.status is not None


# -- fixture ---------------------------------------------------------------------------------
def load_fixture(directory: Path = FILTERS_DIR) -> Fixture:
    path = directory / FIXTURE_FILE
    doc = _read(path)
    _no_unknown(doc, {"user", "collection", "record"}, str(path))
    collections = [_collection(raw, path) for raw in doc.get("collection", [])]
    names = [c.name for c in collections]
    if len(set(names)) != len(names):
        raise TableError(f"{path}: duplicate collection names in {names}")
    for c in collections:
        missing = c.relation_targets() - set(names)
        if missing:
            raise TableError(f"{path}: {c.name} relates to unknown collections {sorted(missing)}")
    ordered = _dependency_order(collections, path)
    records = [_record(raw, path, set(names)) for raw in doc.get("record", [])]
    rank = {c.name: i for i, c in enumerate(ordered)}
    records.sort(key=lambda r: rank[r.collection])  # stable: file order inside a collection
    _check_references(ordered, records, path)
    raw_user = doc.get("user")
    if not isinstance(raw_user, dict):
        raise TableError(f"{path}: [user] (collection, identity, password) is required")
    _no_unknown(raw_user, _USER_KEYS, f"{path} [user]")
    user = UserDef(**{k: str(raw_user[k]) for k in _USER_KEYS})
    owner = next((c for c in ordered if c.name == user.collection), None)
    if owner is None or not owner.is_auth:
        raise TableError(f"{path}: [user] collection {user.collection!r} is not an auth one")
    return Fixture(tuple(ordered), tuple(records), user)


def _collection(raw: Any, path: Path) -> CollectionDef:
    where = f"{path} collection {raw.get('name')!r}" if isinstance(raw, dict) else str(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise TableError(f"{where}: each [[collection]] needs a name")
    _no_unknown(raw, _COLLECTION_KEYS, where)
    for f in raw.get("fields", []):
        if f.get("type") == "relation" and not isinstance(f.get("collection"), str):
            raise TableError(f"{where}: relation field {f.get('name')!r} needs `collection`")
        if f.get("type") != "relation" and "collection" in f:
            raise TableError(f"{where}: only relation fields take `collection`")
    return CollectionDef(raw["name"], dict(raw))


def _dependency_order(collections: list[CollectionDef], path: Path) -> list[CollectionDef]:
    """File order, moved only as far as needed so a relation target comes first."""
    done: list[CollectionDef] = []
    pending = list(collections)
    while pending:
        ready = next(
            (c for c in pending if c.relation_targets() - {c.name} <= {d.name for d in done}),
            None,
        )
        if ready is None:
            raise TableError(f"{path}: relation cycle among {[c.name for c in pending]}")
        done.append(ready)
        pending.remove(ready)
    return done


def _record(raw: Any, path: Path, collections: set[str]) -> RecordDef:
    if not isinstance(raw, dict):
        raise TableError(f"{path}: [[record]] must be a table")
    where = f"{path} record in {raw.get('collection')!r}"
    _no_unknown(raw, _RECORD_KEYS, where)
    if raw.get("collection") not in collections:
        raise TableError(f"{where}: unknown collection")
    if ("data" in raw) == ("data_json" in raw):
        raise TableError(f"{where}: give exactly one of `data` and `data_json`")
    try:
        data = raw["data"] if "data" in raw else json.loads(raw["data_json"])
    except json.JSONDecodeError as exc:
        raise TableError(f"{where}: data_json: {exc}") from None
    if not isinstance(data, dict) or not ID_RE.match(str(data.get("id", ""))):
        raise TableError(f"{where}: data needs an id of 15 characters [a-z0-9]: {data!r}")
    return RecordDef(raw["collection"], data)


def _check_references(
    collections: list[CollectionDef], records: list[RecordDef], path: Path
) -> None:
    """Ids are unique and every relation value names a record seeded before it."""
    relations = {
        c.name: {f["name"]: f["collection"] for f in c.body.get("fields", []) if "collection" in f}
        for c in collections
    }
    seen: dict[str, str] = {}  # id -> collection
    for rec in records:
        if rec.id in seen:
            raise TableError(f"{path}: duplicate record id {rec.id}")
        for fname, target in relations[rec.collection].items():
            value = rec.data.get(fname, [])
            for ref in value if isinstance(value, list) else [value]:
                if ref and seen.get(ref) != target:
                    raise TableError(
                        f"{path}: {rec.collection} {rec.id}.{fname} = {ref!r} is not a "
                        f"{target} record seeded before it"
                    )
        seen[rec.id] = rec.collection


# -- cases -----------------------------------------------------------------------------------
def case_files(directory: Path = FILTERS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.toml") if p.name != FIXTURE_FILE)


def load_cases(directory: Path = FILTERS_DIR, fixture: Fixture | None = None) -> list[Case]:
    """Every case of every case file, in file then file order; names unique."""
    fixture = fixture or load_fixture(directory)
    cases: list[Case] = []
    for path in case_files(directory):
        cases.extend(load_case_file(path, fixture))
    seen: dict[str, Path] = {}
    for case in cases:
        if case.name in seen:
            raise TableError(f"duplicate case name {case.name!r} ({seen[case.name]}, {case.file})")
        seen[case.name] = case.file
    return cases


def load_case_file(path: Path, fixture: Fixture) -> list[Case]:
    doc = _read(path)
    _no_unknown(doc, {"case"}, str(path))
    return [_case(raw, path, fixture) for raw in doc.get("case", [])]


def _case(raw: Any, path: Path, fixture: Fixture) -> Case:
    if not isinstance(raw, dict):
        raise TableError(f"{path}: [[case]] must be a table")
    name = raw.get("name")
    where = f"{path} case {name!r}"
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise TableError(f"{where}: name must be lowercase letters, digits and _")
    _no_unknown(raw, _CASE_KEYS, where)
    for key in ("why", "collection"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise TableError(f"{where}: `{key}` is required")
    if fixture.collection(raw["collection"]) is None:
        raise TableError(f"{where}: collection {raw['collection']!r} is not in the fixture")
    for key in ("filter", "sort", "todo", "divergence", "message"):
        if key in raw and not isinstance(raw[key], str):
            raise TableError(f"{where}: `{key}` must be a string")
    todo_on = raw.get("todo_on", list(ENGINES))
    if not isinstance(todo_on, list) or not todo_on or set(todo_on) - set(ENGINES):
        raise TableError(f"{where}: todo_on must be a non-empty list of {ENGINES}")
    if "todo_on" in raw and "todo" not in raw:
        raise TableError(f"{where}: todo_on without todo")
    if raw.get("actor", "guest") not in ACTORS:
        raise TableError(f"{where}: actor must be one of {ACTORS}")
    headers, query = _str_table(raw, "headers", where), _str_table(raw, "query", where)
    if set(query) & set(RESERVED_QUERY):
        raise TableError(f"{where}: `query` may not set {RESERVED_QUERY}; use filter/sort")
    status, ids = raw.get("status"), raw.get("ids")
    if status is not None and not isinstance(status, int):
        raise TableError(f"{where}: status must be an integer")
    if status == 200 and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise TableError(f"{where}: status 200 needs `ids` (a list of record ids)")
    if status is not None and status != 200 and ("ids" in raw or "message" not in raw):
        raise TableError(f"{where}: status {status} takes a `message` and no `ids`")
    if status is None and ("ids" in raw or "message" in raw):
        raise TableError(f"{where}: `ids`/`message` without `status`")
    return Case(
        name=name,
        why=raw["why"].strip(),
        collection=raw["collection"],
        file=path,
        filter=raw.get("filter"),
        sort=raw.get("sort", "id"),
        actor=raw.get("actor", "guest"),
        headers=headers,
        query=query,
        todo=raw.get("todo"),
        todo_on=tuple(todo_on),
        divergence=raw.get("divergence"),
        status=status,
        ids=tuple(ids) if status == 200 and ids is not None else None,
        message=raw.get("message"),
    )


def _str_table(raw: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = raw.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TableError(f"{where}: `{key}` must be an inline table of strings")
    return dict(value)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TableError(f"{path}: {exc}") from None


def _no_unknown(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise TableError(f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
