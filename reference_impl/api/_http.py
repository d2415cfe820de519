"""What every endpoint shares: JSON in and out, the auth context, the error body."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from reference_impl import failpoints
from reference_impl.api._form import form_values, read_multipart
from reference_impl.app import App
from reference_impl.bridge import run_bridged
from reference_impl.core import errors as e
from reference_impl.core import jsonin
from reference_impl.core.auth import AuthContext
from reference_impl.core.errors import ApiError
from reference_impl.core.jsonfmt import dumps
from reference_impl.db.engine import capturing_sql, isolation, isolation_level

LOG_STATE_KEY = "parity.log"  # what a route tells its request's log (api/logs.py)

T = TypeVar("T")
DEBUG_SQL = os.environ.get("PARITY_DEBUG_SQL") == "1"
_MAX_SQL_HEADER = 16_000


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def app_of(request: Request) -> App:
    app: App = request.app.state.parity
    return app


async def auth_of(request: Request) -> AuthContext | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    app = app_of(request)
    auth = await run_bridged(lambda: app.authenticate(header))
    if (state := request.scope.get(LOG_STATE_KEY)) is not None:
        state["auth"] = auth  # who the request log names (api/logs.py)
    return auth


def require_superuser(auth: AuthContext | None) -> None:
    if auth is None:
        raise ApiError(401, e.MSG_REQUIRES_AUTH)
    if not auth.is_superuser:
        raise ApiError(403, e.MSG_NOT_SUPERUSER)


async def read_json(request: Request, *, malformed: str = e.MSG_BAD_REQUEST) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` when empty. PocketBase's ``BindBody``:

    - the content type is matched by prefix, case-sensitively, as Go's ``HasPrefix``
      (``application/json; charset=utf-8`` is JSON, ``APPLICATION/JSON`` and a missing type
      are "Unsupported Content-Type."); an empty body is no data whatever its type;
    - JSON is Go's decoder (``core/jsonin.py``): the first value counts (trailing text is
      ignored), ``null`` is no data, anything but an object is malformed;
    - form bodies (urlencoded or multipart) become the same object as PocketBase's
      ``BindBody`` makes: values inferred like JSON (``_form.infer_value``), repeated keys
      as lists, ``@jsonPayload`` merged on top; a multipart body's files come back in a
      :class:`~reference_impl.core.files.FormBody` for the record service.

    The body limit (``_limits.BodyLimit``) applies while it streams in.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await read_multipart(request, malformed)
    raw = await request.body()
    if not raw:
        return {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qsl

        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return form_values(pairs, malformed)
    if not content_type.startswith("application/json"):
        raise e.bad_request("Unsupported Content-Type.")
    try:
        data = jsonin.loads(raw, first_value=True)
    except jsonin.JsonInputError as exc:
        raise e.bad_request(malformed) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise e.bad_request(malformed)
    return data


ISOLATION_HEADER = "x-parity-isolation"


async def call(request: Request, work: Callable[[], T]) -> tuple[T, list[dict[str, Any]] | None]:
    """Run domain work on the event loop, bridged (``reference_impl.bridge``): it waits for
    PostgreSQL round trips and bcrypt on the loop while other requests run; SQLite calls,
    in-process, simply run. With ``PARITY_DEBUG_SQL=1`` its SQL is captured too.

    ``X-Parity-Isolation: read-committed|repeatable-read|serializable`` runs the request's
    transactions at that level instead of the server's (``--isolation``); ``X-Parity-Op``
    names the operation for the failpoint schedule (``reference_impl/failpoints.py``)."""
    sink: list[dict[str, Any]] | None = None
    level = request.headers.get(ISOLATION_HEADER)
    try:
        level = isolation_level(level) if level else None
    except ValueError as exc:
        raise e.bad_request(f"{ISOLATION_HEADER}: {exc}") from exc
    with contextlib.ExitStack() as stack:
        stack.enter_context(isolation(level))
        if failpoints.enabled():
            stack.enter_context(failpoints.operation(request.headers.get(failpoints.OP_HEADER)))
        if DEBUG_SQL:
            sink = stack.enter_context(capturing_sql())
        result = await run_bridged(work)
    return result, sink


def respond(
    request: Request, payload: Any, sql: list[dict[str, Any]] | None = None, status: int = 200
) -> Response:
    from reference_impl.core.picker import parse_fields, pick

    # PocketBase reads the first ``fields`` parameter; Starlette's .get() returns the last.
    fields = next(iter(request.query_params.getlist("fields")), "")
    if fields and payload is not None:
        tree = parse_fields(fields)
        if isinstance(payload, dict) and "items" in payload and "perPage" in payload:
            payload = {**payload, "items": pick(payload["items"], tree)}
        else:
            payload = pick(payload, tree)
    response: Response = (
        JSON(payload, status_code=status) if payload is not None else Response(status_code=204)
    )
    if sql is not None:
        response.headers["x-parity-sql"] = sql_header(sql)
    return response


def sql_header(statements: list[dict[str, Any]]) -> str:
    """The statements as JSON (ASCII), at most ``_MAX_SQL_HEADER`` characters and always
    valid JSON: long statements are cut (their parameters left out), then trailing ones
    dropped, each cut said so."""
    text = json.dumps(statements, default=str)
    if len(text) <= _MAX_SQL_HEADER:
        return text
    budget = max(200, _MAX_SQL_HEADER // max(1, len(statements)) - 100)
    short = [{"sql": str(s.get("sql", ""))[:budget] + " ...(truncated)"} for s in statements]
    text = json.dumps(short)
    while len(text) > _MAX_SQL_HEADER and short:
        short.pop()
        text = json.dumps([*short, {"sql": "...(further statements left out)"}])
    return text


def error_response(exc: ApiError, request: Request | None = None) -> Response:
    """The error's body; a request's log gets the error it wraps (``raise ... from``) as
    its ``details``, as PocketBase logs the Go error inside an ``ApiError``."""
    state = request.scope.get(LOG_STATE_KEY) if request is not None else None
    if state is not None and exc.__cause__ is not None and not exc.data:
        state["cause"] = str(exc.__cause__)
    return JSON(exc.body(), status_code=exc.status)
