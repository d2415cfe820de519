"""A record as PocketBase serves it: each value in its type's JSON form, keys sorted, what
the caller may not see left out (hidden fields, the token key, another user's email)."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import Collection
from reference_impl.core.records.rules import is_superuser


def export(
    coll: Collection,
    record: dict[str, Any],
    auth: AuthContext | None,
    managed: Container[str] = (),
) -> dict[str, Any]:
    """``managed``: the ids whose email the caller sees as their manager (``manageRule``)."""
    is_super = is_superuser(auth)
    out: dict[str, Any] = {"collectionId": coll.id, "collectionName": coll.name}
    for f in coll.fields:
        if f.name == "tokenKey" and coll.is_auth:
            continue
        if f.hidden and not is_super:
            continue
        if not f.spec.served(f):
            continue
        out[f.name] = f.spec.export(f, record.get(f.name))
    if coll.is_auth and "email" in out:
        owner = auth is not None and auth.collection_id == coll.id and auth.id == record["id"]
        if not (record.get("emailVisibility") or owner or is_super or record["id"] in managed):
            del out["email"]
    return dict(sorted(out.items()))
