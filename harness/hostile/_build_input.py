"""Categories that attack the parsers: nested JSON, filters, encodings, numbers, passwords."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote

from harness.hostile import fixtures
from harness.hostile._make import Builder, expect_of, short
from harness.hostile.case import (
    OK,
    OK_2XX,
    REJECT,
    Actor,
    Case,
    Category,
    Expect,
    Pattern,
    deep,
    repeat,
)

RECORDS = "/api/collections/{coll}/records"
COLLECTIONS = "/api/collections"
ACTORS: tuple[Actor, Actor] = ("superuser", "guest")


def _q(text: str) -> str:
    """Percent-encode a query value (every byte outside the unreserved set)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _qp(name: str, value: str) -> str:
    return f"{name}={_q(value)}"


# --- nested JSON ------------------------------------------------------------------------

_NESTINGS = {
    "array": (b"[", b"1", b"]", 1),
    "object": (b'{"a":', b"1", b"}", 1),
    "mixed": (b'[{"a":', b"1", b"}]", 2),
}


def nested(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["nested"]
    b = Builder("nested", seed)
    records = "/api/collections/{deep}/records"
    # First the depths PocketBase can store and serve, then reads; then the deeper ones
    # it stores but cannot serve (see catalog.toml), then the same reads again.
    stored: list[str] = []
    for when, depths in (("", v["depths"]), (" after 9999 levels", v["deeper"])):
        created = _deep_creates(b, v, records, depths)
        _deep_reads(b, records, created, when)
        stored += [record_id for record_id, accepted, _ in created if accepted]
    _nested_elsewhere(b, records)
    for record_id in stored:  # later categories read the deep fixture too
        path = f"{records}/{record_id}"
        b.get(f"deep record {record_id}", path, OK_2XX, method="DELETE", quick=False)
    return Category("nested", b.cases, summary="deeply nested JSON in and out")


def _deep_creates(
    b: Builder, v: dict[str, Any], records: str, depths: list[int]
) -> list[tuple[str, bool, bool]]:
    created = []
    for kind, (opener, inner, closer, levels) in _NESTINGS.items():
        for depth in depths:
            record_id = f"hxd{kind[0]}{depth:011d}"
            prefix = b'{"id":"' + record_id.encode() + b'","data":'
            body = deep(prefix, opener, inner, closer, depth // levels, b"}")
            accepted = depth < v["accepted_below"]
            quick = depth in v["quick_depths"] and kind != "mixed"
            expect = OK_2XX if accepted else REJECT
            b.json("POST", f"json {kind} {depth} levels deep", records, body, expect, quick=quick)
            created.append((record_id, accepted, quick))
    return created


def _deep_reads(b: Builder, records: str, created: list[tuple[str, bool, bool]], when: str) -> None:
    first = not when  # the reads the issue names run in --quick; the later ones do not
    actors: tuple[Actor, ...] = ("superuser", "guest")
    for actor in actors:
        b.get(f"deep records{when}", records, OK_2XX, actor=actor, quick=first)
        query = "fields=id"
        b.get(
            f"deep records fields=id{when}", records, OK_2XX, query=query, actor=actor, quick=first
        )
    b.get(f"deep records fields=data{when}", records, OK_2XX, query="fields=data", quick=first)
    reads = {
        "perPage=500 sort=-data": "perPage=500&sort=-data",
        "filter on data.a.a.a": _qp("filter", "data.a.a.a = 1"),
        "filter data ~ '['": _qp("filter", "data ~ '['"),
    }
    for what, query in reads.items():
        b.get(f"deep records {what}{when}", records, OK_2XX, query=query, quick=False)
    for record_id, accepted, quick in created:
        path = f"{records}/{record_id}"
        b.get(f"deep record {record_id}", path, OK_2XX if accepted else REJECT, quick=quick)
        if accepted and quick:
            b.get(
                f"deep record {record_id} fields=id", path, OK_2XX, query="fields=id", actor="guest"
            )


def _nested_elsewhere(b: Builder, records: str) -> None:
    """Deep values where they do not belong: a text field, collection options, a login."""
    deeper = deep(b'{"data":', b"[", b"1", b"]", 2000, b"}")
    b.json(
        "PATCH",
        "deep record made deeper",
        f"{records}/hxda00000000500",
        deeper,
        OK_2XX,
        quick=False,
    )
    title = deep(b'{"title":', b"[", b"1", b"]", 10_000, b"}")
    b.json(
        "POST", "text field given 10000 levels", RECORDS, title, REJECT, actor="guest", quick=False
    )
    option = deep(
        b'{"name":"hx_deepc","fields":[{"name":"t","type":"text","x":',
        b"[",
        b"1",
        b"]",
        10_000,
        b"}]}",
    )
    b.json("POST", "collection options 10000 levels deep", COLLECTIONS, option, REJECT, quick=False)
    identity = deep(b'{"password":"x","identity":', b"[", b"1", b"]", 10_000, b"}")
    login = f"/api/collections/{fixtures.USERS}/auth-with-password"
    b.json(
        "POST",
        "login identity 10000 levels deep",
        login,
        identity,
        REJECT,
        actor="guest",
        quick=False,
    )


# --- filters ----------------------------------------------------------------------------


def _enc(text: str) -> bytes:
    return _q(text).encode()


def _parens(depth: int, inner: str = "title='x'", name: str = "filter") -> Pattern:
    return Pattern(((f"{name}=".encode(), 1), (b"%28", depth), (_enc(inner), 1), (b"%29", depth)))


def filters(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["filter"]
    b = Builder("filter", seed)
    expect_table = v.get("expect", {})
    for depth in v["paren_depths"]:
        quick = depth in v["quick_paren_depths"]
        default = OK_2XX if depth <= 1000 else OK
        expect = expect_of(expect_table.get(f"parens {depth}"), default)
        for actor in ACTORS:
            b.add(
                _get(
                    b,
                    f"filter in {depth} parentheses",
                    RECORDS,
                    _parens(depth),
                    expect,
                    actor,
                    quick,
                )
            )
    for depth in (500, 1000):
        opened = Pattern(((b"filter=", 1), (b"%28", depth), (_enc("title='x'"), 1)))
        closed = Pattern(((b"filter=", 1), (_enc("title='x'"), 1), (b"%29", depth)))
        b.add(
            _get(
                b,
                f"filter with {depth} unclosed parentheses",
                RECORDS,
                opened,
                REJECT,
                "guest",
                depth == 500,
            )
        )
        b.add(
            _get(
                b,
                f"filter with {depth} stray closing parentheses",
                RECORDS,
                closed,
                REJECT,
                "guest",
                False,
            )
        )
    for depth in v["and_or_depths"]:
        query = Pattern(
            (
                (b"filter=", 1),
                (_enc("(views=1 || "), depth),
                (_enc("title='x'"), 1),
                (b"%29", depth),
            )
        )
        expect = expect_of(expect_table.get(f"and-or {depth}"), OK)
        b.add(
            _get(b, f"filter or-nested {depth} deep", RECORDS, query, expect, "guest", depth == 500)
        )
    for length in v["literal_lengths"]:
        query = Pattern(((_enc("filter") + b"=" + _enc("title='"), 1), (b"a", length), (b"%27", 1)))
        b.add(
            _get(
                b,
                f"filter literal of {length} chars",
                RECORDS,
                query,
                OK,
                "guest",
                length == 10_000,
            )
        )
    for count in v["term_counts"]:
        quick = count in v["quick_term_counts"]
        for op in ("||", "&&"):
            query = Pattern(((b"filter=", 1), (_enc(f"views=1{op}"), count), (_enc("views=1"), 1)))
            expect = expect_of(expect_table.get(f"terms {count}"), OK)
            b.add(
                _get(
                    b,
                    f"filter of {count + 1} terms joined by {op}",
                    RECORDS,
                    query,
                    expect,
                    "guest",
                    quick,
                )
            )
    for count in v["sort_counts"]:
        query = repeat(b"sort=", b"title,", count, b"title")
        b.add(_get(b, f"sort by {count + 1} fields", RECORDS, query, OK, "guest", count == 1000))
    for count in v["fields_counts"]:
        query = repeat(b"fields=", b"id,", count, b"id")
        b.add(_get(b, f"fields list of {count + 1}", RECORDS, query, OK, "guest", False))
    for depth in v["expand_depths"]:
        query = repeat(b"expand=", b"x.", depth, b"x")
        b.add(_get(b, f"expand path {depth + 1} deep", RECORDS, query, OK, "guest", False))
    b.add(
        _get(
            b,
            "sort by a 10000-char field",
            RECORDS,
            repeat(b"sort=-", b"a", 10_000),
            OK,
            "guest",
            False,
        )
    )
    for depth in (500, 1000):
        query = _parens(depth, "name='x'")
        expect = expect_of(expect_table.get(f"collections parens {depth}"), OK_2XX)
        b.add(
            _get(
                b,
                f"collections filter in {depth} parentheses",
                COLLECTIONS,
                query,
                expect,
                "superuser",
                depth == 1000,
            )
        )
    query = Pattern(((b"filter=", 1), (_enc("name='x'||"), 1000), (_enc("name='x'"), 1)))
    b.add(_get(b, "collections filter of 1001 terms", COLLECTIONS, query, OK, "superuser", False))
    for depth in (500, 1000):
        name = f"hx_rule{depth}"
        rule = "(" * depth + "title='x'" + ")" * depth
        definition = {
            "name": name,
            "type": "base",
            "listRule": rule,
            "viewRule": rule,
            "fields": [{"name": "title", "type": "text"}],
        }
        expect = expect_of(expect_table.get(f"rule parens {depth}"), OK_2XX)
        b.json(
            "POST",
            f"collection with a rule in {depth} parentheses",
            COLLECTIONS,
            definition,
            expect,
            quick=depth == 1000,
        )
        b.get(
            f"records under a rule in {depth} parentheses",
            f"{COLLECTIONS}/{name}/records",
            OK,
            actor="guest",
            quick=depth == 1000,
        )
    rng = random.Random(f"{seed}:filter")
    tokens = v["fuzz_tokens"]
    for n in range(v["fuzz"]):
        text = " ".join(rng.choice(tokens) for _ in range(rng.randint(1, 14)))
        actor = ACTORS[n % 2]
        quick = n < v["quick_fuzz"]
        b.get(
            f"fuzzed filter {n} {short(text, 30)}",
            RECORDS,
            OK,
            query=_qp("filter", text),
            actor=actor,
            quick=quick,
            generated=True,
        )
    return Category("filter", b.cases, summary="deep, huge and fuzzed filters, sorts, field lists")


def _get(
    b: Builder, what: str, path: str, query: Pattern, expect: Expect, actor: Actor, quick: bool
) -> Case:
    return Case(b.category, "GET", what, path, expect, actor, query, quick=quick)


# --- encoding ---------------------------------------------------------------------------


def _decode_escape(escaped: str) -> str:
    """A JSON escape sequence as the Python string it denotes (lone surrogates kept)."""
    value: str = json.loads(f'"{escaped}"')
    return value


def encoding(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["encoding"]
    b = Builder("encoding", seed)
    users = f"/api/collections/{fixtures.USERS}"
    for n, esc in enumerate(v["escapes"]):
        quick = esc in v["quick_escapes"]
        label = short(esc, 20)
        text = _decode_escape(esc)

        def post(
            what: str, path: str, body: str, actor: Actor = "guest", quick: bool = quick
        ) -> None:
            b.json("POST", what, path, body.encode(), OK, actor=actor, quick=quick)

        post(f"title {label}", RECORDS, f'{{"title":"{esc}"}}')
        post(f"json value {label}", RECORDS, f'{{"data":"{esc}"}}')
        post(f"json key {label}", RECORDS, f'{{"data":{{"{esc}":1}}}}')
        post(f"record key {label}", RECORDS, f'{{"{esc}":"x","title":"k"}}')
        post(f"record id {label}", RECORDS, f'{{"id":"hx{esc}{n}","title":"x"}}')
        fields = '[{"name":"title","type":"text"}]'
        post(
            f"collection name {label}",
            COLLECTIONS,
            f'{{"name":"hx{esc}{n}","fields":{fields}}}',
            "superuser",
        )
        post(
            f"field name {label}",
            COLLECTIONS,
            f'{{"name":"hx_encf{n}","fields":[{{"name":"f{esc}","type":"text"}}]}}',
            "superuser",
        )
        rule = f"\"title = '{esc}'\""
        post(
            f"rule literal {label}",
            COLLECTIONS,
            f'{{"name":"hx_encr{n}","listRule":{rule},"fields":{fields}}}',
            "superuser",
        )
        b.get(
            f"records under rule literal {label}",
            f"{COLLECTIONS}/hx_encr{n}/records",
            OK,
            actor="guest",
            quick=quick,
        )
        post(
            f"login identity {label}",
            f"{users}/auth-with-password",
            f'{{"identity":"{esc}@example.com","password":"x"}}',
        )
        post(
            f"superuser login identity {label}",
            "/api/collections/_superusers/auth-with-password",
            f'{{"identity":"{esc}","password":"x"}}',
        )
        email = f'"hx{esc}{n}@example.com"'
        post(
            f"sign-up email {label}",
            f"{users}/records",
            f'{{"email":{email},"password":"hx-password-1","passwordConfirm":"hx-password-1"}}',
        )
        b.get(
            f"posts filtered by {label}",
            RECORDS,
            OK,
            query=_qp("filter", f"title='{text}'"),
            actor="guest",
            quick=quick,
        )
        b.get(f"post with id {label}", f"{RECORDS}/{text}", OK, actor="guest", quick=quick)
    for hexed in v["invalid_utf8"]:
        raw = bytes.fromhex(hexed)
        quick = hexed in v["quick_invalid_utf8"]
        label = f"bytes {hexed}"
        bodies: dict[str, tuple[str, bytes, Actor]] = {
            f"title {label}": (RECORDS, b'{"title":"' + raw + b'"}', "guest"),
            f"json value {label}": (RECORDS, b'{"data":"' + raw + b'"}', "guest"),
            f"json key {label}": (RECORDS, b'{"data":{"' + raw + b'":1}}', "guest"),
            f"after the JSON {label}": (RECORDS, b'{"title":"x"}' + raw, "guest"),
            f"collection name {label}": (COLLECTIONS, b'{"name":"hx' + raw + b'"}', "superuser"),
            f"login identity {label}": (
                f"{users}/auth-with-password",
                b'{"identity":"' + raw + b'","password":"x"}',
                "guest",
            ),
        }
        for what, (path, body, actor) in bodies.items():
            b.json("POST", what, path, body, OK, actor=actor, quick=quick)
    rng = random.Random(f"{seed}:encoding")
    for n in range(v["random_bodies"]):
        garbage = rng.randbytes(rng.randint(1, 64))
        body = (b'{"title":"' + garbage + b'"}') if n % 2 else garbage
        b.json(
            "POST",
            f"random bytes {n}",
            RECORDS,
            body,
            OK,
            actor="guest",
            quick=n < v["quick_random_bodies"],
            generated=True,
        )
    view = f"{RECORDS}/hxpost000000001"
    for param in v["params"]:
        for value in v["query_values"]:
            quick = param in v["quick_params"] and value in v["quick_query_values"]
            b.get(
                f"posts {param}={value}",
                RECORDS,
                OK,
                query=f"{param}={value}",
                actor="guest",
                quick=quick,
            )
            if param in ("fields", "expand"):
                b.get(
                    f"post {param}={value}",
                    view,
                    OK,
                    query=f"{param}={value}",
                    actor="guest",
                    quick=quick and value == "%FF",
                )
            if param in ("fields", "filter", "sort"):
                b.get(
                    f"collections {param}={value}",
                    COLLECTIONS,
                    OK,
                    query=f"{param}={value}",
                    quick=quick and value == "%00",
                )
    b.get("posts %FF=%FF", RECORDS, OK, query="%FF=%FF", actor="guest", quick=False)
    b.get("collection name with %00", "/api/collections/hx_posts%00/records", OK, actor="guest")
    b.get("record id with %00", f"{RECORDS}/hxpost000000001%00", OK, actor="guest")
    b.get("record id %00", f"{RECORDS}/%00", OK, actor="guest", quick=False)
    return Category("encoding", b.cases, writes=True, summary="surrogates, invalid UTF-8, NUL")


# --- numbers ----------------------------------------------------------------------------


def numbers(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["numbers"]
    b = Builder("numbers", seed)
    endpoints: tuple[tuple[str, str, Actor], ...] = (
        ("posts", RECORDS, "guest"),
        ("collections", COLLECTIONS, "superuser"),
    )
    for endpoint, path, actor in endpoints:
        for value in v["page_values"]:
            for param in ("page", "perPage"):
                for skip in ("", "&skipTotal=1"):
                    quick = value in v["quick_page_values"] and (
                        param == "page" or value == v["quick_page_values"][1]
                    )
                    what = f"{endpoint} {param}={short(value)}{' skipTotal' if skip else ''}"
                    query = f"{param}={_q(value)}{skip}"
                    expect = OK_2XX if value in v["page_accepted"] else REJECT
                    b.get(what, path, expect, query=query, actor=actor, quick=quick)
    for literal in v["views"]:
        body = f'{{"title":"num","views":{literal}}}'.encode()
        b.json(
            "POST",
            f"views = {short(literal)}",
            RECORDS,
            body,
            REJECT if literal in v["views_rejected"] else OK_2XX,
            actor="guest",
            quick=literal in v["quick_views"],
        )
    for literal in v["json_values"]:
        body = f'{{"title":"json","data":{literal}}}'.encode()
        b.json(
            "POST",
            f"json data = {short(literal)}",
            RECORDS,
            body,
            OK_2XX if literal in v["json_accepted"] else REJECT,
            actor="guest",
            quick=literal in v["quick_json_values"],
        )
    for n, text in enumerate(v["filters"]):
        b.get(
            f"posts filter {short(text)}",
            RECORDS,
            REJECT if text in v["filters_rejected"] else OK_2XX,
            query=_qp("filter", text),
            actor="guest",
            quick=n < 2,
        )
    bumps = (
        ("hxnum0000000001", "1.7976931348623157e308", '{"views+":1.7976931348623157e308}'),
        ("hxnum0000000002", "9223372036854775807", '{"views+":1}'),
        ("hxnum0000000003", "-9223372036854775808", '{"views-":1}'),
        ("hxnum0000000004", "1e308", '{"views+":1e308,"views-":-1e308}'),
    )
    for record_id, start, patch in bumps:
        body = f'{{"id":"{record_id}","title":"bump","views":{start}}}'.encode()
        b.json(
            "POST",
            f"views {short(start)} to bump",
            RECORDS,
            body,
            OK_2XX,
            quick=record_id.endswith("1"),
        )
        path = f"{RECORDS}/{record_id}"
        b.json(
            "PATCH",
            f"{short(patch)} on views {short(start)}",
            path,
            patch.encode(),
            OK,
            quick=record_id.endswith("1"),
        )
        b.get(f"record bumped from {short(start)}", path, OK_2XX, quick=record_id.endswith("1"))
    b.get("posts sorted by views", RECORDS, OK_2XX, query="sort=views", actor="guest")
    b.get("posts with views > 0", RECORDS, OK_2XX, query=_qp("filter", "views > 0"), actor="guest")
    return Category("numbers", b.cases, writes=True, summary="huge pages, number bounds, NaN")


# --- passwords --------------------------------------------------------------------------


def passwords(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab["passwords"]
    b = Builder("passwords", seed)
    users = f"/api/collections/{fixtures.USERS}"
    for n, entry in enumerate(v["create"]):
        password = entry["unit"] * entry["count"] + entry.get("tail", "")
        size = len(password.encode("utf-8", "surrogatepass"))
        default = REJECT if size > 72 or len(password) > 71 else OK_2XX
        expect = expect_of(entry.get("expect"), default)
        quick = entry["what"] in v["quick"]
        email = f"hxpw{n}@example.com"
        body = {"email": email, "password": password, "passwordConfirm": password}
        b.json(
            "POST",
            f"sign-up with password {entry['what']}",
            f"{users}/records",
            body,
            expect,
            actor="guest",
            quick=quick,
        )
        login = {"identity": email, "password": password}
        b.json(
            "POST",
            f"login with password {entry['what']}",
            f"{users}/auth-with-password",
            login,
            expect,
            actor="guest",
            quick=quick,
        )
        if size >= 72:
            longer = {"identity": email, "password": password + "b"}
            b.json(
                "POST",
                f"login with password {entry['what']} plus one byte",
                f"{users}/auth-with-password",
                longer,
                REJECT,
                actor="guest",
                quick=quick,
            )
    huge = {"identity": fixtures.USER_EMAIL, "password": "a" * 10_000}
    b.json(
        "POST",
        "login with a 10000-byte password",
        f"{users}/auth-with-password",
        huge,
        REJECT,
        actor="guest",
    )
    su_huge = {"identity": "parity@example.com", "password": "a" * 10_000}
    b.json(
        "POST",
        "superuser login with a 10000-byte password",
        "/api/collections/_superusers/auth-with-password",
        su_huge,
        REJECT,
        actor="guest",
        quick=False,
    )
    scratch = {
        "id": "hxpwpatch000001",
        "email": "hxpwpatch@example.com",
        "password": "hx-password-1",
        "passwordConfirm": "hx-password-1",
    }
    b.json("POST", "user whose password gets changed", f"{users}/records", scratch, OK_2XX)
    long_pw = "a" * 100
    change = {"password": long_pw, "passwordConfirm": long_pw}
    b.json(
        "PATCH", "password changed to 100 bytes", f"{users}/records/hxpwpatch000001", change, REJECT
    )
    for size in (73, 10_000):
        pw = "a" * size
        body = {"email": f"hxsu{size}@example.com", "password": pw, "passwordConfirm": pw}
        b.json(
            "POST",
            f"superuser with a {size}-byte password",
            "/api/collections/_superusers/records",
            body,
            REJECT,
            quick=size == 73,
        )
    return Category("passwords", b.cases, summary="passwords over bcrypt's 72 bytes")
