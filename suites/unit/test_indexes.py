"""Index definitions: PocketBase's text parsed, validated and rebuilt (``core/indexes.py``,
``db/index_text.py``); what the dialects build from them."""

from __future__ import annotations

from typing import Any

import pytest

from reference_impl.core.fields import Field
from reference_impl.core.indexes import buildable, check_indexes, retarget
from reference_impl.db.index_text import parse_index
from reference_impl.db.postgres import PostgresDialect
from reference_impl.db.sqlite import SqliteDialect

FIELDS = {f.name: f for f in (Field("text", "id"), Field("text", "title"), Field("number", "n"))}


def check(indexes: list[str], **others: Any) -> Any:
    return check_indexes(
        indexes,
        table="posts",
        original_table="posts",
        fields=FIELDS,
        owner_of=lambda name: others.get("owners", {}).get(name.lower()),
        table_named=lambda name: others.get("tables", {}).get(name.lower()),
    )


def test_parse_takes_pocketbase_forms() -> None:
    idx = parse_index(
        "xx create UNIQUE index IF NOT EXISTS main.`idx_a` on [posts] "
        "(`title` COLLATE nocase DESC, id) WHERE `title` != ''"
    )
    assert (idx.schema, idx.name, idx.table, idx.unique, idx.optional) == (
        "main",
        "idx_a",
        "posts",
        True,
        True,
    )
    assert [(c.name, c.collate, c.sort) for c in idx.columns] == [
        ("title", "nocase", "DESC"),
        ("id", "", ""),
    ]
    assert idx.where == "`title` != ''"


def test_build_is_pocketbases_canonical_text() -> None:
    assert retarget(["CREATE INDEX idx_a ON other (title)"], "posts") == [
        "CREATE INDEX `idx_a` ON `posts` (`title`)"
    ]
    assert retarget(
        ["create unique index idx_u on x (title collate nocase desc, id)"], "posts"
    ) == ["CREATE UNIQUE INDEX `idx_u` ON `posts` (\n  `title` COLLATE nocase DESC,\n  `id`\n)"]
    kept = "CREATE INDEX idx_b ON [posts] (title)"  # already names the table: kept as is
    assert retarget([kept], "posts") == [kept]


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "",
        "CREATE INDEX idx ON posts ()",
        "CREATE INDEX idx ON posts (title) junk",
        "CREATE INDEX idx ON posts (title); DROP TABLE posts",
    ],
    ids=repr,
)
def test_unparsable_is_pocketbases_invalid_expression(text: str) -> None:
    assert check([text]) == {
        "0": {
            "code": "validation_invalid_index_expression",
            "message": "Invalid CREATE INDEX expression.",
        }
    }


def test_where_clauses_other_than_not_empty_never_reach_sql() -> None:
    problem = check(["CREATE INDEX idx ON posts (title) WHERE 1; DROP TABLE other"])
    assert problem["0"]["message"].startswith("Unsupported index idx: the condition WHERE 1;")


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "CREATE INDEX idx ON posts (nope)",
            "Failed to create index idx - SQL logic error: no such column: nope (1).",
        ),
        ("CREATE INDEX idx ON posts (lower(title))", "Unsupported index idx: the column"),
        ("CREATE INDEX idx ON posts (title COLLATE rtrim)", "Unsupported index idx: the collation"),
        ("CREATE INDEX idx ON posts (n COLLATE nocase)", "Unsupported index idx: a collation on"),
        ("CREATE INDEX idx ON posts (n) WHERE n != ''", "Unsupported index idx: WHERE n != ''"),
    ],
)
def test_what_cannot_be_built_alike_is_refused(text: str, message: str) -> None:
    assert check([text])["0"]["message"].startswith(message)


def test_names_unique_in_the_list_and_across_collections() -> None:
    assert check(["CREATE INDEX a ON x (title)", "CREATE INDEX A ON x (id)"])["1"]["code"] == (
        "validation_duplicated_index_name"
    )
    assert check(["CREATE INDEX a ON x (title)", "CREATE INDEX b ON y (title)"])["1"]["code"] == (
        "validation_duplicated_index_definition"
    )
    used = check(["CREATE INDEX a ON x (title)"], owners={"a": "users"})["0"]
    assert used["params"] == {"usedTableName": "users"}
    clash = check(["CREATE INDEX users ON x (title)"], tables={"users": "users"})["0"]
    assert "there is already a table named users" in clash["message"]


def test_dialects_build_the_same_index_their_own_way() -> None:
    built = buildable(
        "CREATE UNIQUE INDEX idx_e ON x (`title` COLLATE NOCASE DESC, id) WHERE `title` != ''"
    )
    args = (built.name, "posts", built.columns)
    kw = {"unique": built.unique, "where_not_empty": built.where_not_empty}
    assert SqliteDialect().create_index(*args, **kw) == (
        'CREATE UNIQUE INDEX "main"."idx_e" ON "posts" ("title" COLLATE NOCASE DESC, "id") '
        "WHERE \"title\" != ''"
    )
    assert PostgresDialect().create_index(*args, **kw) == (
        'CREATE UNIQUE INDEX "idx_e" ON "public"."posts" (lower("title") DESC, "id") '
        "WHERE \"title\" != ''"
    )


def test_postgres_index_names_never_collide_after_truncation() -> None:
    d = PostgresDialect()
    a, b = d.index_name("i" * 70 + "a"), d.index_name("i" * 70 + "b")
    assert a != b and len(a.encode()) <= 63 and len(b.encode()) <= 63
    assert d.index_name("short") == "short"
