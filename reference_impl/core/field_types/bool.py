"""``bool``: ``required`` means true (false is Go's zero value) (``core/field_bool.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reference_impl.core.casts import to_bool
from reference_impl.core.field_types.base import FieldType
from reference_impl.ir.kinds import Kind

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


class BoolType(FieldType):
    name = "bool"

    def kind(self, f: Field) -> Kind:
        return Kind.BOOL

    def zero(self, f: Field) -> Any:
        return False

    def cast(self, f: Field, raw: Any) -> Any:
        return to_bool(raw)


TYPE = BoolType()
