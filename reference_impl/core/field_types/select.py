"""``select``: values from a fixed list, one or (``maxSelect`` > 1) several
(``core/field_select.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core.errors import REQUIRED, field_error
from reference_impl.core.field_settings import range_error
from reference_impl.core.field_types.base import (
    INT,
    STRS,
    WITH_HELP,
    WITH_HELP_TYPES,
    ChoiceType,
    Problem,
    first_errors,
)

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


class SelectType(ChoiceType):
    name = "select"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, "maxSelect": 0, "values": []}
    option_types: ClassVar[dict[str, str]] = {**WITH_HELP_TYPES, "maxSelect": INT, "values": STRS}

    def check(self, f: Field, value: Any) -> Problem | None:
        allowed = f.opt("values") or []
        for item in value if isinstance(value, list) else [value] if value else []:
            if item not in allowed:
                return field_error(
                    "validation_invalid_value", f"Invalid value {item}.", {"value": item}
                )
        max_select = int(f.opt("maxSelect") or 1)
        if isinstance(value, list) and len(value) > max_select:
            return field_error(
                "validation_too_many_values",
                f"Select no more than {max_select}.",
                {"maxSelect": max_select},
            )
        return None

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        values = f.opt("values") or []
        return first_errors(
            ("values", None if values else REQUIRED),
            ("maxSelect", range_error(f.opt("maxSelect"), 0, len(values) or 1)),
        )


TYPE = SelectType()
