"""Filter stage 4: PocketBase's meaning of one comparison, per field type, as IR.

``= null`` means "empty" for text-like columns and nothing for numbers; a text column
compared with a number compares with SQLite's text of the float64 PocketBase binds; numbers
sort before text; dates compare as stored text; ``~`` wraps and escapes its value. Inputs
are resolved operands (``None`` is the null literal). A comparison with a request value
(``@request.*``, macros) stays as written: ``fold`` calls back into :func:`compare` once the
value is bound for a request, so one compiled rule serves every request.
"""

from __future__ import annotations

import operator
import re
from datetime import datetime
from decimal import Decimal

from reference_impl.core.fields import fixed_float, to_text
from reference_impl.ir import (
    AuthRef,
    Cmp,
    Const,
    DateText,
    FilterError,
    IsEmpty,
    Kind,
    Like,
    Macro,
    Node,
    Operand,
    Ref,
    RequestRef,
    Val,
)

SYMBOLIC = (AuthRef, RequestRef, Macro)
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_CANONICAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$")
_NUMERIC_TEXT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def compare(op: str, left: Operand | None, right: Operand | None) -> Node:
    """``left op right`` for ``= != < <= > >= ~ !~`` (``None``: the null literal)."""
    if isinstance(left, SYMBOLIC) or isinstance(right, SYMBOLIC):
        return _deferred(op, left, right)
    if op in ("~", "!~"):
        return _like(op, left, right)
    if not isinstance(left, Ref) and isinstance(right, Ref):
        left, right, op = right, left, FLIP[op]
    if isinstance(left, Ref):
        if isinstance(right, Ref):
            if left.kind is not right.kind:
                raise FilterError("comparing fields of different types is not supported yet")
            return Cmp(op, left, right)
        assert right is None or isinstance(right, Val)
        return compare_column(op, left, right)
    assert (left is None or isinstance(left, Val)) and (right is None or isinstance(right, Val))
    return Const(compare_static(op, left, right))


def _deferred(op: str, left: Operand | None, right: Operand | None) -> Node:
    """A comparison with a request value, kept for ``fold``. The null literal becomes the
    empty text (which the fold treats the same: PocketBase's "empty" operand)."""
    if op in ("~", "!~"):
        if not isinstance(left, Ref) or isinstance(right, Ref):
            raise FilterError("~ needs a field on the left and a value on the right")
        return Like(left, right if right is not None else Val(None, Kind.TEXT), op == "!~")
    empty = Val(None, Kind.TEXT)
    if not isinstance(left, Ref) and isinstance(right, Ref):
        left, right, op = right, left, FLIP[op]
    return Cmp(op, left if left is not None else empty, right if right is not None else empty)


def _like(op: str, left: Operand | None, right: Operand | None) -> Node:
    if not isinstance(left, Ref) or isinstance(right, Ref):
        raise FilterError("~ needs a field on the left and a value on the right")
    if right is None or (isinstance(right, Val) and right.value is None):
        return Const(False)  # LIKE NULL is NULL: no row matches either way
    assert isinstance(right, Val)
    # true/false are the SQL literals 1/0 in PocketBase, and LIKE sees their text.
    value = right.value
    if right.kind is Kind.BOOL:
        text = "1" if value else "0"
    elif right.kind is Kind.NUMBER:  # Go's cast.ToString of the float64 PocketBase binds
        text = fixed_float(float(value))
    else:
        text = to_text(value)
    return Like(left, Val(like_pattern(text), Kind.TEXT), op == "!~")


def is_empty_value(value: Val | None) -> bool:
    return value is None or value.value is None or (value.kind is Kind.TEXT and value.value == "")


def compare_column(op: str, col: Ref, value: Val | None) -> Node:
    if op in ("=", "!=") and is_empty_value(value):
        return IsEmpty(col, negate=op == "!=")
    if value is None or value.value is None:
        return Const(False)  # NULL in an ordering comparison is never true
    kind = col.kind
    if kind is Kind.TEXT:
        return Cmp(op, col, Val(as_sqlite_text(value), Kind.TEXT))
    if kind is Kind.NUMBER:
        number = as_number(value)
        if number is None:  # text that is not numeric: numbers sort before text in SQLite
            return Const(number_vs_text(op))
        return Cmp(op, col, Val(number, Kind.NUMBER))
    if kind is Kind.BOOL:
        number = 1 if value.value is True else 0 if value.value is False else as_number(value)
        if number is None:
            return Const(number_vs_text(op))
        matches = [
            b
            for b in (False, True)
            if compare_static(op, Val(int(b), Kind.NUMBER), Val(number, Kind.NUMBER))
        ]
        if len(matches) != 1:
            return Const(bool(matches))
        return Cmp("=", col, Val(matches[0], Kind.BOOL))
    if kind is Kind.DATETIME_MS:
        if value.kind is not Kind.TEXT:
            # The column has TEXT affinity: SQLite compares with the number's text ('5.0').
            return DateText(op, col, as_sqlite_text(value))
        if _CANONICAL_DATE.match(value.value):
            # Fixed-width layout: text order equals time order, so compare as timestamps.
            stamp = datetime.strptime(value.value.replace("Z", "+0000"), "%Y-%m-%d %H:%M:%S.%f%z")
            return Cmp(op, col, Val(stamp, Kind.DATETIME_MS))
        return DateText(op, col, value.value)
    raise FilterError(f"unsupported comparison on {col.column}")


def as_sqlite_text(value: Val) -> str:
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


def as_number(value: Val) -> int | float | None:
    if value.kind is Kind.NUMBER:
        return value.value  # type: ignore[no-any-return]
    if value.kind is Kind.BOOL:
        return 1 if value.value else 0
    if isinstance(value.value, str) and _NUMERIC_TEXT.match(value.value):
        number = float(value.value)
        return int(number) if number.is_integer() and abs(number) < 2**63 else number
    return None


def number_vs_text(op: str) -> bool:
    """``<number> op <text>`` under SQLite's storage-class order (numbers < text)."""
    return op in ("!=", "<", "<=")


def compare_static(op: str, left: Val | None, right: Val | None) -> bool:
    if op in ("=", "!="):
        equal = (is_empty_value(left) and is_empty_value(right)) or (
            left is not None
            and right is not None
            and not is_empty_value(left)
            and not is_empty_value(right)
            and _static_key(left) == _static_key(right)
        )
        return equal if op == "=" else not equal
    if left is None or right is None or left.value is None or right.value is None:
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
