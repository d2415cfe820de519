"""Realtime subscriptions (PocketBase's SSE protocol), fed by the event grid on every node.

A client connects (``GET /api/realtime``: ``PB_CONNECT`` with its 40-character id), then
sets its subscriptions (``POST /api/realtime``, which replaces them all): ``coll/id``
(the view rule decides), ``coll/*`` or the deprecated ``coll`` (the list rule), by name or
id, each optionally ``?options={"query": {...}, "headers": {...}}``. Every committed record
change (this node's, or another's through NOTIFY) is matched as PocketBase matches it:
``(subscription + "?")`` starts with ``<coll>/<id>?``, ``<coll>/*?`` or ``<coll>?``. For
each match the rule is decided for the client's auth and the options' query and headers
(context ``realtime``, method GET), then the options' ``filter`` (hidden fields not allowed;
for anyone but a superuser any ``@request.`` or ``@collection.`` in it or in the sort
drops the event),
then the record is prepared as the API would show it to this client (hidden fields for
superusers, ``expand``, emails for owners and managers, ``fields``) and sent as ``event:
<subscription>`` with ``data: {"record": ..., "action": ...}``.

Rules and filters are decided by the in-memory evaluator (``core/filter/evaluate.py``,
SQLite's semantics, the third engine) over the record the event carries, so a deleted
record is judged as it was, on every node alike; rows the rule reads besides it (relations,
``@collection``) are read from the database as they are now.

A client's auth is what its last subscription request carried: only a guest may become
authenticated; any other change is a 403. It is dropped (the client goes on as a guest)
when its record is deleted or its tokenKey changes, or its collection is deleted or gets a
new token secret, checked when an event is delivered and when it subscribes again. The one
exception is the delete of the client's own record: that event is still judged with the
auth (PocketBase builds delete messages before the delete, and drops the auth after it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reference_impl.bridge import background, cancel_tasks, run_bridged
from reference_impl.core import errors as e
from reference_impl.core import jsonfmt
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import Collection
from reference_impl.core.events import Event, EventBus, unpack_record
from reference_impl.core.filter import FilterError, bind
from reference_impl.core.filter.evaluate import matches
from reference_impl.core.picker import parse_fields, pick
from reference_impl.core.records.access import manage_rule
from reference_impl.core.records.reads import Record, fetch, first_by
from reference_impl.core.records.rules import (
    RequestValues,
    bound_rule,
    compiled_filter,
    request_bindings,
    scope,
    superuser_only_field,
)
from reference_impl.db.engine import SYSTEM

log = logging.getLogger("parity.realtime")

MAX_TOPICS, MAX_TOPIC_LENGTH, MAX_CLIENT_ID = 1000, 2500, 255
IDLE_TIMEOUT, MAX_LIFETIME = 300.0, 1800.0  # PocketBase's: 5 minutes idle, 30 in all
QUEUE_LIMIT = 10_000  # messages waiting for one slow client; past it, it is disconnected
_ID_ALPHABET = string.ascii_letters + string.digits
ACTIONS = {"record.create": "create", "record.update": "update", "record.delete": "delete"}


@dataclass(frozen=True)
class Options:
    """A subscription's ``options``: the query and headers its rule checks see."""

    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Client:
    id: str
    ip: str
    queue: asyncio.Queue[bytes | None]
    subscriptions: dict[str, Options] = field(default_factory=dict)
    auth: AuthContext | None = None
    auth_secret: str = ""  # the collection's token secret when the auth was set
    auth_token_key: str = ""

    def send(self, name: str, data: str) -> bool:
        """Queue one SSE message; False when the client is too slow (it is closed)."""
        message = f"id:{self.id}\nevent:{name}\ndata:{data}\n\n".encode()
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True


class RowSource:
    """The evaluator's other rows (``core/filter/evaluate.RowSource``), read as the app's
    own (no rule) and kept for one delivery."""

    def __init__(self, service: Any):
        self.service = service
        self._one: dict[tuple[str, str], Record | None] = {}
        self._all: dict[str, list[Record]] = {}

    def get(self, table: str, record_id: str) -> Record | None:
        key = (table, record_id)
        if key not in self._one:
            coll = self.service.store.find(table)
            found = None
            if coll is not None:
                with self.service.engine.transaction(session=SYSTEM) as tx:
                    found = first_by(tx, self.service.dialect, coll, "id", record_id)
            self._one[key] = found
        return self._one[key]

    def rows(self, table: str) -> Sequence[Record]:
        if table not in self._all:
            coll = self.service.store.find(table)
            found: list[Record] = []
            if coll is not None:
                with self.service.engine.transaction(session=SYSTEM) as tx:
                    found = fetch(tx, self.service.dialect, coll, [])
            self._all[table] = found
        return self._all[table]


class Broker:
    """The connected clients of this process and what each is sent."""

    def __init__(self, service: Any, bus: EventBus, token_secret: Callable[[str], str | None]):
        self.service = service
        self.bus = bus
        self._secret = token_secret  # collection id -> its token secret (None: gone)
        self.clients: dict[str, Client] = {}
        # With --workers: this worker's first characters of every client id, by which the
        # other workers know where to forward its subscriptions (reference_impl/workers.py).
        self.route_key = ""
        self._events: asyncio.Queue[Event] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.sent = 0
        bus.subscribe(self.on_event)

    # -- clients -------------------------------------------------------------------------
    def connect(self, ip: str) -> Client:
        key = self.route_key
        client_id = key + "".join(secrets.choice(_ID_ALPHABET) for _ in range(40 - len(key)))
        client = Client(client_id, ip, asyncio.Queue(QUEUE_LIMIT))
        self.clients[client_id] = client
        client.send("PB_CONNECT", jsonfmt.dumps({"clientId": client_id}))
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.pop(client.id, None)

    def close_all(self) -> None:
        """End every stream (server shutdown)."""
        for client in list(self.clients.values()):
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(None)
        self.clients.clear()

    def subscribe(
        self,
        client_id: str,
        subscriptions: dict[str, Options],
        auth: AuthContext | None,
        ip: str,
    ) -> None:
        """PocketBase's ``realtimeSetSubscriptions`` once the form is valid."""
        client = self.clients.get(client_id)
        if client is None:
            raise e.not_found("Missing or invalid client id.")
        if client.ip and client.ip != ip:
            raise e.bad_request("Invalid realtime client.")
        current = self.current_auth(client)
        if current is not None and not _same_auth(current, auth):
            raise e.forbidden("The current and the previous request authorization don't match.")
        client.auth = auth
        client.auth_secret = (self._secret(auth.collection_id) or "") if auth else ""
        client.auth_token_key = str(auth.record.get("tokenKey", "")) if auth else ""
        client.subscriptions = dict(subscriptions)

    def current_auth(self, client: Client) -> AuthContext | None:
        """The client's auth if it still holds (PocketBase drops it when the record is
        deleted or its tokenKey changes, or its collection is deleted or its secret
        changes); the record as it is now. Dropped for good once invalid."""
        auth = client.auth
        if auth is None:
            return None
        secret = self._secret(auth.collection_id)
        coll = self.service.store.find(auth.collection_id)
        record = None
        if secret is not None and secret == client.auth_secret and coll is not None:
            record = self.service.find_auth_record(coll, auth.id)
        if record is None or str(record.get("tokenKey", "")) != client.auth_token_key:
            client.auth = None
            return None
        client.auth = AuthContext(record, auth.collection_id, auth.collection_name)
        return client.auth

    # -- events --------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if not event.is_record or not self.clients:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no server, no clients
        if self._events is None or self._worker is None or self._worker.done():
            self._events = asyncio.Queue()
            self._worker = background(loop, self._drain(self._events))
        self._events.put_nowait(event)

    async def _drain(self, events: asyncio.Queue[Event]) -> None:
        while True:
            event = await events.get()
            try:
                await run_bridged(lambda event=event: self.deliver(event))  # type: ignore[misc]
            except Exception:
                log.exception("realtime delivery of %s %s failed", event.type, event.id)
            finally:
                events.task_done()

    async def settled(self) -> None:
        """Once every event received so far has been delivered (or judged not to be)."""
        if self._events is not None and self._worker is not None and not self._worker.done():
            await self._events.join()

    async def stop(self) -> None:
        self.close_all()
        worker, self._worker = self._worker, None
        await cancel_tasks(worker)

    def deliver(self, event: Event) -> int:
        """Send ``event`` to every client whose subscriptions and rules admit it; how many
        messages went out."""
        coll = self.service.store.find(event.collection)
        packed = self.bus.resolve(event)
        if coll is None or packed is None:
            return 0
        record = unpack_record([(f.name, f.kind) for f in coll.fields], packed)
        one = [f"{coll.name}/{event.id}?", f"{coll.id}/{event.id}?"]
        many = [f"{coll.name}/*?", f"{coll.id}/*?", f"{coll.name}?", f"{coll.id}?"]
        source = RowSource(self.service)
        action = ACTIONS[event.type]
        count = 0
        for client in list(self.clients.values()):
            matched = [
                (topic, options, "viewRule" if any((topic + "?").startswith(p) for p in one)
                 else "listRule")
                for topic, options in client.subscriptions.items()
                if any((topic + "?").startswith(p) for p in one + many)
            ]  # fmt: skip
            if not matched:
                continue
            auth = self._auth_for(client, coll, record, action)
            for topic, options, rule in matched:
                data = self._message(coll, record, auth, options, rule, action, source)
                if data is None:
                    continue
                if not client.send(topic, data):
                    log.warning("realtime client %s is too slow; closing it", client.id)
                    self.disconnect(client)
                    client.queue = asyncio.Queue(1)
                    client.queue.put_nowait(None)
                    break
                count += 1
        self.sent += count
        return count

    def _auth_for(
        self, client: Client, coll: Collection, record: Record, action: str
    ) -> AuthContext | None:
        """The client's auth for one event. The delete of the client's own auth record is
        judged with the auth it still had: PocketBase prepares delete messages before the
        delete and unsets the client's auth after it, so a user gets its own delete event
        (and later events see it as a guest)."""
        auth = client.auth
        if (
            action == "delete"
            and auth is not None
            and auth.id == record.get("id")
            and auth.collection_id == coll.id
        ):
            return AuthContext(record, auth.collection_id, auth.collection_name)
        return self.current_auth(client)

    def _message(
        self,
        coll: Collection,
        record: Record,
        auth: AuthContext | None,
        options: Options,
        rule: str,
        action: str,
        source: RowSource,
    ) -> str | None:
        request = RequestValues(
            method="GET", query=dict(options.query), headers=dict(options.headers),
            context="realtime",
        )  # fmt: skip
        if not self._can_access(coll, record, auth, request, coll.rule(rule), source):
            return None
        expand = request.query.get("expand", "")
        if expand or manage_rule(coll) is not None:
            with self.service.engine.transaction(session=SYSTEM) as tx:
                out = self.service._enrich(tx, coll, record, auth, expand, request, SYSTEM)
        else:
            # Nothing to read: no transaction. Taking a pooled connection per message queued
            # delivery behind the node's own requests (PostgreSQL, 1,000 writes/s: seconds).
            out = self.service.export(coll, record, auth)
        fields = request.query.get("fields", "")
        if fields:
            # PocketBase logs a pick error and sends the record whole.
            with contextlib.suppress(e.ApiError):
                out = pick(out, parse_fields(fields))
        return jsonfmt.dumps({"record": out, "action": action})

    def _can_access(
        self,
        coll: Collection,
        record: Record,
        auth: AuthContext | None,
        request: RequestValues,
        rule: str | None,
        source: RowSource,
    ) -> bool:
        """PocketBase's ``realtimeCanAccessRecord``: the rule (``CanAccessRecord``), then
        the options' filter."""
        superuser = auth is not None and auth.is_superuser
        try:
            if not superuser:
                if rule is None:
                    return False
                if rule.strip():
                    conditions = bound_rule(self.service, coll, rule, auth, request)
                    if conditions is None or not matches(conditions, record, source):
                        return False
            text = request.query.get("filter", "")
            if not text:
                return True
            if not superuser and superuser_only_field(text, request.query.get("sort", "")):
                return False
            # Decided over the record itself: no policy hides joined rows here.
            filter_scope = dataclasses.replace(
                scope(self.service, coll, auth, rules=False), row_security=False
            )
            compiled = compiled_filter(self.service, text, filter_scope)
            bound = bind(compiled, request_bindings(self.service.clock, auth, request))
            return matches([bound], record, source)
        except FilterError as exc:
            log.debug("realtime rule/filter on %s not decided: %s", coll.name, exc)
            return False


def _same_auth(a: AuthContext | None, b: AuthContext | None) -> bool:
    if a is None:
        return b is None
    return b is not None and a.id == b.id and a.collection_id == b.collection_id
