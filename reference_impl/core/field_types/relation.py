"""``relation``: ids of another collection's records, one or several; existence is
checked on write, cascade/detach on delete (``core/records/relations.py``)
(``core/field_relation.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core.errors import REQUIRED
from reference_impl.core.field_settings import min_error
from reference_impl.core.field_types.base import (
    BOOL,
    INT,
    STR,
    WITH_HELP,
    WITH_HELP_TYPES,
    ChoiceType,
    Problem,
    first_errors,
)

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


class RelationType(ChoiceType):
    name = "relation"
    options: ClassVar[dict[str, Any]] = {
        **WITH_HELP,
        "cascadeDelete": False,
        "collectionId": "",
        "maxSelect": 0,
        "minSelect": 0,
    }
    option_types: ClassVar[dict[str, str]] = {
        **WITH_HELP_TYPES,
        "cascadeDelete": BOOL,
        "collectionId": STR,
        "maxSelect": INT,
        "minSelect": INT,
    }
    is_relation = True

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        low = int(f.opt("minSelect") or 0)
        return first_errors(
            ("collectionId", None if f.opt("collectionId") else REQUIRED),
            ("minSelect", min_error(low, 0)),
            ("maxSelect", REQUIRED if low > 0 and not f.opt("maxSelect") else None),
            ("maxSelect", min_error(f.opt("maxSelect"), low)),
        )


TYPE = RelationType()
