"""Rules read beside a statement's own: ``authRule`` and ``manageRule`` of auth collections.

``authRule`` is PocketBase's ``CanAccessRecord`` on every auth response
(``apis/record_helpers.go:recordAuthResponse``): null lets only superusers through, "" everyone,
any other rule must match the authenticating record. ``manageRule`` is
``apis/record_crud.go:hasAuthManageAccess`` (a manager may change another record's email,
verified and password without ``oldPassword``) and ``autoResolveRecordsFlags`` (a manager
sees the emails of the records it manages). Both are the app's own lookups: they run as
``SYSTEM``, over every row, as PocketBase's rules do.
"""

from __future__ import annotations

from collections.abc import Sequence

from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import Collection
from reference_impl.core.records.context import RecordContext, WriteContext
from reference_impl.core.records.reads import equals, fetch, first_by
from reference_impl.core.records.rules import RequestValues, bound_rule, is_superuser
from reference_impl.db.engine import SYSTEM, Session, Tx
from reference_impl.ir import BoolOp

AUTH_RULE_FAILED = "The request doesn't satisfy the collection requirements to authenticate."


def can_authenticate(
    ctx: WriteContext,
    coll: Collection,
    record_id: str,
    auth: AuthContext | None,
    request: RequestValues,
) -> bool:
    """Whether the collection's ``authRule`` lets ``record_id`` authenticate in this
    request (``auth``: the caller, a guest for a password login)."""
    if is_superuser(auth):
        return True
    text = coll.rule("authRule")
    if text is None:
        return False
    if not text.strip():
        return True
    where = bound_rule(ctx, coll, text, auth, request)
    if where is None:
        return False
    with ctx.engine.transaction(session=SYSTEM) as tx:
        return first_by(tx, ctx.dialect, coll, "id", record_id, where) is not None


def manage_rule(coll: Collection) -> str | None:
    """An auth collection's ``manageRule`` when it has one that says something (None for a
    base collection, a null rule or a blank one): what :func:`managed_ids` evaluates."""
    text = coll.rule("manageRule") if coll.is_auth else None
    return text if text and text.strip() else None


def managed_ids(
    ctx: RecordContext,
    tx: Tx,
    coll: Collection,
    ids: Sequence[str],
    auth: AuthContext | None,
    request: RequestValues | None,
    *,
    restore: Session,
) -> set[str]:
    """The ids among ``ids`` whose record the caller manages (``manageRule`` matches);
    ``restore``: the session the transaction goes on with."""
    text = manage_rule(coll)
    if not ids or text is None:
        return set()
    where = bound_rule(ctx, coll, text, auth, request)
    if where is None:
        return set()
    wanted = BoolOp("OR", tuple(equals("id", i) for i in dict.fromkeys(ids)))
    tx.set_session(SYSTEM)
    try:
        return {r["id"] for r in fetch(tx, ctx.dialect, coll, [wanted, *where])}
    finally:
        tx.set_session(restore)


def manages(
    ctx: RecordContext,
    tx: Tx,
    coll: Collection,
    record_id: str,
    auth: AuthContext | None,
    request: RequestValues | None,
    *,
    restore: Session,
) -> bool:
    """``hasAuthManageAccess``: an auth record (never a guest) matching the non-empty
    ``manageRule`` over the row ``record_id``."""
    if auth is None:
        return False
    return record_id in managed_ids(ctx, tx, coll, [record_id], auth, request, restore=restore)
