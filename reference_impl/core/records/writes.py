"""Create, update and delete: the body applied and checked outside the transaction where
it can be, the row written inside one with the rule checked on it, files saved before
and removed after (or discarded when the row is not committed).

The create rule is checked on the inserted row inside the write transaction and rolls it
back when unmet, which gives PocketBase's "evaluate the rule over the new row" semantics
without a second evaluator. A unique index violated on either engine becomes PocketBase's
``NormalizeUniqueIndexError`` answer (:func:`unique_error`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reference_impl.core import errors as e
from reference_impl.core import files
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import SUPERUSERS, Collection
from reference_impl.core.errors import ApiError, ValidationFailed, field_error
from reference_impl.core.events import (
    RECORD_CREATE,
    RECORD_DELETE,
    RECORD_UPDATE,
    Event,
    pack_record,
)
from reference_impl.core.indexes import buildable
from reference_impl.core.records import body as b
from reference_impl.core.records.access import manages
from reference_impl.core.records.context import WriteContext
from reference_impl.core.records.ids import client_id, generate_id, validate_id
from reference_impl.core.records.reads import Record, decode, fetch, first_by
from reference_impl.core.records.relations import check_relations, detach_references
from reference_impl.core.records.rules import (
    Conditions,
    RequestValues,
    is_superuser,
    rule_nodes,
    rule_plan,
    session,
)
from reference_impl.db import errors as dberr
from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import SYSTEM, Tx, run_in_transaction
from reference_impl.db.render import delete_sql, insert_sql, update_sql
from reference_impl.failpoints import failpoint
from reference_impl.ir import Kind


def create(
    ctx: WriteContext,
    coll: Collection,
    body: dict[str, Any],
    auth: AuthContext | None,
    request: RequestValues | None = None,
) -> tuple[Record, RequestValues]:
    """The stored record (decoded; the caller exports it) and the request as its rules
    saw it (``@request.body``).

    The create rule reads PocketBase's dummy row: the new record with ``verified`` false
    (so it is inserted so, the rule checked on it, then the manage access decided there:
    only a manager may make it verified, set after the check by the app itself)."""
    is_super = is_superuser(auth)
    rule_text = coll.rule("createRule")
    if rule_text is None and not is_super:
        raise e.forbidden(e.MSG_SUPERUSER_ONLY)
    record = {f.name: f.zero() for f in coll.fields}
    errors: dict[str, Any] = {}
    record_id = client_id(body)
    if record_id:
        problem = validate_id(coll, record_id)
        if problem:
            errors["id"] = problem
    else:
        record_id = generate_id(ctx.id_mode)
    record["id"] = record_id
    given, _ = b.rule_body(coll, record, body, auth)
    # nothing is :changed: a new record's body equals the row the rule reads
    request = replace(request or RequestValues(method="POST"), body=given, changed=frozenset())
    b.apply_body(coll, record, body, errors, auth, creating=True)
    b.stamp(coll, record, ctx.clock(), creating=True)
    b.validate(ctx.dialect, coll, record, errors)
    if errors:
        raise ValidationFailed(errors).to_api("Failed to create record.")
    uploads = b.finalize_files(coll, record)
    rule: Conditions = (
        []
        if is_super or not (rule_text or "").strip()
        else rule_nodes(ctx, coll, "createRule", auth, request)
    )
    verify = coll.is_auth and not is_super and bool(record.get("verified"))
    if verify:
        record["verified"] = False

    caller = session(auth, "create", record_id, method=request.method, context=request.context)

    def work(tx: Tx) -> Record:
        check_relations(ctx, tx, coll, record, caller)
        failpoint("records.create.checked")
        values = [(f.name, f.kind, record[f.name]) for f in coll.fields]
        fields = list(coll.fields)
        sql, params = insert_sql(ctx.dialect, coll.name, values, returning=[f.name for f in fields])
        try:
            row = tx.fetchone(sql, params)
        except dberr.UniqueViolation as exc:
            raise unique_error(ctx.dialect, coll, exc, "Failed to create record.") from exc
        except dberr.PolicyViolation as exc:  # the create rule's WITH CHECK
            raise e.bad_request("Failed to create record.") from exc
        if rule:  # the app's check sees every row its joins read, as PocketBase's
            tx.set_session(SYSTEM)
            if first_by(tx, ctx.dialect, coll, "id", record_id, rule) is None:
                raise e.bad_request("Failed to create record.")
        if verify:
            if not manages(ctx, tx, coll, record_id, auth, request, restore=SYSTEM):
                raise ValidationFailed({"verified": b.VALUES_MISMATCH}).to_api(
                    "Failed to create record."
                )
            sql, params = update_sql(
                ctx.dialect,
                coll.name,
                record_id,
                [("verified", Kind.BOOL, True)],
                returning=[f.name for f in fields],
            )
            tx.set_session(SYSTEM)  # the manager's change, past the update rule
            row = tx.fetchone(sql, params)
        stored = decode(ctx.dialect, fields, row)
        publish(ctx, tx, RECORD_CREATE, coll, stored)
        return stored

    # Files are written before the row (PocketBase uploads, then inserts) and removed
    # again when the row is not committed.
    ctx.storage.save(coll.id, record_id, uploads)
    try:
        return run_in_transaction(ctx.engine, work, write=True, session=caller), request
    except BaseException:
        ctx.storage.discard(coll.id, record_id, uploads)
        raise


def update(
    ctx: WriteContext,
    coll: Collection,
    record_id: str,
    body: dict[str, Any],
    auth: AuthContext | None,
    request: RequestValues | None = None,
) -> tuple[Record, RequestValues]:
    """The stored record (decoded; the caller exports it) and the request as its rules
    saw it (``@request.body``).

    As PocketBase: the stored row is read first (404 when missing), the body computed
    against it (``@request.body``, ``:changed``), then the row read again under the update
    rule bound to that body; the manage access is decided on the row."""
    failpoint("records.update.begin")
    request = request or RequestValues(method="PATCH")
    plan = rule_plan(ctx, coll, "updateRule", auth, request)  # 403 and the session
    caller = (
        SYSTEM
        if plan.bypass
        else session(auth, "update", record_id, method=request.method, context=request.context)
    )
    written: list[files.Upload] = []  # uploads saved by the (last) attempt of work()
    seen: list[RequestValues] = [request]  # the body of the (last) attempt
    stale: Record | None = None
    if ctx.unsafe_rmw:  # the broken variant: read now, in a transaction of its own
        with ctx.engine.transaction(session=SYSTEM) as tx:
            stale = first_by(tx, ctx.dialect, coll, "id", record_id)
        failpoint("records.update.read")

    def work(tx: Tx) -> tuple[Record, list[str]]:
        # Locked: modifiers (n+, tags+) are read-modify-write and must not lose updates.
        tx.set_session(SYSTEM)  # the eager fetch: the app's own, no rule
        stored = stale or first_by(tx, ctx.dialect, coll, "id", record_id, lock=True)
        if stored is None:
            raise e.not_found()
        if stale is None:
            failpoint("records.update.read")
        given, changed = b.rule_body(coll, stored, body, auth)
        bound = replace(request, body=given, changed=changed)
        seen[:] = [bound]
        rule = rule_plan(ctx, coll, "updateRule", auth, bound).nodes
        tx.set_session(caller)
        record = first_by(tx, ctx.dialect, coll, "id", record_id, rule, lock=stale is None)
        if record is None:
            raise e.not_found()
        if stale is not None:
            record = dict(stale)  # the modifiers apply to what was read before
        original = dict(record)
        manager = is_superuser(auth) or manages(
            ctx, tx, coll, record_id, auth, bound, restore=caller
        )
        old_files = {f.name: record[f.name] for f in coll.fields if f.spec.holds_files}
        errors: dict[str, Any] = {}
        if "id" in body and body["id"] != record_id:
            errors["id"] = field_error(
                "validation_pk_change", "The record primary key cannot be changed."
            )
        b.apply_body(coll, record, body, errors, auth, creating=False)
        form = b.manager_errors(coll, record, original, body, manager=manager, creating=False)
        if form:  # PocketBase's form checks (with passwordConfirm) fail before the record's
            if "passwordConfirm" in errors:
                form["passwordConfirm"] = errors["passwordConfirm"]
            raise ValidationFailed(form).to_api("Failed to update record.")
        b.stamp(coll, record, ctx.clock(), creating=False)
        b.validate(ctx.dialect, coll, record, errors, old=old_files)
        if errors:
            raise ValidationFailed(errors).to_api("Failed to update record.")
        check_relations(ctx, tx, coll, record, caller)
        uploads = b.finalize_files(coll, record)
        ctx.storage.save(coll.id, record_id, uploads)
        written[:] = uploads
        values = [(f.name, f.kind, record[f.name]) for f in coll.fields if f.name != "id"]
        fields = list(coll.fields)
        sql, params = update_sql(
            ctx.dialect, coll.name, record_id, values, returning=[f.name for f in fields]
        )
        try:
            row = tx.fetchone(sql, params)
        except dberr.UniqueViolation as exc:
            raise unique_error(ctx.dialect, coll, exc, "Failed to update record.") from exc
        stored = decode(ctx.dialect, fields, row)
        publish(ctx, tx, RECORD_UPDATE, coll, stored)
        new_files = [stored[name] for name in old_files]
        return stored, files.dropped_names(old_files.values(), new_files)

    try:
        stored, dropped = run_in_transaction(ctx.engine, work, write=True, session=caller)
    except BaseException:
        ctx.storage.discard(coll.id, record_id, written)
        raise
    ctx.storage.delete(coll.id, record_id, dropped)  # replaced/removed: after commit
    return stored, seen[0]


def delete(
    ctx: WriteContext,
    coll: Collection,
    record_id: str,
    auth: AuthContext | None,
    request: RequestValues | None = None,
) -> None:
    request = request or RequestValues(method="DELETE")
    plan = rule_plan(ctx, coll, "deleteRule", auth, request)
    rule = plan.nodes
    caller = (
        SYSTEM
        if plan.bypass
        else session(auth, "delete", record_id, method=request.method, context=request.context)
    )

    def work(tx: Tx) -> list[tuple[str, str]]:
        # Not locked FOR UPDATE: under row level security that applies the update rule.
        found = first_by(tx, ctx.dialect, coll, "id", record_id, rule)
        if found is None:
            raise e.not_found()
        failpoint("records.delete.read")
        if coll.name == SUPERUSERS:
            # All superusers locked: two concurrent deletes cannot both see "another one left".
            tx.set_session(SYSTEM)
            if len(fetch(tx, ctx.dialect, coll, [], lock=True)) <= 1:
                raise e.bad_request("You can't delete the only existing superuser.")
            tx.set_session(caller)
        sql, params = delete_sql(ctx.dialect, coll.name, record_id)
        if not tx.execute(sql, params):  # the delete rule's policy refused the row
            raise e.not_found()
        deleted = [(coll.id, record_id)]
        failpoint("records.delete.deleted")
        tx.set_session(SYSTEM)  # relations of other records: the app's own work
        detached: list[tuple[str, str]] = []
        rows: dict[tuple[str, str], Record] = {(coll.id, record_id): found}
        detach_references(ctx, tx, coll, record_id, deleted, detached, rows)
        for kind, changed in ((RECORD_DELETE, deleted), (RECORD_UPDATE, detached)):
            for key in dict.fromkeys(changed):
                other = ctx.store.find(key[0])
                if other is not None and key in rows:
                    publish(ctx, tx, kind, other, rows[key])
        return deleted

    # The files of the record (and of cascade-deleted ones) go once the rows are gone.
    for collection_id, deleted_id in run_in_transaction(
        ctx.engine, work, write=True, session=caller
    ):
        ctx.storage.delete_record(collection_id, deleted_id)


def publish(ctx: WriteContext, tx: Tx, kind: str, coll: Collection, record: Record) -> None:
    """The change told after commit (``core/events.py``), with the record as stored (a
    password hash never travels: nothing shows it)."""
    fields = [(f.name, f.kind) for f in coll.fields]
    values = {f.name: "" if f.type == "password" else record.get(f.name) for f in coll.fields}
    event = Event(kind, coll.id, str(record["id"]), name=coll.name,
                  record=pack_record(fields, values))  # fmt: skip
    ctx.events.publish(tx, event)


def unique_error(
    dialect: Dialect, coll: Collection, exc: dberr.UniqueViolation, message: str
) -> ApiError:
    """PocketBase's ``NormalizeUniqueIndexError``: every column of the violated index
    gets "Value must be unique."; the primary key when no index is named."""
    names = [c for c in exc.columns if coll.get_field(c) is not None]
    if not names and exc.constraint:
        for text in coll.indexes:
            built = buildable(text)
            if dialect.index_name(built.name) == exc.constraint:
                names = [column for column, _, _ in built.columns]
    return e.bad_request(message, {name: e.NOT_UNIQUE for name in sorted(names or ["id"])})
