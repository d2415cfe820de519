"""Reading records: a SELECT rendered for the dialect, rows decoded to domain values, one
record by id, and PocketBase's paging (one statement for the page and its total)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reference_impl.core.collection import Collection
from reference_impl.core.fields import Field
from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import Tx
from reference_impl.db.render import count_sql, select_sql
from reference_impl.ir import BASE, Cmp, Compiled, Kind, Node, Ref, SortTerm, Val

Record = dict[str, Any]
_INT64 = 2**63


def equals(column: str, value: str) -> Node:
    """``column = value`` on a text column of the statement's own table."""
    return Cmp("=", Ref(BASE, column, Kind.TEXT), Val(value, Kind.TEXT))


def decode(dialect: Dialect, fields: Sequence[Field], row: Sequence[Any] | None) -> Record:
    assert row is not None, "INSERT/UPDATE ... RETURNING returned no row"
    return {f.name: dialect.from_db(f.kind, raw) for f, raw in zip(fields, row, strict=True)}


def fetch(
    tx: Tx,
    dialect: Dialect,
    coll: Collection,
    where: Sequence[Node | Compiled],
    sort: Sequence[SortTerm] = (),
    limit: int | None = None,
    offset: int = 0,
    lock: bool = False,
) -> list[Record]:
    """The collection's records matching every condition of ``where``."""
    fields = list(coll.fields)
    sql, params = select_sql(
        dialect,
        coll.name,
        [f.name for f in fields],
        where,
        sort,
        limit=limit,
        offset=offset,
        lock=lock,
    )
    return [decode(dialect, fields, row) for row in tx.fetchall(sql, params)]


def first_by(
    tx: Tx,
    dialect: Dialect,
    coll: Collection,
    column: str,
    value: str,
    extra: Sequence[Node | Compiled] = (),
    lock: bool = False,
) -> Record | None:
    """The record whose text ``column`` is ``value`` (and that meets ``extra``), if any."""
    if "\x00" in value and not dialect.TEXT_ALLOWS_NUL:
        return None  # the engine can hold no such value, so none matches (PocketBase: 404)
    rows = fetch(tx, dialect, coll, [equals(column, value), *extra], limit=1, lock=lock)
    return rows[0] if rows else None


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


@dataclass(frozen=True)
class Page:
    records: list[Record]
    page: int
    per_page: int
    total: int  # -1 with skipTotal
    pages: int  # -1 with skipTotal


def read_page(
    tx: Tx,
    dialect: Dialect,
    coll: Collection,
    where: Sequence[Node | Compiled],
    sort: Sequence[SortTerm],
    page_number: int,
    per_page_asked: int,
    *,
    count: bool,
) -> Page:
    """One page of records and, when ``count``, the total.

    One statement for the page and the total (a scalar sub-select) where the dialect says so;
    a page past the end has no row to carry the total, so it falls back to a COUNT.
    """
    page, per_page, offset = page_window(page_number, per_page_asked)
    fields = list(coll.fields)
    in_window = count and dialect.TOTAL_IN_STATEMENT
    sql, params = select_sql(
        dialect,
        coll.name,
        [f.name for f in fields],
        where,
        sort,
        limit=per_page,
        offset=offset,
        with_total=in_window,
    )
    rows = tx.fetchall(sql, params)
    records = [decode(dialect, fields, row[: len(fields)]) for row in rows]
    total = pages = -1
    if count:
        if in_window and rows:
            total = int(rows[0][-1])
        else:
            sql, params = count_sql(dialect, coll.name, where)
            row = tx.fetchone(sql, params)
            total = int(row[0]) if row else 0
        pages = math.ceil(total / per_page)
    return Page(records, page, per_page, total, pages)
