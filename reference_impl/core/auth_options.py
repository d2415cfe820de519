"""Auth collection options on save, as PocketBase validates them
(``core/collection_model_auth_options.go``, verified on 0.40.6).

Errors come back keyed like the options (``{"authToken": {"duration": {...}}}``); ozzo's
``Required`` treats 0 and "" as blank, its ``Min``/``Max`` skip zero values.
"""

from __future__ import annotations

from typing import Any

from reference_impl.core.errors import REQUIRED, field_error
from reference_impl.core.field_settings import range_error

TOKENS = ("authToken", "passwordResetToken", "emailChangeToken", "verificationToken", "fileToken")
TOKEN_MAX_DURATION = 94_670_856  # ~3 years
TEMPLATES = ("verificationTemplate", "resetPasswordTemplate", "confirmEmailChangeTemplate")
_INT_OPTIONS = {(t, "duration") for t in TOKENS} | {("otp", "duration"), ("otp", "length")}
_INT_OPTIONS |= {("mfa", "duration")}


def well_typed(payload: dict[str, Any]) -> bool:
    """Go's struct decoding of the options a client sends (ints where Go has ints)."""
    for section, key in _INT_OPTIONS:
        value = (
            payload.get(section, {}).get(key) if isinstance(payload.get(section), dict) else None
        )
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not float(value).is_integer()
        ):
            return False
    fields = payload.get("passwordAuth", {})
    identity = fields.get("identityFields") if isinstance(fields, dict) else None
    return identity is None or (
        isinstance(identity, list) and all(isinstance(i, str) for i in identity)
    )


def _duration(value: Any, *, low: int, high: int) -> dict[str, Any] | None:
    return REQUIRED if not value else range_error(value, low, high)


def _template(template: Any) -> dict[str, Any]:
    template = template if isinstance(template, dict) else {}
    return {key: REQUIRED for key in ("body", "subject") if not template.get(key)}


def validate(
    auth: dict[str, Any], fields: dict[str, Any], unique_columns: set[str]
) -> dict[str, Any]:
    """Option errors of an auth collection; ``unique_columns``: fields with a single-column
    unique index (identity fields need one)."""
    errors: dict[str, Any] = {}
    for token in TOKENS:
        problem = _duration(auth.get(token, {}).get("duration"), low=10, high=TOKEN_MAX_DURATION)
        if problem:
            errors[token] = {"duration": problem}
    for name in ("otp", "mfa"):
        section = auth.get(name, {})
        if section.get("enabled"):
            problem = _duration(section.get("duration"), low=10, high=86_400)
            if problem:
                errors.setdefault(name, {})["duration"] = problem
    otp = auth.get("otp", {})
    if otp.get("enabled"):
        length = otp.get("length")
        problem = REQUIRED if not length else range_error(length, 4, 2**63 - 1)
        if problem:
            errors.setdefault("otp", {})["length"] = problem
    for name in TEMPLATES:
        if problem := _template(auth.get(name)):
            errors[name] = problem
    for name in ("otp", "authAlert"):
        if problem := _template(auth.get(name, {}).get("emailTemplate")):
            errors.setdefault(name, {})["emailTemplate"] = problem
    password = auth.get("passwordAuth", {})
    identity = list(dict.fromkeys(password.get("identityFields") or []))
    if password.get("enabled"):
        if not identity:
            errors["passwordAuth"] = {"identityFields": REQUIRED}
        elif problem := _identity_problem(identity, fields, unique_columns):
            errors["passwordAuth"] = {"identityFields": problem}
    if errors:
        return errors
    enabled = sum(bool(auth.get(m, {}).get("enabled")) for m in ("passwordAuth", "oauth2", "otp"))
    if auth.get("mfa", {}).get("enabled") and enabled < 2:
        return {
            "mfa": {
                "enabled": field_error(
                    "validation_mfa_not_enough_auths",
                    "MFA requires at least 2 auth methods to be enabled.",
                )
            }
        }
    return {}


def _identity_problem(
    names: list[str], fields: dict[str, Any], unique_columns: set[str]
) -> dict[str, Any] | None:
    """``checkFieldsForUniqueIndex``."""
    for name in names:
        if name not in fields:
            return field_error(
                "validation_missing_field",
                f"Invalid or missing field {name}.",
                {"fieldName": name},
            )
        if name not in unique_columns:
            return field_error(
                "validation_missing_unique_constraint",
                f"The field {name} doesn't have a UNIQUE constraint.",
                {"fieldName": name},
            )
    return None
