"""``?fields=``: picking keys (``*``, dot paths, unknown keys) and the ``:excerpt`` modifier.

Expected values are what PocketBase 0.40.6 returned for the same record and ``fields`` (a
record with an editor field ``body``, a text ``title`` and a json ``meta``). Key order is not
compared: PocketBase's picker returns keys in random order.
"""

from __future__ import annotations

from typing import Any

import pytest

from reference_impl.core.errors import ApiError
from reference_impl.core.picker import excerpt, parse_fields, pick

RECORD: dict[str, Any] = {
    "id": "r1",
    "collectionId": "pbc_1",
    "collectionName": "posts",
    "title": "hello world",
    "body": "abcdefgh",
    "meta": {"a": [1, {"b": 2, "c": 3}], "d": "long text here"},
    "expand": {
        "author": {"id": "u1", "email": "u1@example.com", "name": "Ann"},
        "tags": [{"id": "t1", "name": "x", "n": 1}, {"id": "t2", "name": "y", "n": 2}],
    },
}


def picked(fields: str, value: Any = None) -> Any:
    return pick(RECORD if value is None else value, parse_fields(fields))


# -- picking -----------------------------------------------------------------------------------
def test_parse_fields_maps_paths_to_modifiers() -> None:
    assert parse_fields("id, expand.author.email,title:excerpt(3,true)") == {
        "id": None,
        "expand.author.email": None,
        "title": (3, True),
    }


def test_an_excerpt_survives_comma_splitting() -> None:
    fields = parse_fields("id,title:excerpt(3,true),body:excerpt( 2 , false ),meta")
    assert set(fields) == {"id", "title", "body", "meta"}
    assert fields["title"] == (3, True)
    assert fields["body"] == (2, False)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("id", {"id": "r1"}),
        ("id,title", {"id": "r1", "title": "hello world"}),
        ("body , title", {"body": "abcdefgh", "title": "hello world"}),
        ("id,", {"id": "r1"}),
        ("nope,id", {"id": "r1"}),  # unknown keys are dropped
        ("nope", {}),
        ("meta.d:excerpt(4,true)", {"meta": {"d": "long..."}}),
        ("meta:excerpt(2)", {"meta": RECORD["meta"]}),  # excerpt leaves non-strings alone
        ("id,expand.author.email", {"id": "r1", "expand": {"author": {"email": "u1@example.com"}}}),
        ("expand.tags.name", {"expand": {"tags": [{"name": "x"}, {"name": "y"}]}}),
        ("expand.nope.id", {"expand": {}}),
        ("title.x", {"title": "hello world"}),  # a path into a scalar keeps the scalar
        ("*", RECORD),
        ("*,meta.a", {**RECORD, "meta": {"a": RECORD["meta"]["a"]}}),
        ("*,body:excerpt(2)", {**RECORD, "body": "ab"}),
        ("expand.author.*", {"expand": {"author": RECORD["expand"]["author"]}}),
    ],
    ids=repr,
)
def test_pick(fields: str, expected: Any) -> None:
    assert picked(fields) == expected


def test_pick_applies_to_every_object_of_a_list() -> None:
    items = [{"id": "a", "n": 1}, {"id": "b", "n": 2}]
    assert picked("id", items) == [{"id": "a"}, {"id": "b"}]
    assert picked("meta.e.f", {"meta": {"e": [{"f": 1, "g": 2}, {"g": 3}]}}) == {
        "meta": {"e": [{"f": 1}, {}]}
    }


def test_a_list_that_does_not_start_with_an_object_is_kept_whole() -> None:
    assert picked("meta.a.b") == {"meta": {"a": [1, {"b": 2, "c": 3}]}}


def test_pick_does_not_mutate_its_input() -> None:
    before = repr(RECORD)
    picked("*,meta.a,expand.author.email,body:excerpt(2,true)")
    assert repr(RECORD) == before


def test_a_blank_fields_list_picks_everything() -> None:
    assert picked(" ") == RECORD


def test_the_last_duplicate_key_wins() -> None:
    assert picked("body,body:excerpt(2)") == {"body": "ab"}
    assert picked("body:excerpt(2),body") == {"body": "abcdefgh"}


@pytest.mark.parametrize(
    "fields", ["body:excerpt(0)", "body:excerpt(3,true,1)", "body:foo(2)"], ids=repr
)
def test_invalid_modifiers_are_rejected(fields: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_fields(fields)
    assert raised.value.status == 400


# -- excerpt -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("html", "limit", "ellipsis", "text"),
    [
        ("abcdefgh", 3, True, "abc..."),
        ("abcdefgh", 3, False, "abc"),
        ("abc", 3, True, "abc"),  # at the limit: no ellipsis
        ("abc  ", 3, True, "abc"),
        ("x<b>y</b>z", 100, False, "xyz"),  # inline tags vanish without a space
        ("x<b>y</b>z", 2, True, "xy..."),
        ("x <em>y</em> z", 100, False, "x y z"),
        ("tab\there\nnew", 100, False, "tab here new"),
        ("tab\there\nnew", 5, False, "tab h"),
        ("  lots   of   space  ", 100, False, "lots of space"),
        ("x &amp; y &lt;z&gt;", 100, False, "x & y <z>"),
        ("a <!-- c --> b", 5, False, "a b"),
        ("<p>  </p><p>x</p>", 5, False, "x"),
        ("héllo wörld ümlaut", 5, False, "héllo"),  # counts characters, not bytes
        ("héllo wörld ümlaut", 3, True, "hél..."),
        ("日本語のテキストです", 3, True, "日本語..."),
    ],
    ids=repr,
)
def test_excerpt(html: str, limit: int, ellipsis: bool, text: str) -> None:
    assert excerpt(html, limit, ellipsis) == text


@pytest.mark.parametrize("value", [123, 1.5, None, True, ["<b>x</b>"], {"a": "<b>x</b>"}])
def test_excerpt_leaves_non_strings_alone(value: Any) -> None:
    assert excerpt(value, 1, True) == value


@pytest.mark.parametrize(
    ("html", "limit", "ellipsis", "text"),
    [
        ("<p>a</p><p>b</p>", 100, False, "a b"),
        ("x<span>y</span><div>z</div>w", 100, False, "xy z w"),
        ("<ul><li>one</li><li>two</li></ul>", 5, False, "one t"),
        ("<script>alert(1)</script>ok", 10, True, "ok"),
        ("<style>p{}</style>vis", 100, False, "vis"),
        ("ab cd", 3, True, "ab..."),
        ("<p>Hello <b>big</b>\n\n  world</p>", 10, True, "Hello big..."),
        ("  lots   of   space  ", 5, False, "lots"),
        ("a\u00a0\u00a0b c", 100, False, "a\u00a0\u00a0b c"),
        ("a<b", 100, False, "a"),
    ],
    ids=repr,
)
def test_excerpt_like_pocketbase(html: str, limit: int, ellipsis: bool, text: str) -> None:
    assert excerpt(html, limit, ellipsis) == text


@pytest.mark.parametrize(("arg", "ellipsis"), [("1", True), ("t", True), ("tRuE", False)], ids=repr)
def test_excerpt_ellipsis_argument_is_go_bool(arg: str, ellipsis: bool) -> None:
    assert parse_fields(f"body:excerpt(3,{arg})") == {"body": (3, ellipsis)}


# -- further PocketBase 0.40.6 behaviour (each value below was returned by the real binary) ---
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("meta,meta.d:excerpt(2)", {"meta": RECORD["meta"]}),  # a path ending at the key wins
        ("meta.d:excerpt(2),meta", {"meta": RECORD["meta"]}),
        (
            "*:excerpt(2)",
            {
                **RECORD,
                "id": "r1",
                "collectionId": "pb",
                "collectionName": "po",
                "title": "he",
                "body": "ab",
            },
        ),  # '*' lends its modifier (non-strings kept)
        (
            "*:excerpt(2),title",
            {**RECORD, "id": "r1", "collectionId": "pb", "collectionName": "po", "body": "ab"},
        ),
        ("id.", {"id": "r1"}),
        (".id", {}),
        ("id title", {}),  # only commas separate fields
        ("body :excerpt(2)", {}),  # the path is not trimmed before ':'
        ("body: excerpt(2)", {"body": "ab"}),
        ("'id',title", {"title": "hello world"}),  # quotes stay part of the path
        ("id,(title)", {"id": "r1"}),
        ("\u00a0id", {"id": "r1"}),  # trimmed like Go's strings.TrimSpace ...
        ("\x1fid", {}),  # ... which does not count \x1f as space
    ],
    ids=repr,
)
def test_pick_paths_like_pocketbase(fields: str, expected: Any) -> None:
    assert picked(fields) == expected


def test_a_dotted_key_is_reached_directly_and_through_its_parent() -> None:
    value = {"meta": {"a.b": 5, "a": {"b": 6, "c": 7}}}
    assert picked("meta.a.b", value) == {"meta": {"a.b": 5, "a": {"b": 6}}}


def test_a_list_with_a_later_non_object_keeps_that_item() -> None:
    # PocketBase panics here (a 500); the reference keeps the item (divergence
    # "fields-mixed-list" in harness/divergences.toml): never a 500 for a request.
    assert picked("meta.x.b", {"meta": {"x": [{"b": 1, "c": 2}, 2]}}) == {
        "meta": {"x": [{"b": 1}, 2]}
    }


@pytest.mark.parametrize(
    ("modifier", "expected"),
    [
        ("excerpt 3 true", (3, True)),  # '(', ')', ',' and ' ' all separate the arguments
        ("excerpt(3)(true)", (3, True)),
        ("excerpt(,3,,true)", (3, True)),
        ("excerpt(3,'true')", (3, False)),
        ("excerpt(2)extra", (2, False)),
        ("excerpt(3.9)", (3, False)),  # cast.ToInt: decimals are cut ...
        ("excerpt(010)", (8, False)),  # ... and strconv.ParseInt(s, 0, 64) reads Go literals
        ("excerpt(0x0A)", (10, False)),
        ("excerpt(0b11)", (3, False)),
        ("excerpt(1_000)", (1000, False)),
        ("excerpt(+3)", (3, False)),
    ],
    ids=repr,
)
def test_modifier_syntax(modifier: str, expected: tuple[int, bool]) -> None:
    assert parse_fields(f"body:{modifier}") == {"body": expected}


@pytest.mark.parametrize(
    "fields",
    [
        "body:excerpt(-1)",
        "nope:excerpt(abc)",
        "body:excerpt()",
        "body:excerpt",
        "body:",
        "body:EXCERPT(2)",
        "body::excerpt(2)",
        "body:excerpt(08)",
        "body:excerpt(1e1)",
        "body:excerpt(3.x)",
        "body:excerpt(3_)",
        "body:excerpt(9223372036854775808)",
        "body:excerpt(2,'a' 'b')",
        "body:excerpt(2",
        "id,'title",
        "id(",
    ],
    ids=repr,
)
def test_more_invalid_fields_are_400(fields: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_fields(fields)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("html", "limit", "ellipsis", "text"),
    [
        ("日本<b>語</b>", 3, False, "日本"),  # past max+2 UTF-8 bytes, elements lose their text
        ("日本語<span>x</span>y<span>z</span>", 4, False, "日本語y"),  # ... sibling text does not
        ("abc", 9223372036854775806, False, ""),  # Go's max+2 overflows
        ("<title>T</title>hello", 100, False, "hello"),  # leading head content is dropped
        ("<noscript><b>x</b></noscript>y", 100, False, "y"),
        ("<p>x</p><title>a&amp;b</title>", 100, False, "x a&b"),  # in the body it is text
        ("x<xmp><b>n</b></xmp>", 100, False, "x <b>n</b>"),  # raw text elements
        ("x<plaintext>a</plaintext>b", 100, False, "x a</plaintext>b"),
        ("a<td>b</td>c", 100, False, "abc"),  # table parts outside a table are ignored
        ("<table><td>a</td><td>b</td></table>c", 100, False, "a b c"),
        ("a</p>b", 100, False, "a b"),  # a stray </p> is an empty paragraph
        ("a<br>b<hr>c", 100, False, "ab c"),
        ("<b>a<p>b</b>c</p>", 100, False, "a bc"),
        ("<span>a<div>b</span>c</div>d", 100, False, "a bc d"),
        ("<svg/>t", 100, False, "t"),
        ("<svg><p>x</p></svg>y", 100, False, "x y"),  # <p> breaks out of <svg>
        ("<svg><foreignObject><p>x</p></foreignObject></svg>y", 100, False, "y"),
        ("<math><mi>m</mi></math>t", 100, False, "m t"),
        ("<frameset>f</frameset>x", 100, False, ""),
        ("a\x00b", 100, False, "ab"),
        ("x<xmp>a\x00b</xmp>", 100, False, "x a\ufffdb"),
        ("a\x0bb\u2003c", 100, False, "a\x0bb\u2003c"),  # only ASCII whitespace collapses
        ("\u2003a\u2003", 100, False, "a"),  # but Unicode spaces are trimmed
        ("\x1fa\x1f", 100, False, "\x1fa\x1f"),
        ("<p>Hello&nbsp;world</p>", 7, False, "Hello\u00a0w"),
        ("a\u00a0\u00a0b", 2, False, "a"),
        ("a<", 100, False, "a<"),
        ("a</b", 100, False, "a"),
        ("a<!--x", 100, False, "a"),
        ("&amp &ampx &notit; &#65;&#x42; &bogus;", 100, False, "& &x \u00acit; AB &bogus;"),
    ],
    ids=repr,
)
def test_excerpt_html_like_pocketbase(html: str, limit: int, ellipsis: bool, text: str) -> None:
    assert excerpt(html, limit, ellipsis) == text
