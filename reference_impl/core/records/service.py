"""The record service: list/view/create/update/delete as the API and the harness call
them, each under the schema lock, on the collection as it is once the lock is held.

Thin: rules (``rules``), reading and paging (``reads``), record JSON (``export``), body
application (``body``), writes (``writes``), relation integrity (``relations``) and
``?expand=`` (``expand``) are modules of their own; this class holds what they share
(collections, engine, dialect, clock, file storage, id mode).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from reference_impl.core import errors as e
from reference_impl.core.auth import AuthContext
from reference_impl.core.coherence import RecordCache
from reference_impl.core.collection import Collection
from reference_impl.core.file_storage import FileStorage
from reference_impl.core.records import rules, writes
from reference_impl.core.records.access import (
    AUTH_RULE_FAILED,
    can_authenticate,
    manage_rule,
    managed_ids,
)
from reference_impl.core.records.expand import expand_records
from reference_impl.core.records.export import export
from reference_impl.core.records.reads import Record, fetch, first_by, read_page
from reference_impl.core.records.rules import Conditions, ListQuery, RequestValues, session
from reference_impl.core.row_security import Mode
from reference_impl.core.store import CollectionStore
from reference_impl.db.engine import SYSTEM, Session, Tx
from reference_impl.failpoints import failpoint
from reference_impl.ir import SortTerm

T = TypeVar("T")


def _schema_stable(method: Callable[..., T]) -> Callable[..., T]:
    """Record work under the shared side of the schema lock, on the collection as it is
    once the lock is held: a schema change (which takes the exclusive side) waits for the
    work in flight and the work after it sees the new schema, so no statement runs against
    columns that moved. A collection dropped meanwhile is a 404."""

    @functools.wraps(method)
    def wrapper(self: RecordService, coll: Collection, *args: Any, **kwargs: Any) -> T:
        with self.store.schema_lock.shared():
            current = self.store.find(coll.id)
            if current is None:
                raise e.not_found("Missing collection context.")
            return method(self, current, *args, **kwargs)

    return wrapper


def _schema_stable_lookup(method: Callable[..., T | None]) -> Callable[..., T | None]:
    """:func:`_schema_stable` for lookups: a collection gone means nothing found."""

    @functools.wraps(method)
    def wrapper(self: RecordService, coll: Collection, *args: Any, **kwargs: Any) -> T | None:
        with self.store.schema_lock.shared():
            current = self.store.find(coll.id)
            return None if current is None else method(self, current, *args, **kwargs)

    return wrapper


class RecordService:
    def __init__(
        self,
        store: CollectionStore,
        *,
        id_mode: str = "pocketbase",
        clock: Callable[[], datetime] | None = None,
        storage: FileStorage | None = None,
        rules: Mode = "app",
        unsafe_rmw: bool = False,
    ):
        self.store = store
        self.events = store.events
        self.cache = RecordCache()  # auth records by id (find_auth_record)
        self.unsafe_rmw = unsafe_rmw
        # ``--rules rls``: the database alone enforces the rules its policies express.
        self.rules = rules
        self.row_security = store.engine.row_security_role is not None
        self.storage = storage or FileStorage()
        self.engine = store.engine
        self.dialect = store.engine.dialect
        self.id_mode = id_mode
        self.clock = clock or (lambda: datetime.now(UTC))

    # Whom a request's statements run for (row level security): :func:`rules.session`.
    session = staticmethod(session)

    # -- reading -------------------------------------------------------------------------
    def fetch(self, tx: Tx, coll: Collection, where: Conditions) -> list[Record]:
        """Every record of ``coll`` meeting ``where``, no rule applied (tests and tools)."""
        return fetch(tx, self.dialect, coll, where)

    @_schema_stable_lookup
    def find_auth_record(self, coll: Collection, record_id: str) -> Record | None:
        """The record by id, no rule; an auth collection's through the record cache (every
        authenticated request asks for its token's record: ``core/coherence.py``)."""
        key = (coll.id, record_id)
        if coll.is_auth:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
            token = self.cache.token()
        with self.engine.transaction(session=SYSTEM) as tx:
            found = first_by(tx, self.dialect, coll, "id", record_id)
        if found is not None and coll.is_auth:
            self.cache.put(key, found, token)
        return found

    @_schema_stable_lookup
    def find_by_email(self, coll: Collection, email: str) -> Record | None:
        """Identity lookup; exact, as PocketBase 0.40.6 does (``U1@x`` does not log in ``u1@x``)."""
        with self.engine.transaction(session=SYSTEM) as tx:
            return first_by(tx, self.dialect, coll, "email", email)

    def list_conditions(
        self, coll: Collection, query: ListQuery, auth: AuthContext | None
    ) -> tuple[Conditions, list[SortTerm]]:
        """See :func:`rules.list_conditions`."""
        return rules.list_conditions(self, coll, query, auth)

    @_schema_stable
    def list_records(
        self, coll: Collection, query: ListQuery, auth: AuthContext | None
    ) -> dict[str, Any]:
        where, sort, bypass = rules.list_plan(self, coll, query, auth)
        due = self.store.json_indexes.observe(coll.name, where)
        caller = SYSTEM if bypass else session(auth, "list", method=query.request.method)
        with self.engine.transaction(session=caller) as tx:
            page = read_page(
                tx,
                self.dialect,
                coll,
                where,
                sort,
                query.page,
                query.per_page,
                count=not query.skip_total,
            )
            ids = [r["id"] for r in page.records]
            managed = managed_ids(self, tx, coll, ids, auth, query.request, restore=caller)
            items = [export(coll, r, auth, managed) for r in page.records]
            if query.expand:
                expand_records(
                    self, tx, coll, page.records, items, query.expand, auth, 1, query.request
                )
        if due:  # this request made a JSON path "often filtered": index it now
            self.store.json_indexes.build(due)
        return {
            "items": items,
            "page": page.page,
            "perPage": page.per_page,
            "totalItems": page.total,
            "totalPages": page.pages,
        }

    @_schema_stable
    def view(
        self,
        coll: Collection,
        record_id: str,
        auth: AuthContext | None,
        expand: str = "",
        request: RequestValues | None = None,
    ) -> dict[str, Any]:
        failpoint("records.view.begin")
        request = request or RequestValues()
        plan = rules.rule_plan(self, coll, "viewRule", auth, request)
        caller = (
            SYSTEM
            if plan.bypass
            else session(auth, "view", record_id, context=request.context, method=request.method)
        )
        with self.engine.transaction(session=caller) as tx:
            record = first_by(tx, self.dialect, coll, "id", record_id, plan.nodes)
            if record is None:
                raise e.not_found()
            return self._enrich(tx, coll, record, auth, expand, request, caller)

    def _enrich(
        self,
        tx: Tx,
        coll: Collection,
        record: Record,
        auth: AuthContext | None,
        expand: str,
        request: RequestValues,
        caller: Session,
    ) -> dict[str, Any]:
        """PocketBase's ``EnrichRecord``: the record JSON for this caller (emails of the
        records it manages shown) and ``?expand=`` under the targets' view rules."""
        managed = managed_ids(self, tx, coll, [record["id"]], auth, request, restore=caller)
        out = export(coll, record, auth, managed)
        if expand:
            expand_records(self, tx, coll, [record], [out], expand, auth, 1, request)
        return out

    def can_authenticate(
        self, coll: Collection, record_id: str, auth: AuthContext | None, request: RequestValues
    ) -> None:
        """The collection's ``authRule`` for an auth response; 403 when it refuses."""
        if not can_authenticate(self, coll, record_id, auth, request):
            raise e.forbidden(AUTH_RULE_FAILED)

    def export(self, coll: Collection, record: Record, auth: AuthContext | None) -> dict[str, Any]:
        """PocketBase's record JSON for this caller (see :func:`export.export`)."""
        return export(coll, record, auth)

    # -- writing -------------------------------------------------------------------------
    @_schema_stable
    def create(
        self,
        coll: Collection,
        body: dict[str, Any],
        auth: AuthContext | None,
        expand: str = "",
        request: RequestValues | None = None,
    ) -> dict[str, Any]:
        """The created record as PocketBase answers it: enriched directly (only the
        expanded targets' view rules apply, not the collection's own)."""
        request = request or RequestValues(method="POST")
        stored, request = writes.create(self, coll, body, auth, request)
        return self._written(coll, stored, auth, expand, request)

    @_schema_stable
    def update(
        self,
        coll: Collection,
        record_id: str,
        body: dict[str, Any],
        auth: AuthContext | None,
        expand: str = "",
        request: RequestValues | None = None,
    ) -> dict[str, Any]:
        request = request or RequestValues(method="PATCH")
        stored, request = writes.update(self, coll, record_id, body, auth, request)
        return self._written(coll, stored, auth, expand, request)

    def _written(
        self,
        coll: Collection,
        stored: Record,
        auth: AuthContext | None,
        expand: str,
        request: RequestValues,
    ) -> dict[str, Any]:
        """A written record enriched for the response; the rules it reads see the request
        as the write's rules saw it (the post-cast body), as PocketBase's request info."""
        if not expand and manage_rule(coll) is None:  # nothing to read: no transaction
            return export(coll, stored, auth)
        caller = session(auth, "view", stored["id"], context=request.context, method=request.method)
        with self.engine.transaction(session=caller) as tx:
            return self._enrich(tx, coll, stored, auth, expand, request, caller)

    @_schema_stable
    def delete(
        self,
        coll: Collection,
        record_id: str,
        auth: AuthContext | None,
        request: RequestValues | None = None,
    ) -> None:
        writes.delete(self, coll, record_id, auth, request)
