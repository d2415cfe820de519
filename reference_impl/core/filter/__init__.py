"""The filter language front-end, one module per stage:

``lexer`` (text -> tokens) -> ``parser`` (tokens -> syntax tree) -> ``resolver`` (names ->
columns, request values, joins) -> ``semantics`` (PocketBase's per-type meaning of each
comparison) -> ``fold`` (one request's values bound, constants folded) -> IR
(``reference_impl/ir``), rendered by ``db/render.py``. ``sort`` parses ``sort``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

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
from reference_impl.core.filter.plan import plan
from reference_impl.core.filter.resolver import FieldResolver, Path, Scope
from reference_impl.core.filter.semantics import compare, like_pattern, sqlite_real_text
from reference_impl.core.filter.sort import MAX_SORT_FIELDS, parse_sort
from reference_impl.ir import (
    BoolOp,
    Cmp,
    Compiled,
    Exists,
    FilterError,
    Join,
    Kind,
    Node,
    Not,
    RequestRef,
    Val,
)

__all__ = [
    "ANY_OPERATORS",
    "MAX_EXPRESSIONS",
    "MAX_FILTER_LENGTH",
    "MAX_SORT_FIELDS",
    "OPERATORS",
    "Bindings",
    "Call",
    "CompileCache",
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
    "scope_key",
    "sqlite_real_text",
    "tokenize",
]


T = TypeVar("T")


class CompileCache:
    """Compiled filters and sorts of one collection store, by text and scope.

    Compiling is a pure function of the text and the definitions the scope reads (the
    collection, the ones its relations and ``@collection`` reach, the caller's auth
    collection), and its IR is immutable, so a request repeating a filter, a sort or a rule
    reuses it; request values are bound per request afterwards (:func:`bind`). The store
    clears it whenever any definition changes, here or (through the event grid) elsewhere,
    so an entry never outlives the schema it was compiled against. Failures are not kept.
    Bounded: past ``MAX_ENTRIES`` it starts over (a client sending endless distinct filters
    costs a recompile, never memory).
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[Hashable, object] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable | None, make: Callable[[], T]) -> T:
        """``make()``'s result for ``key``, computed once (None: not cacheable)."""
        if key is None:
            return make()
        found = self._entries.get(key)
        if found is not None:
            self.hits += 1
            return found  # type: ignore[return-value]
        self.misses += 1
        generation = self._generation
        value = make()
        with self._lock:
            if generation != self._generation:
                return value  # compiled against definitions that changed meanwhile
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def __len__(self) -> int:
        return len(self._entries)


def scope_key(scope: Scope) -> tuple[Hashable, ...] | None:
    """What a compile under ``scope`` depends on besides the definitions (which clear the
    cache); None for the scopes that are not cached (row level security policies, system
    tables, a scope without a store to resolve against)."""
    if scope.policy or scope.auth_fields is not None or scope.collection is None:
        return None
    if scope.find is None:
        return None
    auth = scope.auth_collection.id if scope.auth_collection is not None else None
    return (scope.collection.id, scope.allow_hidden, auth, scope.row_security)


def compile_filter(text: str, scope: Scope) -> Compiled:
    """Text -> IR with request values symbolic (bind them with :func:`bind`)."""
    resolver = FieldResolver(scope)
    where = _group(parse(text), resolver)
    if resolver.guards:
        where = BoolOp("AND", (where, *resolver.guards))
    return plan(where, tuple(resolver.joins.values()))


def compile_rule_on(text: str, resolver: FieldResolver) -> Node:
    """A rule compiled into another filter's joins (the client relation guard)."""
    return _group(parse(text), resolver)


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
    left, right = resolver.resolve(expr.left), resolver.resolve(expr.right)
    any_of = expr.op in ANY_OPERATORS
    op = expr.op[1:] if any_of else expr.op
    if not any_of:  # a body array's items, all of them (fold expands the items)
        left, right = _all_items(left), _all_items(right)
    node = compare(op, left.operand, right.operand)
    if not any_of:
        node = _all_of(op, left, right, node)
    for visible in (left.visible_email, right.visible_email):
        if visible is not None:  # PocketBase: only auth records that show their email
            node = BoolOp("AND", (node, Cmp("=", visible, Val(True, Kind.BOOL))))
    return node


def _all_items(path: Path) -> Path:
    operand = path.operand
    if isinstance(operand, RequestRef) and operand.path.endswith(":each"):
        return Path(RequestRef(operand.path + "all", operand.kind))
    return path


def _all_of(op: str, left: Path, right: Path, node: Node) -> Node:
    """PocketBase's multi-match: a plain operator on a multi-valued path holds for every
    value: no row of a fresh chain of the same joins may fail it (NOT EXISTS ... WHERE
    NOT), besides the joined row itself."""
    if left.multi is None and right.multi is None:
        return node
    joins: tuple[Join, ...] = ()
    lhs, rhs = left.operand, right.operand
    if left.multi is not None:
        joins += left.multi.joins
        lhs = left.multi.value
    if right.multi is not None:
        joins += right.multi.joins
        rhs = right.multi.value
    check = compare(op, lhs, rhs)
    return BoolOp("AND", (node, Exists(joins, Not(check), negate=True)))
