"""Request logging (PocketBase's ``activityLogger`` / ``logRequest``, apis/middlewares.go):
every request, once answered, becomes one ``_logs`` entry, handed to the app's
``RequestLogs`` buffer without waiting (``core/logs.py`` writes it in the background).

The entry as PocketBase makes it: level 0 (INFO) or 8 (ERROR) when the request failed;
message ``METHOD <path-unescaped request URI>``; data ``type: request``, ``execTime`` (ms),
``url`` (the request URI, at most 3,000 characters), ``method``, ``status``, ``referer``,
``userAgent`` (2,000 each), ``auth`` (the auth collection's name, '' for a guest),
``authId`` when configured, ``userIP`` / ``remoteIP`` when configured, and for an error
its ``error`` (the message) and ``details`` (the error body's ``data``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_impl.core.logs import LogEntry, RequestLogs

AUTH_SCOPE_KEY = "parity.auth"  # set by api._http.auth_of once it knows who is calling
ERROR_BODY_LIMIT = 64 * 1024  # an error body larger than this is logged without details
LEVEL_INFO, LEVEL_ERROR = 0, 8  # slog's levels, as PocketBase stores them


def _cut(text: str, limit: int) -> str:
    return text[:limit]


class RequestLog:
    """ASGI middleware, outermost: times the request, reads the status it answered (and
    an error's body), then records the entry."""

    def __init__(self, app: ASGIApp, *, logs: RequestLogs) -> None:
        self.app = app
        self.logs = logs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.logs.max_days <= 0:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        error_body: list[bytes] = []

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
            self.logs.record(self._entry(scope, status or 500, elapsed_ms, b"".join(error_body)))

    def _entry(self, scope: Scope, status: int, elapsed_ms: float, error_body: bytes) -> LogEntry:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = _cut(str(scope["method"]).upper(), 50)
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        uri = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        uri = _cut(uri, 3000)
        data: dict[str, Any] = {"type": "request", "execTime": elapsed_ms}
        failed = status >= 400
        if failed:
            message, details = _error_of(error_body)
            data["error"] = message
            data["details"] = details
        data |= {
            "url": uri,
            "method": method,
            "status": status,
            "referer": _cut(headers.get("referer", ""), 2000),
            "userAgent": _cut(headers.get("user-agent", ""), 2000),
        }
        auth = scope.get(AUTH_SCOPE_KEY)
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


def _error_of(body: bytes) -> tuple[str, Any]:
    """The error body's message and data (PocketBase's ``apiErr.Message`` / ``RawData``)."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return str(parsed.get("message", "")), parsed.get("data", {})
    return "", {}
