"""User-supplied patterns (text/password field ``pattern``), as PocketBase runs them.

PocketBase uses Go's ``regexp``: RE2 syntax, matching in linear time, so a pattern like
``(a+)+$`` cannot hang the server. Python's ``re`` backtracks (40 ``a`` and a ``!`` spin a
core for minutes); the official RE2 bindings (``google-re2``) give Go's syntax and
guarantees. Compile errors are worded as Go words them (``regexp/syntax``), since
PocketBase returns that text: ``Error parsing regexp: missing closing ]: `[invalid`.``
"""

from __future__ import annotations

import functools
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 logs every bad pattern to stderr; the caller reports it

# RE2's error strings (re2/re2.cc) -> Go's regexp/syntax ErrorCode text.
_GO_CODES = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class": "invalid character class",
    "invalid character class range": "invalid character class range",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}


class PatternError(ValueError):
    """A pattern RE2 (and so Go) cannot compile; ``str()`` is Go's message."""


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (cached: a field's pattern runs on every write)."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        raise PatternError(_go_message(exc)) from None


def pattern_error(pattern: str) -> str | None:
    """Go's compile error for ``pattern``, or None when it compiles."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


def matches(pattern: str, text: str) -> bool:
    """``regexp.MatchString``: the pattern found anywhere in ``text``."""
    return compile_pattern(pattern).search(text) is not None


def _go_message(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, arg = text.partition(": ")
    return f"error parsing regexp: {_GO_CODES.get(code, code)}: `{arg}`"
