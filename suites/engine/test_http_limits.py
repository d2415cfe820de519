"""Request limits of the real server (``api/_limits.py``), as Go's and PocketBase's: body
413 while streaming, header lines and bytes 431, long URLs served, malformed HTTP answered
with PocketBase's JSON error. The HTTP layer is the same on both engines: SQLite only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from harness.http import free_port, superuser_token, wait_healthy

EMAIL, PASSWORD = "limits@example.com", "limits-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("limits")
    base = f"http://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "reference_impl"]
    subprocess.run(
        [*cmd, "superuser", "upsert", EMAIL, PASSWORD, "--dir", str(data)],
        check=True,
        capture_output=True,
    )
    with (data / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, "serve", "--dir", str(data), "--http", base.removeprefix("http://")],
            stdout=log,
            stderr=log,
            env={**os.environ, "PARITY_DEBUG_SQL": "0"},
        )
    try:
        wait_healthy(base, 30, proc)
        token = superuser_token(base, EMAIL, PASSWORD)
        httpx.post(
            f"{base}/api/collections",
            headers={"Authorization": token},
            json={
                "name": "lim",
                "createRule": "",
                "listRule": "",
                "fields": [{"type": "text", "name": "t", "max": 10}],
            },
        ).raise_for_status()
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def _raw(base: str, request: bytes) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _error(body: bytes, status: int) -> None:
    assert json.loads(body) == {
        "data": {},
        "message": json.loads(body)["message"],
        "status": status,
    }


def test_a_declared_body_over_the_limit_is_refused_unread(server: str) -> None:
    # 32 MiB plus the collection's allowance (a text field adds none).
    status, body = _raw(
        server,
        b"POST /api/collections/lim/records HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 52428800\r\n"
        b"Connection: close\r\n\r\n{",
    )
    assert status == 413
    assert json.loads(body) == {"data": {}, "message": "Request entity too large.", "status": 413}


def test_a_streamed_body_is_cut_at_the_limit(server: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"t":"'
        for _ in range(48):  # 48 MiB without a Content-Length
            yield b"a" * (1 << 20)
        yield b'"}'

    response = httpx.post(
        f"{server}/api/collections/lim/records",
        content=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert httpx.get(f"{server}/api/health").status_code == 200


def test_just_under_the_limit_reaches_validation(server: str) -> None:
    body = b'{"t":"' + b"a" * ((32 << 20) - 16) + b'"}'
    response = httpx.post(
        f"{server}/api/collections/lim/records",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["data"]["t"]["code"] == "validation_max_text_constraint"


@pytest.mark.parametrize("lines, status", [(500, 200), (501, 431), (10_000, 431)])
def test_header_lines(server: str, lines: int, status: int) -> None:
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(lines - 2))  # + Host + Connection
    got, body = _raw(
        server, b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + extra + b"Connection: close\r\n\r\n"
    )
    assert got == status
    if status == 431:
        _error(body, 431)


def test_header_bytes_over_one_mebibyte(server: str) -> None:
    got, body = _raw(
        server,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: "
        + b"v" * (1 << 20)
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert got == 431
    _error(body, 431)


def test_urls_beyond_httptools_parser_are_served(server: str) -> None:
    got, body = _raw(
        server,
        b"GET /api/collections/lim/records?perPage=1&x="
        + b"a" * 200_000
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert got == 200
    assert json.loads(body)["perPage"] == 1


def test_malformed_http_gets_the_json_error(server: str) -> None:
    got, body = _raw(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert got == 400
    _error(body, 400)
    assert httpx.get(f"{server}/api/health").status_code == 200
