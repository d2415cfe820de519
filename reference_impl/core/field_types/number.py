"""``number``: float64 (int64 exact here, SPEC 1.1), ``min``/``max``/``onlyInt``; the
``f+``/``f-`` modifiers add and subtract (``core/field_number.go``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core.casts import go_number, to_number
from reference_impl.core.errors import field_error
from reference_impl.core.field_types.base import (
    BOOL,
    FLOAT,
    WITH_HELP,
    WITH_HELP_TYPES,
    FieldType,
    Modifier,
    Problem,
    first_errors,
)
from reference_impl.ir.kinds import Kind

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


def _only_int() -> Problem:
    return field_error("validation_only_int_constraint", "Decimal numbers are not allowed.")


class NumberType(FieldType):
    name = "number"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, "max": None, "min": None, "onlyInt": False}
    option_types: ClassVar[dict[str, str]] = {
        **WITH_HELP_TYPES,
        "min": FLOAT,
        "max": FLOAT,
        "onlyInt": BOOL,
    }

    def kind(self, f: Field) -> Kind:
        return Kind.NUMBER

    def zero(self, f: Field) -> Any:
        return 0

    def cast(self, f: Field, raw: Any) -> Any:
        return to_number(raw)

    def modify(self, f: Field, current: Any, mod: Modifier, raw: Any) -> Any:
        if mod == "prepend":
            return current
        delta = f.cast(raw)
        return f.cast(current + delta if mod == "+" else current - delta)

    def check(self, f: Field, value: Any) -> Problem | None:
        if isinstance(value, float) and not math.isfinite(value):
            return field_error(
                "validation_not_a_number", "The submitted number is not properly formatted."
            )
        if f.opt("onlyInt") and not float(value).is_integer():
            return _only_int()
        minimum, maximum = f.opt("min"), f.opt("max")
        if minimum is not None and value < minimum:
            return field_error(
                "validation_min_number_constraint",
                f"Must be greater or equal than {go_number(minimum)}.",
                {"min": minimum},
            )
        if maximum is not None and value > maximum:
            return field_error(
                "validation_max_number_constraint",
                f"Must be less or equal than {go_number(maximum)}.",
                {"max": maximum},
            )
        return None

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        low, high = f.opt("min"), f.opt("max")
        inverted = low is not None and high is not None and high < low
        checks: list[tuple[str, Problem | None]] = [
            (
                "max",
                field_error(
                    "validation_min_number_constraint",
                    f"Must be greater or equal than {go_number(low)}.",
                    {"min": low},
                )
                if inverted
                else None,
            )
        ]
        for key, value in (("min", low), ("max", high)):
            if f.opt("onlyInt") and value is not None and not float(value).is_integer():
                checks.append((key, _only_int()))
        return first_errors(*checks)


TYPE = NumberType()
