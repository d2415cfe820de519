"""Request size limits, enforced while reading, with PocketBase's error body.

- **Body** (``apis/middlewares_body_limit.go``): 32 MiB per request; record create/update
  allow 32 MiB plus what the collection's fields may carry (file ``maxSize * maxSelect``,
  json and editor ``maxSize``, with their defaults). A ``Content-Length`` above the limit
  is refused before any byte is read; a body without one is counted as it streams in and
  refused the moment it passes the limit. Both answer 413 "Request entity too large.".
- **Header block**: Go's ``http.DefaultMaxHeaderBytes`` (1 MiB, request line included)
  and, since go1.27, at most 500 header lines answer 431 (verified on 0.40.6: 500 lines
  200, 501 lines 431); uvicorn has neither limit, so :class:`HttpProtocol` counts.
- **Long URLs**: httptools' URL parser keeps 16-bit offsets and refuses URLs over 65,535
  bytes; Go serves them up to the header limit, so :class:`HttpProtocol` splits those
  (origin form, ``/path?query``) itself.
- **Malformed HTTP** (what uvicorn answers with a plain-text 400) gets the JSON body too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reference_impl.core.errors import MSG_BAD_REQUEST, ApiError
from reference_impl.core.fields import Field
from reference_impl.core.jsonfmt import dumps

DEFAULT_MAX_BODY = 32 << 20
MAX_HEADER_BYTES = 1 << 20
MAX_HEADER_LINES = 500
_PARSE_URL_MAX = 65_535
_RECORD_PATH = re.compile(r"^/api/collections/([^/]+)/records(?:/[^/]+)?$")

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class BodyTooLarge(ApiError):
    def __init__(self) -> None:
        super().__init__(413, "Request entity too large.")


def field_body_allowance(field: Field) -> int:
    """``MaxBodySizeCalculator``: what one field adds to a record request's body limit
    (file, json and editor fields; each type states its own, ``FieldType.max_body_size``)."""
    return field.spec.max_body_size(field)


class BodyLimit:
    """ASGI middleware: ``limit_for(method, path)`` gives the byte limit of a request."""

    def __init__(self, app: Any, limit_for: Callable[[str, str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_error(send, BodyTooLarge())
            return
        seen = 0

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)


def record_body_limit(find_collection: Callable[[str], Any]) -> Callable[[str, str], int]:
    """The limit function for :class:`BodyLimit` (``dynamicCollectionBodyLimit``)."""

    def limit_for(method: str, path: str) -> int:
        match = _RECORD_PATH.match(path) if method in ("POST", "PATCH") else None
        coll = find_collection(match.group(1)) if match else None
        if coll is None or coll.type == "view":
            return DEFAULT_MAX_BODY
        return DEFAULT_MAX_BODY + sum(field_body_allowance(f) for f in coll.fields)

    return limit_for


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_error(send: Send, error: ApiError) -> None:
    body = dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _HeadersTooLarge(Exception):
    pass


class _CorkedTransport:
    """The connection's transport with the writes of one loop turn joined into one.

    uvicorn writes a response's status line and headers, then its body, as two
    ``transport.write`` calls: two ``send`` syscalls and two TCP segments per answer (Go
    writes one). Writes made in the same turn of the loop (Starlette sends both without
    waiting in between) are kept and written together at the end of the turn, like
    TCP_CORK; ``close``/``write_eof`` write what is kept first, ``abort`` drops it. Everything
    else is the real transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._kept: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._kept:
            self._loop.call_soon(self._flush)
        self._kept.append(data if isinstance(data, bytes) else bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if not self._kept:
            return
        data = b"".join(self._kept) if len(self._kept) > 1 else self._kept[0]
        self._kept.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._kept.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(k) for k in self._kept)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with Go's header-size limit and JSON error bodies, and
    each response written in one piece (:class:`_CorkedTransport`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        corked = _CorkedTransport(transport, asyncio.get_running_loop())
        super().connection_made(corked)  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._header_lines = 0
        self._headers_too_large = False

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_lines = getattr(self, "_header_lines", 0) + 1
        if self._header_lines > MAX_HEADER_LINES:
            self._headers_too_large = True
            raise _HeadersTooLarge()
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes = getattr(self, "_header_bytes", 0) + size
        if self._header_bytes > MAX_HEADER_BYTES:
            self._headers_too_large = True
            raise _HeadersTooLarge()  # httptools turns it into HttpParserCallbackError

    def on_headers_complete(self) -> None:
        url = self.url
        if len(url) <= _PARSE_URL_MAX or not url.startswith(b"/"):
            super().on_headers_complete()
            return
        # uvicorn builds the scope from httptools.parse_url, which refuses this length:
        # let it build from "/" and set the parts here, before the ASGI task first runs.
        self.url = b"/"
        super().on_headers_complete()
        self.url = url
        raw_path, _, query = url.partition(b"#")[0].partition(b"?")
        path = raw_path.decode("latin-1")
        self.scope["path"] = self.root_path + (unquote(path) if "%" in path else path)
        self.scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        self.scope["query_string"] = query

    def send_400_response(self, msg: str) -> None:
        if getattr(self, "_headers_too_large", False):
            status, reason = 431, b"Request Header Fields Too Large"
            message = "Request header fields too large."
        else:
            status, reason, message = 400, b"Bad Request", MSG_BAD_REQUEST
        body = dumps(ApiError(status, message).body()).encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self._linger_then_close()

    LINGER_S = 0.5  # Go's rstAvoidanceDelay

    def _linger_then_close(self) -> None:
        """Go's ``closeWriteAndWait``: the answer, then a FIN, and what the client is still
        sending read and dropped for a moment before the close. Closing with its bytes
        unread would send a reset, which can destroy the answer before the client reads
        it (a 431 while 10,000 header lines are still arriving)."""
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(self.LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if getattr(self, "_lingering", False):
            return  # a refused request's rest: dropped
        super().data_received(data)
