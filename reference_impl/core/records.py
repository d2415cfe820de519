"""Records: list/view/create/update/delete with API rules, validation, expand.

Rules are enforced in SQL through the same filter compiler as client filters: the rule's IR
is ANDed into the WHERE (list, view, update, delete). The create rule is checked on the
inserted row inside the write transaction and rolls it back when unmet, which gives
PocketBase's "evaluate the rule over the new row" semantics without a second evaluator.
"""

from __future__ import annotations

import functools
import math
import re
import secrets
import string
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from reference_impl.core import errors as e
from reference_impl.core import files
from reference_impl.core._expand import expand_records
from reference_impl.core.auth import AuthContext, hash_password, new_token_key, random_string
from reference_impl.core.collection import SUPERUSERS, Collection
from reference_impl.core.errors import ApiError, ValidationFailed, field_error
from reference_impl.core.fields import BCRYPT_LIMIT, Field
from reference_impl.core.file_storage import FileStorage
from reference_impl.core.filter import (
    Bindings,
    FilterError,
    Scope,
    bind,
    compile_filter,
    parse_sort,
)
from reference_impl.core.indexes import buildable
from reference_impl.core.jsonin import has_nul
from reference_impl.core.row_security import RULE_OF, Mode
from reference_impl.core.store import NUL_ERROR, CollectionStore
from reference_impl.db import errors as dberr
from reference_impl.db.engine import SYSTEM, Action, Session, Tx, run_in_transaction
from reference_impl.db.render import (
    count_sql,
    delete_sql,
    exists_ids_sql,
    insert_sql,
    select_sql,
    update_sql,
)
from reference_impl.ir import (
    BASE,
    ArrayContains,
    Cmp,
    Compiled,
    Kind,
    Node,
    Ref,
    SortTerm,
    Val,
    format_pb_datetime,
)

T = TypeVar("T")
_ID_ALPHABET = string.ascii_lowercase + string.digits

_MODIFIER = re.compile(r"^(\+)?(\w+)([+-])?$")


def new_record_id() -> str:
    return random_string(_ID_ALPHABET, 15)


def uuid7() -> str:
    """RFC 9562 UUIDv7: 48-bit ms timestamp, then random bits (time-ordered ids)."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    rand = secrets.randbits(74)
    value = (
        (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


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


@dataclass(frozen=True)
class RequestValues:
    """The request as ``@request.method/query/headers`` see it."""

    method: str = "GET"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ListQuery:
    page: int = 1
    per_page: int = 30
    sort: str = ""
    filter: str = ""
    skip_total: bool = False
    expand: str = ""
    request: RequestValues = field(default_factory=RequestValues)


class RecordService:
    def __init__(
        self,
        store: CollectionStore,
        *,
        id_mode: str = "pocketbase",
        clock: Callable[[], datetime] | None = None,
        storage: FileStorage | None = None,
        rules: Mode = "app",
    ):
        self.store = store
        # ``--rules rls``: the database alone enforces the rules its policies express.
        self.rules = rules
        self.storage = storage or FileStorage()
        self.engine = store.engine
        self.dialect = store.engine.dialect
        self.id_mode = id_mode
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- rules and scopes ----------------------------------------------------------------
    def _scope(self, coll: Collection, auth: AuthContext | None, *, rules: bool) -> Scope:
        """Rules and superusers see hidden fields and skip the client relation guard."""
        is_super = auth is not None and auth.is_superuser
        return Scope(
            fields={f.name: f for f in coll.fields},
            allow_hidden=rules or is_super,
            collection=coll,
            find=self.store.find,
            auth_collection=self.store.find(auth.collection_id) if auth else None,
            row_security=self.engine.row_security_role is not None,
        )

    def _request_bindings(
        self, auth: AuthContext | None, request: RequestValues | None = None
    ) -> Bindings:
        request = request or RequestValues()
        return Bindings(
            auth=auth.rule_values() if auth else None,
            method=request.method,
            query=request.query,
            headers=request.headers,
            now=self.clock(),
        )

    def session(
        self,
        auth: AuthContext | None,
        action: Action,
        record: str = "",
        *,
        context: str = "default",
        method: str = "GET",
    ) -> Session:
        """Whom the statements of a request run for (row level security reads it)."""
        if auth is None:
            return Session("guest", action, record, {}, context, method)
        if auth.is_superuser:
            return Session("superuser", action, record, auth.rule_values(), context, method)
        return Session("user", action, record, auth.rule_values(), context, method)

    def _rule_nodes(
        self, coll: Collection, rule: str, auth: AuthContext | None
    ) -> list[Node | Compiled]:
        """The rule as WHERE conditions; raises 403 for a superuser-only (null) rule. Under
        ``--rules rls`` none where the collection's policy enforces it (``row_security``)."""
        if auth is not None and auth.is_superuser:
            return []
        text = coll.rule(rule)
        if text is None:
            raise e.forbidden(e.MSG_SUPERUSER_ONLY)
        if not text.strip():
            return []
        if self.rules == "rls" and self._policy_enforces(coll, rule):
            return []
        try:
            compiled = compile_filter(text, self._scope(coll, auth, rules=True))
            return [bind(compiled, self._request_bindings(auth))]
        except FilterError as exc:  # stored rules were validated; a broken one denies
            raise e.forbidden(e.MSG_SUPERUSER_ONLY) from exc

    def _policy_enforces(self, coll: Collection, rule: str) -> bool:
        policies = self.store.policies.get(coll.id)
        action = next(a for a, name in RULE_OF.items() if name == rule)
        return policies is not None and policies.enforced_by_policy(action)

    def _columns(self, coll: Collection) -> list[Field]:
        return list(coll.fields)

    # -- reading -------------------------------------------------------------------------
    def _fetch(
        self,
        tx: Tx,
        coll: Collection,
        where: Sequence[Node | Compiled],
        sort: Sequence[SortTerm] = (),
        limit: int | None = None,
        offset: int = 0,
        lock: bool = False,
    ) -> list[dict[str, Any]]:
        fields = self._columns(coll)
        sql, params = select_sql(
            self.dialect,
            coll.name,
            [f.name for f in fields],
            where,
            sort,
            limit=limit,
            offset=offset,
            lock=lock,
        )
        return [self._decode(fields, row) for row in tx.fetchall(sql, params)]

    def _decode(self, fields: list[Field], row: Sequence[Any] | None) -> dict[str, Any]:
        assert row is not None, "INSERT/UPDATE ... RETURNING returned no row"
        return {
            f.name: self.dialect.from_db(f.kind, raw) for f, raw in zip(fields, row, strict=True)
        }

    def _by_id(
        self,
        tx: Tx,
        coll: Collection,
        record_id: str,
        extra: Sequence[Node | Compiled] = (),
        lock: bool = False,
    ) -> dict[str, Any] | None:
        if "\x00" in record_id and not self.dialect.TEXT_ALLOWS_NUL:
            return None  # the engine can hold no such id, so none matches (PocketBase: 404)
        where = [_equals("id", record_id), *extra]
        rows = self._fetch(tx, coll, where, limit=1, lock=lock)
        return rows[0] if rows else None

    @_schema_stable_lookup
    def find_auth_record(self, coll: Collection, record_id: str) -> dict[str, Any] | None:
        with self.engine.transaction(session=SYSTEM) as tx:
            return self._by_id(tx, coll, record_id)

    @_schema_stable_lookup
    def find_by_email(self, coll: Collection, email: str) -> dict[str, Any] | None:
        """Identity lookup; exact, as PocketBase 0.40.6 does (``U1@x`` does not log in ``u1@x``)."""
        if "\x00" in email and not self.dialect.TEXT_ALLOWS_NUL:
            return None  # as in _by_id: no stored email can hold it
        with self.engine.transaction(session=SYSTEM) as tx:
            rows = self._fetch(tx, coll, [_equals("email", email)], limit=1)
        return rows[0] if rows else None

    def list_conditions(
        self, coll: Collection, query: ListQuery, auth: AuthContext | None
    ) -> tuple[list[Node | Compiled], list[SortTerm]]:
        """What a list request selects by (the list rule, the filter, the guards its sort
        brings), bound for this request, and its sort: PocketBase's 403 and 400 answers
        for what it refuses. The SQL renderer and the in-memory evaluator read the same."""
        is_super = auth is not None and auth.is_superuser
        where = self._rule_nodes(coll, "listRule", auth)
        for text in (query.filter, query.sort):
            if not is_super and ("@collection." in text or "@request." in text):
                kind = "@collection." if "@collection." in text else "@request."
                raise e.forbidden(f"Only superusers can filter by {kind}")
        scope = self._scope(coll, auth, rules=False)
        bindings = self._request_bindings(auth, query.request)
        try:
            if query.filter:
                where.append(bind(compile_filter(query.filter, scope), bindings))
            sort = parse_sort(query.sort, scope)
            where += [bind(t.guard, bindings) for t in sort if t.guard]
        except FilterError as exc:
            raise e.bad_request() from exc
        return where, sort

    @_schema_stable
    def list_records(
        self, coll: Collection, query: ListQuery, auth: AuthContext | None
    ) -> dict[str, Any]:
        where, sort = self.list_conditions(coll, query, auth)
        due = self.store.json_indexes.observe(coll.name, where)
        page, per_page, offset = page_window(query.page, query.per_page)
        fields = self._columns(coll)
        count = not query.skip_total
        in_window = count and self.dialect.TOTAL_IN_WINDOW
        session = self.session(auth, "list", method=query.request.method)
        with self.engine.transaction(session=session) as tx:
            # One statement for the page and the total (COUNT(*) OVER ()); a page past the
            # end has no row to carry the total, so it falls back to a COUNT.
            sql, params = select_sql(
                self.dialect,
                coll.name,
                [f.name for f in fields],
                where,
                sort,
                limit=per_page,
                offset=offset,
                with_total=in_window,
            )
            rows = tx.fetchall(sql, params)
            records = [self._decode(fields, row[: len(fields)]) for row in rows]
            total = pages = -1
            if count:
                if in_window and rows:
                    total = int(rows[0][-1])
                else:
                    sql, params = count_sql(self.dialect, coll.name, where)
                    row = tx.fetchone(sql, params)
                    total = int(row[0]) if row else 0
                pages = math.ceil(total / per_page)
            items = [self.export(coll, r, auth) for r in records]
            if query.expand:
                expand_records(self, tx, coll, records, items, query.expand, auth, 1)
        if due:  # this request made a JSON path "often filtered": index it now
            self.store.json_indexes.build(due)
        return {
            "items": items,
            "page": page,
            "perPage": per_page,
            "totalItems": total,
            "totalPages": pages,
        }

    @_schema_stable
    def view(
        self, coll: Collection, record_id: str, auth: AuthContext | None, expand: str = ""
    ) -> dict[str, Any]:
        rule = self._rule_nodes(coll, "viewRule", auth)
        with self.engine.transaction(session=self.session(auth, "view", record_id)) as tx:
            record = self._by_id(tx, coll, record_id, rule)
            if record is None:
                raise e.not_found()
            out = self.export(coll, record, auth)
            if expand:
                expand_records(self, tx, coll, [record], [out], expand, auth, 1)
        return out

    # -- output --------------------------------------------------------------------------
    def export(
        self, coll: Collection, record: dict[str, Any], auth: AuthContext | None
    ) -> dict[str, Any]:
        is_super = auth is not None and auth.is_superuser
        out: dict[str, Any] = {"collectionId": coll.id, "collectionName": coll.name}
        for f in coll.fields:
            if f.name == "tokenKey" and coll.is_auth:
                continue
            if f.hidden and not is_super:
                continue
            if f.type == "password":
                if f.hidden:
                    continue
                out[f.name] = ""
                continue
            value = record.get(f.name)
            if f.kind is Kind.DATETIME_MS:
                value = format_pb_datetime(value) if value else ""
            elif f.type == "geoPoint" and isinstance(value, dict):
                value = {"lon": value.get("lon", 0), "lat": value.get("lat", 0)}  # Go struct order
            elif f.kind is Kind.JSON:
                value = _sorted_json(value)  # Go marshals maps with sorted keys
            out[f.name] = value
        if coll.is_auth and "email" in out:
            owner = auth is not None and auth.collection_id == coll.id and auth.id == record["id"]
            if not (record.get("emailVisibility") or owner or is_super):
                del out["email"]
        return dict(sorted(out.items()))

    @_schema_stable
    def create(
        self, coll: Collection, body: dict[str, Any], auth: AuthContext | None
    ) -> dict[str, Any]:
        is_super = auth is not None and auth.is_superuser
        rule_text = coll.rule("createRule")
        if rule_text is None and not is_super:
            raise e.forbidden(e.MSG_SUPERUSER_ONLY)
        record = {f.name: f.zero() for f in coll.fields}
        raw_id = body.get("id")
        errors: dict[str, Any] = {}
        record_id = (
            "" if raw_id in (None, "") else (raw_id if isinstance(raw_id, str) else str(raw_id))
        )
        if record_id:
            problem = self._validate_id(coll, record_id)
            if problem:
                errors["id"] = problem
        else:
            record_id = uuid7() if self.id_mode == "uuid7" else new_record_id()
        record["id"] = record_id
        self._apply_body(coll, record, body, errors, auth, creating=True)
        now = self.clock()
        for f in coll.fields:
            if f.type == "autodate" and f.opt("onCreate"):
                record[f.name] = now
        self._validate(coll, record, errors, creating=True)
        if errors:
            raise ValidationFailed(errors).to_api("Failed to create record.")
        uploads = self._finalize_files(coll, record)
        rule = (
            []
            if is_super or not (rule_text or "").strip()
            else self._rule_nodes(coll, "createRule", auth)
        )

        session = self.session(auth, "create", record_id, method="POST")

        def work(tx: Tx) -> dict[str, Any]:
            self._check_relations(tx, coll, record, session)
            values = [(f.name, f.kind, record[f.name]) for f in coll.fields]
            fields = self._columns(coll)
            sql, params = insert_sql(
                self.dialect, coll.name, values, returning=[f.name for f in fields]
            )
            try:
                row = tx.fetchone(sql, params)
            except dberr.UniqueViolation as exc:
                raise self._unique_error(coll, exc, "Failed to create record.") from exc
            except dberr.PolicyViolation as exc:  # the create rule's WITH CHECK
                raise e.bad_request("Failed to create record.") from exc
            if rule:  # the app's check sees every row its joins read, as PocketBase's
                tx.set_session(SYSTEM)
                if self._by_id(tx, coll, record_id, rule) is None:
                    raise e.bad_request("Failed to create record.")
            stored = self._decode(fields, row)
            assert stored is not None
            return stored

        # Files are written before the row (PocketBase uploads, then inserts) and removed
        # again when the row is not committed.
        self.storage.save(coll.id, record_id, uploads)
        try:
            stored = run_in_transaction(self.engine, work, write=True, session=session)
        except BaseException:
            self.storage.discard(coll.id, record_id, uploads)
            raise
        return self.export(coll, stored, auth)

    @_schema_stable
    def update(
        self, coll: Collection, record_id: str, body: dict[str, Any], auth: AuthContext | None
    ) -> dict[str, Any]:
        rule = self._rule_nodes(coll, "updateRule", auth)
        session = self.session(auth, "update", record_id, method="PATCH")
        written: list[files.Upload] = []  # uploads saved by the (last) attempt of work()

        def work(tx: Tx) -> tuple[dict[str, Any], list[str]]:
            # Locked: modifiers (n+, tags+) are read-modify-write and must not lose updates.
            record = self._by_id(tx, coll, record_id, rule, lock=True)
            if record is None:
                raise e.not_found()
            old_files = {f.name: record[f.name] for f in coll.fields if f.type == "file"}
            errors: dict[str, Any] = {}
            if "id" in body and body["id"] != record_id:
                errors["id"] = field_error(
                    "validation_pk_change", "The record primary key cannot be changed."
                )
            self._apply_body(coll, record, body, errors, auth, creating=False)
            now = self.clock()
            for f in coll.fields:
                if f.type == "autodate" and f.opt("onUpdate"):
                    record[f.name] = now
            self._validate(coll, record, errors, creating=False, old=old_files)
            if errors:
                raise ValidationFailed(errors).to_api("Failed to update record.")
            self._check_relations(tx, coll, record, session)
            uploads = self._finalize_files(coll, record)
            self.storage.save(coll.id, record_id, uploads)
            written[:] = uploads
            values = [(f.name, f.kind, record[f.name]) for f in coll.fields if f.name != "id"]
            fields = self._columns(coll)
            sql, params = update_sql(
                self.dialect, coll.name, record_id, values, returning=[f.name for f in fields]
            )
            try:
                row = tx.fetchone(sql, params)
            except dberr.UniqueViolation as exc:
                raise self._unique_error(coll, exc, "Failed to update record.") from exc
            stored = self._decode(fields, row)
            assert stored is not None
            new_files = [stored[name] for name in old_files]
            return stored, files.dropped_names(old_files.values(), new_files)

        try:
            stored, dropped = run_in_transaction(self.engine, work, write=True, session=session)
        except BaseException:
            self.storage.discard(coll.id, record_id, written)
            raise
        self.storage.delete(coll.id, record_id, dropped)  # replaced/removed: after commit
        return self.export(coll, stored, auth)

    @_schema_stable
    def delete(self, coll: Collection, record_id: str, auth: AuthContext | None) -> None:
        rule = self._rule_nodes(coll, "deleteRule", auth)

        session = self.session(auth, "delete", record_id, method="DELETE")

        def work(tx: Tx) -> list[tuple[str, str]]:
            # Not locked FOR UPDATE: under row level security that applies the update rule.
            if self._by_id(tx, coll, record_id, rule) is None:
                raise e.not_found()
            if coll.name == SUPERUSERS:
                # All superusers locked: two concurrent deletes cannot both see "another one left".
                tx.set_session(SYSTEM)
                if len(self._fetch(tx, coll, [], lock=True)) <= 1:
                    raise e.bad_request("You can't delete the only existing superuser.")
                tx.set_session(session)
            sql, params = delete_sql(self.dialect, coll.name, record_id)
            if not tx.execute(sql, params):  # the delete rule's policy refused the row
                raise e.not_found()
            deleted = [(coll.id, record_id)]
            tx.set_session(SYSTEM)  # relations of other records: the app's own work
            self._detach_references(tx, coll, record_id, deleted)
            return deleted

        # The files of the record (and of cascade-deleted ones) go once the rows are gone.
        for collection_id, deleted_id in run_in_transaction(
            self.engine, work, write=True, session=session
        ):
            self.storage.delete_record(collection_id, deleted_id)

    # -- helpers -------------------------------------------------------------------------
    def _validate_id(self, coll: Collection, record_id: str) -> dict[str, Any] | None:
        """Against the collection's own ``id`` field (its pattern is the v7 one in uuid7 mode)."""
        id_field = coll.get_field("id")
        assert id_field is not None
        return id_field.validate(record_id) if record_id else None

    def _apply_body(
        self,
        coll: Collection,
        record: dict[str, Any],
        body: dict[str, Any],
        errors: dict[str, Any],
        auth: AuthContext | None,
        *,
        creating: bool,
    ) -> None:
        is_super = auth is not None and auth.is_superuser
        if isinstance(body, files.FormBody):
            merged = dict(body)
            for file_field in coll.fields:
                if file_field.type == "file":
                    files.merge_uploads(file_field, merged, body.uploads)
            body = merged
        plain: list[tuple[Field, Any]] = []
        modifiers: list[tuple[Field, str, Any]] = []
        for key, raw in body.items():
            match = _MODIFIER.match(key)
            if not match:
                continue
            prepend, name, suffix = match.groups()
            f = coll.get_field(name)
            if f is None or f.name == "id" or f.type == "autodate":
                continue
            if f.hidden and not is_super and f.type != "password":
                continue
            if f.name in ("tokenKey",):
                continue
            if f.name == "verified" and coll.is_auth and not is_super:
                continue
            if prepend or suffix:
                modifiers.append((f, "prepend" if prepend else suffix or "", raw))
            else:
                plain.append((f, raw))
        for f, raw in plain:
            if f.type == "password":
                record[f.name] = ("__plain__", raw if isinstance(raw, str) else "")
            elif f.type == "file":
                record[f.name] = files.normalize(f, raw)
            else:
                record[f.name] = f.cast(raw)
        for f, mod, raw in modifiers:
            if f.type == "file":
                record[f.name] = files.apply_modifier(f, record[f.name], mod, raw)
            else:
                record[f.name] = _apply_modifier(f, record[f.name], mod, raw)
        if coll.is_auth:
            self._apply_auth_fields(coll, record, body, errors, auth, creating=creating)
        for f in coll.fields:  # other password fields: validated, then only the hash is kept
            value = record.get(f.name)
            if f.type == "password" and isinstance(value, tuple):
                record[f.name] = self._hash_field(f, value[1], errors, auth, creating=creating)

    @staticmethod
    def _hash_field(
        f: Field,
        plain: str,
        errors: dict[str, Any],
        auth: AuthContext | None,
        *,
        creating: bool,
    ) -> str:
        """A password field's bcrypt hash (at the field's ``cost``), or "" with the error
        recorded. PocketBase reports bcrypt's own 72-byte error as a plain error, shown
        only to superusers: everyone else gets the bare message (data {})."""
        problem = f.validate(plain) if plain else None
        if problem is BCRYPT_LIMIT and not (auth is not None and auth.is_superuser):
            raise e.bad_request(
                "Failed to create record." if creating else "Failed to update record."
            )
        if problem:
            errors[f.name] = problem
            return ""
        return hash_password(plain, int(f.opt("cost") or 0)) if plain else ""

    def _apply_auth_fields(
        self,
        coll: Collection,
        record: dict[str, Any],
        body: dict[str, Any],
        errors: dict[str, Any],
        auth: AuthContext | None,
        *,
        creating: bool,
    ) -> None:
        password = record.get("password")
        if isinstance(password, tuple):
            plain = password[1]
            confirm = body.get("passwordConfirm")
            f = coll.get_field("password")
            assert f is not None
            if not plain and creating:
                errors["password"] = e.REQUIRED
            record["password"] = self._hash_field(f, plain, errors, auth, creating=creating)
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

    def _validate(
        self,
        coll: Collection,
        record: dict[str, Any],
        errors: dict[str, Any],
        *,
        creating: bool,
        old: dict[str, Any] | None = None,
    ) -> None:
        """``old``: the stored values of the file fields (only those may be sent as names)."""
        for f in coll.fields:
            if f.name in errors or f.name == "id":
                continue
            if f.type == "password":  # validated as plain text in _hash_field
                if f.opt("required") and not record[f.name]:
                    errors[f.name] = e.REQUIRED
                continue
            if f.type == "file":
                problem = files.validate(f, record[f.name], (old or {}).get(f.name, f.zero()))
            else:
                problem = f.validate(record[f.name])
            if problem is None and not self.dialect.TEXT_ALLOWS_NUL and has_nul(record[f.name]):
                problem = NUL_ERROR
            if problem:
                errors[f.name] = problem

    @staticmethod
    def _finalize_files(coll: Collection, record: dict[str, Any]) -> list[files.Upload]:
        """Replace uploads by their generated names in ``record``; return the uploads."""
        uploads: list[files.Upload] = []
        for f in coll.fields:
            if f.type == "file":
                record[f.name], new = files.finalize(f, record[f.name])
                uploads += new
        return uploads

    def _check_relations(
        self, tx: Tx, coll: Collection, record: dict[str, Any], session: Session
    ) -> None:
        """Every related id exists, whatever the caller may see (PocketBase checks them
        without rules): run as the app's own statements, then back to the caller's."""
        errors: dict[str, Any] = {}
        switched = False
        for f in coll.fields:
            if f.type != "relation":
                continue
            value = record[f.name]
            ids = value if isinstance(value, list) else [value] if value else []
            if not ids:
                continue
            target = self.store.find(str(f.opt("collectionId")))
            found: set[str] = set()
            if target is not None:
                if not switched:
                    tx.set_session(SYSTEM)
                    switched = True
                sql, params = exists_ids_sql(self.dialect, target.name, ids)
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

    def _detach_references(
        self,
        tx: Tx,
        coll: Collection,
        record_id: str,
        deleted: list[tuple[str, str]] | None = None,
    ) -> None:
        """Drop the deleted id from relation fields pointing at it (cascade when asked);
        cascade-deleted rows are added to ``deleted`` as (collection id, record id)."""
        for other in self.store.all():
            for f in other.fields:
                if f.type != "relation" or f.opt("collectionId") != coll.id:
                    continue
                holds: Node = (
                    ArrayContains(Ref(BASE, f.name, f.kind), record_id)
                    if f.multiple
                    else _equals(f.name, record_id)
                )
                rows = self._fetch(tx, other, [holds], lock=True)
                for row in rows:
                    if row["id"] == record_id and other.id == coll.id:
                        continue
                    if f.opt("cascadeDelete"):
                        self._detach_references(tx, other, row["id"], deleted)
                        sql, params = delete_sql(self.dialect, other.name, row["id"])
                        if deleted is not None:
                            deleted.append((other.id, row["id"]))
                    else:
                        new = [i for i in row[f.name] if i != record_id] if f.multiple else ""
                        sql, params = update_sql(
                            self.dialect, other.name, row["id"], [(f.name, f.kind, new)]
                        )
                    tx.execute(sql, params)

    def _unique_error(self, coll: Collection, exc: dberr.UniqueViolation, message: str) -> ApiError:
        """PocketBase's ``NormalizeUniqueIndexError``: every column of the violated index
        gets "Value must be unique."; the primary key when no index is named."""
        names = [c for c in exc.columns if coll.get_field(c) is not None]
        if not names and exc.constraint:
            for text in coll.indexes:
                built = buildable(text)
                if self.dialect.index_name(built.name) == exc.constraint:
                    names = [column for column, _, _ in built.columns]
        return e.bad_request(message, {name: e.NOT_UNIQUE for name in sorted(names or ["id"])})


_INT64 = 2**63


def page_window(page: int, per_page: int) -> tuple[int, int, int]:
    """PocketBase's paging: page <= 0 is 1, perPage <= 0 is 30 and at most 1000.

    The offset is Go's ``perPage * (page - 1)`` in int64, overflow included, and dbx adds
    no OFFSET for one <= 0 (verified on 0.40.6): ``page=10^18`` with 30 per page wraps
    negative and serves the first page; with 2 per page it stays positive and serves none.
    """
    page = page if page > 0 else 1
    per_page = min(per_page if per_page > 0 else 30, 1000)
    wrapped = (per_page * (page - 1) + _INT64) % (2 * _INT64) - _INT64
    return page, per_page, max(wrapped, 0)


def _equals(column: str, value: str) -> Node:
    """``column = value`` on a text column of the statement's own table."""
    return Cmp("=", Ref(BASE, column, Kind.TEXT), Val(value, Kind.TEXT))


def _sorted_json(value: Any) -> Any:
    """Go's view of a JSON value: sorted object keys, numbers beyond int64 as float64.

    Integers inside int64 stay exact (SPEC 1.1; PocketBase rounds them to float64, a
    registered improvement). Beyond int64 both engines agree on float64: SQLite keeps
    ``1e21`` as REAL, PostgreSQL's jsonb normalises it to the integer 10^21.
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return float(value)
    if isinstance(value, dict):
        return {k: _sorted_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(v) for v in value]
    return value


def _apply_modifier(f: Field, current: Any, mod: str, raw: Any) -> Any:
    """``f+`` / ``f-`` add and subtract (numbers) or append and remove; ``+f`` prepends."""
    if f.type == "number":
        if mod == "prepend":
            return current
        delta = f.cast(raw)
        return f.cast(current + delta if mod == "+" else current - delta)
    if f.type in {"select", "relation", "file"}:
        items = current if isinstance(current, list) else [current] if current else []
        given = f.cast(raw) if f.multiple else [v for v in ([f.cast(raw)] if f.cast(raw) else [])]
        given = given if isinstance(given, list) else [given]
        if mod == "-":
            items = [i for i in items if i not in given]
        elif mod == "prepend":
            items = given + [i for i in items if i not in given]
        else:
            items = items + [i for i in given if i not in items]
        if f.multiple:
            return list(dict.fromkeys(items))
        return items[-1] if items else ""
    return current
