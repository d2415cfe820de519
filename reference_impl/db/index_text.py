"""PocketBase's index definitions: SQLite ``CREATE INDEX`` text, parsed and printed.

PocketBase stores every collection index as the SQLite DDL it executes
(``tools/dbutils/index.go``); imported and exported data carries that text, so both engines
read it here. Nothing executes it: ``core/indexes.py`` validates the parts and the dialects
build each engine's own statement from them (``Dialect.create_index``). The patterns are
the 0.40.6 binary's, run by RE2 (linear time on any input).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import re2

# Not anchored at the start: PocketBase ignores leading text.
_INDEX_RE = re2.compile(
    r"(?i)\s*create\s+(unique\s+)?\s*index\s*(if\s+not\s+exists\s+)?(\S*)\s+on\s+(\S*)\s*"
    r"\(([\s\S]*?)\)(?:\s+where\s+([\s\S]*?))?\s*$"
)
_COLUMN_RE = re2.compile(r"(?i)^([\s\S]+?)(?:\s+collate\s+([\w]+))?(?:\s+(asc|desc))?\s*$")
_TRIM = "`\"'[]\r\n\t\f\v "


@dataclass(frozen=True)
class IndexColumn:
    name: str  # an identifier or an expression
    collate: str = ""
    sort: str = ""  # "", "ASC" or "DESC"


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    optional: bool = False  # IF NOT EXISTS
    schema: str = ""
    where: str = ""
    raw: str = field(default="", compare=False)

    @property
    def valid(self) -> bool:
        """``IsValid``: a name, a table and at least one column."""
        return bool(self.name and self.table and self.columns)

    def build(self) -> str:
        """``Index.Build``: PocketBase's canonical text (backticks, one column per line)."""
        text = "CREATE " + ("UNIQUE " if self.unique else "") + "INDEX "
        text += "IF NOT EXISTS " if self.optional else ""
        text += f"`{self.schema}`." if self.schema else ""
        text += f"`{self.name}` ON `{self.table}` ("
        parts = []
        for col in self.columns:
            name = col.name.strip()
            part = name if "(" in col.name or " " in col.name else f"`{name}`"
            part += f" COLLATE {col.collate}" if col.collate else ""
            part += f" {col.sort}" if col.sort else ""
            parts.append(part)
        if len(self.columns) > 1:
            text += "\n  " + ",\n  ".join(parts) + "\n"
        else:
            text += "".join(parts)
        return text + ")" + (f" WHERE {self.where}" if self.where else "")


def parse_index(text: str) -> Index:
    """``ParseIndex``; an unparsable text gives an index that is not ``valid``."""
    match = _INDEX_RE.search(text)
    if match is None:
        return Index("", "", (), raw=text)
    unique, optional, name_part, table, columns, where = match.groups()
    names = _split(name_part or "", ".")
    schema, name = (names[0], names[1]) if len(names) == 2 else ("", names[0] if names else "")
    parsed = []
    for raw in _split(columns or "", ","):
        col = _COLUMN_RE.search(raw)
        if col is None:
            continue
        col_name = col.group(1).strip(_TRIM)
        if col_name:
            collate = (col.group(2) or "").strip()
            parsed.append(IndexColumn(col_name, collate, (col.group(3) or "").upper()))
    return Index(
        name=name.strip(_TRIM),
        table=(table or "").strip(_TRIM),
        columns=tuple(parsed),
        unique=bool((unique or "").strip()),
        optional=bool((optional or "").strip()),
        schema=schema.strip(_TRIM),
        where=(where or "").strip(),
        raw=text,
    )


def _split(text: str, separator: str) -> list[str]:
    """PocketBase's tokenizer: split on ``separator`` outside quotes and parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    tail = "".join(current).strip()
    if tail:
        parts.append(tail)
    return parts


def auth_indexes(coll_id: str, table: str) -> list[str]:
    """The two unique indexes PocketBase gives every auth collection, as it writes them
    (``core/collection_model_auth_options.go``): token key, and email when not empty."""
    return [
        f"CREATE UNIQUE INDEX `idx_tokenKey_{coll_id}` ON `{table}` (`tokenKey`)",
        f"CREATE UNIQUE INDEX `idx_email_{coll_id}` ON `{table}` (`email`) WHERE `email` != ''",
    ]
