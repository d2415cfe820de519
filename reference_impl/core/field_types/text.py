"""``text``: length in runes (``max`` 0 means 5000), a pattern, an autogenerate pattern
and the primary-key flag (``core/field_text.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core import regex
from reference_impl.core.errors import field_error
from reference_impl.core.field_settings import MAX_SAFE_INT, range_error, regex_error
from reference_impl.core.field_types.base import (
    BOOL,
    INT,
    STR,
    WITH_HELP,
    WITH_HELP_TYPES,
    FieldType,
    Problem,
    first_errors,
)

if TYPE_CHECKING:
    from reference_impl.core.fields import Field

TEXT_DEFAULT_MAX = 5000


class TextType(FieldType):
    name = "text"
    options: ClassVar[dict[str, Any]] = {
        **WITH_HELP,
        "autogeneratePattern": "",
        "max": 0,
        "min": 0,
        "pattern": "",
        "primaryKey": False,
    }
    option_types: ClassVar[dict[str, str]] = {
        **WITH_HELP_TYPES,
        "min": INT,
        "max": INT,
        "pattern": STR,
        "autogeneratePattern": STR,
        "primaryKey": BOOL,
    }

    def check(self, f: Field, value: Any) -> Problem | None:
        if not (isinstance(value, str) and value):
            return None
        length = len(value)
        minimum = int(f.opt("min") or 0)
        maximum = int(f.opt("max") or 0) or TEXT_DEFAULT_MAX
        if minimum and length < minimum:
            return field_error(
                "validation_min_text_constraint",
                f"Must be at least {minimum} character(s).",
                {"min": minimum},
            )
        if maximum and length > maximum:
            return field_error(
                "validation_max_text_constraint",
                f"Must be no more than {maximum} character(s).",
                {"max": maximum},
            )
        pattern = f.opt("pattern")
        if pattern and not regex.matches(pattern, value):
            return field_error("validation_invalid_format", "Invalid value format.")
        return None

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        return first_errors(
            ("min", range_error(f.opt("min"), 0, MAX_SAFE_INT)),
            ("max", range_error(f.opt("max"), int(f.opt("min") or 0), MAX_SAFE_INT)),
            ("pattern", regex_error(f.opt("pattern"))),
            ("autogeneratePattern", regex_error(f.opt("autogeneratePattern"))),
        )


TYPE = TextType()
