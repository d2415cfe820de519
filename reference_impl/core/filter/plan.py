"""Where a filter's joins go: to-one joins become the statement's LEFT JOINs; to-many
ones (multi relations, back-relations, ``@collection``, ``:each``) go inside one
``EXISTS`` with every top-level condition that reads them.

PocketBase joins everything into the main query and adds ``SELECT DISTINCT``; a condition
then holds for the record when it holds on *some* joined row, and conditions on the same
alias constrain the same row. ``EXISTS`` over the same LEFT JOINs (from a one-row source,
so an empty array still gives its NULL row) selects the same records without duplicating
or de-duplicating rows (PostgreSQL cannot ``DISTINCT`` json); top-level conditions that
read no to-many alias stay outside, where indexes serve them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reference_impl.ir import (
    BackJoin,
    BoolOp,
    Compiled,
    CrossJoin,
    EachJoin,
    Exists,
    Join,
    Node,
    Ref,
    RelationJoin,
)


def plan(where: Node, joins: tuple[Join, ...]) -> Compiled:
    inner = to_many(joins)
    if not inner:
        return Compiled(where, joins)
    items = where.items if isinstance(where, BoolOp) and where.op == "AND" else (where,)
    outside: list[Node] = []
    inside: list[Node] = []
    for item in items:
        (inside if free_aliases(item) & inner else outside).append(item)
    if inside:
        body = inside[0] if len(inside) == 1 else BoolOp("AND", tuple(inside))
        outside.append(Exists(tuple(j for j in joins if j.alias in inner), body))
    node = outside[0] if len(outside) == 1 else BoolOp("AND", tuple(outside))
    return Compiled(node, tuple(j for j in joins if j.alias not in inner))


def to_many(joins: tuple[Join, ...]) -> set[str]:
    """Aliases that may give several rows per record: to-many joins and what hangs below."""
    inner: set[str] = set()
    for join in joins:  # registration order: a parent always comes first
        if isinstance(join, EachJoin | BackJoin | CrossJoin) or (
            isinstance(join, RelationJoin) and free_aliases(join.key) & inner
        ):
            inner.add(join.alias)
    return inner


def free_aliases(value: Any) -> set[str]:
    """Aliases a node reads that it does not define itself (an ``Exists`` defines its
    joins' aliases)."""
    if isinstance(value, Ref):
        return {value.alias}
    if isinstance(value, Exists):
        found = free_aliases(value.where)
        for join in value.joins:
            found |= free_aliases(join)
        return found - {join.alias for join in value.joins}
    if isinstance(value, BackJoin):
        return {value.parent}
    if isinstance(value, tuple):
        out: set[str] = set()
        for item in value:
            out |= free_aliases(item)
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = set()
        for f in dataclasses.fields(value):
            out |= free_aliases(getattr(value, f.name))
        return out
    return set()
