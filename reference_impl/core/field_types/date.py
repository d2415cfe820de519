"""``date``: a UTC instant at millisecond precision; unset is empty (``core/field_date.go``).

Stored per engine (SQLite text, PostgreSQL ``TIMESTAMPTZ``), served in PocketBase's
``YYYY-MM-DD HH:MM:SS.mmmZ`` layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core.casts import to_datetime
from reference_impl.core.field_types.base import STR, WITH_HELP, WITH_HELP_TYPES, FieldType
from reference_impl.ir import format_pb_datetime
from reference_impl.ir.kinds import Kind

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


class DateType(FieldType):
    name = "date"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, "max": "", "min": ""}
    option_types: ClassVar[dict[str, str]] = {**WITH_HELP_TYPES, "min": STR, "max": STR}

    def kind(self, f: Field) -> Kind:
        return Kind.DATETIME_MS

    def zero(self, f: Field) -> Any:
        return None

    def cast(self, f: Field, raw: Any) -> Any:
        return to_datetime(raw)

    def export(self, f: Field, value: Any) -> Any:
        return format_pb_datetime(value) if value else ""


TYPE = DateType()
