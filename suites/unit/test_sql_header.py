"""The debug SQL header stays valid JSON within its size limit, however long the SQL."""

from __future__ import annotations

import json

from reference_impl.api._http import _MAX_SQL_HEADER, sql_header


def test_short_statements_are_kept_whole() -> None:
    statements = [{"sql": "SELECT 1", "params": {"p1": 2}}]
    assert json.loads(sql_header(statements)) == statements


def test_long_statements_are_cut_and_still_parse() -> None:
    statements = [{"sql": "SELECT " + "x, " * 20_000, "params": {"p1": "y" * 5000}}] * 3
    text = sql_header(statements)
    assert len(text) <= _MAX_SQL_HEADER
    parsed = json.loads(text)
    assert parsed and all(s["sql"].endswith("...(truncated)") for s in parsed)


def test_many_statements_are_dropped_from_the_end() -> None:
    statements = [{"sql": "SELECT " + str(i) * 300} for i in range(500)]
    text = sql_header(statements)
    assert len(text) <= _MAX_SQL_HEADER
    assert json.loads(text)[-1] == {"sql": "...(further statements left out)"}
