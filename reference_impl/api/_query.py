"""The query string as Go's ``url.ParseQuery`` reads it (what PocketBase's handlers see).

Go drops a ``key=value`` pair whose key or value has a malformed percent-escape (``%``,
``%G0``) or holds a ``;``, and keeps the rest (``URL.Query()`` ignores the error);
Python's ``parse_qsl`` keeps such pairs as literal text (``sort=%`` would reach the sort
parser, a 400 where PocketBase answers 200). This middleware removes those pairs from
the ASGI scope, so every parser after it sees Go's view of the query.
"""

from __future__ import annotations

import re
from typing import Any

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def go_query(raw: bytes) -> bytes:
    """``raw`` without the pairs Go's ParseQuery would drop."""
    if b"%" not in raw and b";" not in raw:
        return raw
    kept = [
        pair
        for pair in raw.split(b"&")
        if pair and b";" not in pair and not _BAD_ESCAPE.search(pair)
    ]
    return b"&".join(kept)


class GoQuery:
    """ASGI middleware: ``scope["query_string"]`` as Go parses it."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            scope = {**scope, "query_string": go_query(scope["query_string"])}
        await self.app(scope, receive, send)
