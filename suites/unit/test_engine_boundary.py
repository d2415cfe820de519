"""Engine SQL and drivers live only in ``reference_impl/db`` (STYLE.md item 1).

Scans the string literals and imports of every other module of the product: a dialect
construct or a driver import anywhere else fails here, with the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE_LAYER = ROOT / "reference_impl" / "db"
DRIVERS = {"apsw", "sqlite3", "psycopg", "psycopg_pool", "psycopg2", "pysqlite3"}
# Constructs that exist in only one dialect; "::" is PostgreSQL's cast.
SQL_TOKENS = re.compile(
    r"json_each|json_extract|jsonb_|\bILIKE\b|\bPRAGMA\b|::|sqlite_schema|"
    r"information_schema|randomblob|COLLATE|NULLS (FIRST|LAST)"
)


def product_modules() -> list[Path]:
    files = [
        *ROOT.joinpath("reference_impl").rglob("*.py"),
        *ROOT.joinpath("harness").rglob("*.py"),
    ]
    return sorted(
        f for f in files if ENGINE_LAYER not in f.parents and "node_modules" not in f.parts
    )


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in DRIVERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {name}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = SQL_TOKENS.search(node.value)
            if match:
                found.append(
                    f"{path.relative_to(ROOT)}:{node.lineno}: engine SQL {match.group()!r}"
                )
    return found


def test_the_scan_finds_something_to_scan() -> None:
    assert len(product_modules()) > 10


@pytest.mark.parametrize("path", product_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_engine_sql_outside_the_engine_layer(path: Path) -> None:
    assert violations(path) == []


def test_the_scan_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import psycopg\nSQL = "SELECT x::text FROM t WHERE y ILIKE %s"\n')
    original = ROOT
    try:
        globals()["ROOT"] = tmp_path
        assert len(violations(bad)) == 2
    finally:
        globals()["ROOT"] = original
