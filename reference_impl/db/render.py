"""Stage 3 of the filter compiler, and the record statements: IR -> SQL per dialect.

Parameter names are deterministic (``p1, p2, ...`` in order of appearance) so golden SQL
compares byte for byte. Every value is bound; identifiers are validated field names, quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reference_impl.core.filter import (
    RANDOM,
    ROWID,
    ArrayContains,
    BoolOp,
    Cmp,
    Col,
    Const,
    DateText,
    IsEmpty,
    Like,
    Node,
    SortTerm,
    Val,
)
from reference_impl.db.dialect import Dialect, Kind


@dataclass
class Sql:
    dialect: Dialect
    table: str
    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, kind: Kind) -> str:
        name = f"p{len(self.params) + 1}"
        self.params[name] = self.dialect.to_db(kind, value)
        return self.dialect.placeholder(name)

    def col(self, name: str) -> str:
        return f"{self.dialect.quote(self.table)}.{self.dialect.quote(name)}"

    def node(self, node: Node) -> str:
        d = self.dialect
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.node(item) for item in node.items) + ")"
        if isinstance(node, Const):
            return "1 = 1" if node.value else "1 = 0"
        if isinstance(node, IsEmpty):
            text = d.is_empty(self.col(node.col.name), node.col.kind)
            return f"NOT {text}" if node.negate else text
        if isinstance(node, Like):
            target = d.text_of(self.col(node.col.name), node.col.kind)
            return d.like(target, self.bind(node.pattern, Kind.TEXT), negate=node.negate)
        if isinstance(node, DateText):
            left = d.datetime_text(self.col(node.col.name))
            return f"{left} {node.op} {self.bind(node.text, Kind.TEXT)}"
        if isinstance(node, Cmp):
            return self._cmp(node)
        if isinstance(node, ArrayContains):
            return d.json_array_contains(self.col(node.col.name), self.bind(node.value, Kind.TEXT))
        raise TypeError(f"unknown node {node!r}")

    def _cmp(self, node: Cmp) -> str:
        left = self.col(node.left.name)
        if isinstance(node.right, Col):
            right = self.col(node.right.name)
            if node.left.kind is Kind.TEXT:  # PocketBase: COALESCE(L,'') = COALESCE(R,'')
                left, right = f"COALESCE({left}, '')", f"COALESCE({right}, '')"
        else:
            right = self.bind(node.right.value, _bind_kind(node.left, node.right))
        if node.op == "!=":
            return self.dialect.null_safe_equal(left, right, negate=True)
        if (
            node.op in ("<", "<=")
            and node.left.kind is Kind.DATETIME_MS
            and self.dialect.UNSET_DATE_IS_NULL
            and isinstance(node.right, Val)
        ):
            # PocketBase's unset date is '', below every date: keep those rows here too.
            return f"({left} {node.op} {right} OR {left} IS NULL)"
        return f"{left} {node.op} {right}"


def _bind_kind(col: Col, value: Val) -> Kind:
    return col.kind if col.kind is not Kind.TEXT else Kind.TEXT


def select_sql(
    dialect: Dialect,
    table: str,
    columns: Sequence[str],
    where: Sequence[Node],
    sort: Sequence[SortTerm],
    *,
    limit: int | None = None,
    offset: int = 0,
    lock: bool = False,
    with_total: bool = False,
) -> tuple[str, dict[str, Any]]:
    """``with_total`` appends ``COUNT(*) OVER ()``: the number of matching rows before
    LIMIT, in the same statement (window functions: SQLite >= 3.25, PostgreSQL)."""
    sql = Sql(dialect, table)
    cols = ", ".join(sql.col(c) for c in columns) + (", COUNT(*) OVER ()" if with_total else "")
    text = f"SELECT {cols} FROM {dialect.table(table)}"
    q = dialect.quote
    joined: set[str] = set()
    for _name, _desc, _kind, join in sort:
        if join is not None and join.relation not in joined:
            joined.add(join.relation)
            alias = q(f"__rel_{join.relation}")
            text += (
                f" LEFT JOIN {dialect.table(join.table)} AS {alias} "
                f"ON {alias}.{q('id')} = {sql.col(join.relation)}"
            )
    conditions = [sql.node(node) for node in where]
    if conditions:
        text += " WHERE " + " AND ".join(f"({c})" for c in conditions)
    terms = []
    for name, descending, _kind, join in sort:
        if join is not None:
            terms.append(
                dialect.order_term(f"{q('__rel_' + join.relation)}.{q(join.column)}", descending)
            )
        elif name == RANDOM:
            terms.append(dialect.random_function())
        elif name == ROWID:
            terms.append(dialect.order_term(dialect.rowid(table), descending))
        elif _kind is Kind.JSON:
            terms += dialect.json_order_terms(sql.col(name), descending)
        else:
            terms.append(dialect.order_term(sql.col(name), descending))
    # Ties (and no sort at all) fall back to insertion order: SQLite's natural order,
    # made explicit so PostgreSQL's heap order never leaks into a response.
    if not any(term[0] == RANDOM for term in sort):
        terms.append(dialect.order_term(dialect.rowid(table), False))
    text += " ORDER BY " + ", ".join(terms)
    if limit is not None:
        limit_p = sql.bind(limit, Kind.INT64)
        offset_p = sql.bind(offset, Kind.INT64)
        text += " " + dialect.limit_offset(limit_p, offset_p)
    if lock:
        text += dialect.for_update()
    return text, sql.params


def count_sql(dialect: Dialect, table: str, where: Sequence[Node]) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    text = f"SELECT COUNT(*) FROM {dialect.table(table)}"
    conditions = [sql.node(node) for node in where]
    if conditions:
        text += " WHERE " + " AND ".join(f"({c})" for c in conditions)
    return text, sql.params


def _returning(dialect: Dialect, columns: Sequence[str] | None) -> str:
    # RETURNING: PostgreSQL always, SQLite since 3.35 (the pinned build is 3.54).
    return f" RETURNING {', '.join(dialect.quote(c) for c in columns)}" if columns else ""


def insert_sql(
    dialect: Dialect,
    table: str,
    values: Sequence[tuple[str, Kind, Any]],
    *,
    returning: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    names = ", ".join(dialect.quote(name) for name, _, _ in values)
    binds = ", ".join(sql.bind(value, kind) for _, kind, value in values)
    text = f"INSERT INTO {dialect.table(table)} ({names}) VALUES ({binds})"
    return text + _returning(dialect, returning), sql.params


def update_sql(
    dialect: Dialect,
    table: str,
    record_id: str,
    values: Sequence[tuple[str, Kind, Any]],
    *,
    returning: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    q = dialect.quote
    # A collection of only ``id`` still updates (to return the row): a no-op assignment.
    sets = ", ".join(f"{q(name)} = {sql.bind(value, kind)}" for name, kind, value in values)
    sets = sets or f"{q('id')} = {q('id')}"
    where = sql.bind(record_id, Kind.TEXT)
    text = f"UPDATE {dialect.table(table)} SET {sets} WHERE {q('id')} = {where}"
    return text + _returning(dialect, returning), sql.params


def delete_sql(dialect: Dialect, table: str, record_id: str) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    where = sql.bind(record_id, Kind.TEXT)
    return f"DELETE FROM {dialect.table(table)} WHERE {dialect.quote('id')} = {where}", sql.params


def exists_ids_sql(dialect: Dialect, table: str, ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    binds = [sql.bind(i, Kind.TEXT) for i in ids]
    cond = dialect.in_list(dialect.quote("id"), binds)
    return f"SELECT {dialect.quote('id')} FROM {dialect.table(table)} WHERE {cond}", sql.params


def delete_all_sql(dialect: Dialect, table: str) -> tuple[str, dict[str, Any]]:
    return f"DELETE FROM {dialect.table(table)}", {}
