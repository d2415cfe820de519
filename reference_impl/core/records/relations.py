"""Relation integrity: the ids a write sets must exist; a deleted record is removed from
the relation fields pointing at it, or deletes their records (``cascadeDelete``)."""

from __future__ import annotations

from typing import Any

from reference_impl.core.collection import Collection
from reference_impl.core.errors import ValidationFailed, field_error
from reference_impl.core.records.context import RecordContext
from reference_impl.core.records.reads import equals, fetch
from reference_impl.db.engine import SYSTEM, Session, Tx
from reference_impl.db.render import delete_sql, exists_ids_sql, update_sql
from reference_impl.ir import BASE, ArrayContains, Node, Ref


def check_relations(
    ctx: RecordContext, tx: Tx, coll: Collection, record: dict[str, Any], session: Session
) -> None:
    """400 naming every relation field with an id that has no record, whatever the caller
    may see (PocketBase checks them without rules): the lookups run as the app's own
    statements (``SYSTEM``), then ``session`` (the caller's) again."""
    errors: dict[str, Any] = {}
    switched = False
    for f in coll.fields:
        if not f.is_relation:
            continue
        value = record[f.name]
        ids = value if isinstance(value, list) else [value] if value else []
        if not ids:
            continue
        target = ctx.store.find(str(f.opt("collectionId")))
        found: set[str] = set()
        if target is not None:
            if not switched:
                tx.set_session(SYSTEM)
                switched = True
            sql, params = exists_ids_sql(ctx.dialect, target.name, ids)
            found = {row[0] for row in tx.fetchall(sql, params)}
        if not set(ids) <= found:
            errors[f.name] = field_error(
                "validation_missing_rel_records",
                "Failed to find all relation records with the provided ids.",
            )
    if switched:
        tx.set_session(session)
    if errors:
        raise ValidationFailed(errors).to_api("Failed to create record.")


def detach_references(
    ctx: RecordContext,
    tx: Tx,
    coll: Collection,
    record_id: str,
    deleted: list[tuple[str, str]] | None = None,
    detached: list[tuple[str, str]] | None = None,
    rows: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> None:
    """Drop the deleted id from relation fields pointing at it (cascade when asked);
    cascade-deleted rows are added to ``deleted``, rows that only lost the id to
    ``detached``, both as (collection id, record id); ``rows`` gets each one's record (a
    deleted one as it was, a detached one as it is now)."""
    dialect = ctx.dialect
    for other in ctx.store.all():
        for f in other.fields:
            if not f.is_relation or f.opt("collectionId") != coll.id:
                continue
            holds: Node = (
                ArrayContains(Ref(BASE, f.name, f.kind), record_id)
                if f.multiple
                else equals(f.name, record_id)
            )
            for row in fetch(tx, dialect, other, [holds], lock=True):
                if row["id"] == record_id and other.id == coll.id:
                    continue
                if f.opt("cascadeDelete"):
                    if rows is not None:
                        rows[(other.id, row["id"])] = row
                    detach_references(ctx, tx, other, row["id"], deleted, detached, rows)
                    sql, params = delete_sql(dialect, other.name, row["id"])
                    if deleted is not None:
                        deleted.append((other.id, row["id"]))
                else:
                    new = [i for i in row[f.name] if i != record_id] if f.multiple else ""
                    sql, params = update_sql(
                        dialect, other.name, row["id"], [(f.name, f.kind, new)]
                    )
                    if detached is not None:
                        detached.append((other.id, row["id"]))
                    if rows is not None:
                        rows[(other.id, row["id"])] = {**row, f.name: new}
                tx.execute(sql, params)
