"""``url``: an absolute URL of a known scheme, then the allowed and excluded domains
(``core/field_url.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from reference_impl.core.errors import field_error
from reference_impl.core.field_settings import domain_errors
from reference_impl.core.field_types.base import WITH_HELP, WITH_HELP_TYPES, FieldType, Problem
from reference_impl.core.field_types.email import (
    DOMAIN_OPTION_TYPES,
    DOMAIN_OPTIONS,
    domain_problem,
)

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


def is_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in {"http", "https", "ftp", "ftps", "mailto", "ws", "wss"} and bool(
        parsed.netloc or parsed.scheme == "mailto"
    )


class UrlType(FieldType):
    name = "url"
    options: ClassVar[dict[str, Any]] = {**WITH_HELP, **DOMAIN_OPTIONS}
    option_types: ClassVar[dict[str, str]] = {**WITH_HELP_TYPES, **DOMAIN_OPTION_TYPES}

    def check(self, f: Field, value: Any) -> Problem | None:
        if not value:
            return None
        if not is_url(value):
            return field_error("validation_invalid_url", "Must be a valid url.")
        return domain_problem(f, urlparse(value).hostname or "", "Url")

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        return domain_errors(f)


TYPE = UrlType()
