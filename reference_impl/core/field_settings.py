"""Field definitions on collection save: option types and ``ValidateSettings``.

Two stages, as PocketBase has them (``core/field_*.go``, verified on 0.40.6):

1. **Types** (:func:`options_well_typed`): each option has a Go type; a JSON value of
   another type (``"min": "abc"``, ``"max": 1.5`` for an int) fails the whole body with
   "Failed to load the submitted data due to invalid formatting." (``data: {}``).
2. **Values** (:func:`validate_settings`): ozzo-validation rules per option, all options
   checked, the first failing rule per option reported under ``fields.<index>.<option>``.
   ozzo's ``Min``/``Max``/``Length`` skip zero values, so ``0`` always passes them.

Each type states its options' Go types and its own rules (``core/field_types``); this
module holds the two stages and the ozzo rules they are made of.
"""

from __future__ import annotations

import re
from typing import Any

from reference_impl.core.errors import field_error
from reference_impl.core.regex import pattern_error

MAX_SAFE_INT = 2**53 - 1  # maxSafeJSONInt
_THUMB_FORBIDDEN = ("0x0", "0x0t", "0x0b", "0x0f")


def _well_typed(kind: str, value: Any) -> bool:
    """Whether a JSON value decodes into an option of Go type ``kind`` (see
    ``field_types.base``: int, float, bool, str, strs)."""
    if value is None:  # JSON null leaves a Go value at its zero
        return True
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "int":
        return float(value).is_integer() and abs(value) < 2**63
    return True


def options_well_typed(data: dict[str, Any]) -> bool:
    """Every known option of a field definition has its Go type."""
    from reference_impl.core.field_types import REGISTRY  # the types use the rules below

    spec = REGISTRY.get(str(data.get("type")))
    types = spec.option_types if spec is not None else {}
    return all(_well_typed(types[key], value) for key, value in data.items() if key in types)


# -- ozzo-validation rules ---------------------------------------------------------------
def min_error(value: Any, threshold: int | float) -> dict[str, Any] | None:
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
    return min_error(value, low) or _max(value, high)


def regex_error(value: Any) -> dict[str, Any] | None:
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


def domain_errors(f: Any) -> dict[str, Any]:
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
    """Option errors of one (well-typed) field, keyed by option; empty when valid: the
    common ``help`` rule, then the type's own (``FieldType.settings_errors``)."""
    errors: dict[str, Any] = {}
    if problem := length_between(f.opt("help") or "", 1, 300):
        errors["help"] = problem
    for key, problem in f.spec.settings_errors(f).items():
        errors.setdefault(key, problem)
    return errors


_THUMB = re.compile(r"[0-9]+x[0-9]+[tbf]?")


def thumb_errors(thumbs: list[str]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for index, thumb in enumerate(thumbs):
        if thumb in _THUMB_FORBIDDEN:
            errors[str(index)] = field_error("validation_not_in_invalid", "Must not be in list.")
        elif not _THUMB.fullmatch(thumb):
            errors[str(index)] = field_error(
                "validation_match_invalid", "Must be in a valid format."
            )
    return errors
