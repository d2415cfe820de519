"""The ASGI application: routes, and the one place errors become PocketBase bodies."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reference_impl.api import collections, files, openapi, record_auth, records
from reference_impl.api._http import JSON, auth_of, error_response, require_superuser
from reference_impl.app import App
from reference_impl.core import errors as e
from reference_impl.core.errors import ApiError

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


async def superuser_only_stub(request: Request) -> Response:
    require_superuser(await auth_of(request))
    raise e.not_found()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(e.not_found())
    if exc.status_code == 405:
        return error_response(e.not_found())
    return error_response(ApiError(exc.status_code, e.MSG_BAD_REQUEST))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Never serialise the cause: log it, answer with the generic body.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(ApiError(500, e.MSG_BAD_REQUEST))


def create_app(app: App) -> Starlette:
    routes = [
        Route("/api/health", health, methods=["GET", "HEAD"]),
        Route("/api/openapi.json", openapi.document, methods=["GET"]),
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
                "/api/logs",
                "/api/logs/{rest:path}",
                "/api/crons",
                "/api/crons/{rest:path}",
                "/api/backups",
                "/api/backups/{rest:path}",
            )
        ],
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Engines with an asyncio driver open it on this loop (reference_impl.bridge).
        await app.engine.open_async()
        try:
            yield
        finally:
            await app.engine.close_async()

    web = Starlette(
        lifespan=lifespan,
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    web.state.parity = app
    return web
