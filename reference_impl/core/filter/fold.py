"""Filter stage 5: bind one request's values and fold constants (its own pass).

``fold(node, bindings)`` replaces ``@request.*`` values and macros by the request's values,
finishes the comparisons ``semantics`` deferred, and simplifies ``Const`` inside boolean
operators. With ``bindings=None`` (policy mode) request values stay symbolic and only
constants fold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reference_impl.core.filter import semantics
from reference_impl.ir import (
    AuthRef,
    BoolOp,
    Cmp,
    Compiled,
    Const,
    Exists,
    Func,
    IsEmpty,
    Join,
    Kind,
    KnownIf,
    Like,
    Lower,
    Macro,
    Node,
    Not,
    Operand,
    RelationJoin,
    RequestRef,
    Val,
    format_pb_datetime,
)


@dataclass(frozen=True)
class Bindings:
    """One request's values: the auth record's scalars (``None`` for a guest), method,
    context, query and headers (snake_cased names), the body, the clock. ``changed``: the
    body keys whose value differs from the row the rule reads (PocketBase's ``f:changed``
    is ``@request.body.f:isset = true && @request.body.f != f`` over that row, which the
    app has read already); ``None``: no row compared, so a set key counts as changed."""

    auth: dict[str, Any] | None = None
    method: str = "GET"
    context: str = "default"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    changed: frozenset[str] | None = None
    now: datetime | None = None


def bind(compiled: Compiled, bindings: Bindings | None) -> Compiled:
    joins = compiled.joins
    if bindings is not None:
        joins = tuple(_bind_join(join, bindings) for join in joins)
    return Compiled(fold(compiled.where, bindings), joins)


def _bind_join(join: Join, bindings: Bindings) -> Join:
    """A join keyed on a request value (``@request.auth.*`` through the auth record)."""
    if isinstance(join, RelationJoin) and _symbolic(join.key):
        value = _value(join.key, bindings)
        return replace(join, key=value if value is not None else Val(None, Kind.TEXT))
    return join


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
    node = _bind_functions(node, bindings)
    if isinstance(node, KnownIf) and _symbolic(node.operand):
        value = _value(node.operand, bindings)
        return Const(node.value) if value is not None else Const(False)
    if isinstance(node, IsEmpty) and _symbolic(node.operand):
        return fold(
            semantics.compare("!=" if node.negate else "=", _value(node.operand, bindings), None),
            bindings,
        )
    if isinstance(node, Cmp | Like) and (each := _each_side(node)) is not None:
        return _fold_each(node, each, bindings)
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


def _each_side(node: Cmp | Like) -> str | None:
    for name in ("left", "right", "operand", "pattern"):
        value = getattr(node, name, None)
        if isinstance(value, RequestRef) and ":each" in value.path:
            return name
    return None


def _fold_each(node: Cmp | Like, side: str, bindings: Bindings) -> Node:
    """``@request.body.f:each``: the comparison for each item of the body array (one NULL
    row when it is empty or missing, as a LEFT JOIN over the array); ``?`` forms hold for
    some item, plain ones for some and every item (PocketBase's multi-match)."""
    ref = getattr(node, side)
    path, _, mode = ref.path.partition(":")
    raw = _lookup(bindings.body or {}, path.split(".")[1:]) if path.startswith("body.") else None
    items = raw if isinstance(raw, list) else [] if raw in (None, _MISSING) else [raw]
    rows: list[Node] = []
    for item in items or [None]:
        value = Val(None if item is None else str(item), Kind.TEXT)  # None: the NULL row
        replaced = replace(node, **{side: value})  # type: ignore[arg-type]
        rows.append(fold(_recompare(replaced), bindings))
    some = fold(BoolOp("OR", tuple(rows)), bindings) if len(rows) > 1 else rows[0]
    if mode != "eachall":
        return some
    every = fold(BoolOp("AND", tuple(rows)), bindings) if len(rows) > 1 else rows[0]
    return fold(BoolOp("AND", (some, every)), bindings)


def _recompare(node: Cmp | Like) -> Node:
    if isinstance(node, Like):
        return semantics.compare("!~" if node.negate else "~", node.operand, node.pattern)
    return semantics.compare(node.op, node.left, node.right)


def _bind_functions(node: Node, bindings: Bindings) -> Node:
    """Request values inside function arguments (``strftime('%Y', @now)``)."""
    changes = {}
    for name in ("left", "right", "operand", "pattern"):
        value = getattr(node, name, None)
        if isinstance(value, Func) and any(_symbolic(arg) for arg in value.args):
            args = tuple(
                (_value(arg, bindings) or Val(None, Kind.TEXT)) if _symbolic(arg) else arg
                for arg in value.args
            )
            changes[name] = replace(value, args=args)
    return replace(node, **changes) if changes else node  # type: ignore[arg-type]


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
    """A request value, or the null literal a deferred comparison carries."""
    return semantics.symbolic(operand) or (isinstance(operand, Val) and operand.value is None)


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
        return _request_value(operand.path, bindings)
    if isinstance(operand, Macro):
        return macro_value(operand.name, bindings.now or datetime.now(UTC))
    if isinstance(operand, Lower):
        inner = _value(operand.operand, bindings)
        if isinstance(inner, Val):
            return Val(semantics.ascii_lower(semantics.as_sqlite_text(inner)), Kind.TEXT)
        return inner if inner is None else Lower(inner)
    if isinstance(operand, Val) and operand.value is None:
        return None
    return operand


_MISSING = object()


def _request_value(path: str, bindings: Bindings) -> Val | None:
    """``method``, ``context``, ``query.k``, ``headers.k``, ``body.k[.sub]``, ``auth.k``
    with ``:isset`` / ``:changed``: the request's value, ``None`` when missing."""
    path, _, modifier = path.partition(":")
    if path == "method":
        return Val(bindings.method, Kind.TEXT)
    if path == "context":
        return Val(bindings.context, Kind.TEXT)
    group, _, key = path.partition(".")
    value: Any = _MISSING
    if group == "query":
        value = bindings.query.get(key, _MISSING)
    elif group == "headers":
        value = bindings.headers.get(key, _MISSING)
    elif group == "body":
        value = _lookup(bindings.body or {}, key.split("."))
    elif group == "auth":
        value = (bindings.auth or {}).get(key, _MISSING) if bindings.auth else _MISSING
    if modifier == "isset":
        return Val(value is not _MISSING, Kind.BOOL)
    if modifier == "changed":
        if bindings.changed is not None:
            return Val(value is not _MISSING and key in bindings.changed, Kind.BOOL)
        return Val(value is not _MISSING, Kind.BOOL)
    if modifier == "length":
        if value is _MISSING or value is None or value == "":
            return Val(0, Kind.NUMBER)
        return Val(len(value) if isinstance(value, list) else 1, Kind.NUMBER)
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool):
        return Val(value, Kind.BOOL)
    if isinstance(value, int | float):
        return Val(value, Kind.NUMBER)
    if isinstance(value, dict | list):
        return Val(json.dumps(value, separators=(",", ":"), ensure_ascii=False), Kind.TEXT)
    return Val(str(value), Kind.TEXT)


def _lookup(data: Any, keys: list[str]) -> Any:
    for key in keys:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return _MISSING
    return data


def macro_value(name: str, now: datetime) -> Val:
    """PocketBase's macros (``tools/search/identifier_macros.go``), UTC: dates in the
    storage layout, the rest integers (``@weekday``: 0 is Sunday)."""
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    year = month.replace(month=1)
    dates = {
        "now": now,
        "yesterday": now - timedelta(days=1),
        "tomorrow": now + timedelta(days=1),
        "todayStart": day,
        "todayEnd": day + timedelta(days=1) - timedelta(microseconds=1000),
        "monthStart": month,
        "monthEnd": next_month - timedelta(microseconds=1000),
        "yearStart": year,
        "yearEnd": year.replace(year=year.year + 1) - timedelta(microseconds=1000),
    }
    if name in dates:
        return Val(format_pb_datetime(dates[name]), Kind.TEXT)
    numbers = {
        "second": now.second,
        "minute": now.minute,
        "hour": now.hour,
        "day": now.day,
        "month": now.month,
        "year": now.year,
        "weekday": (now.weekday() + 1) % 7,
    }
    return Val(numbers[name], Kind.NUMBER)
