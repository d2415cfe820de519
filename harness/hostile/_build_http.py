"""Categories that attack HTTP itself: size limits, and small malformed requests."""

from __future__ import annotations

from typing import Any

from harness.hostile import fixtures
from harness.hostile._make import Builder, dumps, expect_of
from harness.hostile.case import (
    OK,
    OK_2XX,
    REJECT,
    Actor,
    Case,
    Category,
    Expect,
    Pattern,
    Shape,
    codes,
    repeat,
)

RECORDS = "/api/collections/{coll}/records"
COLLECTIONS = "/api/collections"
MB = 1024 * 1024
TOO_LARGE = Expect((413,), "auto", closed=True)


def limits(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab.get("limits", {})
    b = Builder("limits", seed)

    def expect(key: str, default: Expect) -> Expect:
        found = expect_of(v.get("expect", {}).get(key), default)
        shape: Shape = "any" if key in v.get("plain_text", ()) else found.shape
        return Expect(found.status, shape, closed=found.closed or default.closed)

    login = f"/api/collections/{fixtures.USERS}/auth-with-password"
    bodies: tuple[tuple[str, str, bytes, int, Actor, bool], ...] = (
        ("50 MB record body", RECORDS, b'{"title":"', 50, "guest", True),
        ("33 MB record body", RECORDS, b'{"title":"', 33, "guest", False),
        ("50 MB collection body", COLLECTIONS, b'{"name":"hx_big","x":"', 50, "superuser", False),
        ("50 MB login body", login, b'{"password":"x","identity":"', 50, "guest", False),
    )
    for what, path, prefix, size_mb, actor, quick in bodies:
        body = repeat(prefix, b"a", size_mb * MB, b'"}')
        b.json("POST", what, path, body, TOO_LARGE, actor=actor, quick=quick)
    under = repeat(b'{"title":"', b"a", 31 * MB, b'"}')
    b.json(
        "POST",
        "31 MB record body",
        RECORDS,
        under,
        expect("body 31", OK),
        actor="guest",
        quick=False,
    )
    for count, quick in ((10_000, True), (1_000, False), (100, False)):
        default = codes(431) if count == 10_000 else OK
        found = expect(f"headers {count}", default)
        what = f"posts with {count} extra headers"
        b.add(Case("limits", "GET", what, RECORDS, found, "guest", flood=count, quick=quick))
    for size in (100_000, 2 * MB):
        headers = (("X-Hx-Big", "a" * size),)
        found = expect(f"header value {size}", OK)
        what = f"posts with a {size}-byte header"
        b.add(Case("limits", "GET", what, RECORDS, found, "guest", headers=headers, quick=False))
    for size, quick in ((70_000, True), (200_000, False), (2 * MB, False)):
        query = Pattern(((b"filter=title%3D%27", 1), (b"a", size), (b"%27", 1)))
        found = expect(f"url {size}", REJECT)
        what = f"posts with a {size // 1000} KB URL"
        b.add(Case("limits", "GET", what, RECORDS, found, "guest", query, quick=quick))
    b.get(
        "post with a 70 KB id",
        f"{RECORDS}/{'a' * 70_000}",
        expect("long id", REJECT),
        actor="guest",
    )
    # 20,000 distinct keys, into the deep fixture (it is not counted: this one is stored)
    keys = tuple((f',"k{n}":{n}'.encode(), 1) for n in range(20_000))
    source = (
        "b'{\\\"data\\\":1' + b''.join(b',\\\"k%d\\\":%d' % (n, n) for n in range(20000)) + b'}'"
    )
    many_keys = Pattern(((b'{"data":1', 1), *keys, (b"}", 1)), source)
    deep_records = "/api/collections/{deep}/records"
    b.json(
        "POST",
        "record body with 20000 keys",
        deep_records,
        many_keys,
        OK,
        actor="guest",
        quick=False,
    )
    return Category("limits", b.cases, summary="50 MB bodies, 10,000 headers, 65 KB URLs")


_POST_BODY = b'{"title":"small"}'
_COLLECTION_BODY = b'{"name":"hx_small#"}'
_LOGIN_BODY = (
    b'{"identity":"'
    + fixtures.USER_EMAIL.encode()
    + b'","password":"'
    + fixtures.USER_PASSWORD.encode()
    + b'"}'
)


def _variants(body: bytes) -> dict[str, bytes]:
    """Malformed variants of a valid JSON object body (the key names the variant)."""
    inner = body[1:-1]
    return {
        "trailing garbage": body + b"garbage",
        "extra closing brace": body + b"}",
        "trailing space": body + b" ",
        "trailing newline": body + b"\n",
        "concatenated objects": body + body,
        "objects on two lines": body + b"\n" + body,
        "null": b"null",
        "empty array": b"[]",
        "array of the object": b"[" + body + b"]",
        "string": b'"str"',
        "number": b"123",
        "true": b"true",
        "BOM prefix": b"\xef\xbb\xbf" + body,
        "UTF-16 BOM prefix": b"\xff\xfe" + body,
        "UTF-16LE body": body.decode().encode("utf-16-le"),
        "duplicate keys": b"{" + inner + b"," + inner + b"}",
        "whitespace only": b"   \n\t ",
        "empty body": b"",
        "open brace only": b"{",
        "cut after a key": body[: body.index(b":") + 1],
        "trailing comma": b"{" + inner + b",}",
        "single quotes": body.replace(b'"', b"'"),
        "comment inside": b"{" + inner + b" /* c */}",
        "NUL after the object": body + b"\x00",
        "NUL only": b"\x00",
    }


_CONTENT_TYPES = {
    "no content type": None,
    "upper-case content type": "APPLICATION/JSON",
    "mixed-case content type with charset": "Application/Json; charset=UTF-8",
    "content type charset latin-1": "application/json; charset=latin-1",
    "content type text/plain": "text/plain",
    "content type form-urlencoded": "application/x-www-form-urlencoded",
    "content type multipart without boundary": "multipart/form-data",
    "content type list": "application/json, text/plain",
    "content type application/jsonx": "application/jsonx",
    "content type vnd+json": "application/vnd.api+json",
    "empty content type": "",
}


def smaller(vocab: dict[str, Any], seed: int) -> Category:
    v = vocab.get("smaller", {})
    ex = v.get("expect", {})
    quick_set = set(v.get("quick", ()))
    b = Builder("smaller", seed)
    login = f"/api/collections/{fixtures.USERS}/auth-with-password"
    targets: tuple[tuple[str, str, bytes, Actor], ...] = (
        ("post", RECORDS, _POST_BODY, "guest"),
        ("collection", COLLECTIONS, _COLLECTION_BODY, "superuser"),
        ("login", login, _LOGIN_BODY, "guest"),
    )
    for kind, path, body, actor in targets:
        for m, variant in enumerate(_variants(body)):
            # unique scratch collection names, so each variant that succeeds creates its own
            raw = _variants(body.replace(b"#", str(m).encode()))[variant]
            quick = variant in quick_set or kind == "post"
            expect = expect_of(ex.get(f"{kind} {variant}", ex.get(f"* {variant}")), OK)
            what = f"{kind} with {variant}"
            b.json("POST", what, path, raw, expect, actor=actor, quick=quick)
    for kind, path, body, actor in (targets[0], targets[2]):
        for variant, content_type in _CONTENT_TYPES.items():
            headers = () if content_type is None else (("Content-Type", content_type),)
            expect = expect_of(ex.get(f"{kind} {variant}", ex.get(f"* {variant}")), OK)
            quick = kind == "post" or variant in ("no content type", "upper-case content type")
            b.add(
                Case(
                    "smaller",
                    "POST",
                    f"{kind} with {variant}",
                    path,
                    expect,
                    actor,
                    headers=headers,
                    body=body,
                    quick=quick,
                )
            )
    not_found = codes(404, shape="error")
    for record_id in ("\u00ff", "\u00e9", "\U0001f600", "\u00fc" * 15, "h\u00e9llo0000000001"):
        for method in ("GET", "PATCH", "DELETE"):
            patch = b'{"title":"u"}' if method == "PATCH" else None
            headers = (("Content-Type", "application/json"),) if patch else ()
            quick = method == "GET"
            b.add(
                Case(
                    "smaller",
                    method,
                    f"post with unicode id {record_id!a}",
                    f"{RECORDS}/{record_id}",
                    not_found,
                    "superuser",
                    headers=headers,
                    body=patch,
                    quick=quick,
                )
            )
    for path in (
        f"{RECORDS}/",
        f"{RECORDS}/hxpost000000001/",
        "/api/collections/",
        f"/api/collections/{fixtures.POSTS}/",
        "/api/health/",
    ):
        b.get(f"trailing slash {path}", path, not_found, actor="superuser")
    b.get("double slash /api//collections", "/api//collections", OK)
    b.get("double slash //api/health", "//api/health", OK, quick=False)
    b.get("dot segments %2e%2e", f"{RECORDS}/%2e%2e/records", OK, actor="guest")
    b.get("encoded slash in id", f"{RECORDS}/hxpost%2F000000001", OK, actor="guest", quick=False)
    b.get("record id of 1000 chars", f"{RECORDS}/{'a' * 1000}", not_found, actor="guest")
    b.get("posts with HEAD", RECORDS, OK_2XX, method="HEAD", actor="guest")
    b.get("posts with OPTIONS", RECORDS, OK, method="OPTIONS", actor="guest", quick=False)
    b.get("posts with TRACE", RECORDS, OK, method="TRACE", actor="guest", quick=False)
    b.add(
        Case(
            "smaller",
            "PUT",
            "posts",
            RECORDS,
            OK,
            "guest",
            headers=(("Content-Type", "application/json"),),
            body=_POST_BODY,
        )
    )
    b.add(
        Case(
            "smaller",
            "PATCH",
            "posts without an id",
            RECORDS,
            OK,
            "superuser",
            headers=(("Content-Type", "application/json"),),
            body=_POST_BODY,
            quick=False,
        )
    )
    override = (("X-HTTP-Method-Override", "DELETE"),)
    b.add(
        Case(
            "smaller",
            "GET",
            "post with X-HTTP-Method-Override DELETE",
            f"{RECORDS}/hxpost000000001",
            OK_2XX,
            "superuser",
            headers=override,
        )
    )
    b.add(
        Case(
            "smaller",
            "POST",
            "post with X-HTTP-Method-Override DELETE",
            f"{RECORDS}/hxpost000000002",
            OK,
            "superuser",
            headers=override,
            quick=False,
        )
    )
    b.add(
        Case(
            "smaller",
            "GET",
            "posts with a bogus Authorization",
            RECORDS,
            OK,
            "guest",
            headers=(("Authorization", "Bearer \u00ff\u00fe"),),
        )
    )
    b.add(
        Case(
            "smaller",
            "GET",
            "posts with a 10 KB Authorization",
            RECORDS,
            OK,
            "guest",
            headers=(("Authorization", "x" * 10_000),),
            quick=False,
        )
    )
    return Category("smaller", b.cases, writes=True, summary="malformed JSON, content types, paths")


REALTIME = "/api/realtime"
_SUBSCRIBE_BODY = b'{"clientId":"hxnosuchclient","subscriptions":["hx_posts/*"]}'


def realtime(vocab: dict[str, Any], seed: int) -> Category:
    """``POST /api/realtime`` bodies no client would send. The stream itself (``GET``) is
    not here: a case waits for its answer, and an SSE stream answers for minutes; the
    realtime scenarios (``suites/conformance/scenarios/realtime.toml``) cover it. No client
    id here is connected, so a well-formed body is 404 and anything else 400: the body is
    validated before the client is looked up, on PocketBase as on the reference."""
    b = Builder("realtime", seed)
    rejected: tuple[Actor, Actor] = ("guest", "user")
    for n, (variant, raw) in enumerate(_variants(_SUBSCRIBE_BODY).items()):
        b.json("POST", f"subscribe with {variant}", REALTIME, raw, OK,
               actor=rejected[n % 2], quick=n < 6)  # fmt: skip
    long_topic = "hx_posts/" + "a" * 2492  # 2501 characters, one over PocketBase's limit
    odd: dict[str, tuple[Any, Any]] = {
        "a numeric client id": (123, []),
        "a list as client id": ([], []),
        "an object as client id": ({}, []),
        "a null client id": (None, []),
        "an empty client id": ("", []),
        "a 256-character client id": ("a" * 256, []),
        "a 100 KB client id": ("a" * 100_000, []),
        "subscriptions as a string": ("hxnosuchclient", "hx_posts/*"),
        "subscriptions as an object": ("hxnosuchclient", {"a": "hx_posts/*"}),
        "a numeric subscription": ("hxnosuchclient", [1]),
        "a null subscription": ("hxnosuchclient", [None]),  # Go: "", skipped -> 404
        "a null and a numeric subscription": ("hxnosuchclient", [None, 1]),
        "a nested list subscription": ("hxnosuchclient", [["hx_posts/*"]]),
        "1001 subscriptions": ("hxnosuchclient", ["hx_posts/*"] * 1001),
        "a 2501-character topic": ("hxnosuchclient", [long_topic]),
        "a null client id and a null list": (None, None),
        "1000 topics of 2500 characters": ("hxnosuchclient", [long_topic[:-1]] * 1000),
    }
    for what, (client_id, subscriptions) in odd.items():
        body = {"clientId": client_id, "subscriptions": subscriptions}
        quick = what in ("a numeric client id", "1001 subscriptions", "a 2501-character topic")
        b.json("POST", f"subscribe with {what}", REALTIME, body, REJECT,
               actor="guest", quick=quick)  # fmt: skip
    deep = "[" * 1_200 + "]" * 1_200  # deep, yet within the 2500-character topic limit
    options = {
        "options nested 1,200 deep": "hx_posts/*?options=" + deep,
        "options that are not JSON": "hx_posts/*?options={nope",
        "a bad percent escape in options": "hx_posts/*?options=%ZZ%7B",
        "options as a JSON string": 'hx_posts/*?options="x"',
        "a topic of NUL characters": "\x00" * 100,
        "a topic with a lone surrogate (bytes ED A0 80)": "hx_posts/\ud800",
    }
    for what, topic in options.items():
        raw = dumps({"clientId": "hxnosuchclient", "subscriptions": [topic]})  # surrogate: raw
        # invalid UTF-8 is PocketBase's bare 400 (its JSON decoder); the rest parse: 404
        found = codes(400 if "surrogate" in what else 404, shape="error")
        b.json("POST", f"subscribe with {what}", REALTIME, raw, found,
               actor="user", quick=what.startswith("options nested"))  # fmt: skip
    for variant, content_type in _CONTENT_TYPES.items():
        headers = () if content_type is None else (("Content-Type", content_type),)
        b.add(Case("realtime", "POST", f"subscribe with {variant}", REALTIME, OK, "guest",
                   headers=headers, body=_SUBSCRIBE_BODY, quick=False))  # fmt: skip
    return Category("realtime", b.cases, summary="subscription bodies: types, limits, options")
