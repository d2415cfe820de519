"""``auth-with-password`` and ``auth-refresh`` for auth collections."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from reference_impl.api._http import app_of, auth_of, call, read_json, respond
from reference_impl.api.records import request_values
from reference_impl.core import errors as e
from reference_impl.core.auth import AuthContext, check_password
from reference_impl.core.collection import Collection
from reference_impl.core.errors import ValidationFailed


def _auth_collection(request: Request) -> Collection:
    coll = app_of(request).store.find(request.path_params["collection"])
    if coll is None:
        raise e.not_found("Missing or invalid collection context.")
    if not coll.is_auth:
        raise e.not_found("Missing or invalid auth collection context.")
    return coll


async def auth_methods(request: Request) -> Response:
    coll = _auth_collection(request)
    password = coll.auth.get("passwordAuth", {})
    mfa, otp = coll.auth.get("mfa", {}), coll.auth.get("otp", {})
    enabled = bool(password.get("enabled"))
    identity = list(password.get("identityFields", []))
    return respond(
        request,
        {
            "password": {"identityFields": identity, "enabled": enabled},
            "oauth2": {"providers": [], "enabled": False},
            "mfa": {
                "enabled": bool(mfa.get("enabled")),
                "duration": mfa.get("duration", 0) if mfa.get("enabled") else 0,
            },
            "otp": {
                "enabled": bool(otp.get("enabled")),
                "duration": otp.get("duration", 0) if otp.get("enabled") else 0,
            },
            # legacy keys kept by PocketBase for older SDKs
            "authProviders": [],
            "usernamePassword": enabled and "username" in identity,
            "emailPassword": enabled and "email" in identity,
        },
    )


async def auth_with_password(request: Request) -> Response:
    coll = _auth_collection(request)
    body = await read_json(request, malformed="An error occurred while loading the submitted data.")
    identity, password = body.get("identity"), body.get("password")
    errors = {}
    if not isinstance(identity, str) or not identity:
        errors["identity"] = e.REQUIRED
    if not isinstance(password, str) or not password:
        errors["password"] = e.REQUIRED
    if errors:
        raise ValidationFailed(errors).to_api(
            "An error occurred while validating the submitted data."
        )
    app = app_of(request)
    caller = await auth_of(request)
    # The authRule sees the login request: the caller's auth, the body as sent, the
    # context "password" (apis/record_auth_with_password.go).
    values = replace(request_values(request, "password"), body=body)

    def work() -> dict[str, object]:
        record = app.records.find_by_email(coll, str(identity))
        if record is None or not check_password(str(password), record.get("password", "")):
            raise e.bad_request("Failed to authenticate.")
        app.records.can_authenticate(coll, str(record["id"]), caller, values)
        actor = AuthContext(record=record, collection_id=coll.id, collection_name=coll.name)
        return {
            "record": app.records.export(coll, record, actor),
            "token": app.token_for(coll, record),
        }

    result, sql = await call(request, work)
    return respond(request, result, sql)


async def auth_refresh(request: Request) -> Response:
    coll = _auth_collection(request)
    auth = await auth_of(request)
    if auth is None:
        raise e.unauthorized(e.MSG_REQUIRES_AUTH)
    if auth.collection_id != coll.id:
        raise e.forbidden(
            f"The request requires auth record from {auth.collection_name} collection."
        )
    app = app_of(request)
    record = auth.record
    try:  # the authRule may read the body; a refresh needs none, so a bad one is no data
        body = await read_json(request)
    except e.ApiError:
        body = {}
    values = replace(request_values(request), body=body)

    def work() -> dict[str, object]:
        app.records.can_authenticate(coll, str(record["id"]), auth, values)
        return {
            "record": app.records.export(coll, record, auth),
            "token": app.token_for(coll, record),
        }

    result, sql = await call(request, work)
    return respond(request, result, sql)
