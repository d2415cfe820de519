"""The reference backend as one object: engine, collections, records, auth.

The HTTP layer (``reference_impl/api``) and the CLI both build an :class:`App`; nothing
below it knows about HTTP.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reference_impl.core.auth import (
    AuthContext,
    issue_token,
    strip_bearer,
    unverified_claims,
    verify_token,
)
from reference_impl.core.coherence import Coherence
from reference_impl.core.collection import SUPERUSERS, Collection
from reference_impl.core.cron import Cron
from reference_impl.core.events import EventBus
from reference_impl.core.file_storage import FileStorage
from reference_impl.core.files import FILE_TOKEN_DURATION
from reference_impl.core.hooks import Hooks
from reference_impl.core.logs import RequestLogs, max_days_from
from reference_impl.core.realtime import Broker
from reference_impl.core.records import RecordService
from reference_impl.core.row_security import Mode, check_mode, default_mode
from reference_impl.core.store import CollectionStore
from reference_impl.db.engine import Engine
from reference_impl.ir.kinds import format_pb_datetime


@dataclass
class App:
    engine: Engine
    id_mode: str = "pocketbase"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Uploaded files (``<data dir>/storage`` for ``parity serve``); None: a temporary dir.
    storage_dir: Path | None = None
    # Where API rules are enforced (core/row_security.py); None: the engine's default.
    rules: Mode | None = None
    # The race suite's deliberately broken update (``parity serve --unsafe-rmw``).
    unsafe_rmw: bool = False
    # This server process in the event grid (``--node-id``); None: a random one.
    node_id: str | None = None

    def __post_init__(self) -> None:
        has_rls = self.engine.row_security_role is not None
        self.rules = check_mode(self.rules or default_mode(has_rls), has_rls)
        if self.rules == "app" and has_rls:
            raise ValueError("--rules app: open the engine without row level security")
        self.events = EventBus(self.engine, self.node_id)
        self.node_id = self.events.node_id
        self.store = CollectionStore(
            self.engine, clock=self.clock, id_mode=self.id_mode, events=self.events
        )
        self.storage = FileStorage(self.storage_dir)
        self.records = RecordService(
            self.store,
            id_mode=self.id_mode,
            clock=self.clock,
            storage=self.storage,
            rules=self.rules,
            unsafe_rmw=self.unsafe_rmw,
        )
        self.coherence = Coherence(
            self.events,
            self.records.cache,
            self.store.refresh,
            self.store.reload_all,
            is_auth=self._is_auth,
        )
        self.hooks = Hooks(self.engine, self.events)
        self.realtime = Broker(self.records, self.events, self._token_secret)
        self.cron = Cron(self.engine, self.node_id)
        # written once start() opened the writer
        self.logs = RequestLogs(self.engine, max_days=max_days_from(os.environ))
        self._builtin_crons()
        # The other workers of a `parity serve --workers N` (reference_impl/workers.Peers);
        # None in a server of one process.
        self.peers: Any = None

    def bootstrap(self) -> bool:
        """Check the connection, create missing system tables; True on a fresh database."""
        self.hooks.create_tables()
        return self.store.bootstrap()

    async def start(self) -> None:
        """On the server's loop, once the engine is open there: join the event grid, start
        the competing hooks' consumer and the cron schedule."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.logs.start)  # connects (PostgreSQL): not on the loop
        await self.events.start()
        await self.hooks.start()
        await self.cron.start()

    def end_streams_threadsafe(self) -> None:
        """From any thread (the signal watchdog): end every realtime stream, so a stop does
        not wait out the server's grace period for them."""
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.realtime.close_all)

    def join_workers(self, shared: Any, peers: Any, route_key: str) -> None:
        """Serve as one worker of ``parity serve --workers N`` (``reference_impl/workers.py``):
        the group's shared counters (``SharedGenerations``), its other workers (``Peers``)
        and this worker's realtime route key."""
        self.coherence.share(shared)
        self.engine.schema_stale = self.coherence.schema_stale
        self.peers = peers
        self.realtime.route_key = route_key

    def _is_auth(self, collection_id: str) -> bool:
        coll = self.store.find(collection_id)
        return coll is None or coll.is_auth  # a collection gone: its records may be cached

    def _token_secret(self, collection_id: str) -> str | None:
        coll = self.store.find(collection_id)
        return coll.token_secret if coll is not None else None

    async def stop(self) -> None:
        await self.realtime.stop()
        if self.peers is not None:
            await self.peers.close()
        await self.cron.stop()
        await self.hooks.stop()
        await self.events.stop()
        await self.coherence.stop()
        await asyncio.to_thread(self.logs.stop)  # every accepted entry written first

    # -- PocketBase's own cron jobs (their ids and expressions, 0.40.6) --------------------
    def _builtin_crons(self) -> None:
        self.cron.add("__pbDBOptimize__", "0 0 * * *", self.engine.maintain)
        self.cron.add("__pbMFACleanup__", "0 * * * *", lambda: self.delete_expired("_mfas", "mfa"))
        self.cron.add("__pbOTPCleanup__", "0 * * * *", lambda: self.delete_expired("_otps", "otp"))
        self.cron.add("__pbLogsCleanup__", "0 */6 * * *", self.logs.prune)

    def delete_expired(self, system: str, option: str) -> int:
        """PocketBase's ``DeleteExpiredOTPs``/``DeleteExpiredMFAs``: per auth collection,
        the ``system`` records (``_otps``, ``_mfas``) created longer ago than its
        ``option`` duration, deleted one by one (each a delete event); returns how many."""
        from reference_impl.core.records import ListQuery

        target = self.store.find(system)
        if target is None:
            return 0
        actor = AuthContext({"id": ""}, self._superusers().id, SUPERUSERS)
        deleted = 0
        for coll in [c for c in self.store.all() if c.is_auth]:
            duration = int(coll.auth.get(option, {}).get("duration", 0) or 0)
            cutoff = format_pb_datetime(self.clock() - timedelta(seconds=duration))
            query = ListQuery(
                per_page=500,
                filter=f"collectionRef = '{coll.id}' && created < '{cutoff}'",
                skip_total=True,
            )
            while True:
                items = self.records.list_records(target, query, actor)["items"]
                for item in items:
                    self.records.delete(target, item["id"], actor)
                    deleted += 1
                if len(items) < query.per_page:
                    break
        return deleted

    def load_hooks(self, spec: str) -> None:
        """``--hooks module[:function]``: import the module and call ``function(app)``
        (default ``register``), which registers hooks and cron jobs."""
        import importlib

        module_name, _, function = spec.partition(":")
        module = importlib.import_module(module_name)
        getattr(module, function or "register")(self)

    # -- auth ------------------------------------------------------------------------------
    def authenticate(self, header: str | None) -> AuthContext | None:
        """The caller of an ``Authorization`` header; None (a guest) when invalid or expired."""
        return self._token_owner(strip_bearer(header), "auth") if header else None

    def authenticate_file_token(self, token: str) -> AuthContext | None:
        """The auth record behind a ``?token=`` file token; None when invalid or expired."""
        return self._token_owner(token, "file") if token else None

    def _token_owner(self, token: str, kind: str) -> AuthContext | None:
        claims = unverified_claims(token, kind=kind)
        if claims is None:
            return None
        coll = self.store.find(str(claims.get("collectionId", "")))
        if coll is None or not coll.is_auth:
            return None
        record = self.records.find_auth_record(coll, str(claims.get("id", "")))
        if record is None or not verify_token(token, record["tokenKey"] + coll.token_secret):
            return None
        return AuthContext(record=record, collection_id=coll.id, collection_name=coll.name)

    def file_token_for(self, auth: AuthContext) -> str:
        """A short-lived file token (PocketBase signs it with its own fileToken secret; one
        secret per collection here, the ``type`` claim keeps auth and file tokens apart)."""
        coll = self.store.find(auth.collection_id)
        assert coll is not None
        duration = int(coll.auth.get("fileToken", {}).get("duration", FILE_TOKEN_DURATION))
        key = auth.record["tokenKey"] + coll.token_secret
        return issue_token(auth.id, coll.id, key, duration, kind="file")

    def token_for(self, coll: Collection, record: dict[str, Any]) -> str:
        return issue_token(
            record["id"], coll.id, record["tokenKey"] + coll.token_secret, coll.token_duration
        )

    def _superusers(self) -> Collection:
        coll = self.store.find(SUPERUSERS)
        if coll is None:  # bootstrap() creates or repairs it; only a damaged database lacks it
            raise RuntimeError(
                f"the {SUPERUSERS} collection is missing from the database; "
                "restore it from a backup or start from an empty data dir"
            )
        return coll

    def superuser_count(self) -> int:
        coll = self._superusers()
        from reference_impl.core.records import ListQuery

        superuser = AuthContext({"id": ""}, coll.id, SUPERUSERS)
        return int(self.records.list_records(coll, ListQuery(per_page=1), superuser)["totalItems"])

    def upsert_superuser(self, email: str, password: str) -> str:
        """Create the superuser or reset its password; returns "created" or "updated"."""
        coll = self._superusers()
        actor = AuthContext({"id": ""}, coll.id, SUPERUSERS)
        body = {"email": email, "password": password, "passwordConfirm": password, "verified": True}
        existing = self.records.find_by_email(coll, email)
        if existing is None:
            self.records.create(coll, body, actor)
            return "created"
        self.records.update(coll, existing["id"], body, actor)
        return "updated"
