"""The ``sort`` parameter: ``-n,title,author.team.name,j.a,@random`` -> :class:`SortTerm`.

Each key goes through the filter's field resolver (so hidden fields, relations, JSON paths,
``:lower`` and the client relation guard behave as in a filter); a multi-valued key sorts
by each record's smallest value ascending and largest descending, as PocketBase's
``SELECT DISTINCT`` over the joins does.
"""

from __future__ import annotations

from reference_impl.core.filter.parser import Ident
from reference_impl.core.filter.plan import plan, to_many
from reference_impl.core.filter.resolver import FieldResolver, Scope
from reference_impl.ir import RANDOM, ROWID, BoolOp, FilterError, Length, Lower, Ref, SortTerm

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
        if not isinstance(path.operand, Ref | Lower | Length):
            raise FilterError(f"invalid sort field {name!r}")
        joins = tuple(resolver.joins.values())
        guard = None
        if resolver.guards:
            node = resolver.guards[0]
            if len(resolver.guards) > 1:
                node = BoolOp("AND", tuple(resolver.guards))
            guard = plan(node, joins)
        if path.multi is not None:
            term = SortTerm(descending, path.multi.value, many=path.multi.joins, guard=guard)
        else:
            inner = to_many(joins)
            outer = tuple(j for j in joins if j.alias not in inner)
            term = SortTerm(descending, path.operand, joins=outer, guard=guard)
        out.append(term)
    if len(out) > MAX_SORT_FIELDS:
        raise FilterError(f"more than {MAX_SORT_FIELDS} sort fields")
    return out
