"""``autodate``: set by the server on create and/or update, never from a body, never
invalid (``core/field_autodate.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core.errors import field_error
from reference_impl.core.field_types.base import BOOL, COMMON, COMMON_TYPES, Problem
from reference_impl.core.field_types.date import DateType

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


class AutodateType(DateType):
    name = "autodate"
    options: ClassVar[dict[str, Any]] = {**COMMON, "onCreate": True, "onUpdate": False}
    option_types: ClassVar[dict[str, str]] = {**COMMON_TYPES, "onCreate": BOOL, "onUpdate": BOOL}
    client_settable = False

    def stamp(self, f: Field, *, creating: bool) -> bool:
        return bool(f.opt("onCreate" if creating else "onUpdate"))

    def validate(self, f: Field, value: Any) -> Problem | None:
        return None

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        if f.opt("onCreate") or f.opt("onUpdate"):
            return {}
        either = field_error("validation_required", "Either onCreate or onUpdate must be enabled.")
        return {"onCreate": either, "onUpdate": either}


TYPE = AutodateType()
