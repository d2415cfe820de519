"""Collections: the ``_collections`` system table, the in-memory schema, table sync.

Each collection is a real table on each engine; the dialect writes the DDL. Schema changes
diff old and new fields by field id (a kept id with a new name is a rename, as PocketBase
does) and run in the same transaction as the ``_collections`` row, so a failed change
leaves nothing half-applied (both engines have transactional DDL).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from reference_impl.bridge import SharedLock
from reference_impl.core import collection as coll_mod
from reference_impl.core.auto_index import JsonIndexAdvisor
from reference_impl.core.collection import (
    SUPERUSERS,
    USERS_ID,
    Collection,
    default_auth_indexes,
    new_auth_options,
)
from reference_impl.core.errors import ValidationFailed, field_error, not_found
from reference_impl.core.events import (
    COLLECTION_CREATE,
    COLLECTION_DELETE,
    COLLECTION_UPDATE,
    Event,
    EventBus,
)
from reference_impl.core.fields import Field
from reference_impl.core.filter import CompileCache, FilterError, Scope, compile_filter, parse_sort
from reference_impl.core.indexes import (
    Buildable,
    buildable,
    check_indexes,
    removed_system_unique_index,
    retarget,
)
from reference_impl.core.jsonin import has_nul
from reference_impl.core.row_security import CollectionPolicies, compile_policies
from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import Engine, Tx, run_in_transaction
from reference_impl.db.index_text import parse_index
from reference_impl.db.policies import apply_policies, drop_policies
from reference_impl.db.render import (
    count_sql,
    delete_all_sql,
    delete_sql,
    insert_sql,
    select_sql,
    update_sql,
)
from reference_impl.ir import BASE, Cmp, Ref, Val
from reference_impl.ir.kinds import Kind

log = logging.getLogger("parity.store")

SYSTEM_TABLE = "_collections"
# Columns of the system table besides ``id``: what the collections list can filter and sort
# on, plus the full definition as JSON.
SYSTEM_COLUMNS = [
    ("name", Kind.TEXT),
    ("type", Kind.TEXT),
    ("system", Kind.BOOL),
    ("created", Kind.DATETIME_MS),
    ("updated", Kind.DATETIME_MS),
    ("data", Kind.JSON),
]
SYSTEM_FIELDS = {
    name: Field(
        {Kind.TEXT: "text", Kind.BOOL: "bool", Kind.DATETIME_MS: "date", Kind.JSON: "json"}[kind],
        name,
    )
    for name, kind in [("id", Kind.TEXT), *SYSTEM_COLUMNS]
}


def _row(coll: Collection) -> list[tuple[str, Kind, Any]]:
    return [
        ("name", Kind.TEXT, coll.name),
        ("type", Kind.TEXT, coll.type),
        ("system", Kind.BOOL, coll.system),
        ("created", Kind.DATETIME_MS, coll.created),
        ("updated", Kind.DATETIME_MS, coll.updated),
        ("data", Kind.JSON, coll.to_storage()),
    ]


NUL_ERROR = field_error(
    "validation_nul_character",
    "The value holds a NUL character (U+0000), which PostgreSQL cannot store.",
)


def _limit_error(message: str) -> dict[str, Any]:
    return field_error("validation_engine_limit", message)


class ReservedName(Exception):
    """A collection name the engine reserves; ``str()`` is the raw error PocketBase shows."""


class CollectionStore:
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] | None = None,
        id_mode: str = "pocketbase",
        events: EventBus | None = None,
    ):
        self.id_mode = id_mode
        self.engine = engine
        self.events = events or EventBus(engine)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.json_indexes = JsonIndexAdvisor(engine)
        self._by_name: dict[str, Collection] = {}
        self._by_id: dict[str, Collection] = {}
        self._lock = threading.Lock()
        # Filters, sorts and rules compiled against these definitions: cleared with every
        # change of _by_id/_by_name (always under _lock).
        self.compiled = CompileCache()
        # Record work holds the shared side, schema changes the exclusive side (records.py).
        self.schema_lock = SharedLock()
        # Row level security (``--rules rls|both``): each collection's compiled policies.
        self.policies: dict[str, CollectionPolicies] = {}

    # -- bootstrap -----------------------------------------------------------------------
    def bootstrap(self) -> bool:
        """Create the system table and PocketBase's default collections when missing (the
        system ones also in an older data dir); True on a fresh database.

        A system collection found under another name (renamed by a build that did not
        protect them) is renamed back, with a warning: PocketBase never allows the rename,
        and the server cannot run without ``_superusers``.
        """
        dialect = self.engine.dialect

        def work(tx: Tx) -> tuple[bool, dict[str, CollectionPolicies]]:
            tables = {row[0] for row in tx.fetchall(dialect.list_tables_sql())}
            fresh = SYSTEM_TABLE not in tables
            if fresh:
                for statement in dialect.create_table(SYSTEM_TABLE, SYSTEM_COLUMNS):
                    tx.execute(statement)
            stored = {coll.id: coll for coll in self._stored(tx)}
            now = self.clock()
            wanted = system_collections(now, self.id_mode)
            if fresh:
                wanted.append(_users_collection(now, self.id_mode))
            for coll in wanted:
                found = stored.get(coll.id)
                if found is None:
                    self._create_in_tx(tx, coll)
                elif found.system and found.name != coll.name:
                    log.warning(
                        "system collection %s was renamed to %r; renaming it back",
                        coll.name,
                        found.name,
                    )
                    repaired = copy.deepcopy(found)
                    repaired.name = coll.name
                    repaired.indexes = retarget(repaired.indexes, coll.name)
                    self._sync_table(tx, found, repaired)
                    sql, params = update_sql(dialect, SYSTEM_TABLE, coll.id, _row(repaired))
                    tx.execute(sql, params)
            return fresh, self._refresh_policies(tx, self._stored(tx), None)

        created, self.policies = run_in_transaction(self.engine, work, write=True)
        self.reload()
        self._policies_changed()
        return created

    def _policies_changed(self) -> None:
        """Tell the engine which auth fields the policies now read (sent per session)."""
        used: set[str] = set()
        for compiled in self.policies.values():
            used |= compiled.auth_fields
        self.engine.use_session_fields(used)

    def reload(self) -> None:
        with self.engine.transaction() as tx:
            collections = self._stored(tx)
        with self._lock:
            self._by_name = {c.name.lower(): c for c in collections}
            self._by_id = {c.id: c for c in collections}
            self.compiled.clear()

    # -- another process changed the schema (core/coherence.py) ---------------------------
    def reload_all(self) -> None:
        """Every definition re-read and every policy recompiled (after a gap in the event
        grid: changes may have been missed)."""
        with self.schema_lock.exclusive():
            self.reload()
            self.json_indexes.forget()
            self.policies = self._compile_policies(self.all(), None)
            self._policies_changed()

    def refresh(self, collection_id: str) -> None:
        """Re-read one collection another process created, changed or deleted, and
        recompile the policies that depend on it (they are already in the database: the
        other process applied them in its transaction)."""
        with self.schema_lock.exclusive():
            with self.engine.transaction() as tx:
                sql, params = select_sql(
                    self.engine.dialect,
                    SYSTEM_TABLE,
                    ["data"],
                    [Cmp("=", Ref(BASE, "id", Kind.TEXT), Val(collection_id, Kind.TEXT))],
                    [],
                )
                row = tx.fetchone(sql, params)
            fresh = (
                None
                if row is None
                else Collection.from_storage(self.engine.dialect.from_db(Kind.JSON, row[0]))
            )
            with self._lock:
                old = self._by_id.pop(collection_id, None)
                if old is not None:
                    self._by_name.pop(old.name.lower(), None)
                if fresh is not None:
                    self._by_id[fresh.id] = fresh
                    self._by_name[fresh.name.lower()] = fresh
                self.compiled.clear()
            for table in {c.name for c in (old, fresh) if c is not None}:
                self.json_indexes.forget(table)
            if fresh is None:
                self.policies.pop(collection_id, None)
            self.policies.update(self._compile_policies(self.all(), fresh or old))
            self._policies_changed()

    def _publish(self, tx: Tx, kind: str, coll: Collection) -> None:
        self.events.publish(tx, Event(kind, coll.id, coll.id, name=coll.name))

    def _stored(self, tx: Tx) -> list[Collection]:
        """Every collection definition in the system table, in creation order."""
        dialect = self.engine.dialect
        rows = tx.fetchall(*select_sql(dialect, SYSTEM_TABLE, ["data"], [], []))
        return [Collection.from_storage(dialect.from_db(Kind.JSON, row[0])) for row in rows]

    # -- lookup --------------------------------------------------------------------------
    def find(self, id_or_name: str) -> Collection | None:
        with self._lock:
            return self._by_id.get(id_or_name) or self._by_name.get(id_or_name.lower())

    def all(self) -> list[Collection]:
        with self._lock:
            return list(self._by_id.values())

    # -- changes -------------------------------------------------------------------------
    def create(self, payload: Any) -> Collection:
        with self.schema_lock.exclusive():
            return self._create(payload)

    def _create(self, payload: Any) -> Collection:
        coll = coll_mod.from_input(
            payload,
            existing=None,
            validate_rule=self._validate_rule,
            validate_indexes=lambda c: self._check_indexes(c, None),
            now=self.clock(),
            id_mode=self.id_mode,
        )
        self._check_name_free(coll, creating=True)
        self._check_relations(coll)
        self._check_storable(coll)

        def work(tx: Tx) -> dict[str, CollectionPolicies]:
            self._create_in_tx(tx, coll)
            self._publish(tx, COLLECTION_CREATE, coll)
            return self._refresh_policies(tx, [*self.all(), coll], coll)

        policies = run_in_transaction(self.engine, work, write=True)
        self._remember(coll)
        self.policies.update(policies)
        self._policies_changed()
        return coll

    def update(self, existing: Collection, payload: Any) -> Collection:
        with self.schema_lock.exclusive():
            current = self.find(existing.id)
            if current is None:
                raise not_found()
            return self._update(current, payload)

    def _update(self, existing: Collection, payload: Any) -> Collection:
        coll = coll_mod.from_input(
            payload,
            existing=existing,
            validate_rule=self._validate_rule,
            validate_indexes=lambda c: self._check_indexes(c, existing),
            now=self.clock(),
            id_mode=self.id_mode,
        )
        self._check_name_free(coll, creating=False)
        self._check_relations(coll)
        self._check_storable(coll)

        def work(tx: Tx) -> dict[str, CollectionPolicies]:
            self._sync_table(tx, existing, coll)
            sql, params = update_sql(self.engine.dialect, SYSTEM_TABLE, coll.id, _row(coll))
            tx.execute(sql, params)
            self._publish(tx, COLLECTION_UPDATE, coll)
            after = [coll if c.id == coll.id else c for c in self.all()]
            return self._refresh_policies(tx, after, coll)

        policies = run_in_transaction(self.engine, work, write=True)
        with self._lock:
            self._by_name.pop(existing.name.lower(), None)
            self.compiled.clear()
        self._remember(coll)
        self.policies.update(policies)
        self._policies_changed()
        return coll

    def query(
        self, filter_text: str, sort_text: str, *, limit: int, offset: int, count: bool
    ) -> tuple[list[Collection], int]:
        """The collections list: filter and sort on the system table's columns (through the
        same compiler as records), then map the ids back to the schema in memory."""
        dialect = self.engine.dialect
        scope = Scope(fields=SYSTEM_FIELDS, allow_hidden=True)
        where = [compile_filter(filter_text, scope)] if filter_text else []
        sort = parse_sort(sort_text, scope)
        with self.engine.transaction() as tx:
            sql, params = select_sql(
                dialect, SYSTEM_TABLE, ["id"], where, sort, limit=limit, offset=offset
            )
            ids = [row[0] for row in tx.fetchall(sql, params)]
            total = -1
            if count:
                sql, params = count_sql(dialect, SYSTEM_TABLE, where)
                row = tx.fetchone(sql, params)
                total = int(row[0]) if row else 0
        with self._lock:
            found = [self._by_id[i] for i in ids if i in self._by_id]
        return found, total

    def referenced_by(self, coll: Collection) -> list[str]:
        """Names of other collections with a relation field pointing at ``coll``."""
        return [
            other.name
            for other in self.all()
            if other.id != coll.id
            and any(f.is_relation and f.opt("collectionId") == coll.id for f in other.fields)
        ]

    def truncate(self, coll: Collection) -> None:
        dialect = self.engine.dialect

        def work(tx: Tx) -> None:
            tx.execute(*delete_all_sql(dialect, coll.name))
            self._publish(tx, COLLECTION_UPDATE, coll)  # every record gone

        with self.schema_lock.exclusive():
            if self.find(coll.id) is None:
                raise not_found()
            run_in_transaction(self.engine, work, write=True)

    def delete(self, coll: Collection) -> None:
        with self.schema_lock.exclusive():
            current = self.find(coll.id)
            if current is None:
                raise not_found()
            self._delete(current)

    def _delete(self, coll: Collection) -> None:
        dialect = self.engine.dialect

        def work(tx: Tx) -> dict[str, CollectionPolicies]:
            self.json_indexes.drop_for(tx, coll.name)
            if self.engine.row_security_role is not None:
                drop_policies(tx, dialect, coll.name)
            for statement in dialect.drop_table(coll.name):
                tx.execute(statement)
            sql, params = delete_sql(dialect, SYSTEM_TABLE, coll.id)
            tx.execute(sql, params)
            self._publish(tx, COLLECTION_DELETE, coll)
            return self._refresh_policies(tx, [c for c in self.all() if c.id != coll.id], coll)

        policies = run_in_transaction(self.engine, work, write=True)
        with self._lock:
            self._by_name.pop(coll.name.lower(), None)
            self._by_id.pop(coll.id, None)
            self.compiled.clear()
        self.policies.pop(coll.id, None)
        self.policies.update(policies)
        self._policies_changed()

    # -- internals -----------------------------------------------------------------------
    def _remember(self, coll: Collection) -> None:
        with self._lock:
            self._by_name[coll.name.lower()] = coll
            self._by_id[coll.id] = coll
            self.compiled.clear()

    def _check_indexes(self, coll: Collection, original: Collection | None) -> Any:
        """PocketBase's index checks against the other collections' index and table names."""
        others = [c for c in self.all() if original is None or c.id != original.id]
        owners = {
            parse_index(text).name.lower(): other.name for other in others for text in other.indexes
        }
        tables = {other.name.lower(): other.name for other in others}
        tables[SYSTEM_TABLE] = SYSTEM_TABLE
        if original is not None:
            system = {f.name for f in original.fields if f.opt("system")}
            removed = removed_system_unique_index(coll.indexes, original.indexes, system)
            if removed:
                return removed
        return check_indexes(
            coll.indexes,
            table=coll.name,
            original_table=original.name if original else coll.name,
            fields={f.name: f for f in coll.fields},
            owner_of=lambda name: owners.get(name.lower()),
            table_named=lambda name: tables.get(name.lower()),
        )

    def _check_storable(self, coll: Collection) -> None:
        """What the engine cannot hold although PocketBase's checks let it through (run
        after them, so both engines agree wherever those refuse it): U+0000 in the stored
        definition (JSONB; ``Dialect.TEXT_ALLOWS_NUL``), names and index widths beyond the
        engine's limits (``Dialect.identifier_problem``, ``MAX_INDEX_COLUMNS``)."""
        dialect = self.engine.dialect
        errors: dict[str, Any] = {}
        if not dialect.TEXT_ALLOWS_NUL:
            definition = coll.to_json()
            errors.update({key: NUL_ERROR for key, value in definition.items() if has_nul(value)})
        if problem := dialect.identifier_problem(coll.name, column=False):
            errors["name"] = _limit_error(problem)
        fields = {
            str(index): {"name": _limit_error(problem)}
            for index, f in enumerate(coll.fields)
            if (problem := dialect.identifier_problem(f.name, column=True))
        }
        if fields:
            errors["fields"] = fields
        wide = {
            str(index): _limit_error(
                f"An index of this engine takes at most {dialect.MAX_INDEX_COLUMNS} columns."
            )
            for index, text in enumerate(coll.indexes)
            if len(buildable(text).columns) > dialect.MAX_INDEX_COLUMNS
        }
        if wide:
            errors["indexes"] = wide
        if errors:
            raise ValidationFailed(errors)

    def _check_name_free(self, coll: Collection, *, creating: bool) -> None:
        other = self.find(coll.name)
        taken = other is not None and (creating or other.id != coll.id)
        if taken or coll.name.lower() == SYSTEM_TABLE:
            raise ValidationFailed(
                {
                    "name": field_error(
                        "validation_collection_name_exists",
                        "Collection name must be unique (case insensitive).",
                    )
                }
            )
        with self._lock:
            id_owner = self._by_id.get(coll.name)
        if id_owner is not None and id_owner.id != coll.id:
            raise ValidationFailed(
                {
                    "name": field_error(
                        "validation_collection_name_id_duplicate",
                        "The name must not match an existing collection id.",
                    )
                }
            )
        if coll.name.lower().startswith("sqlite_"):
            # SQLite reserves the prefix; PocketBase answers with SQLite's own error (data
            # {}), and the reference refuses it the same way on both engines.
            raise ReservedName(
                f"SQL logic error: object name reserved for internal use: {coll.name} (1)."
            )
        if creating and self.find(coll.id) is not None:
            raise ValidationFailed(
                {"id": field_error("validation_not_unique", "Value must be unique.")}
            )

    def _check_relations(self, coll: Collection) -> None:
        errors: dict[str, Any] = {}
        for index, f in enumerate(coll.fields):
            if f.is_relation:
                target = f.opt("collectionId")
                if not target or (self.find(target) is None and target != coll.id):
                    errors[str(index)] = {
                        "collectionId": field_error(
                            "validation_field_relation_missing_collection",
                            "The relation collection doesn't exist.",
                        )
                    }
        if errors:
            raise ValidationFailed({"fields": errors})

    def _validate_rule(self, coll: Collection, text: str) -> str | None:
        """A rule as PocketBase's ``checkRule`` compiles it: relations, back-relations and
        ``@collection`` resolve against the other collections and the one being saved."""

        def find(key: str) -> Collection | None:
            if key == coll.id or key.lower() == coll.name.lower():
                return coll
            return self.find(key)

        return validate_rule(coll, text, find)

    def _refresh_policies(
        self, tx: Tx, after: list[Collection], changed: Collection | None
    ) -> dict[str, CollectionPolicies]:
        """Regenerate the row level security policies, in the schema change's transaction:
        of ``changed`` and of every collection whose rules read other collections (their
        functions name other tables and columns); of all collections when ``changed`` is
        None (bootstrap). Nothing without row level security."""
        role = self.engine.row_security_role
        refreshed = self._compile_policies(after, changed)
        if role is not None:
            for coll in after:
                compiled = refreshed.get(coll.id)
                if compiled is not None:
                    apply_policies(
                        tx,
                        self.engine.dialect,
                        coll.name,
                        compiled.policies,
                        role,
                        compiled.relations,
                    )
        return refreshed

    def _compile_policies(
        self, after: list[Collection], changed: Collection | None
    ) -> dict[str, CollectionPolicies]:
        """The policies of ``changed`` and of the collections whose rules read others (all
        when ``changed`` is None), compiled: nothing without row level security."""
        role = self.engine.row_security_role
        if role is None:
            return {}
        by_id = {c.id: c for c in after}
        by_name = {c.name.lower(): c for c in after}

        def find(key: str) -> Collection | None:
            return by_id.get(key) or by_name.get(key.lower())

        auth = [c for c in after if c.is_auth]
        refreshed: dict[str, CollectionPolicies] = {}
        for coll in after:
            known = self.policies.get(coll.id)
            if changed is not None and coll.id != changed.id and not (known and known.reads_others):
                continue
            refreshed[coll.id] = compile_policies(coll, self.engine.dialect, role, find, auth)
        return refreshed

    def _create_in_tx(self, tx: Tx, coll: Collection) -> None:
        dialect = self.engine.dialect
        columns = [(f.name, f.kind) for f in coll.fields if f.name != "id"]
        for statement in dialect.create_table(coll.name, columns):
            tx.execute(statement)
        for index in _index_parts(coll).values():
            tx.execute(_create_index(dialect, coll.name, index))
        sql, params = insert_sql(dialect, SYSTEM_TABLE, [("id", Kind.TEXT, coll.id), *_row(coll)])
        tx.execute(sql, params)

    def _sync_table(self, tx: Tx, old: Collection, new: Collection) -> None:
        """Table, columns and indexes to the new definition. Indexes that go or change are
        dropped first (SQLite refuses to drop a column an index uses), the new and changed
        ones are created last; a rename keeps the index names (as PocketBase)."""
        dialect = self.engine.dialect
        self.json_indexes.drop_for(tx, old.name)
        if self.engine.row_security_role is not None:  # policies depend on the columns
            drop_policies(tx, dialect, old.name)
        old_indexes, new_indexes = _index_parts(old), _index_parts(new)
        for key, index in old_indexes.items():
            if new_indexes.get(key) != index:
                tx.execute(dialect.drop_index(index.name))
        self._sync_columns(tx, old, new)
        for key, index in new_indexes.items():
            if old_indexes.get(key) != index:
                tx.execute(_create_index(dialect, new.name, index))

    def _sync_columns(self, tx: Tx, old: Collection, new: Collection) -> None:
        dialect = self.engine.dialect
        if old.name != new.name:
            for statement in dialect.rename_table(old.name, new.name):
                tx.execute(statement)
        table = new.name
        old_by_id = {f.id: f for f in old.fields}
        new_ids = {f.id for f in new.fields}
        for f in old.fields:
            if f.id not in new_ids and f.name != "id":
                for statement in dialect.drop_column(table, f.name):
                    tx.execute(statement)
        for f in new.fields:
            before = old_by_id.get(f.id)
            if f.name == "id":
                continue
            if before is None:
                for statement in dialect.add_column(table, f.name, f.kind):
                    tx.execute(statement)
                continue
            if before.name != f.name:
                for statement in dialect.rename_column(table, before.name, f.name):
                    tx.execute(statement)
            if before.kind is not f.kind:
                for statement in _change_kind(dialect, table, f, before):
                    tx.execute(statement)


def _change_kind(dialect: Dialect, table: str, new: Field, old: Field) -> list[str]:
    statements: list[str] = dialect.change_column_kind(table, new.name, old.kind, new.kind)
    if statements:
        return statements
    # Kinds without a value conversion (e.g. text -> number): recreate the column empty.
    return dialect.drop_column(table, new.name) + dialect.add_column(table, new.name, new.kind)


def _index_parts(coll: Collection) -> dict[str, Buildable]:
    """The collection's indexes by lower-cased name (those that parse: the stored ones were
    validated on save)."""
    parts = {}
    for text in coll.indexes:
        if parse_index(text).valid:
            built = buildable(text)
            parts[built.name.lower()] = built
    return parts


def _create_index(dialect: Dialect, table: str, index: Buildable) -> str:
    return dialect.create_index(
        index.name,
        table,
        index.columns,
        unique=index.unique,
        where_not_empty=index.where_not_empty,
    )


def validate_rule(
    coll: Collection, text: str, find: Callable[[str], Collection | None] | None = None
) -> str | None:
    scope = Scope(
        fields={f.name: f for f in coll.fields}, allow_hidden=True, collection=coll, find=find
    )
    try:
        compile_filter(text, scope)
    except FilterError as exc:
        return str(exc)
    return None


_SYSTEM_DEFINITIONS: list[dict[str, Any]] = json.loads(
    resources.files("reference_impl.core").joinpath("system_collections.json").read_text("utf-8")
)


def system_collections(now: datetime, id_mode: str) -> list[Collection]:
    """PocketBase's system collections in its creation order (``migrations/
    1640988000_init.go``): ``_mfas``, ``_otps``, ``_externalAuths``, ``_authOrigins`` (their
    definitions as PocketBase 0.40.6 serves them), then ``_superusers``."""
    out = []
    for data in _SYSTEM_DEFINITIONS:
        coll = Collection.from_storage(copy.deepcopy(data))
        coll.fields[0] = coll_mod.id_field(id_mode)
        coll.created = coll.updated = now
        out.append(coll)
    return [*out, _superusers_collection(now, id_mode)]


def _superusers_collection(now: datetime, id_mode: str) -> Collection:
    fields = [coll_mod.id_field(id_mode), *coll_mod.auth_system_fields()]
    fields += [
        Field("autodate", "created", {"onCreate": True, "onUpdate": False, "system": True}),
        Field("autodate", "updated", {"onCreate": True, "onUpdate": True, "system": True}),
    ]
    cid = coll_mod.collection_id("auth", SUPERUSERS)
    coll = Collection(
        id=cid,
        name=SUPERUSERS,
        type="auth",
        system=True,
        fields=fields,
        indexes=default_auth_indexes(cid, SUPERUSERS),
        rules={r: None for r in coll_mod.RULES + coll_mod.AUTH_RULES},
        auth=new_auth_options(superusers=True),
        created=now,
        updated=now,
    )
    coll.rules["authRule"] = ""
    import secrets

    coll.token_secret = secrets.token_urlsafe(36)
    return coll


def _users_collection(now: datetime, id_mode: str) -> Collection:
    import secrets

    owner = "id = @request.auth.id"
    fields = [
        coll_mod.id_field(id_mode),
        *coll_mod.auth_system_fields(),
        Field("text", "name", {"max": 255}),
        Field(
            "file",
            "avatar",
            {
                "maxSelect": 1,
                "mimeTypes": [
                    "image/jpeg",
                    "image/png",
                    "image/svg+xml",
                    "image/gif",
                    "image/webp",
                ],
            },
        ),
        Field("autodate", "created", {"onCreate": True, "onUpdate": False}),
        Field("autodate", "updated", {"onCreate": True, "onUpdate": True}),
    ]
    return Collection(
        id=USERS_ID,
        name="users",
        type="auth",
        fields=fields,
        indexes=default_auth_indexes(USERS_ID, "users"),
        rules={
            "listRule": owner,
            "viewRule": owner,
            "createRule": "",
            "updateRule": owner,
            "deleteRule": owner,
            "authRule": "",
            "manageRule": None,
        },
        auth=_users_auth_options(),
        token_secret=secrets.token_urlsafe(36),
        created=now,
        updated=now,
    )


def _users_auth_options() -> dict[str, Any]:
    auth = new_auth_options()
    auth["oauth2"]["mappedFields"] = {
        "id": "",
        "name": "name",
        "username": "",
        "avatarURL": "avatar",
    }
    return auth
