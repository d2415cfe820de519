"""A create or update body applied to a record: which keys a caller may set, plain values
and modifiers (``f+``, ``f-``, ``+f``) through each field's type, auth fields, password
hashing, server timestamps and the checks before the write.

Passwords arrive as :class:`~reference_impl.core.field_types.PlainPassword` and leave as
bcrypt hashes before anything is validated or stored.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from reference_impl.core import errors as e
from reference_impl.core import files
from reference_impl.core.auth import AuthContext, check_password, hash_password, new_token_key
from reference_impl.core.collection import Collection
from reference_impl.core.errors import field_error
from reference_impl.core.field_types import BCRYPT_LIMIT, Modifier, PlainPassword
from reference_impl.core.field_types.base import FieldType
from reference_impl.core.fields import Field
from reference_impl.core.jsonin import has_nul
from reference_impl.core.records.rules import is_superuser
from reference_impl.core.store import NUL_ERROR
from reference_impl.db.dialect import Dialect

Record = dict[str, Any]
Errors = dict[str, Any]

_MODIFIER = re.compile(r"^(\+)?(\w+)([+-])?$")


VALUES_MISMATCH = field_error("validation_values_mismatch", "Values don't match.")


def _settable(coll: Collection, f: Field | None, is_super: bool) -> Field | None:
    """The field a body key may set: not the id, a server-set or hidden one (a hidden
    password aside) or the token key. ``email`` and ``verified`` of an auth record are set
    and then checked against the caller's manage access (:func:`manager_errors`)."""
    if f is None or f.name == "id" or not f.spec.client_settable:
        return None
    if f.hidden and not is_super and not f.spec.hidden_writable:
        return None
    if f.name in ("tokenKey",):
        return None
    return f


def _body_field(coll: Collection, key: str) -> tuple[Field, Modifier | None] | None:
    """The field a body key names and its modifier (``None``: a plain key), as PocketBase's
    ``SetIfFieldExists`` finds a setter: a modifier only where the type has them."""
    match = _MODIFIER.match(key)
    if not match:
        return None
    prepend, name, suffix = match.groups()
    f = coll.get_field(name)
    if f is None:
        return None
    if not (prepend or suffix):
        return f, None
    if type(f.spec).modify is FieldType.modify:  # no modifiers: "title+" is no field key
        return None
    return f, "prepend" if prepend else suffix or ""


def rule_value(f: Field, value: Any) -> Any:
    """A field's value as ``@request.body`` shows it: its record JSON form (dates as text,
    json as its value), a password's plain text, uploads by name."""
    if isinstance(value, PlainPassword):
        return value.text
    if isinstance(value, files.Upload):
        return value.name
    if isinstance(value, list) and f.spec.holds_files:
        return [v.name if isinstance(v, files.Upload) else v for v in value]
    return f.spec.export(f, value)


def rule_body(
    coll: Collection, record: Record, body: dict[str, Any], auth: AuthContext | None
) -> tuple[dict[str, Any], frozenset[str]]:
    """PocketBase's ``@request.body`` for a create or update over ``record`` (the new
    record's zero values, or the stored row) and the field keys it changes.

    ``recordDataFromRequest``: ``Record.ReplaceModifiers`` sets each key naming a field
    (with or without a modifier; shorter keys first, so ``n`` before ``n+``) on a copy of
    the record and keeps the field's resulting value under its name; other keys stay as
    sent; hidden fields are dropped for non-superusers, an auth collection's password
    aside. ``:changed`` is PocketBase's ``body.f != f`` over ``record``."""
    if isinstance(body, files.FormBody):
        merged = dict(body)
        for f in coll.fields:
            f.spec.merge_uploads(f, merged, body.uploads)
        body = merged
    current = dict(record)
    out: dict[str, Any] = dict(body)
    touched: dict[str, Field] = {}
    for key in sorted(body, key=len):
        found = _body_field(coll, key)
        if found is None:
            continue
        f, mod = found
        raw = body[key]
        current[f.name] = (
            f.spec.from_body(f, raw) if mod is None else f.spec.modify(f, current[f.name], mod, raw)
        )
        del out[key]
        out[f.name] = rule_value(f, current[f.name])
        touched[f.name] = f
    if not is_superuser(auth):
        for f in coll.fields:
            if f.hidden and not (coll.is_auth and f.name == "password"):
                out.pop(f.name, None)
    changed = frozenset(
        name
        for name, f in touched.items()
        if name in out and out[name] != rule_value(f, record.get(name))
    )
    return out, changed


def manager_errors(
    coll: Collection,
    record: Record,
    original: Record,
    body: dict[str, Any],
    *,
    manager: bool,
    creating: bool,
) -> Errors:
    """``forms.RecordUpsert.validateFormFields`` for what manage access decides: without
    it an update may not change ``email``, no write may change ``verified`` (a new record's
    is false), and a new password needs the current one as ``oldPassword``."""
    errors: Errors = {}
    if not coll.is_auth or manager:
        return errors
    if not creating and record.get("email") != original.get("email"):
        errors["email"] = VALUES_MISMATCH
    if bool(record.get("verified")) != (False if creating else bool(original.get("verified"))):
        errors["verified"] = VALUES_MISMATCH
    password = body.get("password")
    plain = password.text if isinstance(password, PlainPassword) else _text(password)
    if not creating and (plain or _text(body.get("passwordConfirm"))):
        old = _text(body.get("oldPassword"))
        if not old:
            errors["oldPassword"] = e.REQUIRED
        elif not check_password(old, str(original.get("password") or "")):
            errors["oldPassword"] = field_error(
                "validation_invalid_old_password", "Missing or invalid old password."
            )
    return errors


def _text(value: Any) -> str:
    """``cast.ToString`` of a form value (absent: "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def apply_body(
    coll: Collection,
    record: Record,
    body: dict[str, Any],
    errors: Errors,
    auth: AuthContext | None,
    *,
    creating: bool,
) -> None:
    """Plain keys first, then modifiers on the result; auth fields and password hashes."""
    is_super = is_superuser(auth)
    if isinstance(body, files.FormBody):
        merged = dict(body)
        for f in coll.fields:
            f.spec.merge_uploads(f, merged, body.uploads)
        body = merged
    plain: list[tuple[Field, Any]] = []
    modifiers: list[tuple[Field, Modifier, Any]] = []
    for key, raw in body.items():
        match = _MODIFIER.match(key)
        if not match:
            continue
        prepend, name, suffix = match.groups()
        settable = _settable(coll, coll.get_field(name), is_super)
        if settable is None:
            continue
        if prepend or suffix:
            modifiers.append((settable, "prepend" if prepend else suffix or "", raw))
        else:
            plain.append((settable, raw))
    for f, raw in plain:
        record[f.name] = f.spec.from_body(f, raw)
    for f, mod, raw in modifiers:
        record[f.name] = f.spec.modify(f, record[f.name], mod, raw)
    if coll.is_auth:
        _apply_auth_fields(coll, record, body, errors, auth, creating=creating)
    for f in coll.fields:  # other password fields: validated, then only the hash is kept
        value = record.get(f.name)
        if isinstance(value, PlainPassword):
            record[f.name] = hash_field(f, value.text, errors, auth, creating=creating)


def hash_field(
    f: Field,
    plain: str,
    errors: Errors,
    auth: AuthContext | None,
    *,
    creating: bool,
) -> str:
    """A password field's bcrypt hash (at the field's ``cost``), or "" with the error
    recorded. PocketBase reports bcrypt's own 72-byte error as a plain error, shown
    only to superusers: everyone else gets the bare message (data {})."""
    problem = f.validate(plain) if plain else None
    if problem is BCRYPT_LIMIT and not is_superuser(auth):
        raise e.bad_request("Failed to create record." if creating else "Failed to update record.")
    if problem:
        errors[f.name] = problem
        return ""
    return hash_password(plain, int(f.opt("cost") or 0)) if plain else ""


def _apply_auth_fields(
    coll: Collection,
    record: Record,
    body: dict[str, Any],
    errors: Errors,
    auth: AuthContext | None,
    *,
    creating: bool,
) -> None:
    """``password`` with ``passwordConfirm``; a new password (or record) gets a new token
    key, which invalidates the tokens issued before."""
    password = record.get("password")
    if isinstance(password, PlainPassword):
        plain = password.text
        confirm = body.get("passwordConfirm")
        f = coll.get_field("password")
        assert f is not None
        if not plain and creating:
            errors["password"] = e.REQUIRED
        record["password"] = hash_field(f, plain, errors, auth, creating=creating)
        if creating and not confirm:
            errors["passwordConfirm"] = e.REQUIRED
        elif confirm != plain:
            errors["passwordConfirm"] = field_error(
                "validation_values_mismatch", "Values don't match."
            )
        record["tokenKey"] = new_token_key()
    elif creating:
        errors["password"] = e.REQUIRED
        errors["passwordConfirm"] = e.REQUIRED
    if creating and not record.get("tokenKey"):
        record["tokenKey"] = new_token_key()


def stamp(coll: Collection, record: Record, now: datetime, *, creating: bool) -> None:
    """Server-set timestamps (autodate ``onCreate`` / ``onUpdate``)."""
    for f in coll.fields:
        if f.spec.stamp(f, creating=creating):
            record[f.name] = now


def validate(
    dialect: Dialect,
    coll: Collection,
    record: Record,
    errors: Errors,
    old: Record | None = None,
) -> None:
    """Each field's checks on the applied record, errors kept by field (a field already in
    ``errors`` keeps its first). ``old``: the stored values of the file fields (only those
    may be sent as names)."""
    for f in coll.fields:
        if f.name in errors or f.name == "id":
            continue
        value = record[f.name]
        problem = f.spec.validate_record(f, value, (old or {}).get(f.name, f.zero()))
        if problem is None and not dialect.TEXT_ALLOWS_NUL and has_nul(value):
            problem = NUL_ERROR
        if problem:
            errors[f.name] = problem


def finalize_files(coll: Collection, record: Record) -> list[files.Upload]:
    """Replace uploads by their generated names in ``record``; return the uploads."""
    uploads: list[files.Upload] = []
    for f in coll.fields:
        if f.spec.holds_files:
            record[f.name], new = files.finalize(f, record[f.name])
            uploads += new
    return uploads
