"""Lenient casts of request values, as PocketBase's ``spf13/cast`` does them.

Verified on 0.40.6: a number given ``"abc"`` is 0, a bool given ``"yes"`` is false, a
garbage date is empty. Field types (``core/field_types``) cast through these; the filter's
semantics and the form reader use the text forms too, so they live apart from any type.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from reference_impl.core.jsonfmt import go_float


def go_number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else go_float(value)


def to_text(raw: Any) -> str:
    if raw is None or isinstance(raw, list | dict):
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return fixed_float(raw)
    return str(raw)


def fixed_float(value: float) -> str:
    """``strconv.FormatFloat(f, 'f', -1, 64)`` (``cast.ToString``): the shortest digits, always
    in fixed notation: 1e21 -> ``1000000000000000000000``, 1e-7 -> ``0.0000001``."""
    if not math.isfinite(value):
        return "+Inf" if value > 0 else "-Inf" if value < 0 else "NaN"
    text = format(Decimal(repr(value)), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return "-0" if text == "0" and math.copysign(1.0, value) < 0 else text


_DIGITS = r"[0-9](?:_?[0-9])*"
_HEX = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
# strconv.ParseFloat's syntax (Go float literals: "_" between digits, hex with a p exponent,
# "Inf"/"Infinity" signed, "NaN" not), verified on 0.40.6 ("1_000" is 1000, "0x1p-2" 0.25).
_GO_FLOAT = re.compile(
    rf"^[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
    rf"|(?P<hex>0[xX](?:{_HEX}(?:\.(?:{_HEX})?)?|\.{_HEX})[pP][+-]?{_DIGITS})"
    r"|(?P<inf>(?i:inf(?:inity)?)))$|^(?i:nan)$"
)


def to_number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        return 1 if raw else 0
    if isinstance(raw, str):
        # strconv.ParseFloat via cast.ToFloat64: Go's syntax only (Python's float() also
        # takes spaces, "1_0" and other scripts' digits), and an error (1e400 is out of
        # range) is 0; "Inf"/"NaN" parse and fail validation later.
        match = _GO_FLOAT.match(raw)
        if match is None:
            return 0
        try:
            number = float.fromhex(raw.replace("_", "")) if match["hex"] else float(raw)
        except OverflowError:
            return 0
        if math.isinf(number) and not match["inf"]:
            return 0  # out of range (ParseFloat's ErrRange)
        raw = number
    if isinstance(raw, int):
        # Go holds every number in a float64: beyond int64 an integer is one (2^64 ->
        # 18446744073709552000); inside it stays exact (SPEC 1.1).
        return raw if -(2**63) <= raw < 2**63 else float(raw)
    if isinstance(raw, float):
        # Integral values are stored as integers (SQLite NUMERIC affinity does the same).
        if raw.is_integer() and abs(raw) < 2**63:
            return int(raw)
        return raw
    return 0


def to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return raw != 0
    if isinstance(raw, str):
        return raw in {"1", "t", "T", "TRUE", "true", "True"}
    return False


def to_string_list(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return [to_text(item) for item in raw]
    return [to_text(raw)]


_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
)


def to_datetime(raw: Any) -> datetime | None:
    """PocketBase's layout first, then RFC 3339 variants and a bare date; else empty.

    Unix integers become empty, as PocketBase 0.40.6 does for a JSON number.
    """
    if isinstance(raw, datetime):
        return raw.astimezone(UTC)
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
    try:
        only_date = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(only_date.year, only_date.month, only_date.day, tzinfo=UTC)


def sorted_keys(value: Any) -> Any:
    """Objects with their keys sorted at every level, as Go marshals a map: PocketBase
    stores json fields so, and their JSON text (what ``~``, ``=`` and sorting read on
    SQLite) depends on it."""
    if isinstance(value, dict):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value
