"""Request logging (PocketBase's ``activityLogger`` / ``logRequest``, apis/middlewares.go):
every request, once answered, becomes one ``_logs`` entry, handed to the app's
``RequestLogs`` buffer without waiting (``core/logs.py`` writes it in the background).

The entry as PocketBase makes it: level 0 (INFO) or 8 (ERROR) when the request failed;
message ``METHOD <path-unescaped request URI>``; data ``type: request``, ``execTime`` (ms),
``url`` (the request URI, at most 3,000 characters), ``method``, ``status``, ``referer``,
``userAgent`` (2,000 each), ``auth`` (the auth collection's name, '' for a guest),
``authId`` when configured, ``userIP`` / ``remoteIP`` when configured, and for an error
its ``error`` (the message) and ``details`` (the error body's ``data``). Routes tell the log
what only they know through a dict in the scope (:func:`log_state`): the caller (else the
log resolves the ``Authorization`` header itself, as PocketBase reads every request's
token), the error an answer wraps, and ``skip_success`` (PocketBase's
``SkipSuccessActivityLog``: the logs API itself is logged only when it fails).

The logs API (superuser only; ``core/log_reads.py``): ``GET /api/logs``,
``GET /api/logs/stats``, ``GET /api/logs/{id}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_impl.api._http import LOG_STATE_KEY, app_of, auth_of, require_superuser, respond
from reference_impl.api.records import list_query
from reference_impl.core import errors as e
from reference_impl.core.auth import AuthContext
from reference_impl.core.log_reads import LogReads
from reference_impl.core.logs import LogEntry, RequestLogs

ERROR_BODY_LIMIT = 64 * 1024  # an error body larger than this is logged without details
LEVEL_INFO, LEVEL_ERROR = 0, 8  # slog's levels, as PocketBase stores them
UNSET = object()  # no route resolved the caller (the log resolves the header itself)

# ``details`` of an error without data: the Go error PocketBase wrapped in it, where the
# reference's error is the same case (a lookup that found no row).
_CAUSE_OF_MESSAGE = {
    e.MSG_NOT_FOUND: "sql: no rows in result set",
    "Missing collection context.": "sql: no rows in result set",
    "Missing or invalid collection context.": "sql: no rows in result set",
    "Failed to authenticate.": "invalid login credentials",
}
# ozzo-validation's own rules word their errors in lower case (PocketBase capitalises them
# for the response); PocketBase's validators are capitalised already.
_OZZO_CODES = frozenset(
    {
        "validation_required",
        "validation_nil_or_not_empty_required",
        "validation_empty",
        "validation_nil",
        "validation_in_invalid",
        "validation_not_in_invalid",
        "validation_match_invalid",
        "validation_is_email",
        "validation_is_url",
        "validation_length_out_of_range",
        "validation_length_too_long",
        "validation_length_too_short",
        "validation_length_invalid",
        "validation_min_greater_equal_than_required",
        "validation_max_less_equal_than_required",
    }
)


def _cut(text: str, limit: int) -> str:
    return text[:limit]


def log_state(scope: Scope) -> dict[str, Any] | None:
    """What the route tells its request's log (``RequestLog``): ``auth``, ``skip_success``,
    ``cause``. One dict shared by every copy of the scope the middlewares make."""
    state: dict[str, Any] | None = scope.get(LOG_STATE_KEY)
    return state


class RequestLog:
    """ASGI middleware, outermost: times the request, reads the status it answered (and
    an error's body), then records the entry. ``authenticate`` names the caller of a
    request whose route never asked (PocketBase reads the token of every request)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        logs: RequestLogs,
        authenticate: Callable[[str], Awaitable[AuthContext | None]] | None = None,
    ) -> None:
        self.app = app
        self.logs = logs
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.logs.max_days <= 0:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        error_body: list[bytes] = []
        state: dict[str, Any] = {"auth": UNSET}
        scope[LOG_STATE_KEY] = state

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif (
                message["type"] == "http.response.body"
                and status >= 400
                and sum(map(len, error_body)) < ERROR_BODY_LIMIT
            ):
                error_body.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            status = status or 500
            if status >= 400 or not state.get("skip_success"):
                if state["auth"] is UNSET:
                    state["auth"] = await self._caller(scope)
                entry = self._entry(scope, state, status, elapsed_ms, b"".join(error_body))
                self.logs.record(entry)

    async def _caller(self, scope: Scope) -> AuthContext | None:
        if self.authenticate is None:
            return None
        for key, value in scope["headers"]:
            if key == b"authorization" and value:
                try:
                    return await self.authenticate(value.decode("latin-1"))
                except Exception:  # an unusable token is a guest, as in PocketBase
                    return None
        return None

    def _entry(
        self,
        scope: Scope,
        state: dict[str, Any],
        status: int,
        elapsed_ms: float,
        error_body: bytes,
    ) -> LogEntry:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = _cut(str(scope["method"]).upper(), 50)
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        uri = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        uri = _cut(uri, 3000)
        data: dict[str, Any] = {"type": "request", "execTime": elapsed_ms}
        failed = status >= 400
        if failed:
            message, details = _error_of(error_body, state.get("cause"))
            data["error"] = message
            data["details"] = details
        data |= {
            "url": uri,
            "method": method,
            "status": status,
            "referer": _cut(headers.get("referer", ""), 2000),
            "userAgent": _cut(headers.get("user-agent", ""), 2000),
        }
        auth = state["auth"]
        data["auth"] = auth.collection_name if auth is not None else ""
        if auth is not None and self.logs.log_auth_id:
            data["authId"] = auth.id
        if self.logs.log_ip:
            client = scope.get("client")
            remote = client[0] if client else ""
            data["userIP"] = remote  # no trusted proxy headers configured: the peer
            data["remoteIP"] = remote
        return LogEntry(
            datetime.now(UTC),
            LEVEL_ERROR if failed else LEVEL_INFO,
            f"{method} {unquote(uri)}",
            data,
        )


def _error_of(body: bytes, cause: str | None) -> tuple[str, Any]:
    """The error's message and ``details``, PocketBase's ``apiErr.RawData()``: the
    validation errors by field (their raw wording), else the error it wrapped (``cause``,
    or the lookup's "no rows" where the message says so), else null."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return "", cause
    message = str(parsed.get("message", ""))
    data = parsed.get("data")
    if isinstance(data, dict) and data:
        return message, _raw_errors(data)
    return message, cause if cause is not None else _CAUSE_OF_MESSAGE.get(message)


def _raw_errors(data: dict[str, Any], depth: int = 0) -> Any:
    """``{"title": {"code": ..., "message": "Cannot be blank."}}`` -> ``{"title": "cannot
    be blank"}``: each error as its Go ``Error()`` text (PocketBase's ``Sentenize`` undone)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            text = value["message"].removesuffix(".")
            if value.get("code") in _OZZO_CODES and text:
                text = text[0].lower() + text[1:]
            out[key] = text
        elif isinstance(value, dict) and depth < 8:
            out[key] = _raw_errors(value, depth + 1)
        else:
            out[key] = value
    return out


# -- the logs API ----------------------------------------------------------------------------
async def _reads(request: Request) -> LogReads:
    """The superuser check, the success-skip mark, and the reads over ``_logs``."""
    require_superuser(await auth_of(request))
    if (state := log_state(request.scope)) is not None:
        state["skip_success"] = True  # PocketBase's SkipSuccessActivityLog
    store = app_of(request).logs.store
    if store is None:
        raise e.ApiError(503, "The request logs are not open yet.")
    return LogReads(store.aux)


async def logs_list(request: Request) -> Response:
    reads = await _reads(request)
    query = list_query(request)
    result = await run_in_threadpool(
        lambda: reads.list(
            page=query.page,
            per_page=query.per_page,
            sort=query.sort,
            filter_text=query.filter,
            skip_total=query.skip_total,
        )
    )
    return respond(request, result)


async def logs_stats(request: Request) -> Response:
    reads = await _reads(request)
    text = request.query_params.get("filter", "")
    return respond(request, await run_in_threadpool(reads.stats, text))


async def logs_view(request: Request) -> Response:
    reads = await _reads(request)
    log_id = request.path_params["id"]
    return respond(request, await run_in_threadpool(reads.view, log_id))
