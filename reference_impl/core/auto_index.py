"""Indexes the server adds by itself for JSON paths that filters use often.

How it decides: every list request reports the JSON comparisons its conditions make on
the collection's own rows (``j.a.b = 5``: a JSON field, a path, and whether the literal is a
number or a text). When one (collection, field, path, literal class) has been used
``after`` times (default 50, ``PARITY_AUTO_INDEX_AFTER``; 0 turns it off), the request
that reached the count creates the index once its own work is done. SQLite gets an index
on the JSON value at the path; PostgreSQL one on the exact number or text expression
its comparison reads (``Dialect.json_path_index``), so both planners match it.

The indexes are the server's, not the collection's: named ``_pp_auto_...``, never in a
collection's ``indexes``, dropped before any change to their table (SQLite cannot drop a
column an index reads; a type change could break the expression) and relearned after.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from reference_impl.db.engine import Engine, Tx, run_in_transaction
from reference_impl.ir import BASE, BoolOp, Compiled, Exists, JsonCmp, Kind, Node, Not

log = logging.getLogger("parity.auto_index")

PREFIX = "_pp_auto_"
AFTER_ENV = "PARITY_AUTO_INDEX_AFTER"
DEFAULT_AFTER = 50

Key = tuple[str, str, tuple[str | int, ...], str]  # table, column, path, "number" | "text"


def default_after() -> int:
    raw = os.environ.get(AFTER_ENV, "")
    return int(raw) if raw.strip().isdigit() else DEFAULT_AFTER


def index_name(key: Key) -> str:
    table, column = key[0], key[1]
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:10]
    return f"{PREFIX}{table}_{column}_{digest}"


@dataclass
class JsonIndexAdvisor:
    engine: Engine
    after: int = field(default_factory=default_after)
    counts: dict[Key, int] = field(default_factory=dict)
    created: set[Key] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, table: str, where: Sequence[Node | Compiled]) -> list[Key]:
        """Count this request's JSON comparisons; the keys that just reached ``after``."""
        if self.after <= 0:
            return []
        due = []
        with self._lock:
            for key in set(_json_keys(table, where)):
                if key in self.created:
                    continue
                self.counts[key] = self.counts.get(key, 0) + 1
                if self.counts[key] == self.after:
                    due.append(key)
        return due

    def build(self, keys: Sequence[Key]) -> None:
        """Create the indexes (one write transaction each); a failure is logged and the
        key counted afresh: the request that triggered it is already answered."""
        dialect = self.engine.dialect
        for key in keys:
            table, column, path, klass = key
            statement = dialect.json_path_index(index_name(key), table, column, path, klass)

            def work(tx: Tx, statement: str = statement) -> None:
                tx.execute(statement)

            try:
                run_in_transaction(self.engine, work, write=True)
            except Exception:  # an index is an optimisation, never the request's error
                log.warning("automatic index on %s.%s %s failed", table, column, path)
                with self._lock:
                    self.counts.pop(key, None)
                continue
            with self._lock:
                self.created.add(key)
            log.info("created index %s (%s.%s %s)", index_name(key), table, column, path)

    def drop_for(self, tx: Tx, table: str) -> None:
        """Drop the table's automatic indexes (before its schema changes) and forget them."""
        dialect = self.engine.dialect
        names = [
            row[0]
            for row in tx.fetchall(dialect.list_indexes_sql(dialect.placeholder("t")), {"t": table})
            if str(row[0]).startswith(PREFIX)
        ]
        for name in names:
            tx.execute(dialect.drop_index(name))
        self.forget(table)

    def forget(self, table: str | None = None) -> None:
        """Forget what was counted and built for ``table`` (every table: None), as when
        another server process changed it (``core/coherence.py``)."""
        with self._lock:
            for key in [k for k in self.created | set(self.counts) if table in (None, k[0])]:
                self.created.discard(key)
                self.counts.pop(key, None)


def _json_keys(table: str, where: Sequence[Node | Compiled]) -> Iterator[Key]:
    for item in where:
        yield from _walk(table, item.where if isinstance(item, Compiled) else item)


def _walk(table: str, node: Node) -> Iterator[Key]:
    if isinstance(node, BoolOp):
        for item in node.items:
            yield from _walk(table, item)
    elif isinstance(node, Not):
        yield from _walk(table, node.item)
    elif isinstance(node, Exists):
        yield from _walk(table, node.where)
    elif isinstance(node, JsonCmp) and node.ref.alias == BASE and node.literal is not None:
        if node.literal.value is None or node.op not in ("=", "<", "<=", ">", ">="):
            return
        klass = "text" if node.literal.kind is Kind.TEXT else "number"
        yield (table, node.ref.column, node.ref.json_path, klass)
