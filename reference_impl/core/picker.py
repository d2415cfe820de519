"""``?fields=``: PocketBase's response picker, modifier parsing and ``:excerpt`` included.

A port of PocketBase 0.40.6 ``tools/picker`` (pick.go, modifiers.go, excerpt_modifier.go) and
the parts of ``tools/tokenizer`` and ``spf13/cast`` it relies on. Behaviour was checked
against the real binary; the quirks kept on purpose are commented where they happen.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any, NamedTuple

from reference_impl.core import errors as e


class Excerpt(NamedTuple):
    limit: int  # max characters (runes) of plain text
    ellipsis: bool  # append "..." when the text was cut


Fields = dict[str, Excerpt | None]  # dot path -> modifier, like pick.go's map[string]Modifier

# Go's unicode.IsSpace (strings.TrimSpace): Python's str.strip() would also drop \x1c-\x1f.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_TOKEN_SPACE = "\t\n\v\f\r \x85\xa0"  # tokenizer.go whitespaceChars (its trim cutset)
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # strconv.ParseBool (cast.ToBool)
_MAX_INT = 2**63 - 1


# -- parsing ``fields`` --------------------------------------------------------------------------
def parse_fields(text: str) -> Fields:
    """``id,expand.author.email,body:excerpt(9,true)`` -> ``{path: Excerpt | None}``.

    pick.go parseFields: comma tokens (quotes/parentheses respected), each split on the first
    ``:``; a repeated path keeps its last entry. An invalid modifier is a 400 for the whole
    request, even on a field the record lacks.
    """
    fields: Fields = {}
    for token in _tokens(text, ",", parens=True):
        path, colon, modifier = token.strip(_GO_SPACE).partition(":")
        fields[path] = _modifier(modifier) if colon else None
    return fields


def _tokens(text: str, separators: str, *, parens: bool) -> list[str]:
    """tokenizer.go readToken/ScanAll: split outside quotes (and parentheses), trim, drop empties.

    A backslash only stops the next quote/parenthesis from counting, it never escapes a separator.
    """
    tokens: list[str] = []
    buf: list[str] = []
    depth, quote, prev = 0, "", ""
    for ch in text:
        if prev != "\\":
            if parens and ch == "(" and not quote:
                depth += 1
            elif parens and ch == ")" and depth and not quote:
                depth -= 1
            elif ch in "'\"`":
                quote = "" if quote == ch else quote or ch
        if ch in separators and not depth and not quote:
            tokens.append("".join(buf))
            buf, prev = [], ""
            continue
        buf.append(ch)
        prev = ch
    if depth or quote:  # "unbalanced parenthesis or quoted expression"
        raise e.bad_request()
    tokens.append("".join(buf))
    cutset = "".join(c for c in _TOKEN_SPACE if c not in separators)
    return [token for token in (t.strip(cutset) for t in tokens) if token]


def _modifier(raw: str) -> Excerpt:
    """modifiers.go initModifer + newExcerptModifier: ``excerpt(max, withEllipsis?)``.

    Arguments are split on ``(``, ``)``, ``,`` and spaces alike, so ``excerpt 3 true`` and
    ``excerpt(3)(true)`` are valid too; ``excerpt`` is the only modifier there is.
    """
    parts = _tokens(raw, "(), ", parens=False)
    if not parts or parts[0] != "excerpt" or not 1 <= len(parts) - 1 <= 2:
        raise e.bad_request()
    limit = _go_to_int(parts[1])
    if limit <= 0:
        raise e.bad_request()
    return Excerpt(limit, len(parts) > 2 and parts[2] in _GO_TRUE)


def _go_to_int(text: str) -> int:
    """cast.ToInt on a string: decimals truncated ("3.9" -> 3), then strconv.ParseInt(s, 0, 64)
    (0x/0o/0b prefixes, a leading 0 means octal, "_" separators); anything invalid is 0."""
    if "." in text:
        match = re.fullmatch(r"([-+]?[0-9]*)(\.[0-9]*)?", text)
        if match:
            text = match[1] if match[1] not in ("", "-", "+") else match[1] + "0"
    body = text[1:] if text.startswith(("-", "+")) else text
    if not body:
        return 0
    base, digits = 10, body
    if body[0] == "0":
        prefix = body[1:2].lower()
        if len(body) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], body[2:]
        else:
            base, digits = 8, body[1:]
    if "_" in digits and not _underscores_ok(body):
        return 0
    digits = digits.replace("_", "").lower()
    if any(c not in "0123456789abcdef"[:base] for c in digits):
        return 0
    value = int(digits, base) if digits else 0
    value = -value if text.startswith("-") else value
    return value if -_MAX_INT - 1 <= value <= _MAX_INT else 0


def _underscores_ok(body: str) -> bool:
    """strconv underscoreOK: "_" only between digits (a base prefix counts as a digit)."""
    saw, rest, hexa = "^", body, False
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in "box":
        saw, rest, hexa = "0", body[2:], body[1].lower() == "x"
    for ch in rest:
        if ch in "0123456789" or (hexa and ch.lower() in "abcdef"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


# -- picking -------------------------------------------------------------------------------------
def pick(value: Any, fields: Fields) -> Any:
    """pick.go pickParsedFields on a copy; no fields (``fields= ``) keeps everything."""
    return _pick(value, dict(fields))


def _pick(value: Any, fields: Fields) -> Any:
    if isinstance(value, dict):
        return _pick_map(value, fields)
    # "for now ignore non-map values": a list is picked only when its first item is an object
    if isinstance(value, list) and value and isinstance(value[0], dict):
        # PocketBase's unchecked type assertion panics on a later non-object item (a 500);
        # we keep such items as they are (divergence "fields-mixed-list").
        return [_pick_map(item, fields) if isinstance(item, dict) else item for item in value]
    return value


def _pick_map(data: dict[str, Any], fields: Fields) -> dict[str, Any]:
    """pick.go pickMapFields: a key is kept when some path starts with it.

    A path ending at the key wins over deeper ones (``meta,meta.d`` keeps all of meta) and
    applies its modifier; ``*`` adds every key no path names, with ``*``'s own modifier. Like
    PocketBase, ``*`` adds to the map shared by the items of the same list.
    """
    if not fields:
        return data
    if "*" in fields:
        star = fields["*"]
        for key in data:
            if not any(_under(path, key) for path in fields):
                fields[key] = star
    out: dict[str, Any] = {}
    for key, value in data.items():
        rest: Fields = {}
        final: list[Excerpt | None] = []
        for path, modifier in fields.items():
            if _under(path, key):
                remains = (path + ".")[len(key) + 1 :].removesuffix(".")
                if remains:
                    rest[remains] = modifier
                else:
                    final.append(modifier)
        if final:
            out[key] = excerpt(value, *final[0]) if final[0] else value
        elif rest:
            out[key] = _pick(value, rest)
    return out


def _under(path: str, key: str) -> bool:
    return (path + ".").startswith(key + ".")


# -- excerpt -------------------------------------------------------------------------------------
def excerpt(value: Any, limit: int, ellipsis: bool) -> Any:
    """excerpt_modifier.go Modify: plain text of an HTML string, cut to ``limit`` characters.

    Non-strings are returned untouched. The cut is trimmed before "..." is added.
    """
    if not isinstance(value, str):
        return value
    if limit + 2 > _MAX_INT:  # Go's `max+2` overflows: every element is skipped
        return ""
    parser = _PlainText(limit + 2)
    parser.run(value)
    text = "".join(parser.out).strip(_GO_SPACE)
    if len(text) > limit:
        text = text[:limit].strip(_GO_SPACE) + ("..." if ellipsis else "")
    return text


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WHITESPACE_RUN = re.compile(r"[\t\n\f\r ]+")  # Go regexp \s: ASCII only (no \v, no NBSP)
# excerpt_modifier.go: subtrees left out, and the elements that do not separate words
_EXCLUDED = _words("""head style script iframe embed applet object svg img picture dialog
    template button form textarea input select option""")
_INLINE = _words("""a abbr acronym b bdo big br button cite code em i label q small span
    strong strike sub sup time""")
# What golang.org/x/net/html's tree builder knows and Python's flat HTMLParser does not:
_VOID = _words("""area base basefont bgsound br col embed hr img input keygen link meta param
    source track wbr""")
_RAW_TEXT = _words("script style xmp iframe noembed noframes noscript plaintext textarea title")
_HEAD = _words("""base basefont bgsound link meta noframes noscript script style template
    title""")  # before any body content these go to <head>, which is left out
_TABLE_PARTS = _words("caption col colgroup tbody td tfoot th thead tr frame")  # else ignored
_BREAKOUT = _words("""b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5
    h6 head hr i img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup
    table tt u ul var""")  # close the open <svg>/<math>
_INTEGRATION = _words("foreignobject desc title mi mo mn ms mtext annotation-xml")  # HTML inside
_FORMATTING = _words("a b big code em font i nobr s small strike strong tt u")
_SPECIAL = _words("""address applet area article aside base basefont bgsound blockquote body br
    button caption center col colgroup dd details dir div dl dt embed fieldset figcaption figure
    footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input
    keygen li link listing main marquee menu meta nav noembed noframes noscript object ol p
    param plaintext pre script search section select source style summary table tbody td
    template textarea tfoot th thead title tr track ul wbr xmp""")
_SCOPE = _words("applet caption html table td th marquee object template")
_INCOMPLETE = re.compile(r"<(?:[a-zA-Z!?]|/.)", re.S)  # a tag or comment cut by the end


class _Open(NamedTuple):
    tag: str
    block: bool  # separates words (a space before and after)
    skip: bool  # excluded, or entered after the text passed the limit: its content is dropped
    foreign: bool  # inside <svg>/<math>


class _PlainText(HTMLParser):
    """Streams the text the way excerpt_modifier.go's stripTags walks html.Parse's tree.

    The builder starts with the space of the implicit <html> block. Once the text is longer
    than ``limit`` (max+2) UTF-8 bytes, elements entered from then on lose their content while
    sibling text is still added: with multi-byte text PocketBase can so return fewer than
    ``max`` characters ("日本<b>語</b>" with max 3 gives "日本").
    """

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.out: list[str] = [" "]
        self.size = 1
        self.prev_space = True
        self.stack: list[_Open] = []
        self.in_head = True  # before any body content
        self.frameset = False  # a leading <frameset> replaces the body: no text at all

    def run(self, text: str) -> None:
        self.feed(text)
        if self.cdata_elem is not None:  # raw text runs to the end of the input
            self.handle_data(self.rawdata)
            self.rawdata = ""
        elif _INCOMPLETE.match(self.rawdata):  # Go drops a tag cut by EOF ("a<b" -> "a")
            self.rawdata = ""
        self.close()

    def _skipping(self) -> bool:
        return self.frameset or any(element.skip for element in self.stack)

    def _write(self, text: str) -> None:
        self.out.append(text)
        self.size += len(text.encode("utf-8", "surrogatepass"))
        self.prev_space = text.endswith(" ")

    def _pop(self) -> None:
        element = self.stack.pop()
        if element.block and not self.prev_space and not self._skipping():
            self._write(" ")

    def handle_data(self, data: str) -> None:
        raw = self.cdata_elem is not None
        data = data.replace("\x00", "\ufffd" if raw else "")  # NUL: dropped in body text
        if self.cdata_elem == "title":  # RCDATA: references are decoded
            data = html.unescape(data)
        if self._skipping():
            return
        if self.in_head:
            if not data.strip("\t\n\f\r "):
                return
            self.in_head = False
        text = _WHITESPACE_RUN.sub(" ", data)
        if self.prev_space:
            text = text.lstrip(" ")
        if text:
            self._write(text)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs, self_closing=True)

    def handle_starttag(
        self, tag: str, attrs: list[tuple[str, str | None]], self_closing: bool = False
    ) -> None:
        tag = "img" if tag == "image" else tag
        if tag in ("html", "head", "body") or self.frameset:
            self.in_head = self.in_head and tag != "body"
            return
        if self.in_head:
            if tag == "frameset":
                self.frameset = True
                return
            if tag in _HEAD:
                self._push(tag, block=False, skip=True, foreign=False)
                return
            self.in_head = False
        top = self.stack[-1] if self.stack else None
        if top and top.foreign and top.tag not in _INTEGRATION and tag in _BREAKOUT:
            while self.stack and self.stack[-1].foreign and self.stack[-1].tag not in _INTEGRATION:
                self._pop()
            top = self.stack[-1] if self.stack else None
        foreign = tag in ("svg", "math") or bool(
            top and top.foreign and top.tag not in _INTEGRATION
        )
        if not foreign and tag in _TABLE_PARTS and not any(o.tag == "table" for o in self.stack):
            return  # ignored by the tree builder outside a table
        skip = self._skipping() or tag in _EXCLUDED
        block = not skip and tag not in _INLINE
        if block and not self.prev_space:
            self._write(" ")
        if foreign and self_closing:
            return
        self._push(tag, block, skip or self.size > self.limit, foreign)

    def _push(self, tag: str, block: bool, skip: bool, foreign: bool) -> None:
        if tag in _VOID and not foreign:
            return
        self.stack.append(_Open(tag, block, skip, foreign))
        if tag in _RAW_TEXT and not foreign:
            # <plaintext> never ends: a pattern that cannot match keeps it raw to the end
            super().set_cdata_mode(tag if tag != "plaintext" else "plaintext(?!)")

    def set_cdata_mode(self, elem: str, **kwargs: Any) -> None:
        """Ignore HTMLParser's own switch for <script>/<style>: _push decides (not inside svg)."""

    def handle_endtag(self, tag: str) -> None:
        """The tree builder's end-tag rules, simplified: a block end tag closes its element
        within scope, any other stops at the first special element, and a formatting end tag
        with a block opened inside it leaves that block open (adoption agency)."""
        if tag == "br":  # </br> is a <br>
            self.handle_starttag("br", [])
            return
        if tag in ("html", "head", "body") or self.frameset:
            return
        formatting = tag in _FORMATTING
        stop = (
            _SCOPE | {"p": {"button"}, "li": {"ol", "ul"}}.get(tag, set())
            if tag in _SPECIAL
            else _SPECIAL
        )
        for index in range(len(self.stack) - 1, -1, -1):
            element = self.stack[index]
            if element.tag == tag:
                if formatting and any(o.tag in _SPECIAL for o in self.stack[index + 1 :]):
                    del self.stack[index]
                else:
                    while len(self.stack) > index:
                        self._pop()
                return
            if not formatting and not element.foreign and element.tag in stop:
                break
        if tag == "p":  # a stray </p> makes an empty paragraph (a word break)
            self.handle_starttag("p", [])
            self.handle_endtag("p")
