"""Categories that attack values: encodings (surrogates, invalid UTF-8, NUL), numbers at
and past their bounds, passwords past bcrypt's 72 bytes."""

from __future__ import annotations

import json
import random
from typing import Any

from harness.hostile import fixtures
from harness.hostile._make import Builder, expect_of, qparam, qv, short
from harness.hostile.case import OK, OK_2XX, REJECT, Actor, Category

RECORDS = "/api/collections/{coll}/records"
COLLECTIONS = "/api/collections"


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
            query=qparam("filter", f"title='{text}'"),
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
                    query = f"{param}={qv(value)}{skip}"
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
            query=qparam("filter", text),
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
    b.get(
        "posts with views > 0", RECORDS, OK_2XX, query=qparam("filter", "views > 0"), actor="guest"
    )
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
