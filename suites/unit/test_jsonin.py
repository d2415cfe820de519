"""JSON input as PocketBase 0.40 decodes it (``reference_impl/core/jsonin.py``)."""

from __future__ import annotations

import pytest

from reference_impl.core.jsonin import MAX_DEPTH, JsonInputError, has_nul, loads


@pytest.mark.parametrize(
    "raw, value",
    [
        (b'{"a":1}', {"a": 1}),
        (b'  {"a":1}  garbage', {"a": 1}),  # BindBody reads the first value only
        (b'{"a":1}{"a":2}', {"a": 1}),
        (b"null", None),
        (b'{"a":"\\ud83d\\ude00"}', {"a": "\U0001f600"}),  # a valid surrogate pair
        (b'{"n":18446744073709551616}', {"n": 18446744073709551616}),
        (b'{"n":1e308}', {"n": 1e308}),
        (b'{"n":1e-400}', {"n": 0.0}),  # underflow is silent in Go too
    ],
    ids=repr,
)
def test_accepted_first_values(raw: bytes, value: object) -> None:
    assert loads(raw, first_value=True) == value


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',  # not JSON
        b'{"a":1e400}',
        b'{"a":-1e400}',  # beyond float64
        b'{"a":' + b"9" * 400 + b"}",  # an integer beyond float64
        b'{"a":"\\ud800"}',
        b'{"\\udc00":1}',  # lone surrogates, value and key
        b'{"a":"\xff"}',  # invalid UTF-8
        b'{"a":"\x01"}',  # a raw control character
        b'{"a":1,"a":2}',
        b'{"o":{"k":1,"k":1}}',  # duplicate keys
        b"\xef\xbb\xbf{}",  # a byte order mark
        b"   ",
        b'{"a":',
    ],
    ids=repr,
)
def test_refused(raw: bytes) -> None:
    with pytest.raises(JsonInputError):
        loads(raw, first_value=True)


def test_nesting_limit_is_exact_and_costs_no_recursion_error() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    for depth in (MAX_DEPTH + 1, 5_000, 200_000):  # the last overflows the C decoder too
        with pytest.raises(JsonInputError, match="nested deeper"):
            loads("[" * depth + "]" * depth)
    objects = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    with pytest.raises(JsonInputError, match="nested deeper"):
        loads(objects)


def test_has_nul_finds_values_and_keys_at_any_depth() -> None:
    assert has_nul({"a": [{"b\x00": 1}]})
    assert has_nul(["x", ["y\x00"]])
    assert not has_nul({"a": ["b", {"c": 1}], "d": None})
