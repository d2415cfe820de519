"""Filter stage 1: text -> tokens, as PocketBase's scanner (fexpr 0.6) reads it.

- Whitespace is space, tab and ``\\n`` only (``\\r`` is an error).
- Input ends at the first NUL (so a NUL inside quotes leaves the text unterminated).
- Text is ``'...'`` or ``"..."``; a backslash before ``\\``, ``'`` or ``"`` stands for that
  character, any other backslash is kept (verified on 0.40.6: ``'tab\\d'`` is ``tab\\d``,
  ``'b\\\\c'`` is ``b\\c``, ``"a\\'b"`` is ``a'b``).
- Numbers are ``-?digits(.digits)?`` (or ``-.digits``); identifiers start with a letter,
  ``_``, ``@`` or ``#`` and go on with letters, digits, ``_``, ``.`` and ``:``; an
  identifier right before ``(`` is a function name.
- ``//`` comments run to the end of the line, or of the group they are in: fexpr finds a
  group's closing parenthesis by counting parentheses outside quotes (in comments too)
  before it reads the group, so ``(a = 1 // x )`` closes at that ``)``.

A hand-written scanner: linear in the input, no regular expression on user text.
"""

from __future__ import annotations

from reference_impl.ir.errors import FilterError

MAX_FILTER_LENGTH = 3500

Token = tuple[str, str]

_WS = " \t\n"
_ESCAPABLE = "\\'\""
_SIGNS = ("?!=", "?>=", "?<=", "?!~", "?=", "?>", "?<", "?~", "!=", ">=", "<=", "!~")
_SIGN_CHARS = "=><~"


def _is_ident_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch in "_@#")


def _is_ident_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "_.:")


def _scan_text(text: str, pos: int) -> tuple[str, int]:
    """The quoted text starting at ``pos``: (value, position after the closing quote)."""
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPABLE:
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise FilterError(f"invalid quoted text starting at {pos}")


def _closing_parens(text: str) -> dict[int, int]:
    """Each ``(`` -> its ``)``, counted as fexpr's group scanner does (quotes skipped,
    parentheses inside comments counted)."""
    matches: dict[int, int] = {}
    stack: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _scan_text(text, i)[1]
            continue
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            matches[stack.pop()] = i
        i += 1
    if stack:
        raise FilterError(f"invalid formatted group - missing {len(stack)} closing bracket(s)")
    return matches


def tokenize(text: str) -> list[Token]:
    """``(kind, value)`` pairs; kinds: text (unquoted value), num, ident, call (a function
    name), op, join, paren, comma."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter longer than {MAX_FILTER_LENGTH} characters")
    text = text.split("\x00", 1)[0]
    closing = _closing_parens(text)
    group_ends: list[int] = []  # where each open group's content ends
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch in _WS:
            pos += 1
        elif text.startswith("//", pos):
            end = text.find("\n", pos)
            end = n if end < 0 else end
            if group_ends:
                end = min(end, group_ends[-1])
            pos = end
        elif ch in "'\"":
            value, pos = _scan_text(text, pos)
            tokens.append(("text", value))
        elif ch == "(":
            group_ends.append(closing[pos])
            tokens.append(("paren", "("))
            pos += 1
        elif ch == ")":
            if not group_ends or group_ends[-1] != pos:
                raise FilterError(f"unexpected character ')' at {pos}")
            group_ends.pop()
            tokens.append(("paren", ")"))
            pos += 1
        elif ch == ",":
            tokens.append(("comma", ","))
            pos += 1
        elif ch.isdigit() or (ch == "-" and pos + 1 < n and text[pos + 1] in "0123456789."):
            value, pos = _scan_number(text, pos)
            tokens.append(("num", value))
        elif _is_ident_start(ch):
            end = pos + 1
            while end < n and _is_ident_char(text[end]):
                end += 1
            value = text[pos:end]
            if value[-1] in ".:":
                raise FilterError(f"invalid identifier {value!r}")
            tokens.append(("call" if text.startswith("(", end) else "ident", value))
            pos = end
        elif text.startswith(("&&", "||"), pos):
            tokens.append(("join", text[pos : pos + 2]))
            pos += 2
        else:
            sign = next((s for s in _SIGNS if text.startswith(s, pos)), None)
            if sign is None and ch in _SIGN_CHARS:
                sign = ch
            if sign is None:
                raise FilterError(f"unexpected character {ch!r} at {pos}")
            tokens.append(("op", sign))
            pos += len(sign)
    return tokens


def _scan_number(text: str, pos: int) -> tuple[str, int]:
    end = pos + 1 if text[pos] == "-" else pos
    while end < len(text) and text[end].isdigit():
        end += 1
    if end < len(text) and text[end] == ".":
        frac = end + 1
        while frac < len(text) and text[frac].isdigit():
            frac += 1
        if frac == end + 1:
            raise FilterError(f"invalid number {text[pos:frac]!r}")
        end = frac
    value = text[pos:end]
    if value in ("-", "-."):
        raise FilterError(f"invalid number {value!r}")
    if end < len(text) and (_is_ident_char(text[end])):
        raise FilterError(f"invalid number {text[pos : end + 1]!r}")
    return value, end
