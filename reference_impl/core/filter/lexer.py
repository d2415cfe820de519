"""Filter stage 1: text -> tokens, as PocketBase's fexpr scanner reads it.

Whitespace is space, tab and ``\\n`` only (``\\r`` is an error); ``//`` comments run to the
end of the line; a text literal escapes only its own quote; numbers are ``-?digits(.digits)?``.
The token pattern has no backtracking on user data: every repetition is possessive.
"""

from __future__ import annotations

import re

from reference_impl.ir.errors import FilterError

MAX_FILTER_LENGTH = 3500

_TOKEN_RE = re.compile(
    r"""(?P<ws>[ \t\n]+)|(?P<comment>//[^\n]*)
    |(?P<text>'(?:\\'|[^'\\]|\\(?!'))*+'|"(?:\\"|[^"\\]|\\(?!"))*+")
    |(?P<num>(?:-?\d+(?:\.\d+)?|-\.\d+)(?![\w.]))
    |(?P<ident>[A-Za-z_@#][\w.:]*+)
    |(?P<op>\?!=|\?>=|\?<=|\?!~|\?=|\?>|\?<|\?~|!=|>=|<=|!~|=|>|<|~)
    |(?P<join>&&|\|\|)|(?P<paren>[()])|(?P<comma>,)""",
    re.VERBOSE,
)

Token = tuple[str, str]


def tokenize(text: str) -> list[Token]:
    """``(kind, value)`` pairs; kinds: text (unquoted value), num, ident, op, join, paren,
    comma."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:  # PocketBase's tokenizer stops at NUL ("invalid quoted text")
        raise FilterError("the filter holds a NUL character")
    tokens: list[Token] = []
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
