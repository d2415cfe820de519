"""Run one scenario on one target over HTTP and record a normalised transcript.

The runner only speaks the public API, as superuser for setup and cleanup, so every kind of
target (reference on either engine, real PocketBase, a URL) is driven the same way. Setup
failures make the whole transcript an error; a failing step is just a response (diffed like
any other); a step whose template cannot be resolved (an earlier step failed on this target)
is recorded with ``error`` and the run goes on, so the diff shows the first real cause.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from harness import _realtime_steps
from harness.http import superuser_token
from harness.normalise import Normaliser, parse_body
from harness.scenario import (
    FilePart,
    Scenario,
    Step,
    TemplateError,
    render,
    template_context,
)
from harness.targets.base import Target
from harness.transcript import Exchange, SetupRequest, Transcript

SQL_HEADER = "X-Parity-Sql"  # reference server with PARITY_DEBUG_SQL=1: [{sql, params}, ...]
TIMEOUT = 30.0
BOUNDARY = "parity-multipart-boundary"  # fixed: the same request bytes on every target


class SetupError(RuntimeError):
    """A setup call did not succeed; the scenario cannot run on this target."""


class Session:
    """An HTTP client and a cached superuser token for one started target."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = httpx.Client(base_url=target.base_url, timeout=TIMEOUT)
        self._token: str | None = None

    @property
    def name(self) -> str:
        return self.target.name

    def superuser_token(self) -> str:
        if self._token is None:  # bcrypt makes each login cost ~0.1 s: log in once
            email, password = self.target.superuser
            self._token = superuser_token(self.target.base_url, email, password)
        return self._token

    def reconnect(self) -> None:
        """After the target restarted (a new port, a new data dir): new client, new token."""
        self.client.close()
        self.client = httpx.Client(base_url=self.target.base_url, timeout=TIMEOUT)
        self._token = None

    def close(self) -> None:
        self.client.close()


def run_scenario(scenario: Scenario, session: Session, seed: int, name: str = "") -> Transcript:
    """Set up, run every step, clean up; never raises for server behaviour."""
    transcript = Transcript(target=name or session.name)
    norm = Normaliser()
    ctx = template_context(scenario, seed)
    ctx["prefix"] = scenario.prefix
    try:
        _cleanup(scenario, session)  # leftovers of an interrupted earlier run
        _setup(scenario, session, seed, ctx, norm, transcript)
        with _realtime_steps.Connections(session.target.base_url) as realtime:
            for step in scenario.steps:
                transcript.exchanges.append(_run_any(step, session, ctx, norm, realtime))
    except (SetupError, TemplateError, httpx.HTTPError) as exc:
        transcript.error = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            _cleanup(scenario, session)
        except (SetupError, httpx.HTTPError) as exc:
            transcript.error = transcript.error or f"cleanup failed: {exc}"
    return transcript


def _setup(
    scenario: Scenario,
    session: Session,
    seed: int,
    ctx: dict[str, Any],
    norm: Normaliser,
    transcript: Transcript,
) -> None:
    for spec in scenario.collections:
        body = render({"name": scenario.collection_name(spec.name), **spec.definition}, ctx)
        created = _admin(session, "POST", "/api/collections", body)
        ctx["collid"][spec.name] = created["id"]
        transcript.setup.append(SetupRequest("POST", "/api/collections", _json(body)))
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in scenario.all_records(seed):
        path = f"/api/collections/{scenario.collection_name(row.collection)}/records"
        index = len(rows.setdefault(row.collection, []))
        data = {"id": row_id(scenario, row.collection, index), **render(dict(row.data), ctx)}
        created = _admin(session, "POST", path, data)
        ctx["records"].setdefault(row.collection, []).append(created["id"])
        rows[row.collection].append(data)
        placeholder = norm.register_id(created["id"])  # creation order defines <id:N>
        transcript.setup.append(SetupRequest("POST", path, _json(data), placeholder))
    if any(step.actor == "user" for step in scenario.steps):
        coll, index = scenario.user_ref()
        user = rows[coll][index]
        path = f"/api/collections/{scenario.collection_name(coll)}/auth-with-password"
        login = {"identity": user["email"], "password": user["password"]}
        auth = _admin(session, "POST", path, login, anonymous=True)
        transcript.user_login = SetupRequest("POST", path, _json(login))
        ctx["user"] = {"id": auth["record"]["id"], "email": user["email"], "token": auth["token"]}


def _run_any(
    step: Step,
    session: Session,
    ctx: dict[str, Any],
    norm: Normaliser,
    realtime: _realtime_steps.Connections,
) -> Exchange:
    if step.kind == "subscribe":
        token = _actor_token(step.actor, session, ctx)
        return _realtime_steps.subscribe(step, realtime, token, ctx, norm)
    if step.kind == "await_events":
        return _realtime_steps.await_events(step, realtime, norm)
    return _run_step(step, session, ctx, norm)


def _actor_token(actor: str, session: Session, ctx: dict[str, Any]) -> str | None:
    if actor == "superuser":
        return session.superuser_token()
    if actor == "user":
        return str(ctx["user"]["token"])
    return None


def _run_step(step: Step, session: Session, ctx: dict[str, Any], norm: Normaliser) -> Exchange:
    try:
        path = str(render(step.path, ctx))
        query = {k: _query_text(render(v, ctx)) for k, v in step.query.items()}
        headers = {k: str(render(v, ctx)) for k, v in step.headers.items()}
        body_sent = (
            json.dumps(render(step.body, ctx), ensure_ascii=False)
            if step.has_body
            else step.raw_body
        )
        form, files = _render_form(step, ctx) if step.multipart else (None, None)
    except TemplateError as exc:
        return Exchange(
            step.id,
            step.actor,
            step.method,
            step.path,
            step.path,
            None,
            error=str(exc),
            key_order=step.key_order,
        )
    if query:
        path += "?" + urlencode(query, quote_via=quote)
    exchange = Exchange(
        step.id,
        step.actor,
        step.method,
        path,
        norm.text(path),
        body_sent,
        dict(headers),
        key_order=step.key_order,
        form_sent=form,
        files_sent=files,
    )
    content = body_sent.encode() if body_sent is not None else None
    if body_sent is not None:
        headers.setdefault("Content-Type", "application/json")
    elif form is not None:
        headers.setdefault("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        content = multipart_body(form, files or [])
    token = _actor_token(step.actor, session, ctx)
    if token is not None:
        headers.setdefault("Authorization", token)
    try:
        response = _request(session, step, path, headers, content)
    except httpx.HTTPError as exc:
        exchange.error = f"{type(exc).__name__}: {exc}"
        return exchange
    raw = parse_body(response.text)
    ctx["steps"][step.id] = {"status": response.status_code, "body": raw}
    exchange.status = response.status_code
    exchange.body = norm.answer(raw)
    exchange.sql = _sql(response)
    exchange.captured = {
        name: None if response.headers.get(name) is None else norm.text(response.headers[name])
        for name in step.capture_headers
    }
    return exchange


UNTIL_POLL_S = 0.25


def _request(
    session: Session, step: Step, path: str, headers: dict[str, str], content: bytes | None
) -> httpx.Response:
    """The step's request; with ``until_total``, asked again until its answer counts that
    many (or the step's timeout passes: the last answer is compared, whatever it holds)."""
    deadline = time.monotonic() + step.timeout
    while True:
        response = session.client.request(step.method, path, headers=headers, content=content)
        if step.until_total is None or time.monotonic() >= deadline:
            return response
        if _answer_total(response) == step.until_total:
            return response
        time.sleep(UNTIL_POLL_S)


def _answer_total(response: httpx.Response) -> int | None:
    """A page's ``totalItems``, or a list's summed ``total`` (``/api/logs/stats``)."""
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("totalItems"), int):
        return int(body["totalItems"])
    if isinstance(body, list) and all(isinstance(i, dict) for i in body):
        return sum(int(i.get("total", 0)) for i in body)
    return None


def _render_form(step: Step, ctx: dict[str, Any]) -> tuple[list[tuple[str, str]], list[FilePart]]:
    form: list[tuple[str, str]] = []
    for key, value in step.form.items():
        for item in value if isinstance(value, list) else [value]:
            form.append((key, _query_text(render(item, ctx))))
    files = [
        FilePart(f.field, f.name, _query_text(render(f.content, ctx)), f.type, f.repeat)
        for f in step.files
    ]
    return form, files


def multipart_body(form: list[tuple[str, str]], files: list[FilePart]) -> bytes:
    """``multipart/form-data`` with the fixed ``BOUNDARY``: text parts, then file parts."""
    out = bytearray()
    for name, value in form:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for f in files:
        out += (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            f'name="{f.field}"; filename="{f.name}"\r\nContent-Type: {f.type}\r\n\r\n'
        ).encode()
        out += f.content.encode() * f.repeat + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


def row_id(scenario: Scenario, collection: str, index: int) -> str:
    """A fixed 15-char ``[a-z0-9]`` id for a setup row, so repro scripts run on any server."""
    digest = int.from_bytes(
        hashlib.sha256(f"{scenario.name}|{collection}|{index}".encode()).digest()[:12], "big"
    )
    chars = []
    for _ in range(15):
        digest, rem = divmod(digest, 36)
        chars.append("0123456789abcdefghijklmnopqrstuvwxyz"[rem])
    return "".join(chars)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _admin(
    session: Session, method: str, path: str, body: Any, anonymous: bool = False
) -> dict[str, Any]:
    headers = {} if anonymous else {"Authorization": session.superuser_token()}
    response = session.client.request(method, path, json=body, headers=headers)
    if response.status_code >= 300:
        raise SetupError(f"{method} {path} -> {response.status_code} {response.text[:500]}")
    result: dict[str, Any] = response.json() if response.content else {}
    return result


def _cleanup(scenario: Scenario, session: Session) -> None:
    """Delete the scenario's collections; retry while progress is made (relations pin order)."""
    auth = {"Authorization": session.superuser_token()}
    listing = session.client.get("/api/collections", params={"perPage": 1000}, headers=auth)
    if listing.status_code != 200:
        raise SetupError(f"GET /api/collections -> {listing.status_code} {listing.text[:300]}")
    left = [c["name"] for c in listing.json()["items"] if c["name"].startswith(scenario.prefix)]
    while left:
        failed = [
            n
            for n in reversed(left)
            if session.client.delete(f"/api/collections/{n}", headers=auth).status_code
            not in (204, 404)
        ]
        if len(failed) == len(left):
            raise SetupError(f"could not delete collections {failed}")
        left = list(reversed(failed))


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sql(response: httpx.Response) -> list[dict[str, Any]]:
    header = response.headers.get(SQL_HEADER)
    if not header:
        return []
    try:
        statements = json.loads(header)
    except ValueError:
        return [{"sql": header, "params": None}]
    return statements if isinstance(statements, list) else [statements]
