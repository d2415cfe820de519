"""A realtime client for the harness: PocketBase's SSE protocol, read on a thread.

``RealtimeClient(base_url)`` opens ``GET /api/realtime``, waits for ``PB_CONNECT`` and
keeps every later message (``event`` name, parsed ``data``, arrival time);
``subscribe(topics, token)`` posts the subscriptions as the SDK does; ``wait_for(count)``
waits until that many messages arrived (or the timeout). Used by the cluster suite and the
realtime scenarios; the JS SDK's own client is exercised by ``harness/sdk/realtime.mjs``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Message:
    event: str
    data: Any
    at: float  # time.time() when it arrived
    text: str = ""  # the data line as sent (exact numbers: parse with normalise.loads)


class RealtimeClient:
    def __init__(self, base_url: str, *, connect_timeout: float = 10.0):
        self.base_url = base_url
        self.client_id = ""
        self.messages: list[Message] = []
        self.closed = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Condition()
        self._socket: socket.socket | None = None  # the stream's, to end a blocked read
        self._http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(30, read=None))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._connected.wait(connect_timeout):
            self.close()
            raise TimeoutError(f"no PB_CONNECT from {base_url} within {connect_timeout} s")

    def _read(self) -> None:
        try:
            with self._http.stream("GET", "/api/realtime") as answer:
                stream = answer.extensions.get("network_stream")
                self._socket = stream.get_extra_info("socket") if stream else None
                event, data = "", ""
                for line in answer.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:]
                    elif line.startswith("data:"):
                        data = line[5:]
                    elif line == "" and event:
                        self._received(event, data)
                        event, data = "", ""
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by us or by the server
        finally:
            self.closed.set()
            with self._lock:
                self._lock.notify_all()

    def _received(self, event: str, data: str) -> None:
        parsed = json.loads(data) if data else None
        if event == "PB_CONNECT" and isinstance(parsed, dict):
            self.client_id = str(parsed["clientId"])
            self._connected.set()
            return
        with self._lock:
            self.messages.append(Message(event, parsed, time.time(), data))
            self._lock.notify_all()

    def subscribe(
        self, topics: list[str], token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {**({"Authorization": token} if token else {}), **(headers or {})}
        return self._http.post(
            "/api/realtime",
            json={"clientId": self.client_id, "subscriptions": topics},
            headers=headers,
        )

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:
        """The messages once ``count`` arrived, or all of them after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count and not self.closed.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return list(self.messages)

    def close(self) -> None:
        """End the stream now: a shutdown wakes the reader blocked in recv (a close would not)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed by the server
                self._socket.shutdown(socket.SHUT_RDWR)
        self._http.close()
        self._thread.join(5)

    def __enter__(self) -> RealtimeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
