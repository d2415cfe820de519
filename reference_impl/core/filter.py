"""The filter language, stage 1 and 2: parse (fexpr grammar) -> typed IR.

Stage 3 (render per dialect) is ``reference_impl/db/render.py``. This module knows
PocketBase's *meaning* of a comparison (``= null`` means "empty", a text column compared
with a number compares with SQLite's text form of the float, numbers sort before text...)
and expresses it as engine-neutral IR; it never writes SQL.

Scope of this build: plain fields of the collection, ``@request.auth.*`` scalars,
``@request.method``/``@request.context``, literals, ``= != < <= > >= ~ !~``, ``&& ||`` and
parentheses. Relations, JSON paths, ``?`` operators, modifiers and functions raise
:class:`FilterError` with a message saying so (the full language is its own issue).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from reference_impl.core.fields import Field, fixed_float, to_text
from reference_impl.db.dialect import Kind

MAX_FILTER_LENGTH = 3500
MAX_EXPRESSIONS = 200
OPERATORS = ("!=", ">=", "<=", "!~", "=", ">", "<", "~")
ANY_OPERATORS = ("?!=", "?>=", "?<=", "?!~", "?=", "?>", "?<", "?~")


class FilterError(ValueError):
    """Why a filter or sort was rejected (PocketBase answers a generic 400; we log this)."""


# -- parse ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ident:
    name: str


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Num:
    value: int | float


Operand = Ident | Text | Num


@dataclass(frozen=True)
class Expr:
    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True)
class Group:
    items: tuple[tuple[str, Expr | Group], ...]  # (join "&&"/"||" or "" for the first, node)


_TOKEN_RE = re.compile(
    r"""(?P<ws>[ \t\n]+)|(?P<comment>//[^\n]*)
    |(?P<text>'(?:\\'|[^'\\]|\\(?!'))*+'|"(?:\\"|[^"\\]|\\(?!"))*+")
    |(?P<num>(?:-?\d+(?:\.\d+)?|-\.\d+)(?![\w.]))
    |(?P<ident>[A-Za-z_@#][\w.:]*)
    |(?P<op>\?!=|\?>=|\?<=|\?!~|\?=|\?>|\?<|\?~|!=|>=|<=|!~|=|>|<|~)
    |(?P<join>&&|\|\|)|(?P<paren>[()])""",
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise FilterError(f"unexpected character {text[pos]!r} at {pos}")
        kind = match.lastgroup or ""
        value = match.group()
        pos = match.end()
        if kind in ("ws", "comment"):
            continue
        if kind == "ident" and value[-1] in ".:":
            raise FilterError(f"invalid identifier {value!r}")
        if kind == "text":
            quote = value[0]
            value = value[1:-1].replace("\\" + quote, quote)
        tokens.append((kind, value))
    return tokens


def parse(text: str) -> Group:
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:  # PocketBase's tokenizer stops at NUL ("invalid quoted text")
        raise FilterError("the filter holds a NUL character")
    tokens = tokenize(text)
    if not tokens:
        raise FilterError("empty filter")
    return _Parser(tokens).parse()


class _Parser:
    """fexpr's grammar without recursion: an explicit stack of open groups, so 1,000
    nested parentheses (which PocketBase accepts) cost no Python frames. A group of one
    item is that item (``((a = 1))`` is ``a = 1``); what is left nests at most once per
    expression, and expressions are capped, so later stages recurse a bounded depth."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0
        self.count = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterError("invalid or incomplete filter expression")
        self.pos += 1
        return token

    def parse(self) -> Group:
        # One list of (join, item) per open group; the join that preceded each open group.
        open_groups: list[list[tuple[str, Expr | Group]]] = [[]]
        joins: list[str] = []
        join = ""
        expect_item = True
        while (token := self._peek()) is not None:
            if expect_item:
                if token == ("paren", "("):
                    self.pos += 1
                    open_groups.append([])
                    joins.append(join)
                    join = ""
                    continue
                open_groups[-1].append((join, self.expr()))
                expect_item = False
            elif token[0] == "join":
                self.pos += 1
                join = token[1]
                expect_item = True
            elif token == ("paren", ")") and len(open_groups) > 1:
                self.pos += 1
                items = open_groups.pop()
                node = items[0][1] if len(items) == 1 else Group(tuple(items))
                open_groups[-1].append((joins.pop(), node))
            else:
                raise FilterError("invalid or incomplete filter expression")
        if expect_item:
            raise FilterError("invalid or incomplete filter expression")
        if len(open_groups) > 1:
            raise FilterError("missing closing parenthesis")
        return Group(tuple(open_groups[0]))

    def expr(self) -> Expr:
        left = self.operand()
        kind, op = self._next()
        if kind != "op":
            raise FilterError("invalid or incomplete filter expression")
        right = self.operand()
        self.count += 1
        if self.count > MAX_EXPRESSIONS:
            raise FilterError(f"more than {MAX_EXPRESSIONS} expressions")
        return Expr(left, op, right)

    def operand(self) -> Operand:
        kind, value = self._next()
        if kind == "text":
            return Text(value)
        if kind == "num":
            number = float(value)
            # PocketBase binds every number as float64; keep exact ints only inside int64
            # (``-0`` stays the float -0.0: its text under ``~`` is ``-0``, as in Go).
            negative_zero = number == 0 and value.startswith("-")
            if "." not in value and -(2**63) <= int(value) < 2**63 and not negative_zero:
                return Num(int(value))
            return Num(number)
        if kind == "ident":
            if self._peek() == ("paren", "("):
                raise FilterError(f"function {value}() is not supported in this build")
            return Ident(value)
        raise FilterError("invalid or incomplete filter expression")


# -- typed IR ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Col:
    name: str
    kind: Kind


@dataclass(frozen=True)
class Val:
    value: Any
    kind: Kind


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Cmp:
    op: str  # = != < <= > >=
    left: Col
    right: Val | Col


@dataclass(frozen=True)
class IsEmpty:
    """``= null`` / ``= ''`` on a column: PocketBase's "empty or NULL"."""

    col: Col
    negate: bool = False


@dataclass(frozen=True)
class DateText:
    """Compare a date column as PocketBase's stored text (for non-canonical literals)."""

    op: str
    col: Col
    text: str


@dataclass(frozen=True)
class Like:
    col: Col
    pattern: str
    negate: bool


@dataclass(frozen=True)
class ArrayContains:
    """A multi-value (JSON array) column holds ``value`` (relation bookkeeping)."""

    col: Col
    value: str


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    items: tuple[Node, ...]


Node = Cmp | IsEmpty | DateText | Like | BoolOp | Const | ArrayContains

_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_CANONICAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$")
_NUMERIC_TEXT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


@dataclass
class Scope:
    """What names resolve to: the collection's fields and the request's auth context."""

    fields: dict[str, Field]
    auth: dict[str, Any] | None  # id, collectionId, collectionName, email, verified, ...
    allow_hidden: bool
    method: str = "GET"
    context: str = "default"
    # relation field name -> (target table, target fields), for ``rel.field`` sorts
    relations: dict[str, tuple[str, dict[str, Field]]] | None = None


def compile_filter(text: str, scope: Scope) -> Node:
    return _resolve_group(parse(text), scope)


def _resolve_group(group: Group, scope: Scope) -> Node:
    # fexpr is flat; PocketBase emits it as one SQL expression, so AND binds tighter than OR.
    ors: list[list[Node]] = [[]]
    for join, item in group.items:
        node = (
            _resolve_group(item, scope) if isinstance(item, Group) else _resolve_expr(item, scope)
        )
        if join == "||":
            ors.append([])
        ors[-1].append(node)
    ands = [items[0] if len(items) == 1 else BoolOp("AND", tuple(items)) for items in ors]
    return ands[0] if len(ands) == 1 else BoolOp("OR", tuple(ands))


def _operand(op: Operand, scope: Scope) -> Col | Val | None:
    """Resolve an operand; ``None`` is the literal null."""
    if isinstance(op, Text):
        return Val(op.value, Kind.TEXT)
    if isinstance(op, Num):
        return Val(op.value, Kind.NUMBER)
    name = op.name
    if name.startswith("@request."):
        return _request_value(name[len("@request.") :], scope)
    if name.startswith("@"):
        raise FilterError(f"{name} is not supported in this build")
    field = scope.fields.get(name)
    if field is None:
        lowered = name.lower()
        if lowered == "null":
            return None
        if lowered in ("true", "false"):
            return Val(lowered == "true", Kind.BOOL)
        if "." in name or ":" in name:
            raise FilterError(f"{name}: relations, JSON paths and modifiers are not supported yet")
        raise FilterError(f'invalid left operand "{name}" - unknown field "{name}"')
    if field.hidden and not scope.allow_hidden:
        raise FilterError(f"field {name} is hidden")
    if field.kind in (Kind.JSON, Kind.JSON_ARRAY):
        raise FilterError(f"{name}: comparing json and multi-value fields is not supported yet")
    return Col(name, field.kind)


def _request_value(path: str, scope: Scope) -> Val | None:
    if path == "method":
        return Val(scope.method, Kind.TEXT)
    if path == "context":
        return Val(scope.context, Kind.TEXT)
    if path.startswith("auth."):
        key = path[len("auth.") :]
        if key not in {
            "id",
            "collectionId",
            "collectionName",
            "email",
            "verified",
            "emailVisibility",
        }:
            raise FilterError(f"@request.auth.{key} is not supported yet")
        if scope.auth is None:
            return None
        value = scope.auth.get(key)
        if isinstance(value, bool):
            return Val(value, Kind.BOOL)
        return None if value is None else Val(value, Kind.TEXT)
    raise FilterError(f"@request.{path} is not supported yet")


def _resolve_expr(expr: Expr, scope: Scope) -> Node:
    if expr.op in ANY_OPERATORS:
        raise FilterError(f"operator {expr.op} is not supported yet")
    left, right = _operand(expr.left, scope), _operand(expr.right, scope)
    op = expr.op
    if op in ("~", "!~"):
        if not isinstance(left, Col) or isinstance(right, Col):
            raise FilterError("~ needs a field on the left and a value on the right")
        if right is None:  # LIKE NULL is NULL: no row matches either way
            return Const(False)
        # true/false are the SQL literals 1/0 in PocketBase, and LIKE sees their text.
        value = right.value
        if right.kind is Kind.BOOL:
            text = "1" if value else "0"
        elif right.kind is Kind.NUMBER:  # Go's cast.ToString of the float64 PocketBase binds
            text = fixed_float(float(value))
        else:
            text = to_text(value)
        return Like(left, like_pattern(text), op == "!~")
    if not isinstance(left, Col) and isinstance(right, Col):
        left, right, op = right, left, _FLIP[op]
    if isinstance(left, Col):
        if isinstance(right, Col):
            if left.kind is not right.kind:
                raise FilterError("comparing fields of different types is not supported yet")
            return Cmp(op, left, right)
        return _compare_column(op, left, right)
    assert not isinstance(right, Col)
    return Const(_compare_static(op, left, right))


def _is_empty_value(value: Val | None) -> bool:
    return value is None or (value.kind is Kind.TEXT and value.value == "")


def _compare_column(op: str, col: Col, value: Val | None) -> Node:
    if op in ("=", "!=") and _is_empty_value(value):
        return IsEmpty(col, negate=op == "!=")
    if value is None:
        return Const(False)  # NULL in an ordering comparison is never true
    kind = col.kind
    if kind is Kind.TEXT:
        return Cmp(op, col, Val(_as_sqlite_text(value), Kind.TEXT))
    if kind is Kind.NUMBER:
        number = _as_number(value)
        if number is None:  # text that is not numeric: numbers sort before text in SQLite
            return Const(_number_vs_text(op))
        return Cmp(op, col, Val(number, Kind.NUMBER))
    if kind is Kind.BOOL:
        number = 1 if value.value is True else 0 if value.value is False else _as_number(value)
        if number is None:
            return Const(_number_vs_text(op))
        matches = [
            b
            for b in (False, True)
            if _compare_static(op, Val(int(b), Kind.NUMBER), Val(number, Kind.NUMBER))
        ]
        if len(matches) != 1:
            return Const(bool(matches))
        return Cmp("=", col, Val(matches[0], Kind.BOOL))
    if kind is Kind.DATETIME_MS:
        if value.kind is not Kind.TEXT:
            # The column has TEXT affinity: SQLite compares with the number's text ('5.0').
            return DateText(op, col, _as_sqlite_text(value))
        if _CANONICAL_DATE.match(value.value):
            # Fixed-width layout: text order equals time order, so compare as timestamps.
            stamp = datetime.strptime(value.value.replace("Z", "+0000"), "%Y-%m-%d %H:%M:%S.%f%z")
            return Cmp(op, col, Val(stamp, Kind.DATETIME_MS))
        return DateText(op, col, value.value)
    raise FilterError(f"unsupported comparison on {col.name}")


def _as_sqlite_text(value: Val) -> str:
    """What SQLite's TEXT affinity makes of a bound value (PocketBase binds float64)."""
    if value.kind is Kind.BOOL:
        return "1" if value.value else "0"
    if value.kind is Kind.NUMBER:
        return sqlite_real_text(float(value.value))
    return str(value.value)


def sqlite_real_text(number: float) -> str:
    """SQLite's text for a REAL (PocketBase binds float64): the shortest round-trip digits,
    fixed notation for exponents -4..16 with at least one decimal, else ``1.0e+17`` style;
    -0.0 prints as 0.0 (verified on SQLite 3.54 and PocketBase 0.40.6)."""
    if number == 0:
        return "0.0"
    digits = Decimal(repr(number))
    exponent = digits.adjusted()
    if -4 <= exponent < 17:
        text = format(digits, "f")
        return text if "." in text else text + ".0"
    mantissa = format(digits.scaleb(-exponent), "f")
    mantissa = mantissa if "." in mantissa else mantissa + ".0"
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _as_number(value: Val) -> int | float | None:
    if value.kind is Kind.NUMBER:
        return value.value  # type: ignore[no-any-return]
    if value.kind is Kind.BOOL:
        return 1 if value.value else 0
    if isinstance(value.value, str) and _NUMERIC_TEXT.match(value.value):
        number = float(value.value)
        return int(number) if number.is_integer() and abs(number) < 2**63 else number
    return None


def _number_vs_text(op: str) -> bool:
    """``<number> op <text>`` under SQLite's storage-class order (numbers < text)."""
    return op in ("!=", "<", "<=")


def _compare_static(op: str, left: Val | None, right: Val | None) -> bool:
    if op in ("=", "!="):
        equal = (_is_empty_value(left) and _is_empty_value(right)) or (
            left is not None and right is not None and _static_key(left) == _static_key(right)
        )
        return equal if op == "=" else not equal
    if left is None or right is None:
        return False
    # Tuples compare the storage class first (numbers before text), then the value.
    result: bool = _ORDERING[op](_static_key(left), _static_key(right))
    return result


def _static_key(value: Val) -> tuple[int, float | str]:
    """SQLite's storage-class order: numbers (0) before text (1)."""
    if value.kind in (Kind.NUMBER, Kind.BOOL):
        return (0, float(value.value))
    return (1, str(value.value))


def like_pattern(value: str) -> str:
    """PocketBase's ``~`` value (``tools/search/filter.go``): used as is when it holds an
    unescaped ``%``; otherwise unescaped ``\\``, ``%`` and ``_`` get a backslash and the
    value is wrapped in ``%...%``."""
    if _contains_unescaped(value, "%"):
        return value
    return f"%{_escape_unescaped(value, _LIKE_SPECIALS)}%"


_LIKE_SPECIALS = "\\%_"


def _contains_unescaped(text: str, char: str) -> bool:
    previous = ""
    for current in text:
        if current == char and previous != "\\":
            return True
        # an escaped backslash escapes nothing after it
        previous = "" if current == "\\" and previous == "\\" else current
    return False


def _escape_unescaped(text: str, specials: str) -> str:
    """Right to left: a special character is paired with the character before it, which is
    left alone when it is a backslash and otherwise gets one inserted (PocketBase's walk)."""
    out: list[str] = []
    pending = False
    for index in range(len(text) - 1, -1, -1):
        if pending:
            if text[index] != "\\":
                out.append("\\")
            pending = False
        else:
            pending = text[index] in specials
        out.append(text[index])
        if index == 0 and pending:
            out.append("\\")
    return "".join(reversed(out))


# -- sort ------------------------------------------------------------------------------------
MAX_SORT_FIELDS = 8
RANDOM = "@random"
ROWID = "@rowid"


@dataclass(frozen=True)
class SortJoin:
    """``rel.field``: LEFT JOIN the single relation's target and sort by its column."""

    relation: str  # the relation column on the base table
    table: str  # the target collection's table
    column: str


SortTerm = tuple[str, bool, Kind | None, SortJoin | None]


def parse_sort(text: str, scope: Scope) -> list[SortTerm]:
    """``-n,title,author.name`` -> [(name, descending, kind, join)]; ``@random`` and
    ``@rowid`` have kind None. Relation paths: one level through a single relation."""
    out: list[SortTerm] = []
    items = [part.strip() for part in text.split(",")] if text.strip() else []
    for raw in items:
        if not raw:
            raise FilterError("empty sort item")
        descending = raw.startswith("-")
        name = raw[1:] if raw[:1] in "+-" else raw
        if len(name) > 255:
            raise FilterError("sort field too long")
        if name in (RANDOM, ROWID):
            out.append((name, descending, None, None))
            continue
        if (
            re.match(r"^\w+\.\w+$", name)
            and scope.relations
            and name.split(".")[0] in scope.relations
        ):
            rel, column = name.split(".")
            table, target_fields = scope.relations[rel]
            target = target_fields.get(column)
            if target is None or target.hidden:
                raise FilterError(f"invalid sort field {name!r}")
            out.append((name, descending, target.kind, SortJoin(rel, table, column)))
            continue
        field = scope.fields.get(name) if re.match(r"^\w+$", name) else None
        if field is None or (field.hidden and not scope.allow_hidden):
            raise FilterError(f"invalid sort field {name!r}")
        out.append((name, descending, field.kind, None))
    if len(out) > MAX_SORT_FIELDS:
        raise FilterError(f"more than {MAX_SORT_FIELDS} sort fields")
    return out
