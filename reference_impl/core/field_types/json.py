"""``json``: any JSON value; a string holding JSON is that JSON, objects keep Go's sorted
keys (``core/field_json.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core import jsonin
from reference_impl.core.casts import sorted_keys
from reference_impl.core.field_settings import MAX_SAFE_INT, range_error
from reference_impl.core.field_types.base import (
    INT,
    WITH_HELP,
    WITH_HELP_TYPES,
    FieldType,
    Problem,
    first_errors,
)
from reference_impl.ir.kinds import Kind

if TYPE_CHECKING:
    from reference_impl.core.fields import Field

JSON_MAX_SIZE = 1 << 20  # maxSize 0: 1 MiB


def go_json(value: Any) -> Any:
    """Go's view of a JSON value: sorted object keys, numbers beyond int64 as float64.

    Integers inside int64 stay exact (SPEC 1.1; PocketBase rounds them to float64, a
    registered improvement). Beyond int64 both engines agree on float64: SQLite keeps
    ``1e21`` as REAL, PostgreSQL's jsonb normalises it to the integer 10^21.
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return float(value)
    if isinstance(value, dict):
        return {k: go_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [go_json(v) for v in value]
    return value


class JsonType(FieldType):
    name = "json"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, "maxSize": 0}
    option_types: ClassVar[dict[str, str]] = {**WITH_HELP_TYPES, "maxSize": INT}

    def kind(self, f: Field) -> Kind:
        return Kind.JSON

    def zero(self, f: Field) -> Any:
        return None

    def cast(self, f: Field, raw: Any) -> Any:
        # A string holding valid JSON is stored as that JSON ("123" -> 123), as PocketBase.
        if isinstance(raw, str):
            try:
                return sorted_keys(jsonin.loads(raw))
            except jsonin.JsonInputError:
                return raw
        return sorted_keys(raw)

    def is_blank(self, value: Any) -> bool:
        return value in (None, "", [], {})

    def export(self, f: Field, value: Any) -> Any:
        return go_json(value)  # Go marshals maps with sorted keys

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        return first_errors(("maxSize", range_error(f.opt("maxSize"), 0, MAX_SAFE_INT)))

    def max_body_size(self, f: Field) -> int:
        return int(f.opt("maxSize") or 0) or JSON_MAX_SIZE


TYPE = JsonType()
