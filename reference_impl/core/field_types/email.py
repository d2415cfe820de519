"""``email``: a loose address shape on RE2, then the allowed and excluded domains
(``core/field_email.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core import regex
from reference_impl.core.errors import field_error
from reference_impl.core.field_settings import domain_errors
from reference_impl.core.field_types.base import (
    STRS,
    WITH_HELP,
    WITH_HELP_TYPES,
    FieldType,
    Problem,
)

if TYPE_CHECKING:
    from reference_impl.core.fields import Field

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # RE2: linear on hostile input
DOMAIN_OPTIONS: dict[str, Any] = {"exceptDomains": [], "onlyDomains": []}
DOMAIN_OPTION_TYPES = {"exceptDomains": STRS, "onlyDomains": STRS}


def domain_problem(f: Field, domain: str, what: str) -> Problem | None:
    """``onlyDomains`` / ``exceptDomains`` of an email or url field."""
    only, excluded = f.opt("onlyDomains") or [], f.opt("exceptDomains") or []
    if (only and domain not in only) or domain in excluded:
        return field_error(
            f"validation_{what.lower()}_domain_not_allowed", f"{what} domain is not allowed."
        )
    return None


class EmailType(FieldType):
    name = "email"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, **DOMAIN_OPTIONS}
    option_types: ClassVar[dict[str, str]] = {**WITH_HELP_TYPES, **DOMAIN_OPTION_TYPES}

    def check(self, f: Field, value: Any) -> Problem | None:
        if not value:
            return None
        if not regex.matches(EMAIL_PATTERN, value):
            return field_error("validation_is_email", "Must be a valid email address.")
        return domain_problem(f, value.rsplit("@", 1)[-1], "Email")

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        return domain_errors(f)


TYPE = EmailType()
