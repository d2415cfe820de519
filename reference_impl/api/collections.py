"""``/api/collections``: superuser-only collection CRUD."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from reference_impl.api._http import app_of, auth_of, call, read_json, require_superuser, respond
from reference_impl.api.records import list_query
from reference_impl.core import errors as e
from reference_impl.core.collection import SUPERUSERS, FormatError
from reference_impl.core.errors import ValidationFailed
from reference_impl.core.filter import FilterError
from reference_impl.core.records import page_window
from reference_impl.core.store import ReservedName

MALFORMED = "Failed to load the collection type data due to invalid formatting."
BAD_FIELDS = "Failed to load the submitted data due to invalid formatting."


def _find(request: Request):  # type: ignore[no-untyped-def]
    coll = app_of(request).store.find(request.path_params["collection"])
    if coll is None:
        raise e.not_found()
    return coll


async def list_collections(request: Request) -> Response:
    require_superuser(await auth_of(request))
    query = list_query(request)
    page, per_page, offset = page_window(query.page, query.per_page)
    store = app_of(request).store

    def work() -> dict[str, object]:
        try:
            items, total = store.query(
                query.filter,
                query.sort,
                limit=per_page,
                offset=offset,
                count=not query.skip_total,
            )
        except FilterError as exc:
            raise e.bad_request() from exc
        return {
            "items": [c.to_json() for c in items],
            "page": page,
            "perPage": per_page,
            "totalItems": total,
            "totalPages": -1 if query.skip_total else math.ceil(total / per_page),
        }

    result, sql = await call(request, work)
    return respond(request, result, sql)


async def view_collection(request: Request) -> Response:
    require_superuser(await auth_of(request))
    return respond(request, _find(request).to_json())


async def create_collection(request: Request) -> Response:
    require_superuser(await auth_of(request))
    body = await read_json(request, malformed=MALFORMED)
    store = app_of(request).store

    def work() -> dict[str, object]:
        try:
            return store.create(body).to_json()
        except ValidationFailed as exc:
            raise exc.to_api("Failed to create collection.") from exc
        except ReservedName as exc:
            raise e.bad_request(f"Failed to create collection. Raw error: \n{exc}") from exc
        except FormatError as exc:
            # PocketBase binds {type, name} first, then the whole collection
            first_pass = exc.args and exc.args[0] in ("type", "name")
            raise e.bad_request(MALFORMED if first_pass else BAD_FIELDS) from exc

    result, sql = await call(request, work)
    return respond(request, result, sql)


async def update_collection(request: Request) -> Response:
    require_superuser(await auth_of(request))
    existing = _find(request)
    body = await read_json(request, malformed=BAD_FIELDS)  # one BindBody, into the collection
    store = app_of(request).store

    def work() -> dict[str, object]:
        try:
            return store.update(existing, body).to_json()
        except ValidationFailed as exc:
            raise exc.to_api("Failed to update collection.") from exc
        except ReservedName as exc:
            raise e.bad_request(f"Failed to update collection. Raw error: \n{exc}") from exc
        except FormatError as exc:
            raise e.bad_request(BAD_FIELDS) from exc

    result, sql = await call(request, work)
    return respond(request, result, sql)


async def delete_collection(request: Request) -> Response:
    require_superuser(await auth_of(request))
    coll = _find(request)
    store = app_of(request).store
    if coll.system:
        raise e.bad_request("Failed to delete collection.")
    referrers = store.referenced_by(coll)
    if referrers:
        raise e.bad_request(
            "Failed to delete collection probably due to existing reference "
            f"in {', '.join(referrers)}."
        )
    app = app_of(request)

    def work() -> None:
        app.store.delete(coll)
        app.storage.delete_collection(coll.id)  # after the commit: the files go with the rows

    _, sql = await call(request, work)
    return respond(request, None, sql, status=204)


async def truncate_collection(request: Request) -> Response:
    require_superuser(await auth_of(request))
    coll = _find(request)
    app = app_of(request)
    if coll.name == SUPERUSERS:
        # PocketBase deletes record by record and refuses to delete the last superuser
        # (the caller is one), so the whole truncate rolls back.
        raise e.bad_request(
            "Failed to truncate collection "
            "(most likely due to required cascade delete record references)."
        )

    def work() -> None:
        app.store.truncate(coll)
        app.storage.delete_collection(coll.id)

    _, sql = await call(request, work)
    return respond(request, None, sql, status=204)
