"""Engine-level behaviour on both engines: types at their bounds, schema changes, errors.

These go through the engine layer only (dialect DDL, to_db/from_db, the error classes), so
they prove the layer hides each difference rather than the API papering over it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from reference_impl.db import errors
from reference_impl.db.engine import Engine, run_in_transaction
from reference_impl.db.render import insert_sql, select_sql, update_sql
from reference_impl.ir import BASE, Kind, Ref, SortTerm

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def _create(engine: Engine, table: str, columns: list[tuple[str, Kind]]) -> None:
    with engine.transaction(write=True) as tx:
        for statement in engine.dialect.create_table(table, columns):
            tx.execute(statement)


def _roundtrip(engine: Engine, table: str, kind: Kind, value: Any) -> Any:
    _create(engine, table, [("v", kind)])
    d = engine.dialect
    with engine.transaction(write=True) as tx:
        sql, params = insert_sql(d, table, [("id", Kind.TEXT, "a"), ("v", kind, value)])
        tx.execute(sql, params)
    with engine.transaction() as tx:
        sql, params = select_sql(d, table, ["v"], [], [])
        row = tx.fetchone(sql, params)
    assert row is not None
    return d.from_db(kind, row[0])


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Kind.BOOL, True),
        (Kind.BOOL, False),
        (Kind.NUMBER, INT64_MAX),
        (Kind.NUMBER, INT64_MIN),
        (Kind.NUMBER, 0.30000000000000004),
        (Kind.NUMBER, 1e300),
        (Kind.NUMBER, -2.5),
        (Kind.INT64, INT64_MAX),
        (Kind.INT64, INT64_MIN),
        (Kind.TEXT, "ÖLFASS Straße \U0001f600 \u00e9\u0301"),
        (Kind.TEXT, ""),
        (Kind.JSON, {"big": INT64_MAX, "neg": INT64_MIN, "nested": {"a": [1, 2.5, None]}}),
        (Kind.JSON, None),
        (Kind.JSON, "plain string"),
        (Kind.JSON_ARRAY, ["x", "y"]),
        (Kind.TIMESTAMP_US, datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        (Kind.TIMESTAMP_US, datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
        (Kind.DATETIME_MS, datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)),
        (Kind.DATETIME_MS, None),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_value_roundtrips_exactly(engine: Engine, table: str, kind: Kind, value: Any) -> None:
    got = _roundtrip(engine, table, kind, value)
    assert got == value
    assert type(got) is type(value)


def test_datetime_ms_truncates_microseconds_like_pocketbase(engine: Engine, table: str) -> None:
    got = _roundtrip(
        engine, table, Kind.DATETIME_MS, datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    )
    assert got == datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)


def test_text_order_is_binary_and_nulls_sort_first(engine: Engine, table: str) -> None:
    _create(engine, table, [("t", Kind.TEXT), ("d", Kind.DATETIME_MS)])
    d = engine.dialect
    words = ["b", "B", "a", "_z", "é", "f", ""]
    with engine.transaction(write=True) as tx:
        for i, word in enumerate(words):
            stamp = None if i % 2 else datetime(2024, 1, i + 1, tzinfo=UTC)
            sql, params = insert_sql(
                d,
                table,
                [
                    ("id", Kind.TEXT, f"r{i}"),
                    ("t", Kind.TEXT, word),
                    ("d", Kind.DATETIME_MS, stamp),
                ],
            )
            tx.execute(sql, params)
    with engine.transaction() as tx:
        sql, params = select_sql(d, table, ["t"], [], [SortTerm(False, Ref(BASE, "t", Kind.TEXT))])
        by_text = [row[0] for row in tx.fetchall(sql, params)]
        by_d = [SortTerm(False, Ref(BASE, "d", Kind.DATETIME_MS))]
        sql, params = select_sql(d, table, ["id"], [], by_d)
        by_date = [row[0] for row in tx.fetchall(sql, params)]
    assert by_text == ["", "B", "_z", "a", "b", "f", "é"]
    # unset dates first (SQLite '' / PostgreSQL NULL), then by time; ties in insertion order
    assert by_date == ["r1", "r3", "r5", "r0", "r2", "r4", "r6"]


def test_schema_changes_keep_values(engine: Engine, table: str) -> None:
    d = engine.dialect
    _create(engine, table, [("a", Kind.TEXT)])
    with engine.transaction(write=True) as tx:
        sql, params = insert_sql(d, table, [("id", Kind.TEXT, "r1"), ("a", Kind.TEXT, "x")])
        tx.execute(sql, params)
        sql, params = insert_sql(d, table, [("id", Kind.TEXT, "r2"), ("a", Kind.TEXT, "")])
        tx.execute(sql, params)
    with engine.transaction(write=True) as tx:
        for statement in (
            d.add_column(table, "n", Kind.NUMBER)
            + d.rename_column(table, "a", "b")
            + d.change_column_kind(table, "b", Kind.TEXT, Kind.JSON_ARRAY)
        ):
            tx.execute(statement)
    with engine.transaction() as tx:
        sql, params = select_sql(d, table, ["id", "b", "n"], [], [])
        rows = [
            (r[0], d.from_db(Kind.JSON_ARRAY, r[1]), d.from_db(Kind.NUMBER, r[2]))
            for r in tx.fetchall(sql, params)
        ]
    assert rows == [("r1", ["x"], 0), ("r2", [], 0)]
    with engine.transaction(write=True) as tx:
        for statement in d.change_column_kind(
            table, "b", Kind.JSON_ARRAY, Kind.TEXT
        ) + d.drop_column(table, "n"):
            tx.execute(statement)
        sql, params = select_sql(d, table, ["b"], [], [])
        assert [r[0] for r in tx.fetchall(sql, params)] == ["x", ""]


def test_unique_violation_is_one_class(engine: Engine, table: str) -> None:
    d = engine.dialect
    _create(engine, table, [("a", Kind.TEXT)])
    sql, params = insert_sql(d, table, [("id", Kind.TEXT, "dup"), ("a", Kind.TEXT, "x")])
    with engine.transaction(write=True) as tx:
        tx.execute(sql, params)
    with pytest.raises(errors.UniqueViolation), engine.transaction(write=True) as tx:
        tx.execute(sql, params)
    # the failed transaction rolled back and the connection is usable again
    with engine.transaction() as tx:
        assert tx.fetchone(f"SELECT COUNT(*) FROM {d.quote(table)}") == (1,)


def test_not_null_check_and_foreign_key_map_to_classes(engine: Engine, table: str) -> None:
    d = engine.dialect
    q = d.quote
    with engine.transaction(write=True) as tx:
        tx.execute(
            f"CREATE TABLE {q(table)} (id TEXT PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))"
        )
        tx.execute(
            f"CREATE TABLE {q(table + '_c')} (id TEXT PRIMARY KEY, "
            f"p TEXT REFERENCES {q(table)} (id))"
        )
    p = d.placeholder
    cases = [
        (errors.NotNullViolation, f"INSERT INTO {q(table)} (id, v) VALUES ({p('a')}, NULL)"),
        (errors.CheckViolation, f"INSERT INTO {q(table)} (id, v) VALUES ({p('a')}, -1)"),
        (
            errors.ForeignKeyViolation,
            f"INSERT INTO {q(table + '_c')} (id, p) VALUES ({p('a')}, 'missing')",
        ),
    ]
    for cls, sql in cases:
        with pytest.raises(cls), engine.transaction(write=True) as tx:
            tx.execute(sql, {"a": "x"})


def test_query_error_is_not_an_integrity_error(engine: Engine) -> None:
    with pytest.raises(errors.QueryError), engine.transaction() as tx:
        tx.execute("SELECT no_such_column FROM no_such_table")


def test_concurrent_increments_are_not_lost(engine: Engine, table: str) -> None:
    """Read-modify-write in write transactions, retried on transient errors: every one of
    the increments lands on both engines (SQLite: one writer; PostgreSQL: row lock)."""
    d = engine.dialect
    _create(engine, table, [("n", Kind.INT64)])
    with engine.transaction(write=True) as tx:
        sql, params = insert_sql(d, table, [("id", Kind.TEXT, "c"), ("n", Kind.INT64, 0)])
        tx.execute(sql, params)
    select = f"SELECT n FROM {d.quote(table)} WHERE id = {d.placeholder('id')}"

    def increment(tx: Any) -> None:
        row = tx.fetchone(select + d.for_update(table), {"id": "c"})
        sql, params = update_sql(d, table, "c", [("n", Kind.INT64, row[0] + 1)])
        tx.execute(sql, params)

    def worker() -> None:
        for _ in range(25):
            run_in_transaction(engine, increment, write=True)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.transaction() as tx:
        assert tx.fetchone(select, {"id": "c"}) == (200,)


# SQLite's text of a NUMERIC value: what ``~`` matches on a number column (PocketBase's LIKE).
NUMBER_TEXTS = [
    (5, "5"),
    (-3, "-3"),
    (2.0, "2"),  # integral: stored as INTEGER under NUMERIC affinity
    (INT64_MAX, str(INT64_MAX)),
    (2.5, "2.5"),
    (0.0001, "0.0001"),
    (0.00001, "1.0e-05"),
    (-0.000015, "-1.5e-05"),
    (1234567890123456.5, "1234567890123456.5"),  # float8's own text is 1.2345678901234565e+15
    (1e20, "1.0e+20"),
    (-1.5e300, "-1.5e+300"),
]


@pytest.mark.parametrize(("value", "text"), NUMBER_TEXTS, ids=[t for _, t in NUMBER_TEXTS])
def test_number_text_is_sqlites(engine: Engine, table: str, value: float, text: str) -> None:
    """``dialect.text_of`` a number column is SQLite's text of the value on both engines,
    checked by an exact (wildcard-free) LIKE so no driver conversion is in the way."""
    d = engine.dialect
    _create(engine, table, [("v", Kind.NUMBER)])
    with engine.transaction(write=True) as tx:
        sql, params = insert_sql(d, table, [("id", Kind.TEXT, "a"), ("v", Kind.NUMBER, value)])
        tx.execute(sql, params)
    target = d.text_of(d.quote("v"), Kind.NUMBER)
    query = f"SELECT id FROM {d.quote(table)} WHERE {d.like(target, d.placeholder('p'))}"
    with engine.transaction() as tx:
        assert tx.fetchone(query, {"p": text}) == ("a",)
        assert tx.fetchone(query, {"p": text + "0"}) is None
