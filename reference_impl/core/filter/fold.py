"""Filter stage 5: bind one request's values and fold constants (its own pass).

``fold(node, bindings)`` replaces ``@request.*`` values and macros by the request's values,
finishes the comparisons ``semantics`` deferred, and simplifies ``Const`` inside boolean
operators. With ``bindings=None`` (policy mode) request values stay symbolic and only
constants fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from reference_impl.core.filter import semantics
from reference_impl.ir import (
    AuthRef,
    BoolOp,
    Cmp,
    Compiled,
    Const,
    Exists,
    Kind,
    Like,
    Macro,
    Node,
    Not,
    Operand,
    RequestRef,
    Val,
)


@dataclass(frozen=True)
class Bindings:
    """One request's values: the auth record's scalars (``None`` for a guest), method,
    context, query and headers (snake_cased names), the clock."""

    auth: dict[str, Any] | None = None
    method: str = "GET"
    context: str = "default"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    now: datetime | None = None


def bind(compiled: Compiled, bindings: Bindings | None) -> Compiled:
    return replace(compiled, where=fold(compiled.where, bindings))


def fold(node: Node, bindings: Bindings | None) -> Node:
    if isinstance(node, BoolOp):
        return _fold_bool(node, bindings)
    if isinstance(node, Not):
        item = fold(node.item, bindings)
        return Const(not item.value) if isinstance(item, Const) else Not(item)
    if isinstance(node, Exists):
        where = fold(node.where, bindings)
        if isinstance(where, Const) and not where.value:
            return Const(node.negate)
        return replace(node, where=where)
    if bindings is None:
        return node
    if isinstance(node, Cmp) and (_symbolic(node.left) or _symbolic(node.right)):
        return fold(
            semantics.compare(node.op, _value(node.left, bindings), _value(node.right, bindings)),
            bindings,
        )
    if isinstance(node, Like) and (_symbolic(node.operand) or _symbolic(node.pattern)):
        return fold(
            semantics.compare(
                "!~" if node.negate else "~",
                _value(node.operand, bindings),
                _value(node.pattern, bindings),
            ),
            bindings,
        )
    return node


def _fold_bool(node: BoolOp, bindings: Bindings | None) -> Node:
    absorbing = node.op == "OR"  # OR: a true item decides; AND: a false one
    items: list[Node] = []
    for item in node.items:
        folded = fold(item, bindings)
        if isinstance(folded, Const):
            if folded.value is absorbing:
                return Const(absorbing)
            continue
        items.append(folded)
    if not items:
        return Const(not absorbing)
    return items[0] if len(items) == 1 else BoolOp(node.op, tuple(items))


def _symbolic(operand: Operand) -> bool:
    return isinstance(operand, semantics.SYMBOLIC) or (
        isinstance(operand, Val) and operand.value is None
    )


def _value(operand: Operand, bindings: Bindings) -> Operand | None:
    """The operand with request values bound; ``None`` for a missing value (null)."""
    if isinstance(operand, AuthRef):
        if bindings.auth is None:
            return None
        value = bindings.auth.get(operand.field)
        if value is None:
            return None
        return Val(bool(value), Kind.BOOL) if operand.kind is Kind.BOOL else Val(value, Kind.TEXT)
    if isinstance(operand, RequestRef):
        value = _request_value(operand.path, bindings)
        return None if value is None else Val(value, Kind.TEXT)
    if isinstance(operand, Macro):
        raise NotImplementedError(operand.name)
    if isinstance(operand, Val) and operand.value is None:
        return None
    return operand


def _request_value(path: str, bindings: Bindings) -> str | None:
    if path == "method":
        return bindings.method
    if path == "context":
        return bindings.context
    group, _, key = path.partition(".")
    if group == "query":
        return bindings.query.get(key)
    if group == "headers":
        return bindings.headers.get(key)
    return None
