"""Metamorphic and three-engine checks of the filter compiler, in process, on each engine.

Hypothesis draws rows (text with Unicode, ``%``, ``_``, ``\\``; numbers at int64 bounds
and floats; bools; dates and unset dates; json scalars, objects and arrays; multi-select
lists, empty ones included) and filter trees over plain fields, JSON paths, ``:lower``,
``:length``, ``:each`` with the ``?`` operators, ``~`` and every comparison. For each
filter, on SQLite and on PostgreSQL:

- **NoREC** (Rigger & Su, 2020): the rows the optimised query returns (``WHERE cond``) are
  the rows whose condition an unoptimisable rewrite evaluates to true (the same condition
  as a projected ``CASE WHEN cond THEN 1 ELSE 0 END`` over every row, where no index or
  rewrite can apply);
- **the evaluator**: ``core/filter/evaluate.py`` decides the same rows in Python from the
  rows as stored (a third engine; PocketBase's answers are in the filter table tests).

A failure prints the rows and the filter, and hypothesis' seed (``print_blob``) replays it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_impl.core.collection import Collection
from reference_impl.core.fields import Field
from reference_impl.core.filter import Bindings, FilterError, Scope, bind, compile_filter
from reference_impl.core.filter.evaluate import matches
from reference_impl.db.engine import Engine
from reference_impl.db.render import Sql, delete_all_sql, insert_sql, select_sql

FIELDS = [
    Field("text", "id"),
    Field("text", "title"),
    Field("number", "n"),
    Field("bool", "ok"),
    Field("date", "d"),
    Field("json", "j"),
    Field("select", "tags", {"values": ["a", "b", "c"], "maxSelect": 3}),
]
TABLE = "norec_rows"
COLLECTION = Collection("norec_id", TABLE, fields=FIELDS, rules={"listRule": ""})
SCOPE = Scope({f.name: f for f in FIELDS}, allow_hidden=True, collection=COLLECTION)

TEXT = st.text(alphabet="aAbZ%_\\ äÄß1.-", max_size=6)
NUMBER = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-5, max_value=5),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda f: round(f, 3)),
)
DATE = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)
    ),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), TEXT, st.sampled_from([2.5]))
JSON = st.one_of(
    SCALAR,
    st.dictionaries(st.sampled_from(["a", "b"]), SCALAR, max_size=2),
    st.lists(SCALAR, max_size=3),
)
ROW = st.fixed_dictionaries(
    {
        "title": TEXT,
        "n": NUMBER,
        "ok": st.booleans(),
        "d": DATE,
        "j": JSON,
        "tags": st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3),
    }
)

LITERALS = {
    "text": ["'a'", "'A'", "''", "'%a%'", "'a_'", "'ä'", "1", "2.5", "true", "null"],
    "number": ["0", "1", "-1", "2.5", "'1'", "'x'", "9223372036854775807", "true", "null"],
    "bool": ["true", "false", "1", "0", "null", "'1'"],
    "date": ["'2000-01-01 00:00:00.000Z'", "'2000'", "''", "null", "@now"],
    "json": ["1", "0", "-1", "2.5", "'a'", "''", "true", "false", "null", "'[1]'"],
    "count": ["0", "1", "2", "3", "null"],
}
OPERANDS = [
    ("title", "text"),
    ("title:lower", "text"),
    ("n", "number"),
    ("ok", "bool"),
    ("d", "date"),
    ("j", "json"),
    ("j.a", "json"),
    ("j.0", "json"),
    ("j.a.b", "json"),
    ("tags", "text"),
    ("tags:each", "text"),
    ("tags:length", "count"),
]
OPS = ["=", "!=", "<", "<=", ">", ">=", "~", "!~"]


@st.composite
def atoms(draw: st.DrawFn) -> str:
    field, kind = draw(st.sampled_from(OPERANDS))
    op = draw(st.sampled_from(OPS))
    if field == "tags:each" and draw(st.booleans()):
        op = "?" + op
    return f"{field} {op} {draw(st.sampled_from(LITERALS[kind]))}"


FILTERS = st.recursive(
    atoms(),
    lambda inner: st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    ),
    max_leaves=4,
)


@pytest.fixture(scope="module")
def norec_table(engine: Engine) -> str:
    d = engine.dialect
    with engine.transaction(write=True) as tx:
        for statement in d.drop_table(TABLE):
            tx.execute(statement)
        for statement in d.create_table(TABLE, [(f.name, f.kind) for f in FIELDS]):
            tx.execute(statement)
    return TABLE


def _store(engine: Engine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace the table's rows; return them as stored (decoded back)."""
    d = engine.dialect
    with engine.transaction(write=True) as tx:
        tx.execute(*delete_all_sql(d, TABLE))
        for index, raw in enumerate(rows):
            values = [("id", Field("text", "id").kind, f"r{index:014d}")]
            values += [(f.name, f.kind, f.cast(raw[f.name])) for f in FIELDS if f.name != "id"]
            tx.execute(*insert_sql(d, TABLE, values))
        sql, params = select_sql(d, TABLE, [f.name for f in FIELDS], [], [])
        return [
            {f.name: d.from_db(f.kind, v) for f, v in zip(FIELDS, row, strict=True)}
            for row in tx.fetchall(sql, params)
        ]


def _ids(engine: Engine, sql: str, params: dict[str, Any]) -> set[str]:
    with engine.transaction() as tx:
        return {row[0] for row in tx.fetchall(sql, params)}


def _unoptimised(engine: Engine, compiled: Any) -> set[str]:
    """The condition as a projected value over every row: NoREC's rewrite."""
    d = engine.dialect
    sql = Sql(d, TABLE)
    cond = sql.node(compiled.where)
    text = f"SELECT {sql.col('id')}, CASE WHEN {cond} THEN 1 ELSE 0 END FROM {d.table(TABLE)}"
    with engine.transaction() as tx:
        return {row[0] for row in tx.fetchall(text, sql.params) if row[1] == 1}


class _NoRelations:
    def get(self, table: str, record_id: str) -> None:
        return None

    def rows(self, table: str) -> list[dict[str, Any]]:
        return []


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
@given(
    rows=st.lists(ROW, min_size=1, max_size=8), filters=st.lists(FILTERS, min_size=1, max_size=4)
)
def test_norec_and_the_evaluator_agree_with_the_engine(
    engine: Engine, norec_table: str, rows: list[dict[str, Any]], filters: list[str]
) -> None:
    stored = _store(engine, rows)
    bindings = Bindings(now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    for text in filters:
        try:
            compiled = bind(compile_filter(text, SCOPE), bindings)
        except FilterError:
            continue  # a combination PocketBase refuses too (e.g. ~ on a json column)
        optimised = _ids(engine, *select_sql(engine.dialect, TABLE, ["id"], [compiled], []))
        rewritten = _unoptimised(engine, compiled)
        evaluated = {r["id"] for r in stored if matches([compiled], r, _NoRelations())}
        context = f"filter {text!r} on {engine.dialect.name} over rows {stored!r}"
        assert optimised == rewritten, f"NoREC: {context}"
        assert optimised == evaluated, f"evaluator: {context}"
