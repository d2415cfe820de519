"""Field definitions on collection save: option types and ``ValidateSettings``.

Two stages, as PocketBase has them (``core/field_*.go``, verified on 0.40.6):

1. **Types** (:func:`options_well_typed`): each option has a Go type; a JSON value of
   another type (``"min": "abc"``, ``"max": 1.5`` for an int) fails the whole body with
   "Failed to load the submitted data due to invalid formatting." (``data: {}``).
2. **Values** (:func:`validate_settings`): ozzo-validation rules per option, all options
   checked, the first failing rule per option reported under ``fields.<index>.<option>``.
   ozzo's ``Min``/``Max``/``Length`` skip zero values, so ``0`` always passes them.
"""

from __future__ import annotations

import re
from typing import Any

from reference_impl.core.errors import REQUIRED, field_error
from reference_impl.core.regex import pattern_error

MAX_SAFE_INT = 2**53 - 1  # maxSafeJSONInt
_THUMB_FORBIDDEN = ("0x0", "0x0t", "0x0b", "0x0f")

# Go type of every option per field type: int, float (or null), bool, str, [str].
_INT, _FLOAT, _BOOL, _STR, _STRS = "int", "float", "bool", "str", "strs"
_COMMON = {"id": _STR, "name": _STR, "hidden": _BOOL, "presentable": _BOOL, "system": _BOOL}
_WITH_HELP = {**_COMMON, "help": _STR, "required": _BOOL}
OPTION_TYPES: dict[str, dict[str, str]] = {
    "text": {
        **_WITH_HELP,
        "min": _INT,
        "max": _INT,
        "pattern": _STR,
        "autogeneratePattern": _STR,
        "primaryKey": _BOOL,
    },
    "number": {**_WITH_HELP, "min": _FLOAT, "max": _FLOAT, "onlyInt": _BOOL},
    "bool": _WITH_HELP,
    "email": {**_WITH_HELP, "exceptDomains": _STRS, "onlyDomains": _STRS},
    "url": {**_WITH_HELP, "exceptDomains": _STRS, "onlyDomains": _STRS},
    "editor": {**_WITH_HELP, "convertURLs": _BOOL, "maxSize": _INT},
    "date": {**_WITH_HELP, "min": _STR, "max": _STR},
    "autodate": {**_COMMON, "onCreate": _BOOL, "onUpdate": _BOOL},
    "select": {**_WITH_HELP, "maxSelect": _INT, "values": _STRS},
    "json": {**_WITH_HELP, "maxSize": _INT},
    "relation": {
        **_WITH_HELP,
        "cascadeDelete": _BOOL,
        "collectionId": _STR,
        "maxSelect": _INT,
        "minSelect": _INT,
    },
    "file": {
        **_WITH_HELP,
        "maxSelect": _INT,
        "maxSize": _INT,
        "mimeTypes": _STRS,
        "protected": _BOOL,
        "thumbs": _STRS,
    },
    "password": {**_WITH_HELP, "cost": _INT, "max": _INT, "min": _INT, "pattern": _STR},
    "geoPoint": _WITH_HELP,
}


def _well_typed(kind: str, value: Any) -> bool:
    if value is None:  # JSON null leaves a Go value at its zero
        return True
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _STR:
        return isinstance(value, str)
    if kind == _STRS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == _INT:
        return float(value).is_integer() and abs(value) < 2**63
    return True


def options_well_typed(data: dict[str, Any]) -> bool:
    """Every known option of a field definition has its Go type."""
    types = OPTION_TYPES.get(str(data.get("type")), {})
    return all(_well_typed(types[key], value) for key, value in data.items() if key in types)


# -- ozzo-validation rules ---------------------------------------------------------------
def _min(value: Any, threshold: int | float) -> dict[str, Any] | None:
    if not value or value >= threshold:
        return None
    return field_error(
        "validation_min_greater_equal_than_required",
        f"Must be no less than {threshold}.",
        {"threshold": threshold},
    )


def _max(value: Any, threshold: int | float) -> dict[str, Any] | None:
    if not value or value <= threshold:
        return None
    return field_error(
        "validation_max_less_equal_than_required",
        f"Must be no greater than {threshold}.",
        {"threshold": threshold},
    )


def range_error(value: Any, low: int, high: int) -> dict[str, Any] | None:
    """ozzo ``Min(low)`` then ``Max(high)`` (zero passes both)."""
    return _min(value, low) or _max(value, high)


def _regex(value: Any) -> dict[str, Any] | None:
    problem = pattern_error(value) if value else None
    if problem is None:
        return None
    return field_error("validation_invalid_regex", problem[0].upper() + problem[1:] + ".")


def length_between(value: str, low: int, high: int) -> dict[str, Any] | None:
    """ozzo ``Length(low, high)`` in runes; empty passes."""
    if not value or low <= len(value) <= high:
        return None
    return field_error(
        "validation_length_out_of_range",
        f"The length must be between {low} and {high}.",
        {"max": high, "min": low},
    )


def _domains(f: Any) -> dict[str, Any]:
    only, excluded = f.opt("onlyDomains") or [], f.opt("exceptDomains") or []
    if only and excluded:
        blank = field_error("validation_empty", "Must be blank.")
        return {"exceptDomains": blank, "onlyDomains": blank}
    errors: dict[str, Any] = {}
    for key, values in (("exceptDomains", excluded), ("onlyDomains", only)):
        bad = {str(i): _DOMAIN_ERROR for i, v in enumerate(values) if not _is_domain(v)}
        if bad:
            errors[key] = bad
    return errors


_DOMAIN_ERROR = field_error("validation_is_domain", "Must be a valid domain.")


def _is_domain(value: str) -> bool:
    """ozzo ``is.Domain``: dot-separated labels of letters, digits and hyphens."""
    labels = value.split(".")
    if len(value) > 255 or len(labels) < 2:
        return False
    return all(
        0 < len(label) <= 63
        and label.isascii()
        and label.replace("-", "").isalnum()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def validate_settings(f: Any) -> dict[str, Any]:
    """Option errors of one (well-typed) field, keyed by option; empty when valid."""
    t = f.type
    opt = f.opt
    errors: dict[str, Any] = {}

    def check(key: str, problem: dict[str, Any] | None) -> None:
        if problem is not None and key not in errors:
            errors[key] = problem

    check("help", length_between(opt("help") or "", 1, 300))
    if t == "text":
        check("min", range_error(opt("min"), 0, MAX_SAFE_INT))
        check("max", range_error(opt("max"), int(opt("min") or 0), MAX_SAFE_INT))
        check("pattern", _regex(opt("pattern")))
        check("autogeneratePattern", _regex(opt("autogeneratePattern")))
    elif t == "password":
        check("min", range_error(opt("min"), 1, 71))
        check("max", range_error(opt("max"), int(opt("min") or 0), 71))
        check("cost", range_error(opt("cost"), 4, 31))
        check("pattern", _regex(opt("pattern")))
    elif t == "number":
        low, high = opt("min"), opt("max")
        if low is not None and high is not None and high < low:
            check(
                "max",
                field_error(
                    "validation_min_number_constraint",
                    f"Must be greater or equal than {_number_text(low)}.",
                    {"min": low},
                ),
            )
        for key, value in (("min", low), ("max", high)):
            if opt("onlyInt") and value is not None and not float(value).is_integer():
                check(
                    key,
                    field_error(
                        "validation_only_int_constraint", "Decimal numbers are not allowed."
                    ),
                )
    elif t == "select":
        values = opt("values") or []
        check("values", None if values else REQUIRED)
        check("maxSelect", range_error(opt("maxSelect"), 0, len(values) or 1))
    elif t == "relation":
        check("collectionId", None if opt("collectionId") else REQUIRED)
        low = int(opt("minSelect") or 0)
        check("minSelect", _min(low, 0))
        if low > 0 and not opt("maxSelect"):
            check("maxSelect", REQUIRED)
        check("maxSelect", _min(opt("maxSelect"), low))
    elif t == "file":
        check("maxSelect", range_error(opt("maxSelect"), 0, MAX_SAFE_INT))
        check("maxSize", range_error(opt("maxSize"), 0, MAX_SAFE_INT))
        thumbs = _thumb_errors(opt("thumbs") or [])
        if thumbs:
            errors["thumbs"] = thumbs
    elif t in ("json", "editor"):
        check("maxSize", range_error(opt("maxSize"), 0, MAX_SAFE_INT))
    elif t in ("email", "url"):
        errors.update(_domains(f))
    elif t == "autodate" and not opt("onCreate") and not opt("onUpdate"):
        either = field_error("validation_required", "Either onCreate or onUpdate must be enabled.")
        errors.update(onCreate=either, onUpdate=either)
    return errors


_THUMB = re.compile(r"[0-9]+x[0-9]+[tbf]?")


def _thumb_errors(thumbs: list[str]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for index, thumb in enumerate(thumbs):
        if thumb in _THUMB_FORBIDDEN:
            errors[str(index)] = field_error("validation_not_in_invalid", "Must not be in list.")
        elif not _THUMB.fullmatch(thumb):
            errors[str(index)] = field_error(
                "validation_match_invalid", "Must be in a valid format."
            )
    return errors


def _number_text(value: int | float) -> str:
    from reference_impl.core.fields import go_number

    return go_number(value)
