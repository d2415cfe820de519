"""The third back-end: decide in Python, with no SQL, whether one record matches.

Reads the same bound IR the SQL renderer reads (``Compiled`` after ``bind``) with SQLite's
semantics, which PocketBase's answers are made of: three-valued logic (``None`` is SQL
NULL), storage classes (NULL < numbers < text, no conversion between them once the
compiler has applied column affinities), LIKE with ASCII-only case folding, JSON values as
SQLite extracts them, ``strftime`` as SQLite computes it. Realtime uses it to decide
which subscriber sees an event; the differential suites run it as a third engine.

Related rows come from a :class:`RowSource` (records as the service decodes them: text
``str``, numbers ``int``/``float``, bools, dates ``datetime``/``None``, json as Python
values, multi-value fields as lists).
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from reference_impl.core.filter.semantics import ascii_lower, like_match, sqlite_real_text
from reference_impl.core.filter.strftime import strftime
from reference_impl.ir import (
    BASE,
    ArrayContains,
    BackJoin,
    BoolOp,
    Cmp,
    Compiled,
    Const,
    CrossJoin,
    DateText,
    EachJoin,
    Exists,
    FilterError,
    Func,
    In,
    IsEmpty,
    Join,
    JsonCmp,
    Kind,
    KnownIf,
    Length,
    Like,
    Lower,
    Node,
    Not,
    Operand,
    Ref,
    Referenced,
    RelationJoin,
    Val,
    format_pb_datetime,
    unsupported,
)

Row = dict[str, Any]
Env = dict[str, Row | None]  # alias -> the joined row (None: the LEFT JOIN's NULL row)
SqlValue = None | int | float | str


class RowSource(Protocol):
    """Where related records come from (a collection's table name, as the IR names it)."""

    def get(self, table: str, record_id: str) -> Row | None: ...

    def rows(self, table: str) -> Sequence[Row]: ...


def matches(conditions: Sequence[Node | Compiled], record: Row, source: RowSource) -> bool:
    """All conditions hold for ``record`` (a NULL result is not a match, as in WHERE)."""
    env: Env = {BASE: record}
    for item in conditions:
        compiled = item if isinstance(item, Compiled) else Compiled(item)
        scope = dict(env)
        for join in compiled.joins:  # to-one: exactly one row each
            scope[join.alias] = next(_join_rows(join, scope, source))
        if Evaluator(source).node(compiled.where, scope) is not True:
            return False
    return True


class Evaluator:
    def __init__(self, source: RowSource):
        self.source = source

    # -- predicates (True / False / None) ------------------------------------------------
    def node(self, node: Node, env: Env) -> bool | None:
        method = getattr(self, "_" + type(node).__name__.lower(), None)
        if method is None:
            raise unsupported(node, "the in-memory evaluator")
        result: bool | None = method(node, env)
        return result

    def _boolop(self, node: BoolOp, env: Env) -> bool | None:
        results = [self.node(item, env) for item in node.items]
        if node.op == "AND":
            if False in results:
                return False
            return None if None in results else True
        if True in results:
            return True
        return None if None in results else False

    def _not(self, node: Not, env: Env) -> bool | None:
        value = self.node(node.item, env)
        return None if value is None else not value

    def _const(self, node: Const, env: Env) -> bool | None:
        return node.value

    def _referenced(self, node: Referenced, env: Env) -> bool | None:
        parent = env.get(node.parent.alias)
        parent_id = parent.get("id") if parent else None
        for row in self.source.rows(node.table):
            held = row.get(node.column)
            if parent_id in held if node.multiple and isinstance(held, list) else held == parent_id:
                return True
        return False

    def _knownif(self, node: KnownIf, env: Env) -> bool | None:
        return None if self.value(node.operand, env) is None else node.value

    def _isempty(self, node: IsEmpty, env: Env) -> bool | None:
        value = self.value(node.operand, env)
        empty = value is None or value == ""
        return not empty if node.negate else empty

    def _cmp(self, node: Cmp, env: Env) -> bool | None:
        left, right = self.value(node.left, env), self.value(node.right, env)
        column_pair = not isinstance(node.right, Val)
        kinds = (node.left.kind, node.right.kind)
        if column_pair and Kind.JSON in kinds and node.op in ("=", "!="):
            if kinds[0] is not kinds[1]:  # a text column's affinity: the JSON value's text
                left, right = _text(left), _text(right)
            equal = _is(left, right)
            return equal if node.op == "=" else not equal
        if (
            column_pair
            and node.op in ("=", "!=")
            and node.left.kind
            in (
                Kind.TEXT,
                Kind.JSON_ARRAY,
            )
        ):
            left = "" if left is None else left
            right = "" if right is None else right
        if node.op == "!=":
            return not _is(left, right)
        return compare(node.op, left, right)

    def _jsoncmp(self, node: JsonCmp, env: Env) -> bool | None:
        value = self.value(node.ref, env)
        literal = None if node.literal is None else _literal(node.literal)
        if node.op == "=":
            return _is(value, literal)
        if node.op == "!=":
            return not _is(value, literal)
        return compare(node.op, value, literal)

    def _datetext(self, node: DateText, env: Env) -> bool | None:
        return compare(node.op, self.value(node.ref, env), node.text)

    def _like(self, node: Like, env: Env) -> bool | None:
        text = _text(self.value(node.operand, env))
        pattern = self.value(node.pattern, env)
        if text is None or pattern is None:
            return None
        if not isinstance(node.pattern, Val):  # a column: contains its text
            pattern = f"%{_text(pattern)}%"
        found = like_match(text, str(pattern))
        return not found if node.negate else found

    def _arraycontains(self, node: ArrayContains, env: Env) -> bool | None:
        items = self._raw(node.ref, env)
        return isinstance(items, list) and node.value in items

    def _in(self, node: In, env: Env) -> bool | None:
        value = self.value(node.operand, env)
        if value is None:
            return None
        found = any(_is(value, self.value(v, env)) for v in node.values)
        return not found if node.negate else found

    def _exists(self, node: Exists, env: Env) -> bool | None:
        found = any(
            self.node(node.where, scope) is True
            for scope in _expand(node.joins, dict(env), self.source)
        )
        return not found if node.negate else found

    # -- values (SQLite's: None, int, float, str) ----------------------------------------
    def value(self, operand: Operand, env: Env) -> SqlValue:
        if isinstance(operand, Val):
            return _literal(operand)
        if isinstance(operand, Ref):
            if env.get(operand.alias) is None:
                self._raw(operand, env)  # an unknown alias is an error
                return None  # the LEFT JOIN's NULL row
            return _sql_value(operand, self._raw(operand, env))
        if isinstance(operand, Lower):
            text = _text(self.value(operand.operand, env))
            return None if text is None else ascii_lower(text)
        if isinstance(operand, Length):
            items = self._raw(operand.operand, env)
            if isinstance(items, list):
                return len(items)
            return 0 if items in (None, "") else 1
        if isinstance(operand, Func):
            return self._func(operand, env)
        raise unsupported(operand, "the in-memory evaluator", "request values are bound first")

    def _raw(self, ref: Ref, env: Env) -> Any:
        row = env.get(ref.alias)
        if row is None:
            if ref.alias not in env:
                raise FilterError(f"the evaluator has no row for alias {ref.alias!r}")
            return None
        return row.get(ref.column)

    def _func(self, func: Func, env: Env) -> SqlValue:
        args = [self.value(arg, env) for arg in func.args]
        if func.name == "geoDistance":
            numbers = [_number(a) for a in args]
            if any(n is None for n in numbers):
                return None
            lon_a, lat_a, lon_b, lat_b = (math.radians(float(n)) for n in numbers if n is not None)
            cos = math.cos(lat_a) * math.cos(lat_b) * math.cos(lon_b - lon_a) + math.sin(
                lat_a
            ) * math.sin(lat_b)
            return 6371 * math.acos(max(-1.0, min(1.0, cos)))  # clamped: Dialect.acos
        if func.name == "strftime":
            fmt = args[0]
            value = _text(args[1]) if len(args) > 1 else "now"
            if fmt is None or value is None or any(m is None for m in args[2:]):
                return None
            return strftime(str(fmt), value, [str(m) for m in args[2:]])
        raise unsupported(func, "the in-memory evaluator")


def _literal(value: Val) -> SqlValue:
    v = value.value
    if v is None:
        return None
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, datetime):
        return format_pb_datetime(v)
    if isinstance(v, int | float | str):
        return v
    return str(v)


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _sql_value(ref: Ref, raw: Any) -> SqlValue:
    """A stored value as SQLite holds it (and its JSON path reads it); an unset date
    is PocketBase's ''."""
    kind = ref.kind
    if raw is None:
        return "" if kind is Kind.DATETIME_MS else None
    if kind is Kind.JSON:
        value: Any = raw
        for step in ref.json_path:
            value = _step(value, step)
            if value is _MISSING:
                return None
        if value is None:
            return None
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, int | float | str):
            return value
        return _dump(value)
    if kind is Kind.JSON_ARRAY:
        return _dump(raw)
    if kind is Kind.BOOL:
        return 1 if raw else 0
    if kind is Kind.DATETIME_MS:
        return format_pb_datetime(raw) if isinstance(raw, datetime) else ""
    if isinstance(raw, bool):
        return 1 if raw else 0
    if isinstance(raw, int | float | str):
        return raw
    return str(raw)


_MISSING = object()


def _step(value: Any, step: str | int) -> Any:
    """One JSON path step: an array index reads arrays only, a key objects only."""
    if isinstance(step, int):
        return value[step] if isinstance(value, list) and step < len(value) else _MISSING
    return value.get(step, _MISSING) if isinstance(value, dict) else _MISSING


def _text(value: SqlValue) -> str | None:
    """The text SQLite makes of a value (LIKE, lower(), a text column's affinity)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return sqlite_real_text(value)
    return str(value)


def _number(value: SqlValue) -> int | float | None:
    if isinstance(value, int | float):
        return value
    return None


def _class(value: SqlValue) -> int:
    return 1 if isinstance(value, int | float) else 2


_OPERATORS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compare(op: str, left: SqlValue, right: SqlValue) -> bool | None:
    """SQLite's ``left op right`` for two values without affinity: NULL if either is NULL,
    else numbers before text (storage classes), then the values themselves."""
    if left is None or right is None:
        return None
    lc, rc = _class(left), _class(right)
    if lc != rc:
        return bool(_OPERATORS[op](lc, rc))
    return bool(_OPERATORS[op](left, right))


def _is(left: SqlValue, right: SqlValue) -> bool:
    """SQLite's ``IS``: null-safe equality."""
    if left is None or right is None:
        return left is None and right is None
    return compare("=", left, right) is True


# -- joins ---------------------------------------------------------------------------------
def _expand(joins: Sequence[Join], env: Env, source: RowSource) -> Iterator[Env]:
    """Every combination of the joins' rows (each LEFT JOIN gives at least its NULL row)."""
    if not joins:
        yield env
        return
    first, rest = joins[0], joins[1:]
    for row in _join_rows(first, env, source):
        yield from _expand(rest, {**env, first.alias: row}, source)


def _join_rows(join: Join, env: Env, source: RowSource) -> Iterator[Row | None]:
    found: list[Row] = []
    if isinstance(join, RelationJoin):
        key = _key(join.key, env)
        row = source.get(join.table, key) if isinstance(key, str) and key else None
        found = [row] if row is not None else []
    elif isinstance(join, EachJoin):
        items = _raw_of(join.array, env)
        if isinstance(items, list):
            found = [{"value": item} for item in items]
    elif isinstance(join, BackJoin):
        parent = env.get(join.parent)
        parent_id = parent.get("id") if parent else None
        if parent_id is not None:
            for row in source.rows(join.table):
                held = row.get(join.column)
                if (
                    (parent_id in held)
                    if join.multiple and isinstance(held, list)
                    else (held == parent_id)
                ):
                    found.append(row)
    elif isinstance(join, CrossJoin):
        found = list(source.rows(join.table))
    else:
        raise unsupported(join, "the in-memory evaluator")
    if not found:
        yield None
        return
    yield from found


def _key(operand: Operand, env: Env) -> Any:
    if isinstance(operand, Val):
        return operand.value
    if isinstance(operand, Ref):
        return _raw_of(operand, env)
    raise unsupported(operand, "the in-memory evaluator", "request values are bound first")


def _raw_of(ref: Ref, env: Env) -> Any:
    row = env.get(ref.alias)
    return None if row is None else row.get(ref.column)
