"""The ``sort`` parameter: ``-n,title,author.name,@random`` -> :class:`SortTerm` list."""

from __future__ import annotations

import re

from reference_impl.core.filter.resolver import Scope
from reference_impl.ir import BASE, RANDOM, ROWID, FilterError, Ref, RelationJoin, SortTerm

MAX_SORT_FIELDS = 8
_NAME = re.compile(r"^\w+$")
_RELATION_PATH = re.compile(r"^\w+\.\w+$")


def parse_sort(text: str, scope: Scope) -> list[SortTerm]:
    """Relation paths: one level through a single relation (a LEFT JOIN aliased
    ``__rel_<relation>``)."""
    out: list[SortTerm] = []
    items = [part.strip() for part in text.split(",")] if text.strip() else []
    for raw in items:
        if not raw:
            raise FilterError("empty sort item")
        descending = raw.startswith("-")
        name = raw[1:] if raw[:1] in "+-" else raw
        if len(name) > 255:
            raise FilterError("sort field too long")
        if name == "@random":
            out.append(SortTerm(descending, special=RANDOM))
            continue
        if name == "@rowid":
            out.append(SortTerm(descending, special=ROWID))
            continue
        if _RELATION_PATH.match(name) and scope.relations and name.split(".")[0] in scope.relations:
            rel, column = name.split(".")
            table, target_fields = scope.relations[rel]
            target = target_fields.get(column)
            if target is None or target.hidden:
                raise FilterError(f"invalid sort field {name!r}")
            alias = f"__rel_{rel}"
            relation = scope.fields[rel]
            join = RelationJoin(alias, table, Ref(BASE, rel, relation.kind))
            out.append(SortTerm(descending, Ref(alias, column, target.kind), joins=(join,)))
            continue
        found = scope.fields.get(name) if _NAME.match(name) else None
        if found is None or (found.hidden and not scope.allow_hidden):
            raise FilterError(f"invalid sort field {name!r}")
        out.append(SortTerm(descending, Ref(BASE, name, found.kind)))
    if len(out) > MAX_SORT_FIELDS:
        raise FilterError(f"more than {MAX_SORT_FIELDS} sort fields")
    return out
