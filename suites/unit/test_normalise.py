"""The normaliser: what it replaces, what it must keep, and exact numbers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

from harness.normalise import Normaliser, dumps, loads, to_plain

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def jwt(claims: dict[str, object]) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_ids_are_numbered_by_creation_order_then_first_appearance() -> None:
    norm = Normaliser(NOW)
    norm.register_ids(["setuprow0000001", "setuprow0000002"])
    body = loads(
        '{"items": [{"collectionId": "pbc_1", "collectionName": "p", '
        '"id": "newrecord000001", "rel": "setuprow0000002"}]}'
    )
    assert norm.body(body) == {
        "items": [{"collectionId": "pbc_1", "collectionName": "p", "id": "<id:3>", "rel": "<id:2>"}]
    }


def test_ids_referenced_before_their_record_appears_are_still_replaced() -> None:
    norm = Normaliser(NOW)
    body = {"a": {"rel": "zzzzzzzzzzzzzzz"}, "b": {"id": "zzzzzzzzzzzzzzz"}}
    assert norm.body(body) == {"a": {"rel": "<id:1>"}, "b": {"id": "<id:1>"}}


def test_collection_and_field_ids_stay_raw() -> None:
    norm = Normaliser(NOW)
    body = {
        "id": "pbc_2965874397",
        "fields": [
            {"id": "number300981383", "name": "views"},
            {"id": "text3208210256", "name": "id"},
        ],
    }
    assert norm.body(body) == body
    assert norm.ids == {}


def test_id_like_keys_are_registered_anywhere() -> None:
    norm = Normaliser(NOW)
    assert norm.body({"otpId": "abcdefghijklmno"}) == {"otpId": "<id:1>"}


def test_known_ids_inside_longer_strings_are_replaced() -> None:
    norm = Normaliser(NOW)
    norm.register_id("abcdefghijklmno")
    assert (
        norm.text("/api/collections/x/records/abcdefghijklmno?expand=a")
        == "/api/collections/x/records/<id:1>?expand=a"
    )


def test_server_timestamps_are_replaced_but_scenario_dates_are_kept() -> None:
    norm = Normaliser(NOW)
    body = {
        "created": "2026-03-04 05:06:07.123Z",
        "day": "2024-01-02 03:04:05.000Z",
        "note": "at 2026-03-03 23:00:00.000Z",
    }
    assert norm.body(body) == {
        "created": "<ts>",
        "day": "2024-01-02 03:04:05.000Z",
        "note": "at <ts>",
    }


def test_jwts_become_their_type() -> None:
    norm = Normaliser(NOW)
    token = jwt({"id": "abcdefghijklmno", "type": "auth", "exp": 1})
    assert norm.body({"token": token}) == {"token": "<token:auth>"}
    assert norm.text("eyJhbGciOi.eyJub3QganNvbg.sig") == "<token>"  # unreadable claims


def test_volatile_keys_and_password_hashes() -> None:
    norm = Normaliser(NOW)
    hashed = "$2a$10$" + "a" * 53
    body = {"tokenKey": "x" * 50, "password": hashed, "clientId": "c" * 40, "execTime": 3}
    assert norm.body(body) == {
        "tokenKey": "<tokenKey>",
        "password": "<hash>",
        "clientId": "<clientId>",
        "execTime": "<duration>",
    }
    assert norm.body({"tokenKey": ""}) == {"tokenKey": ""}  # empty is contract, not random


def test_numbers_are_exact() -> None:
    value = loads('{"big": 9007199254740993, "f": 2.50, "neg": -1e2}')
    assert value == {"big": 9007199254740993, "f": Decimal("2.50"), "neg": Decimal("-1E+2")}
    assert dumps(value) == '{"big": 9007199254740993, "f": 2.50, "neg": -1E+2}'
    assert to_plain(value) == {"big": 9007199254740993, "f": 2.5, "neg": -100.0}
    assert (
        to_plain(Decimal("0.1000000000000000055511151231257827"))
        == "0.1000000000000000055511151231257827"
    )


def test_key_order_is_kept() -> None:
    norm = Normaliser(NOW)
    assert list(norm.body(loads('{"b": 1, "a": 2}'))) == ["b", "a"]


def test_pretty_dumps_keeps_short_containers_inline() -> None:
    text = dumps({"data": {}, "items": [1, 2], "long": ["x" * 50, "y" * 50]}, indent=2)
    assert text == "\n".join(
        [
            "{",
            '  "data": {},',
            '  "items": [1, 2],',
            '  "long": [',
            '    "' + "x" * 50 + '",',
            '    "' + "y" * 50 + '"',
            "  ]",
            "}",
        ]
    )


def test_random_part_of_stored_file_names_is_numbered_by_first_appearance() -> None:
    norm = Normaliser(NOW)
    body = {
        "doc": "hello_world_derxqecjp9.TXT",
        "docs": ["a_b_0123456789.tar.gz"],
        "message": '"hello_world_derxqecjp9.TXT" mime type must be one of: image/png.',
    }
    assert norm.body(body) == {
        "doc": "hello_world_<rnd:1>.TXT",
        "docs": ["a_b_<rnd:2>.tar.gz"],
        "message": '"hello_world_<rnd:1>.TXT" mime type must be one of: image/png.',
    }
    assert norm.text("/api/files/c/r/a_b_0123456789.tar.gz") == "/api/files/c/r/a_b_<rnd:2>.tar.gz"
    # no extension, or not 10 characters after the underscore: not a stored file name
    assert norm.text("p1a2b3c_attachment") == "p1a2b3c_attachment"
    assert norm.text("p1a2b3c_attachments.x") == "p1a2b3c_attachments.x"
