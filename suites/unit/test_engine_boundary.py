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


# SQL statements: the domain and HTTP layers build none (the engine layer's render.py and
# dialects do); docstrings may talk about them.
STATEMENTS = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b|"
    r"\bCREATE\s+(UNIQUE\s+)?INDEX\s+\S+\s+ON\b|\bCREATE\s+TABLE\b|\bALTER\s+TABLE\b|"
    r"\bDROP\s+(TABLE|INDEX)\b",
    re.DOTALL,
)
DOMAIN_LAYERS = ("core", "api", "ir")


def domain_modules() -> list[Path]:
    return sorted(
        f for layer in DOMAIN_LAYERS for f in ROOT.joinpath("reference_impl", layer).rglob("*.py")
    )


def statement_violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        pieces: list[str] = []
        if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, joined
            pieces = ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            pieces = [node.value]
        for text in pieces:
            match = STATEMENTS.search(text)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: SQL {match.group()!r}")
    return found


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sql_statements_in_the_domain_or_http_layers(path: Path) -> None:
    assert statement_violations(path) == []


def test_the_statement_scan_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""SELECT x FROM docs is fine."""\n'
        'Q = f"SELECT {c} FROM {t}"\nI = "CREATE UNIQUE INDEX i ON t (c)"\n'
        'MSG = "Invalid CREATE INDEX expression."\n'
    )
    original = ROOT
    try:
        globals()["ROOT"] = tmp_path
        assert len(statement_violations(bad)) == 2
    finally:
        globals()["ROOT"] = original


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
