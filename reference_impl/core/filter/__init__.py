"""The filter language front-end, one module per stage:

``lexer`` (text -> tokens) -> ``parser`` (tokens -> syntax tree) -> ``resolver`` (names ->
columns, request values, joins) -> ``semantics`` (PocketBase's per-type meaning of each
comparison) -> ``fold`` (one request's values bound, constants folded) -> IR
(``reference_impl/ir``), rendered by ``db/render.py``. ``sort`` parses ``sort``.
"""

from __future__ import annotations

from reference_impl.core.filter.fold import Bindings, bind, fold
from reference_impl.core.filter.lexer import MAX_FILTER_LENGTH, tokenize
from reference_impl.core.filter.parser import (
    ANY_OPERATORS,
    MAX_EXPRESSIONS,
    OPERATORS,
    Call,
    Expr,
    Group,
    Ident,
    Num,
    Text,
    parse,
)
from reference_impl.core.filter.resolver import FieldResolver, Scope
from reference_impl.core.filter.semantics import compare, like_pattern, sqlite_real_text
from reference_impl.core.filter.sort import MAX_SORT_FIELDS, parse_sort
from reference_impl.ir import BoolOp, Compiled, FilterError, Node

__all__ = [
    "ANY_OPERATORS",
    "MAX_EXPRESSIONS",
    "MAX_FILTER_LENGTH",
    "MAX_SORT_FIELDS",
    "OPERATORS",
    "Bindings",
    "Call",
    "Compiled",
    "Expr",
    "FilterError",
    "Group",
    "Ident",
    "Num",
    "Scope",
    "Text",
    "bind",
    "compile_filter",
    "fold",
    "like_pattern",
    "parse",
    "parse_sort",
    "sqlite_real_text",
    "tokenize",
]


def compile_filter(text: str, scope: Scope) -> Compiled:
    """Text -> IR with request values symbolic (bind them with :func:`bind`)."""
    resolver = FieldResolver(scope)
    where = _group(parse(text), resolver)
    return Compiled(where, tuple(resolver.joins.values()))


def _group(group: Group, resolver: FieldResolver) -> Node:
    # fexpr is flat; PocketBase emits it as one SQL expression, so AND binds tighter than OR.
    ors: list[list[Node]] = [[]]
    for join, item in group.items:
        node = _group(item, resolver) if isinstance(item, Group) else _expr(item, resolver)
        if join == "||":
            ors.append([])
        ors[-1].append(node)
    ands = [items[0] if len(items) == 1 else BoolOp("AND", tuple(items)) for items in ors]
    return ands[0] if len(ands) == 1 else BoolOp("OR", tuple(ands))


def _expr(expr: Expr, resolver: FieldResolver) -> Node:
    if expr.op in ANY_OPERATORS:
        raise FilterError(f"operator {expr.op} is not supported yet")
    return compare(expr.op, resolver.resolve(expr.left), resolver.resolve(expr.right))
