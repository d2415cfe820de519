"""PostgreSQL: the dialect and the engine (psycopg 3 + psycopg_pool).

Types are chosen so the API output is identical to SQLite's: ``NUMERIC`` keeps int64 exact
at +-(2^63-1) (PocketBase's float64 does not); ``JSONB`` keeps integers inside JSON exact;
``TIMESTAMPTZ`` keeps microseconds; ``BOOLEAN`` is a real boolean. Databases are created
with ``LC_COLLATE 'C'`` (see ``provision.py``), so text order is SQLite's BINARY order.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, ClassVar

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from reference_impl.bridge import await_, bridged
from reference_impl.db import errors
from reference_impl.db._leaks import LeakWatch
from reference_impl.db._pg_functions import install_statements
from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import (
    CHANNEL,
    AfterCommit,
    OnMessage,
    Params,
    Row,
    Session,
    backoff,
    capture,
    count_write_commit,
    isolation_level,
    requested_isolation,
    stale_schema_checked,
)
from reference_impl.ir.kinds import Kind

log = logging.getLogger("parity.postgres")

_INT64 = 2**63
LOCK_NAMESPACE = 0x5050  # pg_advisory_lock(classid, key): this project's named locks
AUXILIARY_POOL_MAX = 2  # connections of the auxiliary engine: a batch writer and a reader
NOTIFY_LIMIT = 8000  # bytes: pg_notify refuses a payload this long (Dialect.NOTIFIES)


class PostgresDialect(Dialect):
    name = "postgres"
    NATIVE_NULLS_FIRST = False
    LIKE_FOLDS_ASCII_CASE = False
    EMPTY_IN_ALLOWED = False
    ROW_LOCKS = True
    SERIALIZES_EVERYTHING = False
    ROW_LEVEL_SECURITY = True
    NOTIFIES = True
    NOTIFY_LIMIT = NOTIFY_LIMIT
    TOTAL_IN_STATEMENT = True
    UNSET_DATE_IS_NULL = True
    TEXT_ALLOWS_NUL = False
    SCHEMA = "public"  # the engine replaces it with its current_schema()

    TYPE_MAPPING: ClassVar[dict[Kind, str]] = {
        Kind.TEXT: "TEXT DEFAULT '' NOT NULL",
        Kind.NUMBER: "NUMERIC DEFAULT 0 NOT NULL",
        Kind.BOOL: "BOOLEAN DEFAULT FALSE NOT NULL",
        Kind.JSON: "JSONB DEFAULT NULL",
        Kind.JSON_ARRAY: "JSONB DEFAULT '[]'::jsonb NOT NULL",
        # The zero date is NULL here and '' on SQLite; both read back as None.
        Kind.DATETIME_MS: "TIMESTAMPTZ DEFAULT NULL",
        Kind.TIMESTAMP_US: "TIMESTAMPTZ DEFAULT NULL",
        Kind.INT64: "BIGINT DEFAULT 0 NOT NULL",
    }

    def placeholder(self, name: str) -> str:
        return f"%({name})s"

    def session_value(self, name: str, kind: Kind) -> str:
        """``current_setting(name, true)`` is NULL when never set and '' after a transaction
        that set it locally ended, so both read as NULL. The sub-select makes it an
        InitPlan: evaluated once per statement, not per row."""
        value = f"NULLIF(current_setting({self.literal(Kind.TEXT, name)}, true), '')"
        if kind is Kind.BOOL:
            value = f"({value})::boolean"
        return f"(SELECT {value})"

    def is_empty(self, expr: str, kind: Kind, *, nullable: bool = True) -> str:
        # The zero date is NULL here ('' on SQLite); TIMESTAMPTZ cannot be compared with '',
        # and a jsonb value (a multi-value column) is never ''.
        if kind in (Kind.DATETIME_MS, Kind.TIMESTAMP_US, Kind.JSON, Kind.JSON_ARRAY):
            return f"{expr} IS NULL"
        return super().is_empty(expr, kind, nullable=nullable)

    JSON_ARRAY_LENGTH = "jsonb_array_length"

    def json_value(self, expr: str, path: tuple[str | int, ...]) -> str:
        if not path:
            return expr
        steps = ",".join(str(p) for p in path)
        value = f"({expr} #> '{{{steps}}}')"
        guards = [
            f"jsonb_typeof({expr} #> '{{{','.join(str(p) for p in path[:i])}}}') = 'array'"
            for i, p in enumerate(path)
            if isinstance(p, int)
        ]
        # SQLite's $[n] reads arrays only; #> would also read an object's key "n".
        return f"(CASE WHEN {' AND '.join(guards)} THEN {value} END)" if guards else value

    def _json_number(self, value: str) -> str:
        return (
            f"(CASE jsonb_typeof({value}) WHEN 'number' THEN ({value} #>> '{{}}')::numeric "
            f"WHEN 'boolean' THEN (CASE WHEN {value} = 'true'::jsonb THEN 1 ELSE 0 END) END)"
        )

    def _json_text(self, value: str) -> str:
        """Strings as their value; objects and arrays as SQLite's compact JSON text:
        jsonb prints ", " and ": ", removed here outside strings. Key order stays
        jsonb's (by length, then bytes), where Go's marshal sorts by bytes (divergence
        ``json-key-order``)."""
        compact = self._compact(value)
        return (
            f"(CASE jsonb_typeof({value}) WHEN 'string' THEN {value} #>> '{{}}' "
            f"WHEN 'object' THEN {compact} WHEN 'array' THEN {compact} END)"
        )

    @staticmethod
    def _compact(value: str) -> str:
        # Each match is a whole string literal (kept, as \1) or a space outside one.
        return f"regexp_replace(CAST({value} AS TEXT), '(\"(?:[^\"\\\\]|\\\\.)*\")| ', '\\1', 'g')"

    def json_compare(self, value: str, op: str, literal: str | None, literal_class: str) -> str:
        kind = f"jsonb_typeof({value})"
        missing = f"({value} IS NULL OR {kind} = 'null')"
        if literal is None or literal_class == "null":
            if op == "=":
                return missing
            return f"NOT {missing}" if op == "!=" else "NULL"
        number = literal_class == "number"
        own = self._json_number(value) if number else self._json_text(value)
        if op == "=":
            # never NULL (SQLite's IS), and ``own = literal`` alone can use an expression
            # index on ``own`` (``json_path_index``)
            return f"({own} = {literal} AND {own} IS NOT NULL)"
        if op == "!=":
            return f"{own} IS DISTINCT FROM {literal}"
        # Storage classes: numbers (and bools) sort before text.
        numeric = f"{kind} IN ('number', 'boolean')"
        if number:  # a text value against a number: text is greater
            other = "TRUE" if op in (">", ">=") else "FALSE"
            return (
                f"(CASE WHEN {missing} THEN NULL WHEN {numeric} THEN {own} {op} {literal} "
                f"ELSE {other} END)"
            )
        other = "TRUE" if op in ("<", "<=") else "FALSE"
        return (
            f"(CASE WHEN {missing} THEN NULL WHEN {numeric} THEN {other} "
            f"ELSE {own} {op} {literal} END)"
        )

    def contains_pattern(self, expr: str) -> str:
        return f"('%%' || {expr} || '%%')"

    def referenced(self, table: str, column: str, parent_id: str) -> str:
        from reference_impl.db.policies import references_function

        return f"{references_function(self, table, column)}({parent_id})"

    def value_pattern(self, expr: str) -> str:
        # Policy DDL runs without parameters: single percent signs.
        escaped = f"replace(replace(replace({expr}, '\\', '\\\\'), '%', '\\%'), '_', '\\_')"
        return f"(CASE WHEN {expr} ~ '(^|[^\\\\])%' THEN {expr} ELSE '%' || {escaped} || '%' END)"

    def json_path_index(
        self, name: str, table: str, column: str, path: tuple[str | int, ...], klass: str
    ) -> str:
        """An expression index on exactly what ``json_compare`` compares: the value's
        number (``klass`` "number") or text ("text") at the path; the planner matches
        the expression whatever the column's table qualification."""
        value = self.json_value(self.quote(column), path)
        own = self._json_number(value) if klass == "number" else self._json_text(value)
        index_ref, table_ref = self.index_target(name, table)
        return f"CREATE INDEX IF NOT EXISTS {index_ref} ON {table_ref} (({own}))"

    def list_indexes_sql(self, table_param: str) -> str:
        return (
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            f"AND tablename = {table_param}"
        )

    def json_number(self, value: str) -> str:
        return self._json_number(value)

    def strftime(self, args: list[str]) -> str:
        fmt, value, *modifiers = args
        mods = f"ARRAY[{', '.join(modifiers)}]::text[]" if modifiers else "'{}'::text[]"
        return f"{self.quote(self.SCHEMA)}.pb_strftime({fmt}, {value}, {mods})"

    def acos(self, expr: str) -> str:
        return f"acos(GREATEST(-1.0, LEAST(1.0, {expr})))"

    def json_equal(self, left: str, right: str, *, negate: bool = False) -> str:
        def missing(value: str) -> str:
            return f"({value} IS NULL OR jsonb_typeof({value}) = 'null')"

        both_missing = f"({missing(left)} AND {missing(right)})"
        equal = (
            f"COALESCE({self._json_number(left)} = {self._json_number(right)}, "
            f"{self._json_text(left)} = {self._json_text(right)}, {both_missing})"
        )
        return f"NOT {equal}" if negate else equal

    def lower(self, expr: str) -> str:
        # Under the "C" collation lower() folds ASCII only, as SQLite's.
        return f'lower(({expr}) COLLATE "C")'

    def each_join(self, alias: str, array: str) -> str:
        return (
            f" LEFT JOIN LATERAL jsonb_array_elements_text({array}) AS {alias}"
            f"({self.quote('value')}) ON TRUE"
        )

    def json_order_terms(self, expr: str, descending: bool) -> list[str]:
        kind = f"jsonb_typeof({expr})"
        storage_class = (
            f"CASE WHEN {expr} IS NULL OR {kind} = 'null' THEN NULL "
            f"WHEN {kind} IN ('number', 'boolean') THEN 0 ELSE 1 END"
        )
        number = (
            f"CASE WHEN {kind} = 'number' THEN ({expr} #>> '{{}}')::numeric "
            f"WHEN {kind} = 'boolean' THEN CASE WHEN {expr} = 'true'::jsonb THEN 1 "
            "ELSE 0 END END"
        )
        text = (
            f"CASE WHEN {kind} = 'string' THEN {expr} #>> '{{}}' "
            f"WHEN {kind} IN ('object', 'array') THEN {expr}::text END"
        )
        return [
            self.order_term(storage_class, descending),
            self.order_term(number, descending),
            self.order_term(f'({text}) COLLATE "C"', descending),
        ]

    def json_array_contains(self, expr: str, value: str) -> str:
        return f"{expr} @> jsonb_build_array(CAST({value} AS TEXT))"

    def datetime_text(self, expr: str) -> str:
        return f"coalesce(to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS\"Z\"'), '')"

    def text_of(self, expr: str, kind: Kind) -> str:
        if kind is Kind.BOOL:
            return f"CAST(CAST({expr} AS INTEGER) AS TEXT)"
        if kind in (Kind.DATETIME_MS, Kind.TIMESTAMP_US):
            return self.datetime_text(expr)
        if kind is Kind.TEXT:
            return expr
        if kind is Kind.NUMBER:
            return self._sqlite_number_text(expr)
        if kind is Kind.JSON:
            return (
                f"(CASE jsonb_typeof({expr}) WHEN 'number' THEN "
                f"{self._sqlite_number_text(f'({expr} #>> {chr(39)}{{}}{chr(39)})::numeric')} "
                f"WHEN 'boolean' THEN (CASE WHEN {expr} = 'true'::jsonb THEN '1' ELSE '0' END) "
                f"ELSE {self._json_text(expr)} END)"
            )
        if kind is Kind.JSON_ARRAY:
            # SQLite keeps the JSON text PocketBase wrote (no spaces); jsonb prints ", ".
            return self._compact(expr)
        return f"CAST({expr} AS TEXT)"

    @staticmethod
    def _sqlite_number_text(expr: str) -> str:
        """A ``NUMERIC`` column as SQLite's text of the same value.

        SQLite (``NUMERIC`` affinity) keeps an integral value inside int64 as INTEGER (text
        ``5``) and any other as REAL, whose text is the shortest round-trip digits, in fixed
        notation with at least one decimal for exponents -4..16 (``0.5``), else ``1.0e-05`` /
        ``1.0e+20``. PostgreSQL's ``CAST(numeric AS TEXT)`` is the exact decimal
        (``0.00001``), and float8's text switches notation at other exponents (``1e-05``,
        ``1.2345678901234565e+15``). Stored numerics are a float's shortest digits (see
        ``to_db``), so ``trim_scale`` gives the fixed form and float8 the exponent form.
        """
        return (
            f"CASE WHEN {expr} = trunc({expr})"
            f" AND {expr} BETWEEN -9223372036854775808 AND 9223372036854775807"
            f" THEN CAST(CAST({expr} AS BIGINT) AS TEXT)"
            f" WHEN abs({expr}) >= 0.0001 AND abs({expr}) < 1e17"
            f" THEN CAST(trim_scale({expr}) AS TEXT)"
            f" ELSE regexp_replace(CAST(CAST({expr} AS float8) AS TEXT), '^(-?[0-9]+)e', '\\1.0e')"
            " END"
        )

    def create_table(self, table: str, columns: Sequence[tuple[str, Kind]]) -> list[str]:
        cols = [
            f"{self.quote('id')} TEXT PRIMARY KEY "
            "DEFAULT ('r' || substr(md5(random()::text), 1, 14)) NOT NULL",
            # Insertion order, standing in for SQLite's implicit rowid (Dialect.rowid).
            f"{self.quote('_rowid_')} BIGINT GENERATED ALWAYS AS IDENTITY",
        ]
        cols += [self.column_ddl(name, kind) for name, kind in columns if name != "id"]
        return [f"CREATE TABLE {self.table(table)} ({', '.join(cols)})"]

    def change_column_kind(self, table: str, name: str, old: Kind, new: Kind) -> list[str]:
        q_table, q_col = self.table(table), self.quote(name)
        alter = f"ALTER TABLE {q_table} ALTER COLUMN {q_col}"
        if old is Kind.TEXT and new is Kind.JSON_ARRAY:
            return [
                f"{alter} DROP DEFAULT",
                f"{alter} TYPE JSONB USING CASE WHEN {q_col} = '' THEN '[]'::jsonb "
                f"ELSE jsonb_build_array({q_col}) END",
                f"{alter} SET DEFAULT '[]'::jsonb",
            ]
        if old is Kind.JSON_ARRAY and new is Kind.TEXT:
            return [
                f"{alter} DROP DEFAULT",
                f"{alter} TYPE TEXT USING coalesce({q_col} ->> -1, '')",
                f"{alter} SET DEFAULT ''",
            ]
        return []

    MAX_INDEX_COLUMNS = 32
    _SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})

    def identifier_problem(self, name: str, *, column: bool) -> str | None:
        if len(name.encode("utf-8")) > 63:
            return "PostgreSQL keeps names to 63 bytes; use a shorter name."
        if column and name in self._SYSTEM_COLUMNS:
            return f"{name} is a PostgreSQL system column name; use another name."
        return None

    def index_column(self, column: str, collation: str) -> str:
        if collation == "NOCASE":
            return f"lower({self.quote(column)})"
        return f'{self.quote(column)} COLLATE "C"' if collation else self.quote(column)

    def index_name(self, name: str) -> str:
        if len(name.encode("utf-8")) <= 63:
            return name
        import zlib

        return (
            name.encode("utf-8")[:54].decode("utf-8", "ignore")
            + f"_{zlib.crc32(name.encode()):08x}"
        )

    def logs_schema(self, table: str) -> list[str]:
        t, q = self.table(table), self.quote
        idx = "idx_" + table.strip("_")  # PocketBase's idx_logs_* for _logs
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            f"{q('id')} TEXT NOT NULL, "
            f"{q('level')} BIGINT DEFAULT 0 NOT NULL, "
            f"{q('message')} TEXT DEFAULT '' NOT NULL, "
            f"{q('data')} JSONB DEFAULT '{{}}'::jsonb NOT NULL, "
            f"{q('created')} TIMESTAMPTZ DEFAULT now() NOT NULL, "
            # Write order, standing in for SQLite's rowid (``sort=@rowid``, the ties).
            f"{q('_rowid_')} BIGINT GENERATED ALWAYS AS IDENTITY"
            f") PARTITION BY RANGE ({q('created')})",
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {self.table(table + '_default')} "
            f"PARTITION OF {t} DEFAULT",
            f"CREATE INDEX IF NOT EXISTS {q(idx + '_id')} ON {t} ({q('id')})",
            f"CREATE INDEX IF NOT EXISTS {q(idx + '_level')} ON {t} ({q('level')})",
            f"CREATE INDEX IF NOT EXISTS {q(idx + '_message')} ON {t} ({q('message')})",
            f"CREATE INDEX IF NOT EXISTS {q(idx + '_created')} ON {t} ({q('created')})",
        ]

    def log_hour(self, column: str) -> str:
        utc_hour = f"date_trunc('hour', {column}, 'UTC') AT TIME ZONE 'UTC'"
        return f"to_char({utc_hour}, 'YYYY-MM-DD HH24:00:00')"

    def log_insert_sql(self, table: str, rows_param: str) -> str:
        """PostgreSQL: ``jsonb_array_elements`` over the array, each field cast to its
        column (``data`` stays jsonb, ``created`` parses PocketBase's layout with its
        ``Z``); the parent table routes each row to its day partition."""
        names = ", ".join(self.quote(c) for c, _ in self.LOG_COLUMNS)
        return (
            f"INSERT INTO {self.table(table)} ({names}) SELECT r->>0, (r->>1)::bigint, r->>2, "
            f"r->3, (r->>4)::timestamptz FROM jsonb_array_elements({rows_param}::jsonb) AS r"
        )

    def log_days(self, table: str, days: Sequence[date]) -> list[str]:
        """``CREATE UNLOGGED TABLE <table>_pYYYYMMDD PARTITION OF <table> FOR VALUES FROM
        (day) TO (next day)``; the bounds are dates formatted here, never outside text."""
        out = []
        for day in days:
            name = self.table(f"{table}_p{day:%Y%m%d}")
            upper = day + timedelta(days=1)
            out.append(
                f"CREATE UNLOGGED TABLE IF NOT EXISTS {name} PARTITION OF {self.table(table)} "
                f"FOR VALUES FROM ('{day.isoformat()}') TO ('{upper.isoformat()}')"
            )
        return out

    def log_partitions_sql(self, table_param: str) -> str:
        """The day partitions of a log table (name bound), oldest first."""
        return (
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            f"WHERE p.relname = {table_param} AND n.nspname = current_schema() "
            "ORDER BY c.relname"
        )

    def log_retention(self, table: str, before: date) -> list[tuple[str, dict[str, Any]]]:
        """Drops are computed from the catalogue by the caller (:meth:`log_partitions_sql`
        then :meth:`drop_log_day`); this deletes the default partition's old rows."""
        cutoff = datetime.combine(before, time_of_day.min, tzinfo=UTC)
        default = self.table(table + "_default")
        return [(f"DELETE FROM {default} WHERE {self.quote('created')} < %(c)s", {"c": cutoff})]

    def drop_log_day(self, table: str, partition: str, before: date) -> str | None:
        """``DROP TABLE`` for a day partition of ``table`` wholly before ``before``; None
        for any other name (the default partition, a later day, a foreign table)."""
        prefix = f"{table}_p"
        stamp = partition[len(prefix) :] if partition.startswith(prefix) else ""
        try:
            day = datetime.strptime(stamp, "%Y%m%d").date()
        except ValueError:
            return None
        if day + timedelta(days=1) > before:
            return None
        return f"DROP TABLE IF EXISTS {self.table(partition)}"

    def list_tables_sql(self) -> str:
        return (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        )

    def list_columns_sql(self, table_param: str) -> str:
        return (
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            f"current_schema() AND table_name = {table_param} AND column_name <> '_rowid_' "
            "ORDER BY ordinal_position"
        )

    def to_db(self, kind: Kind, value: Any) -> Any:
        if kind is Kind.BOOL:
            return bool(value)
        if kind is Kind.NUMBER:
            # A float bound as float8 and cast to numeric keeps only 15 digits; bind the
            # shortest exact decimal instead (0.30000000000000004 survives).
            return Decimal(repr(value)) if isinstance(value, float) else value
        if kind is Kind.JSON:
            return None if value is None else Jsonb(value, dumps=_dump_json)
        if kind is Kind.JSON_ARRAY:
            return Jsonb(value if value is not None else [], dumps=_dump_json)
        if kind is Kind.DATETIME_MS:
            if not isinstance(value, datetime):
                return None
            return value.replace(microsecond=value.microsecond // 1000 * 1000)
        if kind is Kind.TIMESTAMP_US:
            return value if isinstance(value, datetime) else None
        return value

    def from_db(self, kind: Kind, raw: Any) -> Any:
        if kind is Kind.NUMBER:
            return _number(raw)
        return raw


def _dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _number(raw: Any) -> int | float:
    if isinstance(raw, Decimal):
        if raw == raw.to_integral_value() and -_INT64 <= raw < _INT64:
            return int(raw)
        return float(raw)
    return raw if isinstance(raw, int | float) else 0


_SQLSTATE_CLASSES: dict[str, type[errors.DatabaseError]] = {
    "23505": errors.UniqueViolation,
    "23503": errors.ForeignKeyViolation,
    "23502": errors.NotNullViolation,
    "23514": errors.CheckViolation,
    "40001": errors.SerializationFailure,
    "40P01": errors.Deadlock,
    "55P03": errors.LockTimeout,
    "57014": errors.StatementTimeout,
    "42P07": errors.AlreadyExists,
    "42710": errors.AlreadyExists,
}


# untranslatable_character (jsonb's \u0000), character_not_in_repertoire (text's 0x00)
_UNSTORABLE = ("22P05", "22021")


def translate(exc: psycopg.Error) -> errors.DatabaseError:
    sqlstate = getattr(exc, "sqlstate", None) or ""
    diag = getattr(exc, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    column = getattr(diag, "column_name", None)
    if isinstance(exc, psycopg.OperationalError) and not sqlstate:
        return errors.ConnectionFailed(str(exc))
    if sqlstate in _UNSTORABLE or (isinstance(exc, psycopg.DataError) and "NUL" in str(exc)):
        # psycopg refuses a NUL in a bound text value before sending it (no SQLSTATE)
        return errors.UnstorableText(str(exc))
    if sqlstate == "42501" and "row-level security" in str(exc):
        return errors.PolicyViolation(str(exc))
    cls = _SQLSTATE_CLASSES.get(sqlstate)
    if cls is None:
        cls = errors.IntegrityError if sqlstate.startswith("23") else errors.QueryError
    return cls(str(exc), constraint=constraint, column=column)


@dataclass(frozen=True)
class PoolConfig:
    """psycopg_pool knobs (EPIC-1.5), with the defaults this project runs with."""

    min_size: int = 2
    max_size: int = 10
    timeout: float = 10.0  # waiting for a connection longer than this raises
    max_idle: float = 300.0
    max_lifetime: float = 3600.0
    isolation: str = "READ COMMITTED"  # or REPEATABLE READ / SERIALIZABLE
    leak_after: float = 30.0  # a connection held longer is reported (_leaks.py); 0: off
    statement_timeout: float = 0.0  # seconds a statement may run (57014 past it); 0: off

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> PoolConfig:
        """Defaults, then ``PARITY_PG_POOL_*`` / ``PARITY_PG_ISOLATION`` from ``environ``,
        then ``overrides`` that are not None (command-line flags win)."""
        values: dict[str, Any] = {}
        for name, kind in POOL_ENV.items():
            env = _SPECIAL_ENV.get(name) or f"PARITY_PG_POOL_{name.upper()}"
            raw = environ.get(env)
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(f"{env}={raw!r}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        if config.isolation not in _ISOLATION:
            raise ValueError(
                f"isolation must be one of {', '.join(_ISOLATION)}, not {config.isolation!r}"
            )
        if not 0 < config.min_size <= config.max_size:
            raise ValueError(
                f"pool sizes need 0 < min ({config.min_size}) <= max ({config.max_size})"
            )
        return config


POOL_ENV: dict[str, Any] = {
    "min_size": int,
    "max_size": int,
    "timeout": float,
    "max_idle": float,
    "max_lifetime": float,
    "isolation": isolation_level,
    "leak_after": float,
    "statement_timeout": float,
}
_SPECIAL_ENV = {
    "isolation": "PARITY_PG_ISOLATION",
    "statement_timeout": "PARITY_PG_STATEMENT_TIMEOUT",
}


_ISOLATION = {
    "READ COMMITTED": psycopg.IsolationLevel.READ_COMMITTED,
    "REPEATABLE READ": psycopg.IsolationLevel.REPEATABLE_READ,
    "SERIALIZABLE": psycopg.IsolationLevel.SERIALIZABLE,
}
_SET_ISOLATION = {level: f"SET TRANSACTION ISOLATION LEVEL {level}" for level in _ISOLATION}


AUTH_SETTINGS = ("id", "collectionId", "collectionName", "email", "verified", "emailVisibility")


def session_settings(session: Session, fields: frozenset[str] = frozenset()) -> dict[str, str]:
    """What the policies read (``Dialect.session_value``), as text: '' when unset (a guest's
    auth), ``true``/``false`` for booleans; ``fields``: the auth record's other fields that
    some policy reads (``use_session_fields``)."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    values: dict[str, str] = {"pb.auth.role": session.role}
    for key in (*AUTH_SETTINGS, *sorted(fields)):
        values[f"pb.auth.{key}"] = text(session.auth.get(key))
    values["pb.request.action"] = session.action
    values["pb.request.record"] = session.record
    values["pb.request.context"] = session.context
    values["pb.request.method"] = session.method
    return values


@functools.lru_cache(maxsize=16)
def _set_config_sql(count: int) -> str:
    """``SELECT set_config(%(n0)s, %(v0)s, true), ...``: built once per number of settings,
    not per transaction."""
    calls = ", ".join(f"set_config(%(n{i})s, %(v{i})s, true)" for i in range(count))
    return f"SELECT {calls}"


def lock_key(name: str) -> int:
    """A named lock's second key: 31 bits of its SHA-1 (pg_locks shows it as ``objid``)."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _as_is(value: Any) -> Any:
    """A blocking connection's results need no waiting."""
    return value


class _PostgresTx(AfterCommit):
    """One transaction's statements on a psycopg connection, blocking or asyncio.

    psycopg's asyncio connection has the blocking one's API with coroutines in place of
    results; ``wait`` turns them back into results (``await_`` through the bridge), so both
    run the same code.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any],
        dialect: PostgresDialect,
        wait: Callable[[Any], Any] = _as_is,
        role: str | None = None,
        fields: frozenset[str] = frozenset(),
    ):
        self._conn = conn
        self._wait = wait
        self._role = role
        self._fields = fields
        self._notifies: list[str] = []
        self.dialect = dialect

    def set_session(self, session: Session) -> None:
        """One statement: the role (the unprivileged one for a guest or a user, back to the
        login role for a bypassing session) and the settings the policies read, all
        transaction-local (``is_local``), so a pooled connection keeps none of them."""
        if self._role is None:
            return
        values = session_settings(session, self._fields)
        values["role"] = "none" if session.bypass else self._role
        params: dict[str, Any] = {}
        for i, (name, value) in enumerate(values.items()):
            params[f"n{i}"], params[f"v{i}"] = name, value
        self.execute(_set_config_sql(len(values)), params)

    def notify(self, payload: str) -> None:
        """``pg_notify`` on the event channel, sent with the COMMIT (:meth:`commit`):
        delivered at COMMIT, dropped on ROLLBACK."""
        size = len(payload.encode())
        if size >= NOTIFY_LIMIT:
            raise ValueError(f"NOTIFY payload of {size} bytes: PostgreSQL refuses 8000 or more")
        self._notifies.append(payload)

    def commit(self) -> None:
        """The pending notifications and the COMMIT in one round trip: a simple-query
        string (``SELECT pg_notify(...), ...; COMMIT``), the payloads quoted by psycopg
        (``sql.Literal``), never spliced. Nothing to do without notifications: the pool's
        context manager commits then (it skips a connection already idle)."""
        if not self._notifies:
            return
        calls = sql.SQL(", ").join(
            sql.SQL("pg_notify({}, {})").format(sql.Literal(CHANNEL), sql.Literal(p))
            for p in self._notifies
        )
        self._notifies = []
        statement = sql.SQL("SELECT {}; COMMIT").format(calls).as_string(None)
        self.execute(statement)

    def execute(self, sql: str, params: Params | None = None) -> int:
        capture(sql, params)
        try:
            cur = self._wait(self._conn.execute(sql, params))
        except psycopg.Error as exc:
            raise translate(exc) from exc
        return max(int(cur.rowcount), 0)

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        capture(sql, params)
        try:
            cur = self._wait(self._conn.execute(sql, params))
            rows: list[Row] = self._wait(cur.fetchall())
        except psycopg.Error as exc:
            raise translate(exc) from exc
        return rows

    def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        capture(sql, params)
        try:
            cur = self._wait(self._conn.execute(sql, params))
            row: Row | None = self._wait(cur.fetchone())
        except psycopg.Error as exc:
            raise translate(exc) from exc
        return row

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        capture(sql, rows[0] if rows else None)
        cur = self._conn.cursor()
        try:
            self._wait(cur.executemany(sql, rows))
        except psycopg.Error as exc:
            raise translate(exc) from exc
        finally:
            self._wait(cur.close())

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """``Tx.copy_rows``: ``COPY table (columns) FROM STDIN``, psycopg adapting each value
        (its copy escapes what text format needs: tabs, newlines, backslashes). Bridged, the
        whole stream is one wait on the loop (psycopg buffers rows and sends them in
        blocks), not one per row."""
        names = ", ".join(self.dialect.quote(c) for c in columns)
        statement = f"COPY {self.dialect.table(table)} ({names}) FROM STDIN"
        capture(statement, None)
        cur = self._conn.cursor()
        try:
            if isinstance(cur, psycopg.AsyncCursor):
                return int(self._wait(_copy_async(cur, statement, rows)))
            n = 0
            with cur.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
            return n
        except psycopg.Error as exc:
            raise translate(exc) from exc
        finally:
            self._wait(cur.close())


async def _copy_async(
    cur: psycopg.AsyncCursor[Any], statement: str, rows: Iterable[Sequence[Any]]
) -> int:
    n = 0
    async with cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)
            n += 1
    return n


class PostgresEngine:
    """psycopg 3 over a connection pool, blocking or asyncio.

    Blocking callers (the CLI, bootstrap, tests) use a ``ConnectionPool``. The server calls
    :meth:`open_async` on its event loop; from then on, domain work running bridged
    (``reference_impl.bridge``) uses an ``AsyncConnectionPool`` and waits for each round trip
    on the loop, so concurrent requests overlap without a thread per request. The blocking
    pool is closed then, and reopened only if a blocking caller comes back.
    """

    name = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        pool: PoolConfig | None = None,
        row_security_role: str | None = None,
        install: bool = True,
    ):
        self.dialect = PostgresDialect()
        self.config = pool or PoolConfig()
        self.row_security_role = row_security_role
        self.leaks = LeakWatch(self.config.leak_after)
        self._session_fields: frozenset[str] = frozenset()
        self._dsn = dsn
        self.schema_stale: Callable[[], bool] | None = None  # Engine.schema_stale
        self._apool: AsyncConnectionPool[Any] | None = None
        self._apool_loop: asyncio.AbstractEventLoop | None = None
        self._pool: ConnectionPool[Any] | None = self._open_pool()
        self.dialect.SCHEMA = self._current_schema()
        if install:  # an auxiliary engine finds the main one's in place (open_auxiliary)
            self._install_functions()
        if row_security_role is not None:
            try:
                self._prepare_role(row_security_role)
            except BaseException:
                self.close()
                raise

    def open_auxiliary(self) -> PostgresEngine:
        """``Engine.open_auxiliary``: the same database, a pool of its own."""
        config = replace(
            self.config, min_size=1, max_size=AUXILIARY_POOL_MAX, statement_timeout=0.0
        )
        return PostgresEngine(self._dsn, pool=config, install=False)

    @property
    def dsn(self) -> str:
        """Where this engine connects: what another server process on the same database
        is given (``parity serve --workers``)."""
        return self._dsn

    def _prepare_role(self, role: str) -> None:
        """The role requests run as: no superuser, no BYPASSRLS, allowed into the schema.
        The login role must bypass row level security itself (its rule functions read
        other collections without their rules) and be able to switch to ``role``."""
        assert self._pool is not None
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT rolsuper OR rolbypassrls, rolsuper OR rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user"
            ).fetchone()
            if not row or not row[0]:
                raise errors.ConnectionFailed(
                    "--rules rls|both needs a PostgreSQL login role with SUPERUSER or "
                    "BYPASSRLS (its rule functions read other collections without their "
                    "rules); connect as such a role or run with --rules app"
                )
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            quoted = sql.Identifier(role)
            if not exists:
                if not row[1]:
                    raise errors.ConnectionFailed(
                        f"role {role!r} does not exist and the login role cannot create it "
                        "(CREATEROLE); create it: CREATE ROLE "
                        f"{role} NOLOGIN NOSUPERUSER NOBYPASSRLS"
                    )
                try:
                    with conn.transaction():
                        conn.execute(
                            sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOBYPASSRLS").format(quoted)
                        )
                except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                    # Another process (an xdist worker, a cluster node) created it meanwhile:
                    # 42710 if its commit came first, 23505 on pg_authid_rolname_index if
                    # both inserted at once (seen with two clusters bootstrapping together).
                    pass
            check = conn.execute(
                "SELECT r.rolsuper OR r.rolbypassrls, pg_has_role(current_user, r.oid, 'MEMBER') "
                "FROM pg_roles r WHERE r.rolname = %s",
                (role,),
            ).fetchone()
            if check is not None and check[0]:
                raise errors.ConnectionFailed(
                    f"role {role!r} is a superuser or has BYPASSRLS: row level security would "
                    f"not apply to it; ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS"
                )
            if check is not None and not check[1]:
                raise errors.ConnectionFailed(
                    f"the login role cannot switch to {role!r} (SET ROLE); grant it: "
                    f"GRANT {role} TO <the login role>"
                )
            conn.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                    sql.Identifier(self.dialect.SCHEMA), quoted
                )
            )

    def _install_functions(self) -> None:
        """The SQL functions filters are rendered with (``_pg_functions``)."""
        assert self._pool is not None
        with self._pool.connection() as conn, conn.transaction():
            for statement in install_statements(self.dialect.quote(self.dialect.SCHEMA)):
                conn.execute(statement)

    def _current_schema(self) -> str:
        """The schema the app's tables live in (the first existing one on the search path)."""
        assert self._pool is not None
        with self._pool.connection() as conn:
            row = conn.execute("SELECT current_schema()").fetchone()
        if not row or not row[0]:
            raise errors.ConnectionFailed(
                "PostgreSQL has no current schema: no schema on the search_path exists; "
                "create one or set search_path in the DSN (options=-csearch_path=...)"
            )
        return str(row[0])

    def _open_pool(self) -> ConnectionPool[Any]:
        isolation = _ISOLATION[self.config.isolation]

        timeout = self._timeout_statement()

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.isolation_level = isolation
            if timeout:
                conn.autocommit = True
                conn.execute(timeout)
                conn.autocommit = False

        try:
            pool: ConnectionPool[Any] = ConnectionPool(
                self._dsn,
                open=False,
                configure=configure,
                name="parity",
                **self._pool_kwargs(),
            )
            pool.open(wait=True, timeout=self.config.timeout)
        except Exception as exc:  # psycopg_pool.PoolTimeout is not a psycopg.Error
            raise errors.ConnectionFailed(f"cannot connect to PostgreSQL: {exc}") from exc
        return pool

    def _timeout_statement(self) -> str:
        """``SET statement_timeout`` for every pooled connection ('' when off); a number in
        milliseconds, formatted here, never text from outside."""
        ms = int(self.config.statement_timeout * 1000)
        return f"SET statement_timeout = {ms}" if ms > 0 else ""

    def _pool_kwargs(self) -> dict[str, Any]:
        c = self.config
        return {
            "min_size": c.min_size,
            "max_size": c.max_size,
            "timeout": c.timeout,
            "max_idle": c.max_idle,
            "max_lifetime": c.max_lifetime,
        }

    async def open_async(self) -> None:
        loop = asyncio.get_running_loop()
        if self._apool is not None:
            if self._apool_loop is loop:
                return
            raise RuntimeError("the asyncio pool is open on another event loop: close it there")
        isolation = _ISOLATION[self.config.isolation]

        timeout = self._timeout_statement()

        async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.set_isolation_level(isolation)
            if timeout:
                await conn.set_autocommit(True)
                await conn.execute(timeout)
                await conn.set_autocommit(False)

        apool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._dsn, open=False, configure=configure, name="parity-async", **self._pool_kwargs()
        )
        try:
            await apool.open(wait=True, timeout=self.config.timeout)
        except Exception as exc:
            raise errors.ConnectionFailed(f"cannot connect to PostgreSQL: {exc}") from exc
        self._apool, self._apool_loop = apool, loop
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def close_async(self) -> None:
        lock_conn = self.__dict__.pop("_lock_conn", None)
        if lock_conn is not None:
            self.__dict__.pop("_lock_guard_", None)
            await lock_conn.close()
        if self._apool is not None:
            apool, self._apool, self._apool_loop = self._apool, None, None
            await apool.close()

    def use_session_fields(self, names: set[str]) -> None:
        self._session_fields = frozenset(names)

    @contextmanager
    def transaction(
        self, *, write: bool = False, session: Session | None = None, isolation: str | None = None
    ) -> Iterator[_PostgresTx]:
        """A transaction at the pool's isolation level, or at ``isolation`` (else the
        operation's ``requested_isolation``): then ``SET TRANSACTION ISOLATION LEVEL`` is its
        first statement (a constant from ``ISOLATION_LEVELS``, never client text)."""
        level = isolation or requested_isolation.get()
        tx: _PostgresTx | None = None
        try:
            with self.leaks.held(), self._transaction() as tx:
                if level is not None and level != self.config.isolation:
                    tx.execute(_SET_ISOLATION[level])
                if session is not None:
                    tx.set_session(session)
                with stale_schema_checked(self.schema_stale, write=write):
                    yield tx
                tx.commit()
            tx.run_after_commit()  # the pool's context manager committed: the connection is back
            if write:
                count_write_commit()
        finally:
            if tx is not None:
                tx.run_after_end()

    @contextmanager
    def _transaction(self) -> Iterator[_PostgresTx]:
        # Every transaction is explicit (psycopg opens it on the first statement and the
        # pool's context manager commits or rolls back), so set_config(..., true) for RLS
        # stays transaction-local and nothing leaks when a connection is reused.
        if bridged():
            # The asyncio pool wakes its waiters on its own loop only, and blocking the loop
            # on the blocking pool could wait for a greenlet parked on that same loop.
            if self._apool is None or self._apool_loop is not asyncio.get_running_loop():
                raise RuntimeError("PostgresEngine.open_async() was not called on this loop")
            with self._async_transaction(self._apool) as tx:
                yield tx
            return
        if self._pool is None:
            self._pool = self._open_pool()
        try:
            with self._pool.connection() as conn:
                yield _PostgresTx(
                    conn, self.dialect, role=self.row_security_role, fields=self._session_fields
                )
        except psycopg.Error as exc:
            raise translate(exc) from exc

    @contextmanager
    def _async_transaction(self, apool: AsyncConnectionPool[Any]) -> Iterator[_PostgresTx]:
        """``async with apool.connection()``, spelled out for a synchronous caller."""
        cm = apool.connection()
        try:
            conn = await_(cm.__aenter__())
            try:
                yield _PostgresTx(
                    conn, self.dialect, await_, self.row_security_role, self._session_fields
                )
            except BaseException as exc:
                if not await_(cm.__aexit__(type(exc), exc, exc.__traceback__)):
                    raise
            else:
                await_(cm.__aexit__(None, None, None))
        except psycopg.Error as exc:
            raise translate(exc) from exc

    # The LISTEN session: its own connection, never the pool's (a pooled connection
    # would carry the LISTEN to whoever takes it next, and the pool may close it).
    LISTEN_CHECK = 10.0  # seconds between liveness checks of a quiet listener

    async def listen(self, on_message: OnMessage, on_gap: Callable[[], None]) -> None:
        """``LISTEN pb_events`` on a dedicated autocommit connection until cancelled.

        A lost connection (server restart, ``pg_terminate_backend``, network) is reopened
        after a jittered backoff (the first retry within tens of milliseconds); ``on_gap``
        runs after every LISTEN, the first included, since notifications sent while no
        LISTEN was active are gone. A quiet connection is checked every ``LISTEN_CHECK``
        seconds with a ``SELECT 1`` (notifications arriving meanwhile wait in psycopg's
        backlog). The session's ``application_name`` is ``parity-listen-<server pid>``."""
        attempt = 0
        while True:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, application_name=f"parity-listen-{os.getpid()}"
                )
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                if attempt:
                    log.warning("LISTEN %s restored after %d attempt(s)", CHANNEL, attempt)
                attempt = 0
                on_gap()
                while True:
                    async for note in conn.notifies(timeout=self.LISTEN_CHECK):
                        on_message(note.payload)
                    await conn.execute("SELECT 1")
            except psycopg.Error as exc:
                if attempt % 20 == 0:  # the first failure, then every ~5 s while it lasts
                    log.warning("LISTEN %s: connection lost (%s); reconnecting", CHANNEL, exc)
                await asyncio.sleep(0.02 + backoff(min(attempt, 8)))
                attempt += 1
            finally:
                if conn is not None:
                    await conn.close()

    # Named locks: session advisory locks (two-key form, classid LOCK_NAMESPACE) on one
    # dedicated connection per process; re-entrant within a session, so this process's own
    # holdings are tracked to make a second try of a held name fail as elsewhere.
    async def _lock_session(self) -> psycopg.AsyncConnection[Any]:
        conn = self.__dict__.get("_lock_conn")
        if conn is None or conn.closed:
            conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, application_name=f"parity-locks-{os.getpid()}"
            )
            held: set[str] = set()  # a new session holds nothing
            self._lock_conn, self._held = conn, held
        return conn

    def _lock_guard(self) -> asyncio.Lock:
        guard = self.__dict__.get("_lock_guard_")
        if guard is None:
            guard = self._lock_guard_ = asyncio.Lock()
        return guard

    async def try_lock(self, name: str) -> bool:
        async with self._lock_guard():
            conn = await self._lock_session()
            if name in self._held:
                return False
            try:
                cur = await conn.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, lock_key(name))
                )
                row = await cur.fetchone()
            except psycopg.OperationalError as exc:
                log.warning("lock session lost (%s); its locks are released", exc)
                await conn.close()
                return False
            if row and row[0]:
                self._held.add(name)
                return True
            return False

    async def unlock(self, name: str) -> None:
        async with self._lock_guard():
            conn = self.__dict__.get("_lock_conn")
            if conn is None or conn.closed or name not in self._held:
                return
            self._held.discard(name)
            try:
                await conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, lock_key(name))
                )
            except psycopg.OperationalError:
                await conn.close()  # the session is gone, and its locks with it

    async def force_unlock(self, name: str) -> bool:
        own = self.__dict__.get("_lock_conn")
        own_pid = own.info.backend_pid if own is not None and not own.closed else 0
        with self.transaction() as tx:
            rows = tx.fetchall(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %(ns)s "
                "AND objid = %(key)s AND objsubid = 2 AND granted",
                {"ns": LOCK_NAMESPACE, "key": lock_key(name)},
            )
            others = [int(r[0]) for r in rows if int(r[0]) != own_pid]
            for pid in others:
                tx.fetchone("SELECT pg_terminate_backend(%(pid)s)", {"pid": pid})
        if len(others) < len(rows):
            await self.unlock(name)
        return bool(rows)

    def maintain(self) -> None:
        with self.transaction(write=True) as tx:
            tx.execute("ANALYZE")

    def version(self) -> str:
        with self.transaction() as tx:
            row = tx.fetchone("SELECT current_setting('server_version')")
        return f"PostgreSQL {row[0] if row else '?'} (psycopg {psycopg.__version__})"

    def pool_stats(self) -> dict[str, int]:
        """psycopg_pool's gauges and counters (``pool_size``, ``pool_available``,
        ``requests_waiting``, ``requests_errors``...) plus ``leaks`` (``_leaks.py``)."""
        pool = self._apool or self._pool
        stats = dict(pool.get_stats()) if pool is not None else {}
        stats["leaks"] = self.leaks.leaks
        return stats

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
