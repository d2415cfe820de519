"""The realtime steps of a scenario: named SSE connections, ``subscribe`` and ``await_events``.

A scenario names its realtime clients (``client = "a"``); each is one ``GET /api/realtime``
connection, opened by its first ``subscribe`` and closed when the scenario ends, before the
cleanup deletes the collections. A ``subscribe`` posts the client's whole subscription list
as the step's actor (PocketBase replaces the previous list and takes the client's auth from
this request). An ``await_events`` records, in arrival order, every message the client got
since its previous await: it returns once ``count`` arrived (or after ``timeout``) and then
waits ``settle`` seconds more, so a message a target should not have sent is seen too.

Each exchange is diffed like an HTTP one: the subscribe's status and body, the await's list
of ``{event, data}`` (event = the subscription string, ids normalised; data = the
normalised payload, key order compared). In a repro they become curl lines: a background
``curl -N`` per client writing the stream to ``$TMPDIR/parity-rt-<client>``, and a wait on
that file for the messages so far.
"""

from __future__ import annotations

import json
import shlex
import time
from typing import Any
from urllib.parse import quote

import httpx

from harness.normalise import Json, Normaliser, parse_body
from harness.scenario import Step, TemplateError, Topic, render
from harness.sse import RealtimeClient
from harness.transcript import Exchange

CONNECT_TIMEOUT = 10.0
_ENCODE_URI_SAFE = "!'()*"  # with quote()'s own "_.-~": what encodeURIComponent keeps


class Connections:
    """The scenario's realtime clients on one target, by name; ``close`` ends them all."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._clients: dict[str, RealtimeClient] = {}
        self._seen: dict[str, int] = {}  # messages already taken by an await

    def client(self, name: str) -> RealtimeClient:
        if name not in self._clients:
            self._clients[name] = RealtimeClient(self._base_url, connect_timeout=CONNECT_TIMEOUT)
            self._seen[name] = 0
        return self._clients[name]

    def opened(self, name: str) -> bool:
        return name in self._clients

    def take(self, name: str, count: int, timeout: float, settle: float) -> tuple[list[Any], int]:
        """Messages since the last take, once ``count`` arrived (or ``timeout``) + ``settle``."""
        client, seen = self._clients[name], self._seen[name]
        client.wait_for(seen + count, timeout)
        if settle:
            time.sleep(settle)
        messages = client.wait_for(0, 0)[seen:]
        self._seen[name] = seen + len(messages)
        return messages, seen + count

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def topic_text(topic: Topic, ctx: dict[str, Any]) -> str:
    """The subscription string as the JS SDK builds it: ``topic?options=<encoded JSON>``."""
    text = str(render(topic.topic, ctx))
    if topic.options is None:
        return text
    options = json.dumps(
        render(dict(topic.options), ctx), separators=(",", ":"), ensure_ascii=False
    )  # JSON.stringify
    joiner = "&" if "?" in text else "?"
    return f"{text}{joiner}options={quote(options, safe=_ENCODE_URI_SAFE)}"


def subscribe(
    step: Step,
    connections: Connections,
    token: str | None,
    ctx: dict[str, Any],
    norm: Normaliser,
) -> Exchange:
    """Open the client if needed and post its subscriptions; the exchange holds the answer."""
    try:
        topics = [topic_text(t, ctx) for t in step.topics]
        headers = {k: str(render(v, ctx)) for k, v in step.headers.items()}
    except TemplateError as exc:
        return _exchange(step, error=str(exc))
    sent = json.dumps({"clientId": f"<clientId:{step.client}>", "subscriptions": topics})
    exchange = _exchange(step, sent, headers=headers, topics=topics)
    try:
        answer = connections.client(step.client).subscribe(topics, token, headers)
    except (TimeoutError, httpx.HTTPError) as exc:
        exchange.error = f"{type(exc).__name__}: {exc}"
        return exchange
    exchange.status = answer.status_code
    raw = parse_body(answer.text)
    ctx["steps"][step.id] = {"status": answer.status_code, "body": raw}
    exchange.body = norm.answer(raw)
    return exchange


def await_events(step: Step, connections: Connections, norm: Normaliser) -> Exchange:
    """The messages the client got since its last await, normalised, in arrival order."""
    messages, total = connections.take(step.client, step.count, step.timeout, step.settle)
    events: list[Json] = [
        {"event": norm.text(m.event), "data": norm.body(parse_body(m.text))} for m in messages
    ]
    exchange = _exchange(
        step, count=step.count, total=total, timeout=step.timeout, settle=step.settle
    )
    exchange.body = events
    if len(messages) < step.count:
        exchange.note = f"waited {step.timeout:g} s: {len(messages)} of {step.count} arrived"
    return exchange


def _exchange(step: Step, body_sent: str | None = None, **details: Any) -> Exchange:
    """The exchange of a realtime step (its path is ``/api/realtime`` or empty)."""
    return Exchange(
        step.id, step.actor, step.method, step.path, step.path, body_sent,
        key_order=step.key_order, kind=step.kind, client=step.client, **details,
    )  # fmt: skip


def shell(exchange: Exchange, token_vars: dict[str, str]) -> str:
    """A realtime exchange as runnable shell lines (bash; curl and sed)."""
    name = exchange.client
    stream, var = f'"${{TMPDIR:-/tmp}}"/parity-rt-{name}', f"RT_{name}"
    if exchange.kind == "subscribe":
        open_stream = (
            f'[ -n "${var}" ] || {{ curl -sSN "$BASE"/api/realtime > {stream} & '
            f"until grep -q clientId {stream} 2>/dev/null; do sleep 0.05; done; "
            f'{var}=$(sed -n \'s/^data:{{"clientId":"\\([^"]*\\)"}}$/\\1/p\' {stream}); }}'
        )
        body = json.dumps({"clientId": "@@", "subscriptions": exchange.topics})
        before, _, after = body.partition('"@@"')
        data = f"{shlex.quote(before)}'\"'\"${var}\"'\"'{shlex.quote(after)}"
        parts = ['curl -sS -X POST "$BASE"/api/realtime']
        if exchange.actor in token_vars and "Authorization" not in exchange.headers:
            parts.append(f'-H "Authorization: {token_vars[exchange.actor]}"')
        parts += [f"-H {shlex.quote(f'{k}: {v}')}" for k, v in exchange.headers.items()]
        parts += ["-H 'Content-Type: application/json'", f"--data-raw {data}"]
        return open_stream + "\n" + " ".join(parts)
    # PB_CONNECT is the stream's first message: `total` later ones means total + 1 events.
    wait = f'until [ "$(grep -c ^event: {stream})" -gt {exchange.total} ]; do sleep 0.05; done'
    return (
        f"timeout {exchange.timeout:g} sh -c {shlex.quote(wait)}; sleep {exchange.settle:g}; "
        f"grep -E '^(event|data):' {stream} | tail -n +3  # the messages so far, in order"
    )
