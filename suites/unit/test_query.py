"""The query string as Go's url.ParseQuery keeps it (``api/_query.py``)."""

from __future__ import annotations

import pytest

from reference_impl.api._query import go_query


@pytest.mark.parametrize(
    "raw, kept",
    [
        (b"sort=%&page=2", b"page=2"),  # a lone % drops the pair
        (b"filter=%G0&perPage=5", b"perPage=5"),  # so does a non-hex escape
        (b"a=1;b=2&c=3", b"c=3"),  # Go refuses semicolons in a pair
        (b"fields=%FF&expand=%C3%A9", b"fields=%FF&expand=%C3%A9"),  # valid escapes stay
        (b"x=1&&y=%", b"x=1"),
        (b"plain=1", b"plain=1"),
    ],
)
def test_pairs_go_drops(raw: bytes, kept: bytes) -> None:
    assert go_query(raw) == kept
