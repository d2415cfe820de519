"""``/api/collections/{c}/records``: list, view, create, update, delete."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from reference_impl.api._http import app_of, auth_of, call, read_json, respond
from reference_impl.core import errors as e
from reference_impl.core.collection import Collection
from reference_impl.core.records import ListQuery, RequestValues

_BOOL_TEXT = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}


def _collection(request: Request, message: str) -> Collection:
    coll = app_of(request).store.find(request.path_params["collection"])
    if coll is None:
        raise e.not_found(message)
    return coll


_GO_INT = re.compile(r"^[+-]?[0-9]+$")
_INT64 = 2**63


def _int(value: str | None, default: int) -> int:
    """Go's ``strconv.Atoi`` on 64 bits: optional sign and ASCII digits only (Python's
    ``int`` also takes spaces, ``_`` and other scripts' digits); out of range is a 400."""
    if value is None or value == "":
        return default
    if not _GO_INT.match(value):
        raise e.bad_request()
    number = int(value)
    if not -_INT64 <= number < _INT64:
        raise e.bad_request()
    return number


def list_query(request: Request) -> ListQuery:
    q = request.query_params
    skip = q.get("skipTotal", "")
    if skip and skip not in _BOOL_TEXT:
        raise e.bad_request()
    return ListQuery(
        page=_int(q.get("page"), 1),
        per_page=_int(q.get("perPage"), 30),
        sort=q.get("sort", ""),
        filter=q.get("filter", ""),
        skip_total=_BOOL_TEXT.get(skip, False),
        expand=q.get("expand", ""),
        request=request_values(request),
    )


_SNAKE_SPLIT = re.compile(r"[^0-9A-Za-z]+")


def snakecase(name: str) -> str:
    """PocketBase's ``inflector.Snakecase`` (``X-Token`` -> ``x_token``, ``userAgent`` ->
    ``user_agent``); header names are ASCII."""
    words = []
    for word in filter(None, _SNAKE_SPLIT.split(name)):
        out = []
        for i, ch in enumerate(word):
            if ch.isupper() and i > 0 and not word[i - 1].isupper():
                out.append("_")
            out.append(ch)
        words.append("".join(out))
    return "_".join(words).lower()


def request_values(request: Request, context: str = "default") -> RequestValues:
    """What ``@request.query.*``, ``@request.headers.*``, ``@request.method`` and
    ``@request.context`` read: the first value of each query parameter and header
    (PocketBase's ``RequestInfo``); the body is added by the write that casts it."""
    query: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, value)
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers.setdefault(snakecase(key), value)
    return RequestValues(method=request.method, query=query, headers=headers, context=context)


async def list_records(request: Request) -> Response:
    coll = _collection(request, "Missing collection context.")
    query = list_query(request)
    auth = await auth_of(request)
    result, sql = await call(
        request, lambda: app_of(request).records.list_records(coll, query, auth)
    )
    return respond(request, result, sql)


async def view_record(request: Request) -> Response:
    coll = _collection(request, "Missing collection context.")
    auth = await auth_of(request)
    record_id = request.path_params["id"]
    expand = request.query_params.get("expand", "")
    values = request_values(request)
    result, sql = await call(
        request, lambda: app_of(request).records.view(coll, record_id, auth, expand, values)
    )
    return respond(request, result, sql)


async def create_record(request: Request) -> Response:
    coll = _collection(request, "Missing or invalid collection context.")
    auth = await auth_of(request)
    body = await read_json(request)
    expand = request.query_params.get("expand", "")
    values = request_values(request)
    result, sql = await call(
        request, lambda: app_of(request).records.create(coll, body, auth, expand, values)
    )
    return respond(request, result, sql)


async def update_record(request: Request) -> Response:
    coll = _collection(request, "Missing or invalid collection context.")
    auth = await auth_of(request)
    body = await read_json(request)
    record_id = request.path_params["id"]
    expand = request.query_params.get("expand", "")
    values = request_values(request)
    result, sql = await call(
        request,
        lambda: app_of(request).records.update(coll, record_id, body, auth, expand, values),
    )
    return respond(request, result, sql)


async def delete_record(request: Request) -> Response:
    coll = _collection(request, "Missing or invalid collection context.")
    auth = await auth_of(request)
    record_id = request.path_params["id"]
    values = request_values(request)
    _, sql = await call(
        request, lambda: app_of(request).records.delete(coll, record_id, auth, values)
    )
    return respond(request, None, sql, status=204)
