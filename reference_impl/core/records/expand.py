"""``?expand=``: attach related records (forward relations, nested paths, back-relations).

Targets are read under the target collection's viewRule (``rules.rule_nodes``) bound to
the request with the context ``expand`` (PocketBase's ``expandFetch``), a denied or unknown
path silently left out, as in PocketBase.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import Collection
from reference_impl.core.errors import ApiError
from reference_impl.core.fields import Field
from reference_impl.core.records.access import managed_ids
from reference_impl.core.records.context import RecordContext
from reference_impl.core.records.export import export
from reference_impl.core.records.reads import fetch
from reference_impl.core.records.rules import RequestValues, RulePlan, rule_plan, session
from reference_impl.db.engine import SYSTEM, Tx
from reference_impl.ir import BASE, BoolOp, Cmp, Compiled, Kind, Node, Ref, Val

MAX_EXPAND_DEPTH = 6


def expand_records(
    ctx: RecordContext,
    tx: Tx,
    coll: Collection,
    records: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    spec: str,
    auth: AuthContext | None,
    depth: int,
    request: RequestValues | None = None,
) -> None:
    """Attach ``expand`` for each relation path (``rel``, ``rel.nested``, back-relations
    ``<coll>_via_<field>``), fetching targets under their viewRule. A path that cannot be
    expanded (unknown, or denied by the rule) is silently left out, as in PocketBase."""
    paths: dict[str, list[str]] = {}
    for raw in filter(None, (p.strip() for p in spec.split(","))):
        head, _, rest = raw.partition(".")
        paths.setdefault(head, [])
        if rest:
            paths[head].append(rest)
    if depth > MAX_EXPAND_DEPTH:
        return
    request = dataclasses.replace(request or RequestValues(), context="expand")
    caller = session(auth, "view", context="expand", method=request.method)
    if depth == 1:  # targets are read under their view rule, in the context "expand"
        tx.set_session(caller)
    for name, nested in paths.items():
        resolved = _expand_target(ctx, coll, name, auth, request)
        if resolved is None:
            continue
        target, plan, via = resolved
        for out in outputs:
            out.setdefault("expand", {})
        if plan.bypass:  # a view rule left to the app that reads other rows
            tx.set_session(SYSTEM)
        if via is None:
            related_by_owner = _forward(ctx, tx, coll, name, target, plan.nodes, records)
        else:
            related_by_owner = _backward(ctx, tx, target, via, plan.nodes, records)
        if plan.bypass:
            tx.set_session(caller)
        all_related = {r["id"]: r for rows in related_by_owner.values() for r in rows}
        managed = managed_ids(ctx, tx, target, list(all_related), auth, request, restore=caller)
        exported = {rid: export(target, r, auth, managed) for rid, r in all_related.items()}
        if nested and all_related:
            expand_records(
                ctx,
                tx,
                target,
                list(all_related.values()),
                list(exported.values()),
                ",".join(nested),
                auth,
                depth + 1,
                request,
            )
        f = coll.get_field(name)
        single = via is None and f is not None and not f.multiple
        for r, out in zip(records, outputs, strict=True):
            found = [exported[x["id"]] for x in related_by_owner.get(r["id"], [])]
            if found:
                out["expand"][name] = found[0] if single else found
    for out in outputs:
        if "expand" in out:
            out["expand"] = dict(sorted(out["expand"].items()))
            items = sorted(out.items())
            out.clear()
            out.update(items)


def _expand_target(
    ctx: RecordContext,
    coll: Collection,
    name: str,
    auth: AuthContext | None,
    request: RequestValues,
) -> tuple[Collection, RulePlan, Field | None] | None:
    f = coll.get_field(name)
    via: Field | None = None
    if f is not None and f.is_relation:
        target = ctx.store.find(str(f.opt("collectionId")))
    elif "_via_" in name:
        target_name, _, field_name = name.partition("_via_")
        target = ctx.store.find(target_name)
        via = target.get_field(field_name) if target else None
        if via is None or not via.is_relation or via.opt("collectionId") != coll.id:
            return None
    else:
        return None
    if target is None:
        return None
    try:
        plan = rule_plan(ctx, target, "viewRule", auth, request)
    except ApiError:
        return None
    return target, plan, via


def _forward(
    ctx: RecordContext,
    tx: Tx,
    coll: Collection,
    name: str,
    target: Collection,
    rule: Sequence[Node | Compiled],
    records: list[dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    wanted = {
        r["id"]: (r[name] if isinstance(r[name], list) else [r[name]] if r[name] else [])
        for r in records
    }
    ids = list(dict.fromkeys(i for ids in wanted.values() for i in ids))
    if not ids:
        return {}
    id_nodes: Sequence[Node | Compiled] = [
        BoolOp("OR", tuple(Cmp("=", Ref(BASE, "id", Kind.TEXT), Val(i, Kind.TEXT)) for i in ids))
    ]
    found = {r["id"]: r for r in fetch(tx, ctx.dialect, target, [*id_nodes, *rule])}
    return {owner: [found[i] for i in ids if i in found] for owner, ids in wanted.items()}


def _backward(
    ctx: RecordContext,
    tx: Tx,
    target: Collection,
    via: Field,
    rule: Sequence[Node | Compiled],
    records: list[dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    owners = {r["id"] for r in records}
    out: dict[str, list[dict[str, Any]]] = {}
    for row in fetch(tx, ctx.dialect, target, list(rule)):
        value = row[via.name]
        for owner in value if isinstance(value, list) else [value]:
            if owner in owners:
                out.setdefault(owner, []).append(row)
    return out
