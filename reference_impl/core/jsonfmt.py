"""JSON output byte-compatible with PocketBase's Go encoder.

What differs from Python's ``json.dumps`` (verified against pocketbase 0.40.6):
- floats: Go prints the shortest repr in fixed notation for 1e-6 <= |x| < 1e21 and
  ``1.5e-7`` / ``1e+21`` outside (no zero-padded exponent); integral floats have no ``.0``;
- no spaces, no trailing newline, raw UTF-8, ``<``, ``>``, ``&`` not escaped;
- Go map keys are sorted (json field objects come back sorted).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

_SENTINEL = "\x00F"
_SENTINEL_RE = re.compile(r'"\\u0000F([^"\\]*)\\u0000"')


def go_float(value: float) -> str:
    """``strconv.FormatFloat(v, 'f' or 'e', -1, 64)`` as encoding/json chooses it."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = repr(value)
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        if "e" not in text and "E" not in text:
            return text[:-2] if text.endswith(".0") else text
        fixed = format(Decimal(text), "f")
        return fixed[:-2] if fixed.endswith(".0") else fixed
    mantissa, _, exponent = format(Decimal(text), "e").partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def _needs_go_format(value: float) -> bool:
    if not math.isfinite(value):
        return False
    text = repr(value)
    return text.endswith(".0") or "e" in text


def _prepare(value: Any) -> tuple[Any, bool, bool]:
    """Replace floats whose Python repr differs from Go's by sentinel strings.

    Returns (value, changed, tainted): ``tainted`` when a string already holds the
    sentinel, in which case the fast path cannot tell ours from the user's.
    """
    if isinstance(value, float):
        if _needs_go_format(value):
            return _SENTINEL + go_float(value) + "\x00", True, False
        return value, False, False
    if isinstance(value, str):
        return value, False, _SENTINEL in value
    if isinstance(value, dict):
        changed = tainted = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[key], flag, bad = _prepare(item)
            changed, tainted = changed or flag, tainted or bad or _SENTINEL in key
        return (out if changed else value), changed, tainted
    if isinstance(value, list | tuple):
        changed = tainted = False
        items = []
        for item in value:
            new, flag, bad = _prepare(item)
            items.append(new)
            changed, tainted = changed or flag, tainted or bad
        return (items if changed else value), changed, tainted
    return value, False, False


def _slow_dumps(value: Any, sort_keys: bool) -> str:
    """Go's encoding without sentinels: for the rare payload whose text holds one."""
    if isinstance(value, float):
        return go_float(value) if _needs_go_format(value) else repr(value)
    if isinstance(value, dict):
        items = sorted(value.items()) if sort_keys else value.items()
        return (
            "{"
            + ",".join(
                f"{json.dumps(str(k), ensure_ascii=False)}:{_slow_dumps(v, sort_keys)}"
                for k, v in items
            )
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(_slow_dumps(v, sort_keys) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _scan(value: Any) -> tuple[bool, bool]:
    """(holds a float Go prints differently, holds the sentinel): a walk that builds
    nothing, so the common payload (no such float) is encoded as is."""
    kind = type(value)
    if kind is float:
        return _needs_go_format(value), False
    if kind is str:
        return False, _SENTINEL in value
    if kind is dict:
        items: Any = value.items()
    elif kind is list or kind is tuple:
        items = enumerate(value)
    elif isinstance(value, float | str | dict | list | tuple):  # subclasses: the full walk
        return True, False
    else:
        return False, False
    changed = tainted = False
    for key, item in items:
        if type(key) is str and _SENTINEL in key:
            tainted = True
        item_kind = type(item)
        if item_kind is str:
            tainted = tainted or _SENTINEL in item
        elif item_kind is int or item_kind is bool or item is None:
            continue
        else:
            flag, bad = _scan(item)
            changed, tainted = changed or flag, tainted or bad
    return changed, tainted


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    changed, tainted = _scan(value)
    if not changed:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    prepared, changed, tainted = _prepare(value)
    if changed and tainted:
        return _slow_dumps(value, sort_keys)
    text = json.dumps(prepared, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    if changed:
        text = _SENTINEL_RE.sub(r"\1", text)
    return text
