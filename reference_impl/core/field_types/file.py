"""``file``: names of stored files, one or several; uploads, naming and the checks live in
:mod:`reference_impl.core.files`, this is the field's side (``core/field_file.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core import files
from reference_impl.core.field_settings import MAX_SAFE_INT, range_error, thumb_errors
from reference_impl.core.field_types.base import (
    BOOL,
    INT,
    STRS,
    WITH_HELP,
    WITH_HELP_TYPES,
    FieldType,
    Modifier,
    Problem,
    cast_choices,
    first_errors,
)

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


class FileType(FieldType):
    name = "file"
    options: ClassVar[dict[str, Any]] = {
        **WITH_HELP,
        "maxSelect": 0,
        "maxSize": 0,
        "mimeTypes": [],
        "protected": False,
        "thumbs": [],
    }
    option_types: ClassVar[dict[str, str]] = {
        **WITH_HELP_TYPES,
        "maxSelect": INT,
        "maxSize": INT,
        "mimeTypes": STRS,
        "protected": BOOL,
        "thumbs": STRS,
    }
    can_be_multiple = True
    holds_files = True

    def cast(self, f: Field, raw: Any) -> Any:
        return cast_choices(f, raw)

    def from_body(self, f: Field, raw: Any) -> Any:
        return files.normalize(f, raw)  # names and uploads, not only text

    def modify(self, f: Field, current: Any, mod: Modifier, raw: Any) -> Any:
        return files.apply_modifier(f, current, mod, raw)

    def merge_uploads(
        self, f: Field, body: dict[str, Any], uploads: dict[str, list[files.Upload]]
    ) -> None:
        files.merge_uploads(f, body, uploads)

    def validate_record(self, f: Field, value: Any, old: Any) -> Problem | None:
        return files.validate(f, value, old)

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        errors = first_errors(
            ("maxSelect", range_error(f.opt("maxSelect"), 0, MAX_SAFE_INT)),
            ("maxSize", range_error(f.opt("maxSize"), 0, MAX_SAFE_INT)),
        )
        thumbs = thumb_errors(f.opt("thumbs") or [])
        if thumbs:
            errors["thumbs"] = thumbs
        return errors

    def max_body_size(self, f: Field) -> int:
        size = int(f.opt("maxSize") or 0) or files.DEFAULT_MAX_SIZE
        return size * max(int(f.opt("maxSelect") or 1), 1)


TYPE = FileType()
