"""One HTTP/1.1 exchange over a plain socket, for requests httpx refuses to build.

httpx rejects URLs over 64 KiB (``InvalidURL: URL too long``) before sending anything, and
the limits category must send longer ones to see what the server does with them. This
speaks just enough HTTP through h11 (httpx's own HTTP/1.1 engine): one request, one
response, connection closed.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11


class WireTimeout(TimeoutError):
    """No complete answer within the timeout."""


class WireError(ConnectionError):
    """The connection failed or closed before a complete answer."""


@dataclass
class WireResponse:
    status_code: int
    content: bytes


def send(
    url: str,
    method: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes | None,
    timeout: float,
) -> WireResponse:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conn = h11.Connection(h11.CLIENT)
    request_headers = [(b"Host", f"{host}:{port}".encode()), (b"Connection", b"close"), *headers]
    if body is not None:
        request_headers.append((b"Content-Length", str(len(body)).encode()))
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            data = conn.send(h11.Request(method=method, target=target, headers=request_headers))
            sock.sendall((data or b"") + (conn.send(h11.Data(data=body)) or b"" if body else b""))
            sock.sendall(conn.send(h11.EndOfMessage()) or b"")
            return _receive(conn, sock)
    except TimeoutError as exc:
        raise WireTimeout(f"no answer within {timeout:g} s") from exc
    except (OSError, h11.ProtocolError) as exc:
        raise WireError(f"{type(exc).__name__}: {exc}") from exc


def _receive(conn: h11.Connection, sock: socket.socket) -> WireResponse:
    status: int | None = None
    chunks: list[bytes] = []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            if status is None:
                raise WireError("connection closed before a response")
            return WireResponse(status, b"".join(chunks))
