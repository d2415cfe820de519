"""``/api/files``: download a record's file, and issue file tokens (PocketBase ``apis/file.go``).

Access (verified on 0.40.6): a file that is not ``protected`` is served to anyone who knows
its name, whatever the collection's viewRule (even null). A protected file needs a file
token in ``?token=`` (an ``Authorization`` header does not count) whose record passes the
viewRule; a superuser's token always does. Every failure is the same 404 body.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from reference_impl.api._http import JSON, app_of, auth_of, call
from reference_impl.api.records import request_values
from reference_impl.core import _mimetype
from reference_impl.core import errors as e
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import Collection
from reference_impl.core.errors import ApiError
from reference_impl.core.files import field_holding

# Served inline unless ?download is true; everything else is an attachment
# (tools/filesystem/filesystem.go inlineServeContentTypes).
INLINE_TYPES = frozenset(
    {
        "image/png", "image/jpg", "image/jpeg", "image/gif", "image/webp", "image/x-icon",
        "image/bmp", "video/webm", "video/mp4", "video/3gpp", "video/quicktime",
        "video/x-ms-wmv", "audio/basic", "audio/aiff", "audio/mpeg", "audio/midi", "audio/mp3",
        "audio/wave", "audio/wav", "audio/x-wav", "audio/x-mpeg", "audio/x-m4a", "audio/aac",
        "application/pdf", "application/x-pdf",
    }
)  # fmt: skip
# Content types forced by extension, where sniffing cannot tell (same file).
EXTENSION_TYPES = {
    ".svg": "image/svg+xml",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
}
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # strconv.ParseBool
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; "
    "sandbox",
    # valid for 30 days, reusable while revalidating in the last day (as PocketBase)
    "Cache-Control": "max-age=2592000, stale-while-revalidate=86400",
}


async def file_token(request: Request) -> Response:
    auth = await auth_of(request)
    if auth is None:
        raise e.unauthorized(e.MSG_REQUIRES_AUTH)
    token, _ = await call(request, lambda: app_of(request).file_token_for(auth))
    return JSON({"token": token})


async def download(request: Request) -> Response:
    app = app_of(request)
    coll = app.store.find(request.path_params["collection"])
    if coll is None:
        raise e.not_found("Missing or invalid collection context.")
    record_id, filename = request.path_params["recordId"], request.path_params["filename"]
    token = request.query_params.get("token", "")
    path, _ = await call(request, lambda: _locate(request, coll, record_id, filename, token))
    if path is None:
        raise e.not_found()
    return _serve(request, path, filename)


def _locate(
    request: Request, coll: Collection, record_id: str, filename: str, token: str
) -> Path | None:
    """The stored file when the record lists it and the caller may read it."""
    app = app_of(request)
    # Any collection's record, without rules: find_auth_record is a plain lookup by id.
    record = app.records.find_auth_record(coll, record_id)
    if record is None:
        return None
    f = field_holding(coll.fields, record, filename)
    if f is None:
        return None
    if f.opt("protected") and not _may_view(request, coll, record_id, token):
        return None
    return app.storage.path(coll.id, record_id, filename)


def _may_view(request: Request, coll: Collection, record_id: str, token: str) -> bool:
    app = app_of(request)
    holder: AuthContext | None = app.authenticate_file_token(token)
    try:
        # PocketBase binds the view rule with the context "protectedFile" (apis/file.go).
        app.records.view(coll, record_id, holder, "", request_values(request, "protectedFile"))
    except ApiError:  # 403 for a null rule, 404 when the rule is not met
        return False
    return True


def _serve(request: Request, path: Path, filename: str) -> Response:
    with path.open("rb") as stored:
        detected = _mimetype.detect(stored.read(_mimetype.READ_LIMIT)).mime
    download = request.query_params.get("download", "") in _GO_TRUE
    inline = not download and detected in INLINE_TYPES
    # ?thumb= is accepted and ignored: the original is served (PocketBase makes thumbnails
    # of png/jpg/gif/webp images for the sizes it knows, and serves other files as they are).
    response = FileResponse(path, media_type=detected)
    response.headers.update(_HEADERS)
    response.headers["Content-Disposition"] = (
        f'{"inline" if inline else "attachment"}; filename="{filename}"'
    )
    # Set after construction: Starlette would add "; charset=utf-8" to a bare text/ type.
    response.headers["Content-Type"] = EXTENSION_TYPES.get(Path(filename).suffix, detected)
    return response
