"""``editor``: rich text, no length rules (only ``maxSize`` on the request body)
(``core/field_editor.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core.field_settings import MAX_SAFE_INT, range_error
from reference_impl.core.field_types.base import (
    BOOL,
    INT,
    WITH_HELP,
    WITH_HELP_TYPES,
    FieldType,
    Problem,
    first_errors,
)

if TYPE_CHECKING:
    from reference_impl.core.fields import Field

EDITOR_MAX_SIZE = 5 << 20  # maxSize 0: 5 MiB


class EditorType(FieldType):
    name = "editor"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, "convertURLs": False, "maxSize": 0}
    option_types: ClassVar[dict[str, str]] = {
        **WITH_HELP_TYPES,
        "convertURLs": BOOL,
        "maxSize": INT,
    }

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        return first_errors(("maxSize", range_error(f.opt("maxSize"), 0, MAX_SAFE_INT)))

    def max_body_size(self, f: Field) -> int:
        return int(f.opt("maxSize") or 0) or EDITOR_MAX_SIZE


TYPE = EditorType()
