"""What one scenario run on one target leaves behind: its setup calls (``SetupRequest``),
its step exchanges (``Exchange``: HTTP requests and realtime steps alike) and the whole
``Transcript``, which the differ compares and the repro prints. Apart from the runner so
the realtime steps (``_realtime_steps``) build exchanges without importing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.normalise import Json
from harness.scenario import FilePart, KeyOrder


@dataclass
class SetupRequest:
    """One setup call exactly as sent (schema or row): the repro's literal inserts.

    Setup is deterministic (collection names from the scenario, row ids from ``row_id``,
    data from the seed), so these are the same on every target and runnable anywhere.
    """

    method: str
    path: str
    body: str  # JSON text
    created: str | None = None  # placeholder of the created row, e.g. "<id:1>"


@dataclass
class Exchange:
    step: str
    actor: str
    method: str
    path: str  # as sent (concrete ids), query string included
    norm_path: str  # with ids replaced by placeholders
    body_sent: str | None
    headers: dict[str, str] = field(default_factory=dict)  # step headers, not the actor's auth
    status: int | None = None
    body: Json = None  # normalised response body (parsed JSON, or text)
    sql: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    key_order: KeyOrder = "records"
    form_sent: list[tuple[str, str]] | None = None  # multipart text parts, as sent
    files_sent: list[FilePart] | None = None  # multipart file parts, as sent
    captured: dict[str, str | None] = field(default_factory=dict)  # normalised resp. headers
    kind: str = "http"  # or a realtime step: "subscribe" | "await_events"
    client: str = ""  # realtime: the client's name
    topics: list[str] = field(default_factory=list)  # subscribe: the subscriptions sent
    count: int = 0  # await_events: messages expected
    total: int = 0  # await_events: messages expected on this client so far (repro's wait)
    timeout: float = 0.0  # await_events
    settle: float = 0.0  # await_events
    note: str = ""  # shown in the repro, not compared (e.g. an await that timed out)

    @property
    def multipart(self) -> bool:
        return self.form_sent is not None


@dataclass
class Transcript:
    target: str
    setup: list[SetupRequest] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    user_login: SetupRequest | None = None  # how the "user" actor got its token
    error: str | None = None
