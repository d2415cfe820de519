"""Domain errors carrying PocketBase's ``{status, message, data}`` body.

Messages are PocketBase's exact strings (verified against 0.40.6, see
``harness/divergences.toml`` for the few places we deliberately differ).
"""

from __future__ import annotations

from typing import Any

MSG_BAD_REQUEST = "Something went wrong while processing your request."
MSG_NOT_FOUND = "The requested resource wasn't found."
MSG_FORBIDDEN = "You are not allowed to perform this request."
MSG_UNAUTHORIZED = "Missing or invalid authentication."
MSG_SUPERUSER_ONLY = "Only superusers can perform this action."
MSG_REQUIRES_AUTH = "The request requires valid record authorization token."
MSG_NOT_SUPERUSER = "The authorized record is not allowed to perform this action."


class ApiError(Exception):
    def __init__(self, status: int, message: str, data: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data or {}

    def body(self) -> dict[str, Any]:
        return {"data": self.data, "message": self.message, "status": self.status}


def bad_request(message: str = MSG_BAD_REQUEST, data: dict[str, Any] | None = None) -> ApiError:
    return ApiError(400, message, data)


def not_found(message: str = MSG_NOT_FOUND) -> ApiError:
    return ApiError(404, message)


def forbidden(message: str = MSG_FORBIDDEN) -> ApiError:
    return ApiError(403, message)


def unauthorized(message: str = MSG_UNAUTHORIZED) -> ApiError:
    return ApiError(401, message)


def field_error(code: str, message: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if params is not None:
        error["params"] = params
    return error


class ValidationFailed(Exception):
    """Per-field validation errors; the handler picks the top-level message."""

    def __init__(self, errors: dict[str, Any]):
        super().__init__("validation failed")
        self.errors = errors

    def to_api(self, message: str) -> ApiError:
        return bad_request(message, dict(sorted(self.errors.items())))


REQUIRED = field_error("validation_required", "Cannot be blank.")
NOT_UNIQUE = field_error("validation_not_unique", "Value must be unique.")
