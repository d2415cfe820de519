"""``GET /api/realtime`` (the SSE stream) and ``POST /api/realtime`` (the subscriptions),
PocketBase's protocol; what is sent and to whom is ``core/realtime.py``.

The stream: ``Content-Type: text/event-stream``, ``Cache-Control: no-store``,
``X-Accel-Buffering: no``; first ``PB_CONNECT``, then the messages of the client's
subscriptions, each ``id:<clientId>``; no pings; closed after 5 idle minutes or 30 in all.
The form: ``clientId`` required (1 to 255 characters), at most 1000 subscriptions of at
most 2500 characters each, PocketBase's validation errors; a body that is not that shape
is PocketBase's bare 400.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from reference_impl.api._http import app_of, auth_of, read_json, respond
from reference_impl.api._query import go_query
from reference_impl.api.records import snakecase
from reference_impl.core import errors as e
from reference_impl.core import jsonin
from reference_impl.core.errors import ValidationFailed, field_error
from reference_impl.core.realtime import (
    IDLE_TIMEOUT,
    MAX_CLIENT_ID,
    MAX_LIFETIME,
    MAX_TOPIC_LENGTH,
    MAX_TOPICS,
    Options,
)

HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
MAX_BATCH = 512  # messages joined into one write at most (a slow client's backlog: chunks)


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def connect(request: Request) -> Response:
    app = app_of(request)
    broker = app.realtime
    client = broker.connect(_ip(request))
    started = time.monotonic()

    async def stream() -> AsyncIterator[bytes]:
        try:
            while True:
                left = started + MAX_LIFETIME - time.monotonic()
                if left <= 0:
                    return
                if client.queue.empty():
                    try:  # asyncio.timeout, not wait_for: no task per wait, one loop turn less
                        async with asyncio.timeout(min(IDLE_TIMEOUT, left)):
                            first = await client.queue.get()
                    except TimeoutError:
                        return
                else:
                    first = client.queue.get_nowait()
                batch, end = _ready(client.queue, first)
                if batch:
                    yield batch
                if end:
                    return
        finally:
            broker.disconnect(client)

    response = StreamingResponse(stream(), headers=HEADERS)
    response.headers["Content-Type"] = "text/event-stream"
    return response


def _ready(queue: asyncio.Queue[bytes | None], first: bytes | None) -> tuple[bytes, bool]:
    """``first`` and every message already queued behind it, as one write, and whether the
    stream ends (``None``: the broker closed the client). One write per message cost a
    loop turn or more each (the waiting task, then the send): under 1,000 events/s on a
    busy loop the stream fell behind by up to a second; a backlog now leaves in one write."""
    parts: list[bytes] = []
    message = first
    while message is not None:
        parts.append(message)
        if queue.empty() or len(parts) >= MAX_BATCH:
            return b"".join(parts), False
        message = queue.get_nowait()
    return b"".join(parts), True


async def set_subscriptions(request: Request) -> Response:
    app = app_of(request)
    body = await read_json(request, malformed=e.MSG_BAD_REQUEST)
    # Go's BindBody: a JSON null leaves a string "" (clientId, a subscription) and the list
    # nil; any other type that does not fit the form is PocketBase's bare 400.
    client_id = body.get("clientId") or ""
    topics = body.get("subscriptions") or []
    if isinstance(topics, list):
        topics = ["" if t is None else t for t in topics]
    if not isinstance(client_id, str) or not (
        isinstance(topics, list) and all(isinstance(t, str) for t in topics)
    ):
        raise e.bad_request()
    errors: dict[str, Any] = {}
    if not client_id:
        errors["clientId"] = field_error("validation_required", "Cannot be blank.")
    elif len(client_id) > MAX_CLIENT_ID:
        errors["clientId"] = _length_error(1, MAX_CLIENT_ID, "between 1 and 255")
    if len(topics) > MAX_TOPICS:
        errors["subscriptions"] = _length_error(0, MAX_TOPICS, "no more than 1000", "too_long")
    else:
        long = {
            str(i): _length_error(0, MAX_TOPIC_LENGTH, "no more than 2500", "too_long")
            for i, t in enumerate(topics)
            if len(t) > MAX_TOPIC_LENGTH
        }
        if long:
            errors["subscriptions"] = long
    if errors:
        raise ValidationFailed(errors).to_api(e.MSG_BAD_REQUEST)
    if app.peers is not None and client_id not in app.realtime.clients:
        owner = app.peers.owner_socket(client_id)
        if owner is not None and request.client is not None:  # not already forwarded
            return await _forward(app.peers, owner, request)
    if app.peers is not None and client_id in app.realtime.clients:
        # Writes other workers answered before this request are judged on the client's
        # subscriptions as they were, as a single process would have (EventBus.barrier).
        await app.events.barrier()
        await app.realtime.settled()
    auth = await auth_of(request)
    subscriptions = {t: options_of(t) for t in topics if t}
    app.realtime.subscribe(client_id, subscriptions, auth, _origin_ip(request))
    return respond(request, None, None, status=204)


FORWARDED_FOR = "x-parity-forwarded-for"
_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})


def _origin_ip(request: Request) -> str:
    """The client's address; for a request another worker forwarded (it came over this
    worker's Unix socket, which has no peer address), the one that worker saw."""
    if request.client is None:
        return request.headers.get(FORWARDED_FOR, "")
    return _ip(request)


async def _forward(peers: Any, owner: str, request: Request) -> Response:
    """The request, as it came, to the worker holding the client's stream; its answer, as
    it came back. A worker gone meanwhile holds no client any more: PocketBase's 404."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    headers.pop("host", None)
    headers[FORWARDED_FOR] = _ip(request)
    try:
        answer = await peers.post(
            owner, request.url.path, request.url.query, await request.body(), headers
        )
    except OSError:
        raise e.not_found("Missing or invalid client id.") from None
    kept = {
        k: v
        for k, v in answer.headers.items()
        if k.lower() not in _HOP_BY_HOP and k.lower() not in ("date", "server")  # ours again
    }
    return Response(answer.content, status_code=answer.status_code, headers=kept)


def _length_error(low: int, high: int, text: str, kind: str = "out_of_range") -> dict[str, Any]:
    error = field_error(f"validation_length_{kind}", f"The length must be {text}.")
    error["params"] = {"max": high, "min": low}
    return error


def options_of(topic: str) -> Options:
    """PocketBase's ``Subscribe``: the topic read as a URL, its ``options`` query value as
    JSON ``{"query": {...}, "headers": {...}}`` (anything else: no options), values as
    ``cast.ToString`` gives them, header names snake_cased."""
    try:
        raw_query = urlsplit(topic).query
    except ValueError:
        return Options()
    pairs = parse_qsl(go_query(raw_query.encode()).decode(), keep_blank_values=True)
    raw = next((v for k, v in pairs if k == "options"), "")
    if not raw:
        return Options()
    try:  # bounded: Python's own json would recurse into a deeply nested text
        data = jsonin.loads(raw.encode(), first_value=False)
    except jsonin.JsonInputError:
        return Options()
    if not isinstance(data, dict):
        return Options()
    query = data.get("query") if isinstance(data.get("query"), dict) else {}
    headers = data.get("headers") if isinstance(data.get("headers"), dict) else {}
    return Options(
        query={str(k): _to_string(v) for k, v in query.items()},
        headers={snakecase(str(k)): _to_string(v) for k, v in headers.items()},
    )


def _to_string(value: Any) -> str:
    """spf13/cast's ``ToString`` of a JSON value: text as is, numbers as Go prints a
    float64 (``'f'``, shortest), booleans ``true``/``false``, anything else ''."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = format(Decimal(repr(float(value))), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return ""
