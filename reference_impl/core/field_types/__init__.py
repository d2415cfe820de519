"""Field types: one module per PocketBase type, registered here by type name.

:class:`~reference_impl.core.fields.Field` delegates its per-type behaviour (kind, zero
value, cast, checks, record JSON, body modifiers, option rules) to ``REGISTRY[f.type]``, so
a new type is one module and one line below. The order is PocketBase's (and the order of
``DEFAULT_OPTIONS``).
"""

from __future__ import annotations

from reference_impl.core.field_types import (
    autodate,
    bool,
    date,
    editor,
    email,
    file,
    geo_point,
    json,
    number,
    password,
    relation,
    select,
    text,
    url,
)
from reference_impl.core.field_types.base import FieldType, Modifier, Problem
from reference_impl.core.field_types.password import BCRYPT_LIMIT, PlainPassword

REGISTRY: dict[str, FieldType] = {
    t.name: t
    for t in (
        text.TYPE,
        number.TYPE,
        bool.TYPE,
        email.TYPE,
        url.TYPE,
        editor.TYPE,
        date.TYPE,
        autodate.TYPE,
        select.TYPE,
        json.TYPE,
        relation.TYPE,
        file.TYPE,
        password.TYPE,
        geo_point.TYPE,
    )
}

__all__ = ["BCRYPT_LIMIT", "REGISTRY", "FieldType", "Modifier", "PlainPassword", "Problem"]
