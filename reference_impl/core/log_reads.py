"""Reading request logs: PocketBase's logs API (apis/logs.go, core/log_query.go) over
``_logs`` on the auxiliary engine.

``GET /api/logs`` is a search over the table as records lists are (page, perPage, sort,
filter, skipTotal, the same limits), with PocketBase's ``SimpleFieldResolver``: a filter
or sort names ``id``, ``created``, ``level``, ``message``, ``data`` or a path into ``data``
(``data.status``), plus the macros and ``@rowid`` / ``@random``; nothing else resolves.
``GET /api/logs/stats`` counts the (filtered) rows per hour, ``GET /api/logs/{id}`` is one.

A log as PocketBase serialises it: ``id``, ``created``, ``data`` (its keys sorted, as Go
writes a map), ``message``, ``level``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from reference_impl.core import errors as e
from reference_impl.core.collection import Collection
from reference_impl.core.fields import Field
from reference_impl.core.filter import (
    Bindings,
    FilterError,
    Scope,
    bind,
    compile_filter,
    parse_sort,
)
from reference_impl.core.logs import LOGS_TABLE
from reference_impl.core.records.reads import equals, fetch, read_page
from reference_impl.db.engine import Engine
from reference_impl.db.render import hourly_counts_sql
from reference_impl.ir import Compiled, Node, format_pb_datetime

MSG_INVALID_FILTER = "Invalid filter format."  # logsStats' answer to a filter it cannot build

# ``_logs`` as the filter language sees it (the kinds of ``Dialect.LOG_COLUMNS``).
LOG_FIELDS = (
    Field("text", "id"),
    Field("date", "created"),
    Field("json", "data"),
    Field("text", "message"),
    Field("number", "level"),
)
LOGS = Collection(id=LOGS_TABLE, name=LOGS_TABLE, system=True, fields=list(LOG_FIELDS))
SCOPE = Scope(fields={f.name: f for f in LOG_FIELDS}, allow_hidden=True, simple=True)


def _sorted(value: Any) -> Any:
    """JSON as Go's encoder writes a ``map[string]any``: every object's keys sorted."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def log_json(row: dict[str, Any]) -> dict[str, Any]:
    created = row["created"]
    data = row["data"]
    return {
        "id": row["id"],
        "created": format_pb_datetime(created) if isinstance(created, datetime) else "",
        "data": _sorted(data) if isinstance(data, dict) else {},
        "message": row["message"],
        "level": int(row["level"] or 0),
    }


def _where(filter_text: str) -> list[Node | Compiled]:
    """The filter bound to the clock (the only request value it can read); raises
    ``FilterError``."""
    if not filter_text:
        return []
    return [bind(compile_filter(filter_text, SCOPE), Bindings(now=datetime.now(UTC)))]


class LogReads:
    """The logs API's reads over the auxiliary engine (blocking: callers run them in a
    thread, beside the log writer's)."""

    def __init__(self, aux: Engine, table: str = LOGS_TABLE) -> None:
        self.aux = aux
        self.collection = (
            LOGS
            if table == LOGS_TABLE
            else Collection(id=table, name=table, system=True, fields=list(LOG_FIELDS))
        )

    def list(
        self, *, page: int, per_page: int, sort: str, filter_text: str, skip_total: bool
    ) -> dict[str, Any]:
        """``logsList``: a filter or sort it cannot resolve is PocketBase's plain 400."""
        try:
            where = _where(filter_text)
            terms = parse_sort(sort, SCOPE)
        except FilterError as exc:
            raise e.bad_request() from exc
        d = self.aux.dialect
        with self.aux.transaction() as tx:
            found = read_page(
                tx, d, self.collection, where, terms, page, per_page, count=not skip_total
            )
        return {
            "items": [log_json(row) for row in found.records],
            "page": found.page,
            "perPage": found.per_page,
            "totalItems": found.total,
            "totalPages": found.pages,
        }

    def stats(self, filter_text: str) -> builtins.list[dict[str, Any]]:
        """``logsStats``: ``[{date: "YYYY-MM-DD HH:00:00.000Z", total}]``, oldest first."""
        try:
            where = _where(filter_text)
        except FilterError as exc:
            raise e.bad_request(MSG_INVALID_FILTER) from exc
        sql, params = hourly_counts_sql(self.aux.dialect, self.collection.name, "created", where)
        with self.aux.transaction() as tx:
            rows: Sequence[Sequence[Any]] = tx.fetchall(sql, params)
        return [{"date": f"{hour}.000Z", "total": int(total)} for hour, total in rows]

    def view(self, log_id: str) -> dict[str, Any]:
        """``logsView``: the log, else 404."""
        d = self.aux.dialect
        if "\x00" in log_id and not d.TEXT_ALLOWS_NUL:
            raise e.not_found()
        with self.aux.transaction() as tx:
            rows = fetch(tx, d, self.collection, [equals("id", log_id)], limit=1)
        if not rows:
            raise e.not_found()
        return log_json(rows[0])
