"""Collection indexes: PocketBase's ``CREATE INDEX`` strings, parsed and validated.

PocketBase stores each index as SQLite DDL text and executes it (``tools/dbutils/index.go``,
``core/collection_validate.go:checkIndexes``, verified on 0.40.6). The reference never runs
that text: it parses it with PocketBase's own patterns (RE2, so linear time), validates it
with PocketBase's errors, and builds the index from the parsed parts through the dialect.
What PocketBase would execute but cannot mean the same on both engines (expressions,
arbitrary ``WHERE`` clauses, other collations) is refused with a message saying so: the
registered divergence ``index-expressions``. PocketBase executes a ``WHERE`` clause as
given, ``; DROP TABLE ...`` included; nothing of that reaches a database here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reference_impl.core.errors import field_error
from reference_impl.core.regex import compile_pattern
from reference_impl.db.index_text import Index, parse_index

_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A partial index condition the reference builds on both engines: PocketBase's own form.
_WHERE_NOT_EMPTY = r"(?i)^[`\"\[]?([A-Za-z_][A-Za-z0-9_]*)[`\"\]]?\s*(?:!=|<>)\s*(?:''|\"\")$"
COLLATIONS = ("BINARY", "NOCASE")

INVALID = field_error("validation_invalid_index_expression", "Invalid CREATE INDEX expression.")


def retarget(indexes: list[str], table: str) -> list[str]:
    """``onCollectionSave``: an index naming another table is rebuilt onto ``table``
    (PocketBase keeps indexes in sync with the collection name, renames included)."""
    out = []
    for text in indexes:
        parsed = parse_index(text)
        out.append(
            replace(parsed, table=table).build() if parsed.valid and parsed.table != table else text
        )
    return out


@dataclass(frozen=True)
class Buildable:
    """What the dialect needs to create one index (columns validated against the fields)."""

    name: str
    unique: bool
    columns: tuple[tuple[str, str, bool], ...]  # (column, collation or "", descending)
    where_not_empty: str = ""  # a text column: ``WHERE column != ''``


def check_indexes(
    indexes: list[str],
    *,
    table: str,
    original_table: str,
    fields: dict[str, Any],
    owner_of: Any,
    table_named: Any,
) -> dict[str, Any] | None:
    """``checkIndexes`` plus what execution would refuse, as ``{"<i>": error}``.

    ``fields``: column name -> field; ``owner_of(index_name)``: the other collection with
    an index of that name (case-insensitive), else None; ``table_named(name)``: another
    table of that name (indexes and tables share one namespace on both engines), else None.
    """
    names: set[str] = set()
    definitions: set[str] = set()
    for position, text in enumerate(indexes):
        key = str(position)
        parsed = replace(parse_index(text), table="validator")
        if not parsed.valid:
            return {key: INVALID}
        lowered = parsed.name.lower()
        if lowered in names:
            return {
                key: field_error(
                    "validation_duplicated_index_name", "The index name already exists."
                )
            }
        names.add(lowered)
        used = owner_of(parsed.name)
        if used is not None and used.lower() not in (table.lower(), original_table.lower()):
            return {
                key: field_error(
                    "validation_existing_index_name",
                    f"The index name is already used in {used} collection.",
                    {"usedTableName": used},
                )
            }
        clash = table_named(parsed.name)
        if clash is not None or parsed.name.lower() == table.lower():
            return {
                key: field_error(
                    "validation_invalid_index_expression",
                    f"Failed to create index {parsed.name} - SQL logic error: there is already "
                    f"a table named {clash or table} (1).",
                )
            }
        definition = replace(parsed, schema="validator", name="validator").build()
        if definition in definitions:
            return {
                key: field_error(
                    "validation_duplicated_index_definition", "The index definition already exists."
                )
            }
        definitions.add(definition)
        problem = _buildable_problem(parsed, fields)
        if problem:
            return {key: field_error("validation_invalid_index_expression", problem)}
    return None


def removed_system_unique_index(
    indexes: list[str], original_indexes: list[str], system_fields: set[str]
) -> dict[str, Any] | None:
    """An update may not drop or alter a UNIQUE index covering a system field (compared
    without name, table, WHERE, collation and sort, as PocketBase compares them)."""
    kept = {_unique_key(parse_index(text)) for text in indexes}
    lowered = {name.lower(): name for name in system_fields}
    for text in original_indexes:
        old = parse_index(text)
        if not (old.valid and old.unique):
            continue
        for column in old.columns:
            field_name = lowered.get(column.name.lower())
            if field_name is not None and _unique_key(old) not in kept:
                return field_error(
                    "validation_invalid_unique_system_field_index",
                    f"Unique index definition on system fields ({field_name}) is invalid or "
                    "missing.",
                    {"fieldName": field_name},
                )
    return None


def _unique_key(index: Index) -> tuple[bool, tuple[str, ...]]:
    return index.unique, tuple(col.name.lower() for col in index.columns)


def _buildable_problem(index: Index, fields: dict[str, Any]) -> str | None:
    for col in index.columns:
        if not compile_pattern(_IDENT).search(col.name):
            return _unsupported(index, f"the column {col.name!r} is an expression")
        if col.name not in fields:
            return (
                f"Failed to create index {index.name} - SQL logic error: "
                f"no such column: {col.name} (1)."
            )
        if col.collate and col.collate.upper() not in COLLATIONS:
            return _unsupported(index, f"the collation {col.collate!r}")
        if col.collate and fields[col.name].kind.value != "text":
            return _unsupported(index, f"a collation on the non-text field {col.name}")
    if index.where:
        match = compile_pattern(_WHERE_NOT_EMPTY).search(index.where)
        if match is None:
            return _unsupported(index, f"the condition WHERE {index.where[:80]}")
        column = fields.get(match.group(1))
        if column is None:
            return (
                f"Failed to create index {index.name} - SQL logic error: "
                f"no such column: {match.group(1)} (1)."
            )
        if column.kind.value != "text":
            return _unsupported(index, f"WHERE {match.group(1)} != '' on a non-text field")
    return None


def _unsupported(index: Index, what: str) -> str:
    return (
        f"Unsupported index {index.name}: {what}. The reference builds the same index on "
        "SQLite and PostgreSQL only from plain columns (collation NOCASE or BINARY, ASC or "
        "DESC) and an optional WHERE column != '' condition."
    )


def buildable(text: str) -> Buildable:
    """The parts of an index that :func:`check_indexes` accepted."""
    parsed = parse_index(text)
    where = compile_pattern(_WHERE_NOT_EMPTY).search(parsed.where) if parsed.where else None
    return Buildable(
        name=parsed.name,
        unique=parsed.unique,
        columns=tuple(
            (col.name, col.collate.upper(), col.sort == "DESC") for col in parsed.columns
        ),
        where_not_empty=where.group(1) if where else "",
    )
