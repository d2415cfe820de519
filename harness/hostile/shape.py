"""Body shapes: is an answer's body what PocketBase would send for that kind of answer?

JSON is parsed strictly: UTF-8 only, no ``NaN``/``Infinity`` tokens (Python's ``json``
accepts them; JSON does not), and no lone surrogates in any string or key (they parse, but
are not Unicode text: I-JSON, RFC 7493 section 2.1; PocketBase's Go encoder writes U+FFFD
instead). Every check returns ``None`` when the body fits, else a short reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.hostile.case import Shape

ERROR_KEYS = {"data", "message", "status"}
LIST_KEYS = {"items", "page", "perPage", "totalItems", "totalPages"}


class StrictJsonError(ValueError):
    pass


def _reject_constant(token: str) -> Any:
    raise StrictJsonError(f"non-JSON token {token}")


DEEP = object()  # strict_json's answer for valid JSON nested too deep for json.loads


def strict_json(content: bytes) -> Any:
    """Parse ``content`` as strict JSON (raising ``StrictJsonError`` with the reason).

    Values nested deeper than Python's recursion limit are checked by ``_scan`` (no
    recursion) and answered with ``DEEP``: valid, but not loaded.
    """
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJsonError(f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except StrictJsonError:
        raise
    except RecursionError:
        _scan(text)
        return DEEP
    except ValueError as exc:
        raise StrictJsonError(f"body is not JSON ({exc})") from exc
    surrogate = _find_surrogate(value)
    if surrogate is not None:
        raise StrictJsonError(f"lone surrogate in {surrogate}")
    return value


_TOKEN = re.compile(
    r"""\s*(?:(?P<punct>[{}\[\]:,])|(?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")"""
    r"|(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|(?P<word>true|false|null))"
)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


def _lone_escape(string: str) -> bool:
    """True if a JSON string literal holds a surrogate escape (``\\ud800``) without its pair."""
    high = False
    for match in _ESCAPE.finditer(string):
        escape = match.group(1)
        unit = int(escape[1:], 16) if escape.startswith("u") else -1
        low = 0xDC00 <= unit <= 0xDFFF
        if high != low:
            return True
        high = 0xD800 <= unit <= 0xDBFF
    return high


def _scan(text: str) -> None:
    """Validate JSON grammar without recursion: a stack of open containers and, at each
    point, what may come next (a value, a key, a colon, a comma or closer, nothing)."""
    stack: list[str] = []
    state = "value"
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None:
            raise StrictJsonError(f"body is not JSON (bad token at char {pos})")
        pos = match.end()
        token = match.group("punct") or ""
        string = match.group("string")
        if string is not None and _lone_escape(string):
            raise StrictJsonError(f"lone surrogate escape in a string at char {pos}")
        if token in ("}", "]"):
            opener = "{" if token == "}" else "["
            if not stack or stack[-1] != opener or state not in ("next", f"first{token}"):
                raise StrictJsonError(f"body is not JSON (unexpected {token} at char {pos})")
            stack.pop()
            state = "next" if stack else "done"
        elif token == ",":
            if state != "next":
                raise StrictJsonError(f"body is not JSON (unexpected , at char {pos})")
            state = "key" if stack[-1] == "{" else "value"
        elif token == ":":
            if state != "colon":
                raise StrictJsonError(f"body is not JSON (unexpected : at char {pos})")
            state = "value"
        elif state in ("key", "first}"):
            if string is None:
                raise StrictJsonError(f"body is not JSON (a key that is not a string at {pos})")
            state = "colon"
        elif state in ("value", "first]"):
            if token in ("{", "["):
                stack.append(token)
                state = "first}" if token == "{" else "first]"
            else:
                state = "next" if stack else "done"
        else:
            raise StrictJsonError(f"body is not JSON (unexpected token at char {pos})")
    if state != "done":
        raise StrictJsonError("body is not JSON (ends inside a value)")


def _find_surrogate(value: Any) -> str | None:
    """Where a lone surrogate sits in a parsed value (iterative: values may be deep)."""
    pending: list[tuple[Any, str]] = [(value, "$")]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):
                return where
        elif isinstance(item, list):
            pending += [(v, f"{where}[{n}]") for n, v in enumerate(item)]
        elif isinstance(item, dict):
            for key, v in item.items():
                pending += [(key, f"{where} key {key!r}"), (v, f"{where}.{key}")]
    return None


def check(shape: Shape, status: int, content: bytes, *, head: bool = False) -> str | None:
    """Why the body does not fit ``shape`` for an answer with ``status``, or None."""
    if shape == "any":
        return None
    if shape == "auto":
        if 300 <= status < 400:
            return None  # a redirect: its body is for browsers
        if status == 204 or head:
            shape = "empty"
        elif status >= 400:
            shape = "error"
        else:
            shape = "json"
    if shape == "empty":
        return None if not content.strip() else f"expected no body, got {len(content)} bytes"
    try:
        value = strict_json(content)
    except StrictJsonError as exc:
        return str(exc)
    if shape == "json" or value is DEEP:
        return None
    if not isinstance(value, dict):
        return f"expected a JSON object ({shape}), got {type(value).__name__}"
    if shape == "error":
        return _error_problem(value, status)
    if shape == "record":
        return None if isinstance(value.get("id"), str) else "record without a string id"
    if shape == "collection":
        ok = isinstance(value.get("name"), str) and isinstance(value.get("fields"), list)
        return None if ok else "collection without name/fields"
    if shape == "list":
        missing = LIST_KEYS - value.keys()
        return f"list without {sorted(missing)}" if missing else None
    return None


def _error_problem(value: dict[str, Any], status: int) -> str | None:
    if set(value) != ERROR_KEYS:
        return f"error keys {sorted(value)} (PocketBase: data, message, status)"
    if not isinstance(value["data"], dict):
        return "error data is not an object"
    if not isinstance(value["message"], str):
        return "error message is not a string"
    if value["status"] != status:
        return f"error status {value['status']!r} in a {status} answer"
    return None
