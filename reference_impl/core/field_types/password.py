"""``password``: a bcrypt hash at rest, never served; the plain text a body sends travels
as :class:`PlainPassword` until it is checked and hashed (``core/field_password.go``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core import regex
from reference_impl.core.errors import REQUIRED, field_error
from reference_impl.core.field_settings import range_error, regex_error
from reference_impl.core.field_types.base import (
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

# bcrypt's "password length exceeds 72 bytes", which PocketBase shows as a plain error
# (compared by identity: only superusers see it as a field error).
BCRYPT_LIMIT = field_error("validation_invalid_value", "Invalid value.")


@dataclass(frozen=True)
class PlainPassword:
    """A password as the client sent it, not yet validated and hashed (never stored)."""

    text: str = field(repr=False)


class PasswordType(FieldType):
    name = "password"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, "cost": 0, "max": 0, "min": 0, "pattern": ""}
    option_types: ClassVar[dict[str, str]] = {
        **WITH_HELP_TYPES,
        "cost": INT,
        "max": INT,
        "min": INT,
        "pattern": STR,
    }
    hidden_writable = True

    def from_body(self, f: Field, raw: Any) -> Any:
        return PlainPassword(raw if isinstance(raw, str) else "")

    def check(self, f: Field, value: Any) -> Problem | None:
        """``PasswordField.ValidateValue``: bcrypt's 72-byte limit fails first (PocketBase
        hashes on set and reports bcrypt's error as "Invalid value."), then the length in
        runes (at most 71 when ``max`` is 0), then the pattern."""
        if not (isinstance(value, str) and value):
            return None
        if len(value.encode("utf-8")) > 72:
            return BCRYPT_LIMIT
        minimum = int(f.opt("min") or 0)
        maximum = int(f.opt("max") or 0) or 71
        if len(value) < minimum:
            return field_error(
                "validation_min_text_constraint", f"Must be at least {minimum} character(s)."
            )
        if len(value) > maximum:
            return field_error(
                "validation_max_text_constraint", f"Must be less than {maximum} character(s)."
            )
        pattern = f.opt("pattern")
        if pattern and not regex.matches(pattern, value):
            return field_error("validation_invalid_format", "Invalid value format.")
        return None

    def validate_record(self, f: Field, value: Any, old: Any) -> Problem | None:
        # The plain text was checked before hashing (records body); here only the hash is.
        return REQUIRED if f.opt("required") and not value else None

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        return first_errors(
            ("min", range_error(f.opt("min"), 1, 71)),
            ("max", range_error(f.opt("max"), int(f.opt("min") or 0), 71)),
            ("cost", range_error(f.opt("cost"), 4, 31)),
            ("pattern", regex_error(f.opt("pattern"))),
        )

    def served(self, f: Field) -> bool:
        return not f.hidden

    def export(self, f: Field, value: Any) -> Any:
        return ""  # never the hash


TYPE = PasswordType()
