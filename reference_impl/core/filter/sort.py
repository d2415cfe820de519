"""The ``sort`` parameter: ``-n,title,author.team.name,j.a,@random`` -> :class:`SortTerm`.

Each key goes through the filter's field resolver (so hidden fields, relations, JSON paths
and ``:lower`` behave as in a filter); a key must name one value per record (a to-one
path: multi relations, back-relations and ``:each`` are refused).
"""

from __future__ import annotations

from reference_impl.core.filter.parser import Ident
from reference_impl.core.filter.plan import to_many
from reference_impl.core.filter.resolver import FieldResolver, Scope
from reference_impl.ir import RANDOM, ROWID, FilterError, Length, Lower, Ref, SortTerm

MAX_SORT_FIELDS = 8


def parse_sort(text: str, scope: Scope) -> list[SortTerm]:
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
        if name.startswith("@") or not name or name[0] in "+-":
            raise FilterError(f"invalid sort field {name!r}")
        resolver = FieldResolver(scope)
        path = resolver.resolve(Ident(name))
        joins = tuple(resolver.joins.values())
        if (
            not isinstance(path.operand, Ref | Lower | Length)
            or path.multi is not None
            or to_many(joins)
            or resolver.guards
        ):
            raise FilterError(f"invalid sort field {name!r}")
        out.append(SortTerm(descending, path.operand, joins=joins))
    if len(out) > MAX_SORT_FIELDS:
        raise FilterError(f"more than {MAX_SORT_FIELDS} sort fields")
    return out
