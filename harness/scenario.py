"""API scenarios as data: the model, the TOML loader and the ``{{ ... }}`` templates.

A scenario file (``suites/conformance/scenarios/<suite>.toml``, suite = file stem) holds
``[[scenario]]`` tables. The name ``"<METHOD> <what> (<actor>)"`` is the pytest id and the
key of ``parity repro``. Example (a literal block):

    [[scenario]]
    name = "GET list records sorted by json field with nulls (superuser)"
    tags = ["list", "sort"]
    divergence = "some-key"            # optional: a harness/divergences.toml entry

    [[scenario.collections]]           # POST /api/collections body; name is logical
    name = "docs"
    type = "base"
    fields = [{ name = "j", type = "json" }]

    [[scenario.records]]               # inserted as superuser, in order
    collection = "docs"
    data_json = '{"j": null}'          # `data` (TOML) or `data_json` (JSON text: has null)

    [[scenario.generate]]              # seeded rows, see harness/_generate.py
    collection = "docs"
    count = 5
    fields = { j = "int:0:9" }

    [[scenario.steps]]
    id = "asc"                         # default "stepN"; templates use it
    actor = "superuser"                # superuser (default) | guest | user
    method = "GET"                     # default GET
    path = "/api/collections/{{ coll.docs }}/records"
    query = { sort = "j" }
    # body = {...} | body_json = '...' | raw_body = '{"broken'; headers = {...}
    # key_order = "records" (default; "none" when query has `fields`) | "all" | "none"
    # capture_headers = ["content-type"]  # response headers to compare (lower case)
    # until_total = 3; timeout = 10  # asked again (every 0.25 s, up to `timeout` s) until
    #   the answer counts 3: a page's totalItems, or a list's summed `total` (logs/stats);
    #   for what a server writes in the background (request logs, flushed every 3 s)

    [[scenario.steps]]                 # a multipart/form-data request (instead of a body)
    method = "POST"
    path = "/api/collections/{{ coll.docs }}/records"
    form = { title = "a", "@jsonPayload" = '{"n": 1}' }   # text parts (a list repeats)
    files = [{ field = "doc", name = "a.txt", content = "hello", type = "text/plain" }]
    # a file part: `repeat = N` sends the content N times (large files); type is optional

    [[scenario.steps]]                 # realtime: open connection "a" (on first use) and
    kind = "subscribe"                 # POST /api/realtime as the actor (replaces the
    client = "a"                       # client's subscriptions, as PocketBase does)
    actor = "user"
    topics = ["{{ coll.docs }}/*", { topic = "{{ coll.docs }}/{{ records.docs.0 }}",
              options = { query = { fields = "id" } } }]   # options -> ?options=<json>

    [[scenario.steps]]                 # realtime: the messages client "a" got since its last
    kind = "await_events"              # await, once `count` arrived (or after `timeout`
    client = "a"                       # seconds), plus `settle` seconds for late extras
    count = 2                          # 0: expect nothing (waits `settle` only)
    # timeout = 5; settle = 0.2; key_order = "all" ("none" when the client picks `fields`)

Collection names are prefixed per scenario (``p`` + 6 hex of a hash of the name), so many
scenarios share one server and clean up only what is theirs. Setup rows get deterministic
ids (``harness.runner.row_id``) unless ``data`` sets one. The "user" actor logs in as the
first row of the first auth collection, or ``user = "<collection>.<index>"``.

Templates, resolved per target as the run goes: ``{{ coll.posts }}`` (real collection
name), ``{{ collid.posts }}`` (its id, for relation fields), ``{{ records.posts.0 }}`` (id
of the first posts row), ``{{ steps.create.body.id }}`` (``status`` or any part of an
earlier step's ``body``), ``{{ user.id }}`` / ``{{ user.email }}``, ``{{ prefix }}``,
``{{ seed }}``. A string that is exactly one template takes the value's JSON type.
Templates also work in ``form`` values and file ``content``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness import _generate

Actor = Literal["superuser", "guest", "user"]
StepKind = Literal["http", "subscribe", "await_events"]
KeyOrder = Literal["records", "all", "none"]
ACTORS: tuple[str, ...] = ("superuser", "guest", "user")
KEY_ORDERS: tuple[str, ...] = ("records", "all", "none")
STEP_KINDS: tuple[str, ...] = ("http", "subscribe", "await_events")
MAX_AWAIT_TIMEOUT = 30.0  # seconds; an await longer than this is a scenario mistake
NAME_RE = re.compile(r"^(GET|POST|PATCH|PUT|DELETE) \S.* \((superuser|guest|user)\)$")
_TEMPLATE_RE = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")
_NO_BODY = object()


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the scenario."""


class TemplateError(LookupError):
    """A ``{{ ... }}`` reference could not be resolved on this target (e.g. a failed step)."""


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart step: sent as ``content * repeat`` under ``field``."""

    field: str
    name: str
    content: str = ""
    type: str = "application/octet-stream"
    repeat: int = 1


@dataclass(frozen=True)
class Topic:
    """A realtime subscription: ``topic``, plus ``?options=<json>`` when options are set."""

    topic: str
    options: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    id: str
    actor: Actor
    method: str
    path: str
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Any = _NO_BODY  # JSON value to send; _NO_BODY means none
    raw_body: str | None = None  # sent verbatim as application/json (malformed JSON tests)
    headers: Mapping[str, str] = field(default_factory=dict)
    key_order: KeyOrder = "records"
    form: Mapping[str, str | list[str]] = field(default_factory=dict)  # multipart text parts
    files: tuple[FilePart, ...] = ()  # multipart file parts
    capture_headers: tuple[str, ...] = ()  # response headers compared across targets
    kind: StepKind = "http"
    client: str = ""  # realtime steps: the connection's name in this scenario
    topics: tuple[Topic, ...] = ()  # subscribe
    count: int = 0  # await_events: messages expected
    timeout: float = 5.0  # await_events: seconds to wait for `count`
    settle: float = 0.2  # await_events: seconds more, so an extra message is seen
    until_total: int | None = None  # http: asked again until the answer counts this many

    @property
    def has_body(self) -> bool:
        return self.body is not _NO_BODY

    @property
    def multipart(self) -> bool:
        return bool(self.form or self.files)


@dataclass(frozen=True)
class CollectionSpec:
    name: str  # logical name; the server sees Scenario.collection_name(name)
    definition: Mapping[str, Any]  # POST /api/collections body, minus the name


@dataclass(frozen=True)
class RecordSpec:
    collection: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    suite: str
    tags: tuple[str, ...] = ()
    divergence: str | None = None
    collections: tuple[CollectionSpec, ...] = ()
    records: tuple[RecordSpec, ...] = ()
    generate: tuple[_generate.GenerateSpec, ...] = ()
    steps: tuple[Step, ...] = ()
    user: str | None = None  # "<collection>.<index>" of the auth record acting as "user"
    description: str = ""

    @property
    def prefix(self) -> str:
        """Deterministic per-scenario prefix; the same on every target and every run."""
        return "p" + hashlib.sha256(self.name.encode()).hexdigest()[:6] + "_"

    def collection_name(self, logical: str) -> str:
        return self.prefix + logical

    def all_records(self, seed: int) -> list[RecordSpec]:
        """Literal rows, then the seeded generated ones: the exact insert order."""
        rows = list(self.records)
        for spec in self.generate:
            rows.extend(RecordSpec(spec.collection, data) for data in spec.rows(seed))
        return rows

    def user_ref(self) -> tuple[str, int]:
        """(collection, index) of the "user" actor: explicit, else the first auth row."""
        if self.user is not None:
            coll, _, index = self.user.partition(".")
            return coll, int(index or 0)
        auth = {c.name for c in self.collections if c.definition.get("type") == "auth"}
        for row in self.records:
            if row.collection in auth:
                return row.collection, 0  # literal rows come first, so it is row 0
        raise ScenarioError(f"{self.name!r}: actor 'user' needs an auth collection with a row")


# --- templates --------------------------------------------------------------------------


class _Names(Mapping[str, str]):
    """``coll.X`` works for any X, also for collections a step is about to create."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario

    def __getitem__(self, key: str) -> str:
        return self._scenario.collection_name(key)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def template_context(scenario: Scenario, seed: int) -> dict[str, Any]:
    """The state templates read; the runner fills collid/records/steps/user as it goes."""
    return {
        "coll": _Names(scenario),
        "collid": {},
        "records": {},
        "steps": {},
        "user": {},
        "seed": seed,
    }


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Resolve templates in every string of ``value`` (dicts and lists recursively)."""
    if isinstance(value, str):
        whole = _TEMPLATE_RE.fullmatch(value.strip())
        if whole:
            return _lookup(whole.group(1), context)
        return _TEMPLATE_RE.sub(lambda m: _as_text(_lookup(m.group(1), context)), value)
    if isinstance(value, Mapping):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, context) for v in value]
    return value


def _lookup(path: str, context: Mapping[str, Any]) -> Any:
    current: Any = context
    for part in path.split("."):
        try:
            if isinstance(current, list):
                current = current[int(part)]
            elif isinstance(current, Mapping):
                current = current[part]
            else:
                raise KeyError(part)
        except (KeyError, IndexError, ValueError):
            raise TemplateError(f"{{{{ {path} }}}}: nothing at {part!r}") from None
    return current


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# --- loading ----------------------------------------------------------------------------

_SCENARIO_KEYS = {
    "name",
    "tags",
    "divergence",
    "collections",
    "records",
    "generate",
    "steps",
    "user",
    "description",
}
_STEP_KEYS = {
    "id",
    "actor",
    "method",
    "path",
    "query",
    "body",
    "body_json",
    "raw_body",
    "headers",
    "key_order",
    "form",
    "files",
    "capture_headers",
    "until_total",
    "timeout",
}
_REALTIME_KEYS = {
    "subscribe": {"id", "kind", "client", "actor", "topics", "headers"},
    "await_events": {"id", "kind", "client", "count", "timeout", "settle", "key_order"},
}
_FILE_KEYS = {"field", "name", "content", "type", "repeat"}


def default_dir() -> Path:
    """The conformance scenarios: the repo's (source checkout), else ``./suites/...``."""
    tail = Path("suites", "conformance", "scenarios")
    repo = Path(__file__).resolve().parent.parent / tail
    return repo if repo.is_dir() else Path.cwd() / tail


def load_file(path: Path) -> list[Scenario]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    unknown = set(doc) - {"scenario"}
    if unknown:
        raise ScenarioError(f"{path}: unknown top-level keys {sorted(unknown)}")
    return [_scenario(raw, path) for raw in doc.get("scenario", [])]


def load_dir(directory: Path, suites: set[str] | None = None) -> list[Scenario]:
    """All scenarios of ``directory/*.toml`` (file stem = suite), names unique."""
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.toml")):
        if suites is None or path.stem in suites:
            scenarios.extend(load_file(path))
    seen: set[str] = set()
    for s in scenarios:
        if s.name in seen:
            raise ScenarioError(f"duplicate scenario name {s.name!r}")
        seen.add(s.name)
    return scenarios


def _scenario(raw: dict[str, Any], path: Path) -> Scenario:
    name = raw.get("name", "")
    where = f"{path}: scenario {name!r}"
    if not NAME_RE.match(name):
        raise ScenarioError(f"{where}: name must look like '<METHOD> <what> (<actor>)'")
    _no_unknown(raw, _SCENARIO_KEYS, where)
    collections = []
    for c in raw.get("collections", []):
        definition = {k: v for k, v in c.items() if k != "name"}
        collections.append(CollectionSpec(c["name"], definition))
    records = [
        RecordSpec(r["collection"], _json_or(r, "data", {}, where)) for r in raw.get("records", [])
    ]
    try:
        generate = [_generate.GenerateSpec.from_toml(g, where) for g in raw.get("generate", [])]
    except _generate.GenerateError as exc:
        raise ScenarioError(str(exc)) from None
    steps = [_step(s, n, where) for n, s in enumerate(raw.get("steps", []))]
    if not steps:
        raise ScenarioError(f"{where}: no steps")
    if len({s.id for s in steps}) != len(steps):
        raise ScenarioError(f"{where}: step ids must be unique")
    picks: dict[str, bool] = {}  # client -> its subscriptions pick `fields`
    for n, s in enumerate(steps):
        if s.kind == "subscribe":
            picks[s.client] = any(
                isinstance(t.options, Mapping)
                and isinstance(t.options.get("query"), Mapping)
                and "fields" in t.options["query"]
                for t in s.topics
            )
        elif s.kind == "await_events":
            if s.client not in picks:
                raise ScenarioError(
                    f"{where}: step {s.id!r} awaits client {s.client!r} before a subscribe"
                )
            if picks[s.client] and "key_order" not in raw["steps"][n]:
                # PocketBase's picked records come in a random key order, as HTTP's `fields`
                steps[n] = dataclasses.replace(s, key_order="none")
    scenario = Scenario(
        name=name,
        suite=path.stem,
        tags=tuple(raw.get("tags", ())),
        divergence=raw.get("divergence"),
        collections=tuple(collections),
        records=tuple(records),
        generate=tuple(generate),
        steps=tuple(steps),
        user=raw.get("user"),
        description=raw.get("description", ""),
    )
    if any(s.actor == "user" for s in steps):
        try:
            scenario.user_ref()
        except ScenarioError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    return scenario


def _step(raw: dict[str, Any], index: int, where: str) -> Step:
    kind = raw.get("kind", "http")
    if kind not in STEP_KINDS:
        raise ScenarioError(f"{where} step {index}: kind must be one of {STEP_KINDS}")
    actor = raw.get("actor", "superuser")
    if actor not in ACTORS:
        raise ScenarioError(f"{where} step {index}: actor must be one of {ACTORS}")
    if kind != "http":
        return _realtime_step(raw, kind, actor, index, f"{where} step {index}")
    _no_unknown(raw, _STEP_KEYS, f"{where} step {index}")
    if "path" not in raw:
        raise ScenarioError(f"{where} step {index}: an HTTP step needs `path`")
    if len({"body", "body_json", "raw_body"} & set(raw)) + bool({"form", "files"} & set(raw)) > 1:
        raise ScenarioError(
            f"{where} step {index}: give one of body, body_json, raw_body, form/files"
        )
    query = {k: str(v) if not isinstance(v, str) else v for k, v in raw.get("query", {}).items()}
    # PocketBase re-marshals `fields` output from a map, so key order is random there.
    key_order = raw.get("key_order", "none" if "fields" in query else "records")
    if key_order not in KEY_ORDERS:
        raise ScenarioError(f"{where} step {index}: key_order must be one of {KEY_ORDERS}")
    until, timeout = raw.get("until_total"), raw.get("timeout", 5.0)
    if until is not None and (not isinstance(until, int) or isinstance(until, bool) or until < 0):
        raise ScenarioError(f"{where} step {index}: `until_total` must be an integer >= 0")
    if not isinstance(timeout, int | float) or not 0 <= timeout <= MAX_AWAIT_TIMEOUT:
        raise ScenarioError(f"{where} step {index}: `timeout` must be 0-{MAX_AWAIT_TIMEOUT:g} s")
    return Step(
        id=raw.get("id", f"step{index + 1}"),
        actor=actor,
        method=raw.get("method", "GET").upper(),
        path=raw["path"],
        query=query,
        body=_json_or(raw, "body", _NO_BODY, where),
        raw_body=raw.get("raw_body"),
        headers=dict(raw.get("headers", {})),
        key_order=key_order,
        form=dict(raw.get("form", {})),
        files=tuple(_file_part(f, f"{where} step {index}") for f in raw.get("files", [])),
        capture_headers=tuple(h.lower() for h in raw.get("capture_headers", [])),
        until_total=until,
        timeout=float(timeout),
    )


def _realtime_step(raw: dict[str, Any], kind: str, actor: str, index: int, where: str) -> Step:
    _no_unknown(raw, _REALTIME_KEYS[kind], where)
    client = raw.get("client", "")
    if not isinstance(client, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,20}", client):
        raise ScenarioError(f"{where}: `client` must be a name of 1-20 [A-Za-z0-9_]")
    step_id = raw.get("id", f"step{index + 1}")
    if kind == "subscribe":
        topics = raw.get("topics")
        if not isinstance(topics, list):
            raise ScenarioError(f"{where}: subscribe needs `topics`, a list (may be empty)")
        return Step(
            id=step_id,
            actor=actor,  # type: ignore[arg-type]  # checked against ACTORS by the caller
            method="POST",
            path="/api/realtime",
            headers=dict(raw.get("headers", {})),
            key_order="all",
            kind="subscribe",
            client=client,
            topics=tuple(_topic(t, where) for t in topics),
        )
    count, timeout, settle = raw.get("count"), raw.get("timeout", 5.0), raw.get("settle", 0.2)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ScenarioError(f"{where}: await_events needs `count`, an integer >= 0")
    for name, value in (("timeout", timeout), ("settle", settle)):
        if not isinstance(value, int | float) or not 0 <= value <= MAX_AWAIT_TIMEOUT:
            raise ScenarioError(f"{where}: `{name}` must be 0-{MAX_AWAIT_TIMEOUT:g} seconds")
    # The event payload is {"record": ..., "action": ...} in that order on PocketBase (a Go
    # struct), and records are alphabetical: every key order is compared.
    key_order = raw.get("key_order", "all")
    if key_order not in KEY_ORDERS:
        raise ScenarioError(f"{where}: key_order must be one of {KEY_ORDERS}")
    return Step(
        id=step_id,
        actor="superuser",
        method="SSE",
        path="",
        key_order=key_order,
        kind="await_events",
        client=client,
        count=count,
        timeout=float(timeout),
        settle=float(settle),
    )


def _topic(raw: Any, where: str) -> Topic:
    if isinstance(raw, str):
        return Topic(raw)
    if isinstance(raw, Mapping) and isinstance(raw.get("topic"), str):
        _no_unknown(raw, {"topic", "options"}, f"{where} topic")
        options = raw.get("options")
        if options is not None and not isinstance(options, Mapping):
            raise ScenarioError(f"{where}: topic `options` must be a table")
        return Topic(raw["topic"], options)
    raise ScenarioError(f"{where}: a topic is a string or {{ topic = ..., options = {{...}} }}")


def _file_part(raw: Mapping[str, Any], where: str) -> FilePart:
    _no_unknown(raw, _FILE_KEYS, f"{where} file")
    if "field" not in raw or "name" not in raw:
        raise ScenarioError(f"{where}: a file needs `field` and `name`")
    return FilePart(**raw)


def _json_or(raw: Mapping[str, Any], key: str, default: Any, where: str) -> Any:
    """``key`` as TOML, or ``key_json`` as JSON text: TOML has no null, JSON bodies need it."""
    if f"{key}_json" in raw:
        try:
            return json.loads(raw[f"{key}_json"])
        except ValueError as exc:
            raise ScenarioError(f"{where}: {key}_json is not JSON: {exc}") from None
    return raw.get(key, default)


def _no_unknown(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
