"""The ASGI application: routes, and the one place errors become PocketBase bodies."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_impl import failpoints
from reference_impl.api import (
    collections,
    files,
    openapi,
    parity,
    realtime,
    record_auth,
    records,
)
from reference_impl.api._http import JSON, auth_of, error_response, require_superuser
from reference_impl.api._limits import BodyLimit, record_body_limit
from reference_impl.api._query import GoQuery
from reference_impl.api.logs import RequestLog, logs_list, logs_stats, logs_view
from reference_impl.app import App
from reference_impl.bridge import run_bridged
from reference_impl.core import errors as e
from reference_impl.core.auth import AuthContext
from reference_impl.core.errors import ApiError
from reference_impl.db.engine import write_commits
from reference_impl.db.errors import (
    DatabaseError,
    StaleSchema,
    StatementTimeout,
    TransientError,
    UnstorableText,
)

log = logging.getLogger("parity.api")


async def health(request: Request) -> Response:
    data = {}
    auth = await auth_of(request)
    if auth is not None and auth.is_superuser:
        data = {
            "canBackup": False,
            "possibleProxyHeader": "",
            "realIP": request.client.host if request.client else "",
        }
    return JSON({"message": "API is healthy.", "code": 200, "data": data})


def _authenticator(app: App) -> Callable[[str], Awaitable[AuthContext | None]]:
    """The caller of an ``Authorization`` header, for the request log of a route that
    never asked."""

    async def authenticate(header: str) -> AuthContext | None:
        return await run_bridged(lambda: app.authenticate(header))

    return authenticate


async def superuser_only_stub(request: Request) -> Response:
    require_superuser(await auth_of(request))
    raise e.not_found()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc, request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        # No route (trailing slashes included: no redirect) and a wrong method are 404 in
        # PocketBase; an unknown GET falls through to its static-files route.
        if request.method in ("GET", "HEAD") and exc.status_code == 404:
            return error_response(e.not_found("File not found."))
        return error_response(e.not_found())
    return error_response(ApiError(exc.status_code, e.MSG_BAD_REQUEST))


async def _unstorable(request: Request, exc: Exception) -> Response:
    # A value the engine cannot hold that no check caught first: the client's data.
    log.warning("unstorable value on %s %s: %s", request.method, request.url.path, exc)
    return error_response(e.bad_request())


async def _contended(request: Request, exc: Exception) -> Response:
    # Retries ran out (engine.run_in_transaction): not the client's mistake, nor a bug.
    log.warning("retries exhausted on %s %s: %s", request.method, request.url.path, exc)
    reason = {
        "SerializationFailure": "a serialization failure",
        "Deadlock": "a deadlock",
        "LockTimeout": "a lock wait timeout",
    }.get(type(exc).__name__, "a transient database error")
    message = (
        f"The request conflicted with concurrent changes ({reason}) on every attempt; try again."
    )
    return error_response(ApiError(503, message))


async def _statement_timeout(request: Request, exc: Exception) -> Response:
    log.warning("statement timeout on %s %s: %s", request.method, request.url.path, exc)
    message = (
        "The database stopped the request: a statement ran past the server's statement "
        "timeout (--statement-timeout). Narrow the filter or sort, or try again."
    )
    return error_response(ApiError(503, message))


_TRACEBACK_FRAMES = 12


_UNEXPECTED: tuple[type[Exception], ...] = (
    ArithmeticError,
    AssertionError,
    AttributeError,
    LookupError,
    NameError,
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
    DatabaseError,
)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Never serialise the cause: log one line and one traceback, trimmed to its last frames
    # (a deep recursion would otherwise print thousands), then answer the generic body.
    trace = "".join(traceback.format_exception(exc, limit=-_TRACEBACK_FRAMES))
    log.error(
        "unhandled %s on %s %s: %s\n%s",
        type(exc).__name__,
        request.method,
        request.url.path,
        str(exc)[:200],
        trace[-20_000:],
    )
    return error_response(ApiError(500, e.MSG_BAD_REQUEST))


class CatchUp:
    """Outermost, in a worker of ``--workers``: a request first catches its worker up with
    the changes other workers made (``Coherence.catch_up``; two memory reads when nothing
    moved). A request whose transaction met definitions another worker changed meanwhile
    (``StaleSchema``: nothing committed, no response begun) runs again after catching up,
    its body replayed, at most ``REPLAYS`` times. Outside ``--workers``: nothing at all."""

    REPLAYS = 3

    def __init__(self, inner: ASGIApp, app: App):
        self.inner = inner
        self.coherence = app.coherence

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.coherence.shared is None:
            await self.inner(scope, receive, send)
            return
        received: list[Message] = []
        started = False

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        source: Receive = recording
        for attempt in range(self.REPLAYS + 1):
            if attempt:
                await self.coherence.catch_up(settle=True)
            elif self.coherence.behind():
                await self.coherence.catch_up()
            commits = [0]
            token = write_commits.set(commits)
            try:
                await self.inner(scope, source, tracking)
                return
            except StaleSchema:
                if started or commits[0] or attempt == self.REPLAYS:
                    raise
            finally:
                write_commits.reset(token)
            source = _replaying(list(received), recording)


def _replaying(messages: list[Message], then: Receive) -> Receive:
    """The body messages already received, again, then the rest from the client."""
    pending = iter(messages)

    async def receive() -> Message:
        return next(pending, None) or await then()

    return receive


def create_app(app: App, *, ready: Callable[[], None] | None = None) -> Starlette:
    """``ready``: called once the app has started on the server's loop (a worker tells its
    supervisor so)."""
    routes = [
        Route("/api/health", health, methods=["GET", "HEAD"]),
        Route("/api/openapi.json", openapi.document, methods=["GET"]),
        Route("/api/parity/rules", parity.rules_status, methods=["GET"]),
        Route("/api/parity/events", parity.events_status, methods=["GET"]),
        Route("/api/parity/crons", parity.crons_state, methods=["GET"]),
        Route("/api/parity/logs", parity.logs_status, methods=["GET"]),
        Route("/api/parity/crons/{id}/release", parity.cron_release, methods=["POST"]),
        Route("/api/parity/jobs", parity.jobs_list, methods=["GET"]),
        Route("/api/parity/jobs/{id}/retry", parity.job_retry, methods=["POST"]),
        Route("/api/realtime", realtime.connect, methods=["GET"]),
        Route("/api/realtime", realtime.set_subscriptions, methods=["POST"]),
        Route("/api/crons", parity.crons_list, methods=["GET"]),
        Route("/api/crons/{id}", parity.cron_run, methods=["POST"]),
        Route("/api/collections", collections.list_collections, methods=["GET"]),
        Route("/api/collections", collections.create_collection, methods=["POST"]),
        Route("/api/collections/{collection}", collections.view_collection, methods=["GET"]),
        Route("/api/collections/{collection}", collections.update_collection, methods=["PATCH"]),
        Route("/api/collections/{collection}", collections.delete_collection, methods=["DELETE"]),
        Route("/api/collections/{collection}/records", records.list_records, methods=["GET"]),
        Route("/api/collections/{collection}/records", records.create_record, methods=["POST"]),
        Route("/api/collections/{collection}/records/{id}", records.view_record, methods=["GET"]),
        Route(
            "/api/collections/{collection}/records/{id}", records.update_record, methods=["PATCH"]
        ),
        Route(
            "/api/collections/{collection}/records/{id}", records.delete_record, methods=["DELETE"]
        ),
        Route(
            "/api/collections/{collection}/auth-with-password",
            record_auth.auth_with_password,
            methods=["POST"],
        ),
        Route(
            "/api/collections/{collection}/auth-refresh", record_auth.auth_refresh, methods=["POST"]
        ),
        Route(
            "/api/collections/{collection}/auth-methods", record_auth.auth_methods, methods=["GET"]
        ),
        Route("/api/logs", logs_list, methods=["GET"]),
        Route("/api/logs/stats", logs_stats, methods=["GET"]),
        Route("/api/logs/{id}", logs_view, methods=["GET"]),
        Route("/api/files/token", files.file_token, methods=["POST"]),
        Route("/api/files/{collection}/{recordId}/{filename}", files.download, methods=["GET"]),
        Route(
            "/api/collections/{collection}/truncate",
            collections.truncate_collection,
            methods=["DELETE"],
        ),
        # Superuser-only groups not in this build: same 401/403 as PocketBase for everyone
        # else, 404 for superusers. No scenario covers them: their own issues replace these.
        *[
            Route(path, superuser_only_stub, methods=["GET", "POST", "PATCH", "DELETE"])
            for path in (
                "/api/settings",
                "/api/backups",
                "/api/backups/{rest:path}",
            )
        ],
    ]

    if app.peers is not None:  # a worker: its metrics, for its supervisor's --metrics
        routes.append(Route("/api/parity/worker-metrics", parity.worker_metrics, methods=["GET"]))
    if failpoints.enabled():  # the race suite's schedule (parity serve --failpoints)
        routes.append(
            Route("/api/parity/schedule", parity.schedule, methods=["GET", "POST", "DELETE"])
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Engines with an asyncio driver open it on this loop (reference_impl.bridge).
        await app.engine.open_async()
        await app.start()
        if ready is not None:
            ready()
        try:
            yield
        finally:
            await app.stop()
            await app.engine.close_async()

    web = Starlette(
        lifespan=lifespan,
        routes=routes,
        middleware=[
            # outermost: sees the final status
            Middleware(RequestLog, logs=app.logs, authenticate=_authenticator(app)),
            Middleware(CatchUp, app=app),
            Middleware(GoQuery),
            Middleware(BodyLimit, limit_for=record_body_limit(app.store.find)),
        ],
        exception_handlers={
            ApiError: _api_error,
            UnstorableText: _unstorable,
            TransientError: _contended,
            StatementTimeout: _statement_timeout,
            HTTPException: _http_error,
            # Starlette hands ``Exception`` to its outermost middleware, which answers and
            # then re-raises, so uvicorn drops the keep-alive connection (the client's next
            # request on it is reset). The usual error classes are answered inside, where
            # nothing re-raises; ``Exception`` stays the last resort.
            **dict.fromkeys(_UNEXPECTED, _unexpected),
            Exception: _unexpected,
        },
    )
    web.router.redirect_slashes = False
    web.state.parity = app
    return web
