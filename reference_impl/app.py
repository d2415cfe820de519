"""The reference backend as one object: engine, collections, records, auth.

The HTTP layer (``reference_impl/api``) and the CLI both build an :class:`App`; nothing
below it knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reference_impl.core.auth import (
    AuthContext,
    issue_token,
    strip_bearer,
    unverified_claims,
    verify_token,
)
from reference_impl.core.collection import SUPERUSERS, Collection
from reference_impl.core.file_storage import FileStorage
from reference_impl.core.files import FILE_TOKEN_DURATION
from reference_impl.core.records import RecordService
from reference_impl.core.row_security import Mode, check_mode, default_mode
from reference_impl.core.store import CollectionStore
from reference_impl.db.engine import Engine


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

    def __post_init__(self) -> None:
        has_rls = self.engine.row_security_role is not None
        self.rules = check_mode(self.rules or default_mode(has_rls), has_rls)
        if self.rules == "app" and has_rls:
            raise ValueError("--rules app: open the engine without row level security")
        self.store = CollectionStore(self.engine, clock=self.clock, id_mode=self.id_mode)
        self.storage = FileStorage(self.storage_dir)
        self.records = RecordService(
            self.store,
            id_mode=self.id_mode,
            clock=self.clock,
            storage=self.storage,
            rules=self.rules,
            unsafe_rmw=self.unsafe_rmw,
        )

    def bootstrap(self) -> bool:
        """Check the connection, create missing system tables; True on a fresh database."""
        return self.store.bootstrap()

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
