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
    FLIP,
    AuthRef,
    Cmp,
    Const,
    DateText,
    FilterError,
    Func,
    IsEmpty,
    JsonCmp,
    Kind,
    KnownIf,
    Length,
    Like,
    Lower,
    Macro,
    Node,
    Operand,
    Ref,
    RequestRef,
    Val,
)

SYMBOLIC = (AuthRef, RequestRef, Macro)
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_CANONICAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$")
_NUMERIC_TEXT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def compare(op: str, left: Operand | None, right: Operand | None) -> Node:
    """``left op right`` for ``= != < <= > >= ~ !~`` (``None``: the null literal)."""
    if symbolic(left) or symbolic(right):
        return _deferred(op, left, right)
    if op in ("~", "!~"):
        return _like(op, left, right)
    if not is_column(left) and is_column(right):
        left, right, op = right, left, FLIP[op]
    if left is not None and is_column(left):
        if right is not None and is_column(right):
            return _columns(op, left, right)
        assert right is None or isinstance(right, Val)
        if isinstance(left, Ref) and left.kind is Kind.JSON:
            return JsonCmp(op, left, right)
        return compare_column(op, left, right)
    assert (left is None or isinstance(left, Val)) and (right is None or isinstance(right, Val))
    return Const(compare_static(op, left, right))


def symbolic(operand: Operand | None) -> bool:
    """A request value (``@request.*``, a macro), known once the request is bound."""
    if isinstance(operand, Lower):
        return symbolic(operand.operand)
    return isinstance(operand, SYMBOLIC)


def is_column(operand: Operand | None) -> bool:
    """A value read from a row (a column, a JSON path, ``:lower``/``:length`` of one)."""
    return isinstance(operand, Ref | Length | Func) or (
        isinstance(operand, Lower) and not symbolic(operand)
    )


def _known(operand: Operand, value: bool) -> Node:
    """A fixed answer for every stored value; NULL where the value may be missing."""
    return KnownIf(operand, value) if operand.nullable else Const(value)


def _columns(op: str, left: Operand, right: Operand) -> Node:
    lk, rk = left.kind, right.kind
    if Kind.JSON in (lk, rk):
        # PocketBase: ``L IS R`` (no null fallback); a text column's affinity makes the
        # JSON value its text. Other pairings are not translated yet.
        other = rk if lk is Kind.JSON else lk
        if op not in ("=", "!=") or other not in (Kind.JSON, Kind.TEXT):
            raise FilterError("this comparison of a json value is not supported yet")
        if rk is Kind.JSON and lk is not Kind.JSON:
            left, right = right, left
        return Cmp(op, left, right)
    if Kind.JSON_ARRAY in (lk, rk) and lk is not rk:
        raise FilterError("comparing a multi-value field with another type is not supported yet")
    if lk is not rk:
        raise FilterError("comparing fields of different types is not supported yet")
    return Cmp(op, left, right)


def _deferred(op: str, left: Operand | None, right: Operand | None) -> Node:
    """A comparison with a request value, kept for ``fold``. The null literal becomes the
    empty text (which the fold treats the same: PocketBase's "empty" operand)."""
    if op in ("~", "!~"):
        if left is None:
            return Const(False)
        return Like(left, right if right is not None else Val(None, Kind.TEXT), op == "!~")
    empty = Val(None, Kind.TEXT)
    if not is_column(left) and is_column(right):
        left, right, op = right, left, FLIP[op]
    return Cmp(op, left if left is not None else empty, right if right is not None else empty)


def _like(op: str, left: Operand | None, right: Operand | None) -> Node:
    negate = op == "!~"
    if left is None or (isinstance(left, Val) and left.value is None):
        return Const(False)  # NULL LIKE x is NULL
    if is_column(right):
        if not is_column(left):
            raise FilterError("~ with a field on the right needs a field on the left")
        assert right is not None
        return Like(left, right, negate)  # PocketBase: L LIKE ('%' || R || '%')
    if right is None or (isinstance(right, Val) and right.value is None):
        return Const(False)  # LIKE NULL is NULL: no row matches either way
    assert isinstance(right, Val)
    pattern = like_pattern(like_text(right))
    if isinstance(left, Val):  # a request value against a text: decided here
        return Const(like_match(as_sqlite_text(left), pattern) != negate)
    return Like(left, Val(pattern, Kind.TEXT), negate)


def like_text(value: Val) -> str:
    """The text a ``~`` value is matched as: true/false are the SQL literals 1/0, numbers
    Go's ``cast.ToString`` of the float64 PocketBase binds."""
    if value.kind is Kind.BOOL:
        return "1" if value.value else "0"
    if value.kind is Kind.NUMBER:
        return fixed_float(float(value.value))
    return to_text(value.value)


def like_match(text: str, pattern: str) -> bool:
    """SQLite's ``text LIKE pattern ESCAPE '\\'``: ``%`` any run, ``_`` one character,
    ``\\`` escapes the next, ASCII letters match either case. Linear-space dynamic
    programming over the pattern (no backtracking)."""
    items: list[tuple[str, str]] = []  # ("lit", ch) | ("any", "") | ("run", "")
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            items.append(("lit", pattern[i + 1]))
            i += 2
            continue
        items.append(("run", "") if ch == "%" else ("any", "") if ch == "_" else ("lit", ch))
        i += 1
    text = ascii_lower(text)
    # reach[j]: the first j pattern items can match the text read so far
    reach = [True] + [False] * len(items)
    for j, (kind, _) in enumerate(items):
        reach[j + 1] = reach[j] and kind == "run"
    for ch in text:
        nxt = [False] * (len(items) + 1)
        for j, (kind, lit) in enumerate(items):
            if kind == "run":
                nxt[j + 1] = nxt[j] or reach[j + 1] or reach[j]
            elif reach[j] and (kind == "any" or ascii_lower(lit) == ch):
                nxt[j + 1] = True
        reach = nxt
        if not any(reach):
            return False
    return reach[-1]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """SQLite's ``lower()`` and LIKE folding without ICU: A-Z only ('Ä' stays)."""
    return text.translate(_ASCII_LOWER)


def is_empty_value(value: Val | None) -> bool:
    return value is None or value.value is None or (value.kind is Kind.TEXT and value.value == "")


def compare_column(op: str, col: Operand, value: Val | None) -> Node:
    if op in ("=", "!=") and is_empty_value(value):
        return IsEmpty(col, negate=op == "!=")
    if value is None or value.value is None:
        return _known(col, False)  # NULL in an ordering comparison is never true
    kind = col.kind
    if (
        isinstance(col, Func | Lower)
        and kind is Kind.TEXT
        and value.kind in (Kind.NUMBER, Kind.BOOL)
    ):
        # A function's text (lower() too) has no affinity: storage classes order it after
        # any number (``0 < title:lower`` holds for every row on PocketBase 0.40.6).
        if op == "!=":
            return Const(True)  # IS NOT: NULL is not a number either
        return _known(col, op in (">", ">="))
    if kind in (Kind.TEXT, Kind.JSON_ARRAY):
        return Cmp(op, col, Val(as_sqlite_text(value), Kind.TEXT))
    if kind is Kind.NUMBER:
        number = as_number(value)
        if number is None:  # text that is not numeric: numbers sort before text in SQLite
            return _known(col, number_vs_text(op))
        return Cmp(op, col, Val(number, Kind.NUMBER))
    if kind is Kind.BOOL:
        number = 1 if value.value is True else 0 if value.value is False else as_number(value)
        if number is None:
            return _known(col, number_vs_text(op))
        matches = [
            b
            for b in (False, True)
            if compare_static(op, Val(int(b), Kind.NUMBER), Val(number, Kind.NUMBER))
        ]
        if len(matches) != 1:
            return _known(col, bool(matches))
        if op == "!=" and number in (0, 1) and col.nullable:
            # PocketBase's != is IS NOT: a joined row that is missing (NULL) differs from
            # false too, so ``rel.flag != false`` holds for an empty relation.
            return Cmp("!=", col, Val(bool(number), Kind.BOOL))
        return Cmp("=", col, Val(matches[0], Kind.BOOL))
    if kind is Kind.DATETIME_MS and isinstance(col, Ref):
        if value.kind is not Kind.TEXT:
            # The column has TEXT affinity: SQLite compares with the number's text ('5.0').
            return DateText(op, col, as_sqlite_text(value))
        if _CANONICAL_DATE.match(value.value):
            # Fixed-width layout: text order equals time order, so compare as timestamps.
            stamp = datetime.strptime(value.value.replace("Z", "+0000"), "%Y-%m-%d %H:%M:%S.%f%z")
            return Cmp(op, col, Val(stamp, Kind.DATETIME_MS))
        return DateText(op, col, value.value)
    raise FilterError(f"unsupported comparison on {col}")


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
