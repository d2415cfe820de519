"""``GET /api/openapi.json``: an OpenAPI 3.1 document of this server, built from the live
collections (PocketBase has no such endpoint; this one exists for schemathesis and for
readers of the harness).

Access: superusers only (401 without a token, 403 with another auth record's token, the
same answers as the other superuser-only groups). The document holds what
``GET /api/collections`` reveals (every collection, hidden fields, select values), which
PocketBase keeps from everyone else; a guest's view cannot be derived statically either,
since list/view rules depend on the caller's record.

How it stays true (``suites/engine/test_openapi.py``, ``suites/fuzz``): responses are typed
by field type only, never by field options (a select's values or a text's max may change
after rows were stored), and every property a record always carries is required;
request bodies add the options the server validates, to steer generated data. Statuses
are the ones this server answers (413 where a body is taken: the body limit of
``api/_limits.py``, PocketBase's); 5xx are never documented. ``fields=`` reshapes any JSON
body (a subset of keys, ``:excerpt`` turns values into text), which JSON Schema cannot tie
to a query value: the documented bodies are the unpicked ones.
"""

from __future__ import annotations

import re
import zlib
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from reference_impl import __version__, failpoints
from reference_impl.api._http import JSON, app_of, auth_of, require_superuser
from reference_impl.core.collection import RULES, TYPES, Collection
from reference_impl.core.fields import DEFAULT_OPTIONS, FIELD_TYPES, TEXT_DEFAULT_MAX, Field

Schema = dict[str, Any]
STATUS_TEXT = {
    200: "OK", 204: "No content", 400: "Bad request or failed validation",
    401: "Missing or invalid authentication", 403: "Not allowed", 404: "Not found",
    413: "Request body over the limit (32 MiB plus the collection's file/json/editor allowances)",
}  # fmt: skip
# PocketBase's DateTime text, or "" when unset.
DATE = {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z)?$"}
GEO_POINT = {
    "type": "object",
    "properties": {
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
    },
    "required": ["lon", "lat"],
    "additionalProperties": False,
}
TEXT: Schema = {"type": "string"}
OBJECT: Schema = {"type": "object"}
STRINGS: Schema = {"type": "array", "items": TEXT}
FILE: Schema = {"*/*": {"schema": {}}}  # a download: any content type, any bytes
LIST_PARAMS = ("page", "perPage", "sort", "filter", "skipTotal", "fields")
PARAMETERS: dict[str, Schema] = {
    "page": {"type": "integer", "description": "1-based; 0 or less means 1"},
    "perPage": {"type": "integer", "description": "0 or less means 30; at most 1000"},
    "sort": {"type": "string", "description": "comma list, '-' for DESC, @random, @rowid"},
    "filter": {"type": "string", "description": "PocketBase filter expression"},
    "skipTotal": {"type": "boolean", "description": "totals come back as -1, no COUNT"},
    "expand": {"type": "string", "description": "relation paths, dotted for nesting"},
    "fields": {"type": "string", "description": "keys to keep (reshapes the body, see above)"},
}


async def document(request: Request) -> Response:
    require_superuser(await auth_of(request))
    return JSON(build(app_of(request).store.all()))


def build(collections: list[Collection]) -> Schema:
    """The whole document for these collections (deterministic: their order, sorted keys)."""
    paths: dict[str, Schema] = {}
    schemas: dict[str, Schema] = {
        "Error": _error_schema(),
        "Health": _object({"message": TEXT, "code": {"type": "integer"}, "data": OBJECT}),
        "Field": {"oneOf": [_field_schema(t) for t in sorted(FIELD_TYPES)]},
        "Collection": _collection_schema(),
        "CollectionList": _list_of("#/components/schemas/Collection"),
        "CollectionInput": _collection_input(),
        "AuthMethods": _auth_methods_schema(),
        "Token": _object({"token": {"type": "string", "minLength": 1}}),
    }
    paths["/api/health"] = {"get": _op("health", _ref("Health"), "", public=True)}
    paths["/api/openapi.json"] = {"get": _op("openapi", OBJECT, "401 403")}
    paths["/api/parity/rules"] = {"get": _op("rulesStatus", _rules_status_schema(), "401 403")}
    if failpoints.enabled():
        paths["/api/parity/schedule"] = _schedule_paths()
    _grid_paths(paths)
    _collection_paths(paths)
    paths["/api/files/token"] = {"post": _op("fileToken", _ref("Token"), "401", tag="files")}
    _log_paths(paths, schemas)
    by_id = {c.id: c for c in collections}
    for coll in collections:
        _record_paths(coll, by_id, paths, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "PocketParity reference server", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {n: _param(n, "query", s) for n, s in PARAMETERS.items()},
            "responses": {str(s): _error_response(s) for s in STATUS_TEXT if s >= 400},
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"token": []}, {}],  # optional: guests are answered too
    }


# -- paths -------------------------------------------------------------------------------
def _collection_paths(paths: dict[str, Schema]) -> None:
    one, body, tag = _ref("Collection"), _body(_ref("CollectionInput")), "collections"
    page = _ref("CollectionList")
    paths["/api/collections"] = {
        "get": _op("listCollections", page, "400 401 403", tag=tag, params=LIST_PARAMS),
        "post": _op("createCollection", one, "400 401 403", tag=tag, body=body),
    }
    path_param = [_param("collection", "path", {"type": "string", "minLength": 1})]
    paths["/api/collections/{collection}"] = {
        "parameters": path_param,
        "get": _op("viewCollection", one, "401 403 404", tag=tag, params=("fields",)),
        "patch": _op("updateCollection", one, "400 401 403 404", tag=tag, body=body),
        "delete": _op("deleteCollection", None, "400 401 403 404", tag=tag),
    }
    paths["/api/collections/{collection}/truncate"] = {
        "parameters": path_param,
        "delete": _op("truncateCollection", None, "401 403 404", tag=tag),
    }


def _record_paths(
    coll: Collection, by_id: dict[str, Collection], paths: dict[str, Schema], schemas: Schema
) -> None:
    key, name = _key(coll), quote(coll.name, safe="")
    schemas[f"{key}.Record"] = _record_schema(coll, by_id)
    schemas[f"{key}.RecordList"] = _list_of(f"#/components/schemas/{key}.Record")
    for form in (False, True):
        suffix = "Form" if form else ""
        schemas[f"{key}.Create{suffix}"] = _record_input(coll, create=True, form=form)
        schemas[f"{key}.Update{suffix}"] = _record_input(coll, create=False, form=form)
    record, page = _ref(f"{key}.Record"), _ref(f"{key}.RecordList")
    create = _body(_ref(f"{key}.Create"), form=_ref(f"{key}.CreateForm"))
    update = _body(_ref(f"{key}.Update"), form=_ref(f"{key}.UpdateForm"))
    base, one, tag = f"/api/collections/{name}", ("expand", "fields"), f"records:{coll.name}"
    many = (*LIST_PARAMS, "expand")
    paths[f"{base}/records"] = {
        "get": _op(f"list.{key}", page, "400 403 404", tag=tag, params=many),
        "post": _op(f"create.{key}", record, "400 403 404", tag=tag, params=one, body=create),
    }
    paths[f"{base}/records/{{id}}"] = {
        "parameters": [_param("id", "path", {"type": "string", "minLength": 1})],
        "get": _op(f"view.{key}", record, "403 404", tag=tag, params=one),
        "patch": _op(f"update.{key}", record, "400 403 404", tag=tag, params=one, body=update),
        "delete": _op(f"delete.{key}", None, "400 403 404", tag=tag),
    }
    if coll.is_auth:
        auth = _object({"token": {"type": "string", "minLength": 1}, "record": record})
        login = _body(
            _object({"identity": TEXT, "password": TEXT, "identityField": TEXT}, {"identityField"})
        )
        paths[f"{base}/auth-with-password"] = {
            "post": _op(f"authWithPassword.{key}", auth, "400 404", tag=tag, params=one, body=login)
        }
        paths[f"{base}/auth-refresh"] = {
            "post": _op(f"authRefresh.{key}", auth, "401 403 404", tag=tag, params=one)
        }
        methods = _ref("AuthMethods")
        paths[f"{base}/auth-methods"] = {
            "get": _op(
                f"authMethods.{key}", methods, "404", tag=tag, params=("fields",), public=True
            )
        }
    if any(f.spec.holds_files for f in coll.fields):
        download = _op(f"download.{key}", FILE, "404", tag="files", public=True)
        download["parameters"] = [
            _param("recordId", "path", {"type": "string", "minLength": 1}),
            _param("filename", "path", {"type": "string", "minLength": 1}),
            _param("thumb", "query", TEXT),
            _param("download", "query", {"type": "boolean"}),
            _param("token", "query", TEXT),
        ]
        paths[f"/api/files/{name}/{{recordId}}/{{filename}}"] = {"get": download}


def _grid_paths(paths: dict[str, Schema]) -> None:
    """The event grid: realtime (api/realtime.py), PocketBase's crons API and the
    reference's own state of the bus, the cron jobs and the hooks' jobs (api/parity.py)."""
    number, integer = {"type": "number"}, {"type": "integer", "minimum": 0}
    id_param = [_param("id", "path", {"type": "string", "minLength": 1})]
    latency = {"type": "object", "properties": {"count": integer}, "required": ["count"]}
    cache = _object({n: integer for n in ("records", "hits", "misses", "collectionRefreshes")})
    worker = _object(
        {  # a worker of `parity serve --workers N`
            n: integer for n in ("index", "of", "catchUps", "realtimeClients", "forwarded")
        }
    )
    events = _object({
        "node": TEXT, "published": integer, "received": integer, "echoesIgnored": integer,
        "gaps": integer, "latency": latency, "cache": cache, "worker": worker,
    }, optional={"worker"})  # fmt: skip
    reset = _param("reset", "query", {"type": "string", "enum": ["1", "true", "0", ""]})
    events_op = _op("eventsStatus", events, "401 403", tag="grid")
    events_op["parameters"] = [reset]
    paths["/api/parity/events"] = {"get": events_op}
    cron_state = _object({
        "id": TEXT, "expression": TEXT, "lastRun": {"type": ["number", "null"]},
        "lastDurationMs": number, "lastError": TEXT, "holder": TEXT,
        "running": {"type": "boolean"}, "runs": integer, "nextRun": number,
    })  # fmt: skip
    crons = _object({"node": TEXT, "items": {"type": "array", "items": cron_state}})
    paths["/api/parity/crons"] = {"get": _op("cronsState", crons, "401 403", tag="grid")}
    paths["/api/parity/crons/{id}/release"] = {
        "parameters": id_param,
        "post": _op("cronRelease", _object({"released": {"type": "boolean"}}), "401 403 404",
                    tag="grid"),
    }  # fmt: skip
    job = _object({
        "id": TEXT, "hook": TEXT, "mode": {"type": "string", "enum": ["broadcast", "competing"]},
        "status": {"type": "string", "enum": ["pending", "running", "done", "dead"]},
        "attempts": integer, "node": TEXT, "lastError": TEXT,
        "event": {"type": ["object", "null"]}, "created": number, "updated": number,
    })  # fmt: skip
    jobs_op = _op("listJobs", _object({"items": {"type": "array", "items": job}}),
                  "400 401 403", tag="grid")  # fmt: skip
    jobs_op["parameters"] = [
        _param(
            "status", "query", {"type": "string", "enum": ["pending", "running", "done", "dead"]}
        ),
        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ]
    paths["/api/parity/jobs"] = {"get": jobs_op}
    paths["/api/parity/jobs/{id}/retry"] = {
        "parameters": id_param,
        "post": _op("retryJob", None, "401 403 404", tag="grid"),
    }
    stream = _op("connectRealtime", None, "", tag="realtime")
    stream["responses"] = {
        "200": {
            "description": "An SSE stream: PB_CONNECT, then the subscriptions' messages, "
            "each with the client id as its id (the schema is one event's)",
            "content": {
                "text/event-stream": {
                    "schema": _object({"id": TEXT, "event": TEXT, "data": TEXT}, {"id"})
                }
            },
        }
    }
    form = _object(
        {
            "clientId": {"type": "string", "minLength": 1, "maxLength": 255},
            "subscriptions": {
                "type": "array",
                "maxItems": 1000,
                "items": {"type": "string", "maxLength": 2500},
            },
        },
        optional={"subscriptions"},
    )
    paths["/api/realtime"] = {
        "get": stream,
        "post": _op("setSubscriptions", None, "400 403 404", tag="realtime", body=_body(form)),
    }
    listed = {"type": "array", "items": _object({"id": TEXT, "expression": TEXT})}
    paths["/api/crons"] = {"get": _op("listCrons", listed, "401 403", tag="crons")}
    paths["/api/crons/{id}"] = {
        "parameters": id_param,
        "post": _op("runCron", None, "401 403 404", tag="crons"),
    }


def _log_paths(paths: dict[str, Schema], schemas: dict[str, Schema]) -> None:
    """The logs API (api/logs.py): PocketBase's ``Log`` and its hourly stats."""
    schemas["Log"] = _object({
        "id": TEXT, "created": DATE, "data": OBJECT, "message": TEXT,
        "level": {"type": "integer"},
    })  # fmt: skip
    schemas["LogList"] = _list_of("#/components/schemas/Log")
    hour = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:00:00\.000Z$"}
    stats = {
        "type": "array",
        "items": _object({"date": hour, "total": {"type": "integer", "minimum": 1}}),
    }
    listing = ("page", "perPage", "sort", "filter", "skipTotal", "fields")
    paths["/api/logs"] = {
        "get": _op("listLogs", _ref("LogList"), "400 401 403", tag="logs", params=listing)
    }
    stats_op = _op("logsStats", stats, "400 401 403", tag="logs", params=("filter", "fields"))
    paths["/api/logs/stats"] = {"get": stats_op}
    count = {"type": "integer", "minimum": 0}
    pipeline = _object({
        "node": TEXT, "maxDays": count, "accepted": count, "dropped": count, "written": count,
        "failed": count, "pending": count,
    })  # fmt: skip
    paths["/api/parity/logs"] = {"get": _op("logsPipeline", pipeline, "401 403", tag="logs")}
    paths["/api/logs/{id}"] = {
        "parameters": [_param("id", "path", TEXT)],
        "get": _op("viewLog", _ref("Log"), "401 403 404", tag="logs", params=("fields",)),
    }


def _schedule_paths() -> Schema:
    """``/api/parity/schedule`` (api/parity.py, only with ``--failpoints``): the race
    suite's interleaving schedule (reference_impl/failpoints.py)."""
    event = {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}
    rounds = {"type": "array", "items": {"type": "array", "items": event}}
    body = _body(_object({"rounds": rounds, "step_ms": {"type": "number"}}))
    trace = _object({"trace": {"type": "array", "items": OBJECT}})
    return {
        "get": _op("scheduleTrace", trace, "401 403"),
        "post": _op("installSchedule", OBJECT, "400 401 403", body=body),
        "delete": _op("clearSchedule", None, "401 403"),
    }


def _rules_status_schema() -> Schema:
    """``GET /api/parity/rules`` (api/parity.py): per collection and action, where the
    rule is enforced (``policy`` or ``app: <why>``)."""
    actions = {a: {"type": "string"} for a in ("list", "view", "create", "update", "delete")}
    per_collection = _object(actions)
    return _object(
        {
            "mode": {"type": "string", "enum": ["app", "rls", "both"]},
            "collections": {"type": "object", "additionalProperties": per_collection},
        }
    )


def _op(
    op_id: str,
    ok: Schema | None,
    errors: str,
    *,
    tag: str = "",
    params: tuple[str, ...] = (),
    body: Schema | None = None,
    public: bool = False,
) -> Schema:
    """An operation answering 200 with ``ok`` (204 when None) or an error body for each
    status in ``errors``; ``public``: no token needed (else it is optional, see rules)."""
    if ok is None:
        success: Schema = {"204": {"description": STATUS_TEXT[204]}}
    else:
        content = ok if ok is FILE else {"application/json": {"schema": ok}}
        success = {"200": {"description": STATUS_TEXT[200], "content": content}}
    responses = {s: {"$ref": f"#/components/responses/{s}"} for s in errors.split()}
    out: Schema = {"operationId": op_id, "tags": [tag or op_id], "responses": success}
    out["responses"].update(responses)
    if params:
        out["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in params]
    if body is not None:
        out["requestBody"] = body
        out["responses"]["413"] = {"$ref": "#/components/responses/413"}  # api/_limits.py
    if public:
        out["security"] = [{}]
    return out


def _param(name: str, where: str, schema: Schema) -> Schema:
    param = {"name": name, "in": where, "required": where == "path", "schema": schema}
    if "description" in schema:
        param["description"] = schema["description"]
        param["schema"] = {k: v for k, v in schema.items() if k != "description"}
    return param


def _body(schema: Schema, form: Schema | None = None) -> Schema:
    """A JSON body; for records also multipart, where file fields are uploads."""
    content = {"application/json": {"schema": schema}}
    if form is not None:
        content["multipart/form-data"] = {"schema": form}
    return {"required": False, "content": content}


def _error_response(status: int) -> Schema:
    schema = {"allOf": [_ref("Error"), {"properties": {"status": {"const": status}}}]}
    return {"description": STATUS_TEXT[status], "content": {"application/json": {"schema": schema}}}


# -- schemas -----------------------------------------------------------------------------
def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(props: dict[str, Schema], optional: set[str] | frozenset[str] = frozenset()) -> Schema:
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
        "additionalProperties": False,
    }


def _key(coll: Collection) -> str:
    """A component-name-safe key (``^[A-Za-z0-9._-]+$``); the name when it already is one."""
    if re.fullmatch(r"[A-Za-z0-9_]+", coll.name):
        return coll.name
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', coll.name)}_{zlib.crc32(coll.name.encode())}"


def _error_schema() -> Schema:
    """PocketBase's error body: ``data`` is ``{}`` or ``{field: {code, message, params?}}``."""
    return _object({"data": {"type": "object"}, "message": {"type": "string", "minLength": 1},
                    "status": {"type": "integer"}})  # fmt: skip


def _list_of(item_ref: str) -> Schema:
    return _object({
        "items": {"type": "array", "items": {"$ref": item_ref}},
        "page": {"type": "integer", "minimum": 1},
        "perPage": {"type": "integer", "minimum": 1, "maximum": 1000},
        "totalItems": {"type": "integer", "minimum": -1},
        "totalPages": {"type": "integer", "minimum": -1},
    })  # fmt: skip


def _json_type(value: Any) -> Schema:
    if value is None:
        return {"type": ["number", "null"]}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "number"}
    if isinstance(value, list):
        return {"type": "array"}
    return {"type": "string"}


def _field_schema(type_: str) -> Schema:
    """A field definition as served: exactly the keys PocketBase serialises for its type."""
    props = {k: _json_type(v) for k, v in DEFAULT_OPTIONS[type_].items()}
    props.update(id={"type": "string"}, name={"type": "string"}, type={"const": type_})
    return _object(dict(sorted(props.items())))


def _collection_schema() -> Schema:
    props: dict[str, Schema] = {r: {"type": ["string", "null"]} for r in RULES}
    props.update(
        id={"type": "string"}, name={"type": "string"}, type={"enum": list(TYPES)},
        fields={"type": "array", "items": _ref("Field")}, indexes=STRINGS,
        created=DATE, updated=DATE, system={"type": "boolean"},
    )  # fmt: skip
    # Auth collections add authRule, manageRule and their options (passwordAuth, ...).
    return {**_object(props), "additionalProperties": True}


def _collection_input() -> Schema:
    field_input = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": r"^\w+$", "maxLength": 100},
                       "type": {"enum": sorted(FIELD_TYPES)}},
        "required": ["name", "type"],
    }  # fmt: skip
    props: dict[str, Schema] = {r: {"type": ["string", "null"]} for r in RULES}
    props.update(
        name={"type": "string", "pattern": r"^\w+$", "maxLength": 255},
        type={"enum": ["base", "auth"]}, fields={"type": "array", "items": field_input},
        indexes=STRINGS,
    )  # fmt: skip
    return {"type": "object", "properties": props}


def _auth_methods_schema() -> Schema:
    enabled = {"enabled": {"type": "boolean"}}
    timed = _object({**enabled, "duration": {"type": "integer"}})
    return _object({
        "password": _object({**enabled, "identityFields": STRINGS}),
        "oauth2": _object({**enabled, "providers": {"type": "array"}}),
        "mfa": timed, "otp": timed, "authProviders": {"type": "array"},
        "usernamePassword": {"type": "boolean"}, "emailPassword": {"type": "boolean"},
    })  # fmt: skip


# A stored value as served, by type only (never by options, see the module docstring); a
# type not listed serves text, or a list of texts when multiple.
_SERVED: dict[str, Schema] = {
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "date": DATE,
    "autodate": DATE,
    "json": {},
    "geoPoint": GEO_POINT,
    "password": {"const": ""},  # never the hash
}


def _value(f: Field) -> Schema:
    served = _SERVED.get(f.type)
    if served is not None:
        return dict(served)
    return STRINGS if f.multiple else {"type": "string"}


def _record_schema(coll: Collection, by_id: dict[str, Collection]) -> Schema:
    props: dict[str, Schema] = {
        "collectionId": {"const": coll.id},
        "collectionName": {"const": coll.name},
    }
    optional = {"expand"}
    expand: dict[str, Schema] = {}
    for f in coll.fields:
        if coll.is_auth and f.name in ("tokenKey", "password"):
            continue  # never served
        props[f.name] = _value(f)
        if f.hidden or (coll.is_auth and f.name == "email"):
            optional.add(f.name)  # superusers only; email: when visible to the caller
        target = by_id.get(str(f.opt("collectionId"))) if f.is_relation else None
        if target is not None:
            one = _ref(f"{_key(target)}.Record")
            expand[f.name] = {"type": "array", "items": one} if f.multiple else one
    # Back-relations (``<coll>_via_<field>``) may appear too: any further key is allowed.
    props["expand"] = {"type": "object", "properties": expand}
    return _object(props, optional)


def _input(f: Field) -> Schema | None:
    """What a JSON body may hold for a field, with the options the server checks."""
    t, many = f.type, f.multiple
    if t == "autodate" or (t == "text" and f.opt("hidden") and f.opt("system")):
        return None  # set by the server (autodate, an auth tokenKey)
    if t in ("text", "password", "editor"):
        schema: Schema = {"type": "string"}
        maximum = int(f.opt("max") or 0) or (TEXT_DEFAULT_MAX if t == "text" else 0)
        if t != "editor":
            schema.update({"maxLength": maximum} if maximum else {})
            schema.update({"minLength": int(f.opt("min"))} if f.opt("min") else {})
            schema.update({"pattern": f.opt("pattern")} if f.opt("pattern") else {})
        return schema
    if t == "number":
        schema = {"type": "integer" if f.opt("onlyInt") else "number"}
        schema.update({"minimum": f.opt("min")} if f.opt("min") is not None else {})
        schema.update({"maximum": f.opt("max")} if f.opt("max") is not None else {})
        return schema
    if t in ("email", "url"):
        return {"type": "string", "format": "email" if t == "email" else "uri"}
    if t == "select":
        one = {"enum": list(f.opt("values") or [])}
        return {"type": "array", "items": one, "uniqueItems": True} if many else one
    if t in ("relation", "file"):
        return STRINGS if many else {"type": "string"}  # ids; file names already stored
    simple: dict[str, Schema] = {
        "bool": {"type": "boolean"},
        "date": {"type": "string", "format": "date-time"},
        "json": {},
        "geoPoint": GEO_POINT,
    }
    return simple[t]


def _record_input(coll: Collection, *, create: bool, form: bool) -> Schema:
    """A create or update body; ``form``: multipart, where a file field takes uploads (JSON
    can only keep or remove stored names)."""
    props: dict[str, Schema] = {}
    required: list[str] = []
    for f in coll.fields:
        schema = _input(f)
        if schema is None:
            continue
        if create and f.opt("required") and not f.opt("autogeneratePattern"):
            required.append(f.name)
        if f.type == "number":
            props[f"{f.name}+"] = props[f"{f.name}-"] = {"type": "number"}  # increments
        elif f.multiple or f.spec.holds_files:  # append, prepend, remove: one or a list
            item = schema.get("items", schema)
            removed: Schema = {"anyOf": [item, {"type": "array", "items": item}]}
            added = removed
            if form and f.spec.holds_files:  # uploads
                upload: Schema = {"type": "string", "format": "binary"}
                added = schema = {"type": "array", "items": upload} if f.multiple else upload
            props.update({f"{f.name}+": added, f"+{f.name}": added, f"{f.name}-": removed})
        props[f.name] = schema
    if coll.is_auth:
        props["passwordConfirm"] = {"type": "string"}
        required += ["passwordConfirm"] if create else []
        props.update({} if create else {"oldPassword": {"type": "string"}})
    return {"type": "object", "properties": props, "required": required}
