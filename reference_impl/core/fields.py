"""Fields: a collection's field definitions, their ids, JSON and definition checks.

What a field does with a value (storage kind, lenient cast, validation, record JSON, body
modifiers) depends on its type and lives in one module per type (``core/field_types``);
:class:`Field` delegates to ``REGISTRY[type]``. Casting follows PocketBase's
``spf13/cast``-style leniency (``core/casts.py``, verified on 0.40.6): a number field given
``"abc"`` stores 0, a bool given ``"yes"`` stores false, a single select given an array
keeps the last value, a garbage date becomes empty. Only the checks PocketBase makes
produce validation errors.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from reference_impl.core.casts import (
    fixed_float,
    go_number,
    sorted_keys,
    to_bool,
    to_datetime,
    to_number,
    to_string_list,
    to_text,
)
from reference_impl.core.errors import REQUIRED, field_error
from reference_impl.core.field_types import BCRYPT_LIMIT, REGISTRY, FieldType, Problem
from reference_impl.core.field_types.email import EMAIL_PATTERN
from reference_impl.core.field_types.text import TEXT_DEFAULT_MAX
from reference_impl.ir.kinds import Kind

FIELD_NAME_RE = re.compile(r"^\w+$", re.ASCII)  # Go's \w: [0-9A-Za-z_]
RESERVED_FIELD_NAMES = {
    "null",
    "true",
    "false",
    "_rowid_",
    "collectionId",
    "collectionName",
    "expand",
}
# Every option key PocketBase serialises per type, with its default (keys come out sorted).
# maxSelect 0 (not given) means single, like 1.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {name: t.options for name, t in REGISTRY.items()}
FIELD_TYPES = frozenset(DEFAULT_OPTIONS)


def field_id(type_: str, name: str) -> str:
    """PocketBase's default field id: the type name plus crc32 of the field name."""
    return f"{type_}{zlib.crc32(name.encode())}"


@dataclass
class Field:
    type: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, key: str, value: Any) -> None:
        # The type, ``kind`` and ``hidden`` are read for every value of every record served,
        # so they are cached; options are replaced, never changed in place, and replacing any
        # attribute drops the cache.
        object.__setattr__(self, key, value)
        self.__dict__.pop("_derived", None)

    def _derive(self) -> tuple[FieldType, Kind, bool]:
        derived: tuple[FieldType, Kind, bool] | None = self.__dict__.get("_derived")
        if derived is None:
            spec = REGISTRY[self.type]
            derived = (spec, spec.kind(self), bool(self.opt("hidden")))
            self.__dict__["_derived"] = derived
        return derived

    @property
    def spec(self) -> FieldType:
        """The field's type: what it does with values (``core/field_types``)."""
        return self._derive()[0]

    @property
    def id(self) -> str:
        return str(self.options.get("id") or field_id(self.type, self.name))

    def opt(self, key: str) -> Any:
        return self.options.get(key, DEFAULT_OPTIONS[self.type].get(key))

    @property
    def hidden(self) -> bool:
        return self._derive()[2]

    @property
    def multiple(self) -> bool:
        return REGISTRY[self.type].can_be_multiple and int(self.opt("maxSelect") or 1) > 1

    @property
    def is_relation(self) -> bool:
        return self.spec.is_relation

    @property
    def kind(self) -> Kind:
        return self._derive()[1]

    def to_json(self) -> dict[str, Any]:
        out = {**DEFAULT_OPTIONS[self.type], **self.options}
        out.update(id=self.id, name=self.name, type=self.type)
        return dict(sorted(out.items()))

    def zero(self) -> Any:
        return self.spec.zero(self)

    def cast(self, raw: Any) -> Any:
        """Lenient conversion of a request value to the field's domain value."""
        return self.spec.cast(self, raw)

    def validate(self, value: Any) -> Problem | None:
        """PocketBase's checks for a cast value; ``None`` when valid."""
        return self.spec.validate(self, value)


def field_from_input(data: Any) -> Field | None:
    """Build a field from a collection payload item; ``None`` when the type is unknown."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    if data["type"] not in FIELD_TYPES:
        return None
    type_ = str(data["type"])
    name = str(data.get("name", ""))
    allowed = DEFAULT_OPTIONS[type_]
    options = {k: v for k, v in data.items() if k in allowed or k == "id"}
    return Field(type_, name, options)


def validate_field_definition(f: Field) -> dict[str, Any] | None:
    r"""``ValidateSettings`` of one field: the name's rules (``DefaultFieldNameValidationRule``:
    required, 1-100 characters, ASCII ``\w``, not reserved, no ``_via_``), then the options'
    (``field_settings``). All keys checked; the first failing rule per key reported."""
    from reference_impl.core.field_settings import length_between, validate_settings

    errors: dict[str, Any] = {}
    name = f.name
    if not name:
        errors["name"] = REQUIRED
    elif problem := length_between(name, 1, 100):
        errors["name"] = problem
    elif not FIELD_NAME_RE.match(name):
        errors["name"] = field_error("validation_match_invalid", "Must be in a valid format.")
    elif name in RESERVED_FIELD_NAMES:
        errors["name"] = field_error("validation_not_in_invalid", "Must not be in list.")
    elif "_via_" in name.lower():
        errors["name"] = VIA_ERROR
    field_id = f.options.get("id")
    if isinstance(field_id, str) and (problem := length_between(field_id, 1, 100)):
        errors["id"] = problem  # DefaultFieldIdValidationRule
    for key, problem in validate_settings(f).items():
        errors.setdefault(key, problem)
    return errors or None


VIA_ERROR = field_error("validation_found_via", 'The value cannot contain "_via_".')

__all__ = [
    "BCRYPT_LIMIT",
    "DEFAULT_OPTIONS",
    "EMAIL_PATTERN",
    "FIELD_TYPES",
    "TEXT_DEFAULT_MAX",
    "Field",
    "field_from_input",
    "field_id",
    "fixed_float",
    "go_number",
    "sorted_keys",
    "to_bool",
    "to_datetime",
    "to_number",
    "to_string_list",
    "to_text",
    "validate_field_definition",
]
