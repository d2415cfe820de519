"""The dialect contract: every SQLite/PostgreSQL difference the backend relies on, stated once.

Order, as in sqlglot: named semantic flags (each docstring gives both engines' behaviour),
then the column-type table, then methods for what a flag cannot express. Renderers and the
schema builder read flags and call methods; nothing outside ``reference_impl/db`` writes
engine-specific SQL (``suites/unit/test_engine_boundary.py`` enforces it).

Flags can be overridden for experiments with ``PARITY_DIALECT_OVERRIDE``
(``postgres.NATIVE_NULLS_FIRST=true,...``): the harness uses it to prove that a flipped flag
makes ``parity check`` fail with a repro block. Never set it in production.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar

from reference_impl.ir.kinds import Kind


class Dialect(abc.ABC):
    name: ClassVar[str] = "abstract"

    # -- semantic flags ------------------------------------------------------------------
    NATIVE_NULLS_FIRST: ClassVar[bool] = True
    """Where NULLs sort without an explicit NULLS clause.
    SQLite: first for ASC, last for DESC (PocketBase's order, the contract).
    PostgreSQL: last for ASC, first for DESC. When False the renderer writes
    ``NULLS FIRST`` / ``NULLS LAST`` explicitly."""

    LIKE_FOLDS_ASCII_CASE: ClassVar[bool] = True
    """SQLite: ``LIKE`` is case-insensitive for ASCII letters only ('ABC' LIKE 'abc' is 1,
    'Ä' LIKE 'ä' is 0). PostgreSQL: ``LIKE`` is case-sensitive and ``ILIKE`` folds Unicode.
    When False the renderer lowers both sides under ``COLLATE "C"``, which folds ASCII only."""

    EMPTY_IN_ALLOWED: ClassVar[bool] = True
    """SQLite accepts ``x IN ()`` (false); PostgreSQL rejects it as a syntax error. The
    renderer emits a constant false instead of an empty list."""

    TEXT_ALLOWS_NUL: ClassVar[bool] = True
    """SQLite stores U+0000 in TEXT and inside JSON text (PocketBase accepts it). PostgreSQL
    cannot: TEXT refuses the byte ("invalid byte sequence for encoding UTF8: 0x00") and
    JSONB the escape ``\u0000`` ("unsupported Unicode escape sequence"). Values holding it
    are refused with a 400 before the write (divergence ``nul-in-text``)."""

    ROW_LOCKS: ClassVar[bool] = False
    """SQLite: a write transaction (``BEGIN IMMEDIATE``) already excludes every other writer,
    so reads inside it cannot go stale. PostgreSQL: rows read in a READ COMMITTED write
    transaction can change underneath it; read-modify-write needs ``SELECT ... FOR UPDATE``
    (otherwise concurrent ``n+`` increments are lost, testing.md 7.5)."""

    SERIALIZES_EVERYTHING: ClassVar[bool] = True
    """SQLite: every transaction is serializable whatever level is asked: one writer at a
    time (``BEGIN IMMEDIATE``), each reader on one WAL snapshot, so ``--isolation`` and
    ``X-Parity-Isolation`` change nothing. PostgreSQL runs the level asked: READ COMMITTED
    (a fresh snapshot per statement: lost updates and write skew possible without locks),
    REPEATABLE READ (one snapshot per transaction, snapshot isolation: write skew possible,
    a concurrent update of a row it writes is a serialization failure, 40001) or
    SERIALIZABLE (SSI: anything a serial order could not give is a 40001). The race
    suite's expectations per level follow from this (``harness/race/levels.py``)."""

    NOTIFIES: ClassVar[bool] = False
    """How server processes on one database hear of each other's commits (the event grid,
    ``reference_impl/core/events.py``). SQLite has no notification between connections or
    processes: ``Tx.notify`` appends the payload to the event log table ``_pp_events`` in
    the sending transaction (gone with a rollback), and ``Engine.listen`` polls ``PRAGMA
    data_version`` every 2 ms (it moves when another connection committed) and reads the
    rows after the last it saw; rows are kept a minute. Any size fits. PostgreSQL:
    ``pg_notify('pb_events', payload)`` inside the transaction, delivered to every ``LISTEN
    pb_events`` session at COMMIT and discarded on ROLLBACK; a payload of 8000 bytes or
    more is refused ("payload string too long"), and committing a transaction that
    notified takes a database-wide lock (research testing.md 7.1)."""

    NOTIFY_LIMIT: ClassVar[int | None] = None
    """The size in bytes from which a notification payload is refused (None: none is)."""

    ROW_LEVEL_SECURITY: ClassVar[bool] = False
    """SQLite has no row level security: rules are enforced by the app alone (``--rules
    app``). PostgreSQL: policies per table and command (``CREATE POLICY``, read from
    ``pg_policies``), evaluated under the transaction's session settings (``Session``); the
    app can rely on them (``--rules rls``) or check both (``--rules both``)."""

    UNSET_DATE_IS_NULL: ClassVar[bool] = False
    """SQLite stores an unset date as '' (PocketBase's zero), which sorts and compares below
    every date text. PostgreSQL stores NULL in a TIMESTAMPTZ, which ``<`` never matches, so
    ``d < x`` / ``d <= x`` add ``OR d IS NULL`` there."""

    TOTAL_IN_STATEMENT: ClassVar[bool] = False
    """How a list gets its page and its total fastest (a performance difference, same
    results). SQLite: a separate ``COUNT(*)`` (no round trip to save; ``COUNT(*) OVER ()``
    stopped the sorter from keeping only the top LIMIT rows: 1353 -> 964 lists/s).
    PostgreSQL: one statement, the total as an uncorrelated scalar sub-select (an InitPlan,
    run once), which saves a network round trip (733 -> 894 lists/s at 2,000 rows). Not
    ``COUNT(*) OVER ()`` there either: the window reads every matching row before LIMIT, so
    no index can serve the page (1,000,000 rows: 2 lists/s with an index on the filter and
    sort, against 1,979 on SQLite)."""

    # -- types ---------------------------------------------------------------------------
    TYPE_MAPPING: ClassVar[dict[Kind, str]] = {}
    """Column DDL per kind, including default and nullability."""

    def __init__(self) -> None:
        _apply_overrides(self)

    # -- SQL pieces ----------------------------------------------------------------------
    def never_null(self, kind: Kind) -> bool:
        """Whether a column of ``kind`` is ``NOT NULL`` in this dialect's DDL (TYPE_MAPPING):
        on PostgreSQL an unset date or JSON is NULL, on SQLite every field is NOT NULL."""
        return "NOT NULL" in self.TYPE_MAPPING.get(kind, "")

    def quote(self, identifier: str) -> str:
        """Double quotes on both engines; names are validated before they get here."""
        if '"' in identifier or "\x00" in identifier:
            raise ValueError(f"invalid identifier {identifier!r}")
        return f'"{identifier}"'

    SCHEMA = "main"
    """Every table reference is qualified with the schema the app's tables live in, so no
    system catalog can shadow a collection. PostgreSQL searches ``pg_catalog`` before the
    search path: an unqualified ``pg_class`` is the catalog even when the app has a table
    of that name; the engine sets this to its ``current_schema()`` at start. SQLite:
    ``main`` (its reserved ``sqlite_*`` names cannot be created at all)."""

    def table(self, name: str) -> str:
        """A table reference for FROM/INTO/UPDATE/DDL, schema-qualified (see ``SCHEMA``).
        Column qualifiers keep the bare quoted name, which refers to the FROM item."""
        return f"{self.quote(self.SCHEMA)}.{self.quote(name)}"

    @abc.abstractmethod
    def placeholder(self, name: str) -> str:
        raise NotImplementedError

    def order_term(self, expr: str, descending: bool, *, nullable: bool = True) -> str:
        """``nullable=False`` (a column its DDL makes ``NOT NULL``: :meth:`never_null`)
        leaves the NULLS clause out, which orders the same when there is no NULL and lets
        PostgreSQL read the order from a plain index: a ``DESC NULLS LAST`` term matches
        no default index, so a sorted page over a big table was a full sort (1,000,000
        rows: 482 ms per list with an index on the sort key; ``loadtests/README.md``)."""
        direction = "DESC" if descending else "ASC"
        if self.NATIVE_NULLS_FIRST or not nullable:
            return f"{expr} {direction}"
        return f"{expr} {direction} {'NULLS LAST' if descending else 'NULLS FIRST'}"

    def like(self, expr: str, pattern: str, *, negate: bool = False) -> str:
        """``ESCAPE '\\'`` is always written: SQLite has no escape character without it,
        PostgreSQL has backslash by default, so both read PocketBase's escapes alike."""
        op = "NOT LIKE" if negate else "LIKE"
        if self.LIKE_FOLDS_ASCII_CASE:
            return f"{expr} {op} {pattern} ESCAPE '\\'"
        return f'lower({expr} COLLATE "C") {op} lower({pattern} COLLATE "C") ESCAPE \'\\\''

    def null_safe_equal(self, left: str, right: str, *, negate: bool = False) -> str:
        return f"{left} IS {'' if negate else 'NOT '}DISTINCT FROM {right}"

    def in_list(self, expr: str, placeholders: Sequence[str]) -> str:
        if not placeholders and not self.EMPTY_IN_ALLOWED:
            return "1 = 0"
        return f"{expr} IN ({', '.join(placeholders)})"

    def is_empty(self, expr: str, kind: Kind, *, nullable: bool = True) -> str:
        """PocketBase's "empty or NULL" for ``= null`` / ``= ''``; a number or bool is never
        empty (0 is not ''), only missing (NULL through a LEFT JOIN)."""
        if kind in (Kind.NUMBER, Kind.BOOL, Kind.INT64):
            return f"{expr} IS NULL" if nullable else "1 = 0"
        return f"({expr} = '' OR {expr} IS NULL)"

    # -- JSON values as SQLite's json_extract gives them ----------------------------------
    @abc.abstractmethod
    def json_value(self, expr: str, path: tuple[str | int, ...]) -> str:
        """A JSON column at a path (``()``: the whole value) as SQLite's
        ``json_extract(expr, '$.a[0]')`` returns it: NULL for missing and JSON null, an
        SQL number (true 1, false 0), text for strings and the JSON text of objects and
        arrays. PostgreSQL keeps jsonb (``#>``); ``json_compare`` and ``text_of`` read it
        with SQLite's typing. A numeric step indexes arrays only, on both."""

    @abc.abstractmethod
    def json_compare(self, value: str, op: str, literal: str | None, literal_class: str) -> str:
        """``value op literal`` under SQLite's rules for a value without affinity:
        storage-class order NULL < numbers < text, ``=``/``!=`` null-safe (``IS``/``IS
        NOT``). ``literal_class``: "number", "text" or "null" (the null literal)."""

    def json_number(self, value: str) -> str:
        """A JSON value (``json_value``) as a number, for arithmetic (``geoDistance``)."""
        return value

    def strftime(self, args: list[str]) -> str:
        """SQLite's ``strftime(format, time value, modifiers...)``; ``args[1]`` is the time
        value as text (``text_of``). PostgreSQL: ``pb_strftime`` (``_pg_functions``)."""
        return f"strftime({', '.join(args)})"

    def acos(self, expr: str) -> str:
        """``geoDistance``'s arc cosine, its argument clamped to [-1, 1]. The formula's
        cosine of a point and itself rounds to 1.0000000000000002 for some latitudes
        (2.5, say) in C's libm: SQLite's acos() answers NULL there and PostgreSQL raises
        "input is out of range", while PocketBase (Go's math, same SQL) answers 0 km."""
        return f"acos(max(-1.0, min(1.0, {expr})))"

    def contains_pattern(self, expr: str) -> str:
        """``~`` against a column: ``'%' || expr || '%'`` (PostgreSQL's driver needs the
        percent signs doubled in a statement with parameters)."""
        return f"('%' || {expr} || '%')"

    def referenced(self, table: str, column: str, parent_id: str) -> str:
        """Whether any row of ``table`` points at ``parent_id`` through relation ``column``,
        read without row level security (``db/policies.py`` creates the function per
        relation column). Only produced where the database enforces the rules."""
        raise NotImplementedError(f"{self.name} has no row level security")

    def value_pattern(self, expr: str) -> str:
        """PocketBase's ``~`` pattern of a bound value, computed in SQL (policy mode, where
        the value is a session setting): the value as is when it holds a ``%`` not after a
        backslash, else ``\\``, ``%`` and ``_`` escaped and the whole wrapped in ``%...%``
        (``semantics.like_pattern``). Only policies need it, and only PostgreSQL has them."""
        raise NotImplementedError(f"{self.name} has no row level security")

    def json_equal(self, left: str, right: str, *, negate: bool = False) -> str:
        """Two JSON values (``json_value``) null-safely equal as SQLite compares
        json_extract results (1 IS 1.0, true IS 1, 'a' IS NOT 1)."""
        return self.null_safe_equal(left, right, negate=negate)

    def lower(self, expr: str) -> str:
        """``:lower``: ASCII-only, as SQLite's built-in ``lower()`` (no ICU)."""
        return f"lower({expr})"

    def array_length(self, expr: str, kind: Kind) -> str:
        """``:length``: items of a multi-value column (0 for NULL); a single-value one has
        one item unless empty (PocketBase's ``JSONArrayLength`` normalisation)."""
        if kind is Kind.JSON_ARRAY:
            return f"COALESCE({self.JSON_ARRAY_LENGTH}({expr}), 0)"
        return f"(CASE WHEN {expr} = '' OR {expr} IS NULL THEN 0 ELSE 1 END)"

    JSON_ARRAY_LENGTH = "json_array_length"

    @abc.abstractmethod
    def json_path_index(
        self, name: str, table: str, column: str, path: tuple[str | int, ...], klass: str
    ) -> str:
        """``CREATE INDEX IF NOT EXISTS`` serving comparisons of a JSON path with a number
        (``klass`` "number") or a text ("text"); see ``core/auto_index.py``."""

    @abc.abstractmethod
    def list_indexes_sql(self, table_param: str) -> str:
        """SELECT the names of a table's indexes (table name bound as a parameter)."""

    @abc.abstractmethod
    def each_join(self, alias: str, array: str) -> str:
        """``LEFT JOIN`` one row per item of a JSON array (column ``value``: the item's
        text), one NULL row for an empty or NULL array."""

    def datetime_text(self, expr: str) -> str:
        """A date column as PocketBase's stored text (``''`` when unset)."""
        return expr

    def text_of(self, expr: str, kind: Kind) -> str:
        """A column as the text SQLite's ``LIKE`` would see (``1``/``0`` for bools)."""
        return expr

    def json_order_terms(self, expr: str, descending: bool) -> list[str]:
        """ORDER BY terms for a JSON value (``json_value``), in SQLite's order of it:
        NULL, then numbers (true=1, false=0), then text (strings, then JSON text of objects
        and arrays by bytes). PostgreSQL's own jsonb order differs (null < string < number <
        boolean < array < object), so it spells the same key out."""
        return [self.order_term(expr, descending)]

    def json_array_contains(self, expr: str, value: str) -> str:
        """A JSON array column holds the text ``value``. SQLite: ``json_each`` over the
        array; PostgreSQL: jsonb containment ``@>`` (GIN-indexable)."""
        return f"EXISTS (SELECT 1 FROM json_each({expr}) WHERE value = {value})"

    def literal(self, kind: Kind, value: Any) -> str:
        """A value inlined into SQL text (policy mode: a row level security policy has no
        parameters). Text is single-quoted with quotes doubled (both engines read
        backslashes literally: PostgreSQL's ``standard_conforming_strings`` is on);
        numbers must be finite; NUL is refused (neither engine's SQL text can hold it)."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"cannot inline {value!r}")
            return repr(value) if isinstance(value, float) else str(value)
        db_value = self.to_db(kind, value)
        if not isinstance(db_value, str):
            db_value = str(db_value)
        if "\x00" in db_value:
            raise ValueError("cannot inline a NUL character")
        return "'" + db_value.replace("'", "''") + "'"

    def session_value(self, name: str, kind: Kind) -> str:
        """A per-transaction session setting (``pb.auth.id``...), NULL when unset or ''.
        PostgreSQL: ``current_setting(name, true)``; SQLite has no session settings (and no
        row level security), so policy mode is PostgreSQL's alone."""
        raise NotImplementedError(f"{self.name} has no session settings")

    def for_update(self, table: str) -> str:
        """Suffix locking the selected rows of ``table`` until the write transaction ends;
        only that table's (PostgreSQL refuses ``FOR UPDATE`` on the nullable side of the
        LEFT JOINs a rule brings)."""
        return f" FOR UPDATE OF {self.quote(table)}" if self.ROW_LOCKS else ""

    def for_key_share(self, table: str) -> str:
        """Suffix keeping the selected rows of ``table`` from being deleted (or their key
        changed) until the transaction ends, while updates of other columns go on: a
        relation's target checked to exist stays so until the referencing row commits
        (PostgreSQL ``FOR KEY SHARE``, what its own foreign keys take; SQLite: nothing, the
        single writer already excludes the delete)."""
        return f" FOR KEY SHARE OF {self.quote(table)}" if self.ROW_LOCKS else ""

    def skip_locked(self, table: str) -> str:
        """Suffix claiming the selected rows of ``table`` for this transaction, passing over
        rows another transaction holds (PostgreSQL ``FOR UPDATE ... SKIP LOCKED``: competing
        consumers each take different jobs without waiting; SQLite: nothing, its single
        writer already gives each claim the table to itself)."""
        return f" FOR UPDATE OF {self.quote(table)} SKIP LOCKED" if self.ROW_LOCKS else ""

    def random_function(self) -> str:
        return "random()"

    def rowid(self, table: str) -> str:
        """Insertion order. SQLite tables carry an implicit ``_rowid_`` (PocketBase's natural
        list order and ``sort=@rowid``). PostgreSQL has none (ctid moves): each record table
        gets an identity column named ``_rowid_`` (``create_table``)."""
        return f"{self.quote(table)}.{self.quote('_rowid_')}"

    def limit_offset(self, limit_param: str, offset_param: str) -> str:
        return f"LIMIT {limit_param} OFFSET {offset_param}"

    def column_ddl(self, name: str, kind: Kind) -> str:
        return f"{self.quote(name)} {self.TYPE_MAPPING[kind]}"

    @abc.abstractmethod
    def create_table(self, table: str, columns: Sequence[tuple[str, Kind]]) -> list[str]:
        """A record table: ``id`` text primary key plus the columns, plus the rowid column
        where the engine has none."""
        raise NotImplementedError

    def add_column(self, table: str, name: str, kind: Kind) -> list[str]:
        return [f"ALTER TABLE {self.table(table)} ADD COLUMN {self.column_ddl(name, kind)}"]

    def drop_column(self, table: str, name: str) -> list[str]:
        return [f"ALTER TABLE {self.table(table)} DROP COLUMN {self.quote(name)}"]

    def rename_column(self, table: str, old: str, new: str) -> list[str]:
        return [
            f"ALTER TABLE {self.table(table)} RENAME COLUMN {self.quote(old)} TO {self.quote(new)}"
        ]

    def rename_table(self, old: str, new: str) -> list[str]:
        return [f"ALTER TABLE {self.table(old)} RENAME TO {self.quote(new)}"]

    def drop_table(self, table: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {self.table(table)}"]

    def index_column(self, column: str, collation: str) -> str:
        """One column of an index with PocketBase's ``COLLATE NOCASE|BINARY``. SQLite has
        both collations. PostgreSQL has no NOCASE: the index is on ``lower(column)``, which
        folds ASCII case only under the databases' C ctype, as NOCASE does; BINARY is the
        databases' default "C" order (``provision.py``)."""
        return f"{self.quote(column)} COLLATE {collation}" if collation else self.quote(column)

    MAX_INDEX_COLUMNS: ClassVar[int] = 2000
    """Columns one index may have: SQLite's SQLITE_MAX_COLUMN (2000); PostgreSQL's
    INDEX_MAX_KEYS (32)."""

    def identifier_problem(self, name: str, *, column: bool) -> str | None:
        """Why the engine cannot hold a table (``column=False``) or column of this name, or
        None. SQLite takes every name PocketBase's rules let through. PostgreSQL truncates
        identifiers to 63 bytes (two long names would become one) and reserves its system
        column names (``ctid``, ``xmin``, ...) in every table."""
        return None

    def index_name(self, name: str) -> str:
        """An index name as the engine stores it. PostgreSQL truncates identifiers to 63
        bytes (NAMEDATALEN), so two long names could collide: longer ones keep a prefix
        and a hash of the whole name. SQLite keeps any length."""
        return name

    def create_index(
        self,
        name: str,
        table: str,
        columns: Sequence[tuple[str, str, bool]],
        *,
        unique: bool,
        where_not_empty: str = "",
    ) -> str:
        """``columns``: (column, collation or "", descending); ``where_not_empty``: a text
        column the index is restricted to non-empty values of (PocketBase's email index)."""
        terms = ", ".join(
            self.index_column(column, collation) + (" DESC" if descending else "")
            for column, collation, descending in columns
        )
        index_ref, table_ref = self.index_target(name, table)
        text = f"CREATE {'UNIQUE ' if unique else ''}INDEX {index_ref} ON {table_ref} ({terms})"
        return text + (f" WHERE {self.quote(where_not_empty)} != ''" if where_not_empty else "")

    def index_target(self, name: str, table: str) -> tuple[str, str]:
        """Where ``CREATE INDEX`` takes the schema. PostgreSQL: on the table (the index
        lives in its table's schema; an index name cannot be qualified). SQLite: on the
        index name (``CREATE INDEX main.i ON t``; a qualified table is a syntax error)."""
        return self.quote(self.index_name(name)), self.table(table)

    def drop_index(self, name: str) -> str:
        return f"DROP INDEX IF EXISTS {self.quote(self.SCHEMA)}.{self.quote(self.index_name(name))}"

    @abc.abstractmethod
    def change_column_kind(self, table: str, name: str, old: Kind, new: Kind) -> list[str]:
        """Convert a column between kinds, keeping values where PocketBase keeps them."""
        raise NotImplementedError

    @abc.abstractmethod
    def list_tables_sql(self) -> str:
        raise NotImplementedError

    # -- the request log (core/logs.py), on the auxiliary engine --------------------------
    def log_insert_sql(self, table: str, rows_param: str) -> str:
        """One INSERT of a whole batch of log rows, bound as a single JSON text: an array of
        ``[id, level, message, data, created]`` (``created`` in PocketBase's text layout).
        The engine unpacks it, so the writer binds one value and the driver runs one
        statement without the interpreter lock, instead of a bind per row and per column
        (each taking the lock back from the requests being served)."""
        raise NotImplementedError

    LOG_COLUMNS: ClassVar[tuple[tuple[str, Kind], ...]] = (
        ("id", Kind.TEXT),
        ("level", Kind.INT64),
        ("message", Kind.TEXT),
        ("data", Kind.JSON),
        ("created", Kind.DATETIME_MS),
    )
    """``_logs`` as PocketBase has it (``migrations/1640988000_aux_init.go``), in
    :meth:`Tx.copy_rows` order."""

    @abc.abstractmethod
    def logs_schema(self, table: str) -> list[str]:
        """The log table, idempotent. SQLite: PocketBase's table and its three indexes
        (level, message, the created hour), in ``auxiliary.db``. PostgreSQL: a table
        partitioned by day on ``created`` (TIMESTAMPTZ) with an ``UNLOGGED`` default
        partition; the days themselves come from :meth:`log_days` (PostgreSQL 18 refuses an
        unlogged partitioned parent, so the partitions are the unlogged ones)."""
        raise NotImplementedError

    @abc.abstractmethod
    def log_hour(self, column: str) -> str:
        """The hour a log row was created in, as text ``YYYY-MM-DD HH:00:00`` (UTC), what
        ``/api/logs/stats`` groups by. SQLite: PocketBase's own ``strftime('%Y-%m-%d
        %H:00:00', created)`` over the text date, the expression its ``_created_hour``
        index holds. PostgreSQL: the TIMESTAMPTZ truncated to the hour in UTC
        (``date_trunc`` with a zone, whatever the session's), formatted the same way."""
        raise NotImplementedError

    def log_days(self, table: str, days: Sequence[date]) -> list[str]:
        """Partitions for these days, created ahead of their rows (a row of a day without
        one lands in the default partition). SQLite has no partitions: nothing."""
        return []

    def storable_text(self, value: str) -> str:
        """Text an engine can store whatever it holds, for what must never be refused (a
        request log of a hostile URL): SQLite keeps NUL characters; PostgreSQL's TEXT and
        JSONB refuse them (``TEXT_ALLOWS_NUL``), so each becomes U+FFFD there."""
        return value if self.TEXT_ALLOWS_NUL else value.replace("\x00", "\ufffd")

    def log_partitions_sql(self, table_param: str) -> str | None:
        """SELECT the names of a log table's partitions (table name bound), or None where
        there are none (SQLite). Retention drops those :meth:`drop_log_day` names."""
        return None

    def drop_log_day(self, table: str, partition: str, before: date) -> str | None:
        """The statement that drops ``partition`` when it is a day of ``table`` wholly
        before ``before``, else None (never on SQLite)."""
        return None

    @abc.abstractmethod
    def log_retention(self, table: str, before: date) -> list[tuple[str, dict[str, Any]]]:
        """Statements that remove the log rows created before ``before`` (UTC midnight).
        SQLite: one ``DELETE``. PostgreSQL: the day partitions wholly before it are dropped
        (no row-by-row delete), and the default partition's old rows deleted."""
        raise NotImplementedError

    @abc.abstractmethod
    def list_columns_sql(self, table_param: str) -> str:
        """SELECT column names of one table (table name bound as a parameter)."""
        raise NotImplementedError

    # -- values --------------------------------------------------------------------------
    @abc.abstractmethod
    def to_db(self, kind: Kind, value: Any) -> Any:
        raise NotImplementedError

    @abc.abstractmethod
    def from_db(self, kind: Kind, raw: Any) -> Any:
        raise NotImplementedError


def _apply_overrides(dialect: Dialect) -> None:
    spec = os.environ.get("PARITY_DIALECT_OVERRIDE", "")
    for item in filter(None, (part.strip() for part in spec.split(","))):
        target, _, raw = item.partition("=")
        dialect_name, _, flag = target.partition(".")
        if dialect_name != dialect.name:
            continue
        if not flag.isupper() or not isinstance(getattr(type(dialect), flag, None), bool):
            raise ValueError(f"PARITY_DIALECT_OVERRIDE: {flag!r} is not a flag of {dialect.name}")
        setattr(dialect, flag, raw.strip().lower() in {"1", "true", "yes", "on"})
