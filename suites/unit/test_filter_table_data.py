"""The filter table's data and recorder, without any server (harness/_ftable_*.py)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from harness import divergences
from harness._ftable_model import FIXTURE_FILE
from harness._ftable_record import rewrite
from harness.filter_table import (
    FILTERS_DIR,
    Answer,
    TableError,
    load_cases,
    load_fixture,
    params,
)

CASE = """[[case]]
name = "{name}"
why = "w"
collection = "tags"
filter = "name = 'go'"
{extra}
"""


@pytest.fixture
def table_dir(tmp_path: Path) -> Path:
    shutil.copy(FILTERS_DIR / FIXTURE_FILE, tmp_path / FIXTURE_FILE)
    return tmp_path


def write(directory: Path, text: str, name: str = "t.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_table_loads_with_every_case_recorded() -> None:
    cases = load_cases()
    assert len(cases) >= 300
    assert all(c.recorded for c in cases), [c.name for c in cases if not c.recorded]
    assert len(Counter(c.topic for c in cases)) >= 10


def test_every_divergence_key_is_registered() -> None:
    registry = divergences.load()
    for case in load_cases():
        if case.divergence:
            registry.get(case.divergence)


def test_fixture_collections_come_after_what_they_relate_to() -> None:
    fixture = load_fixture()
    seen: set[str] = set()
    for coll in fixture.collections:
        assert coll.relation_targets() - {coll.name} <= seen, coll.name
        seen.add(coll.name)
    assert fixture.user.collection == "users"


def test_an_unknown_key_is_an_error(table_dir: Path) -> None:
    write(table_dir, CASE.format(name="a", extra="fliter = 'x'"))
    with pytest.raises(TableError, match="unknown keys \\['fliter'\\]"):
        load_cases(table_dir)


def test_names_are_unique_across_files(table_dir: Path) -> None:
    write(table_dir, CASE.format(name="a", extra=""), "one.toml")
    write(table_dir, CASE.format(name="a", extra=""), "two.toml")
    with pytest.raises(TableError, match="duplicate case name 'a'"):
        load_cases(table_dir)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ("status = 200", "needs `ids`"),
        ("status = 400\nids = []", "takes a `message` and no `ids`"),
        ('ids = ["x"]', "without `status`"),
        ('actor = "admin"', "actor must be one of"),
        ('todo_on = ["sqlite"]', "todo_on without todo"),
        ('todo = "x"\ntodo_on = ["mysql"]', "todo_on must be"),
        ('query = { filter = "x" }', "may not set"),
    ],
)
def test_answers_and_options_are_checked(table_dir: Path, extra: str, error: str) -> None:
    write(table_dir, CASE.format(name="a", extra=extra))
    with pytest.raises(TableError, match=error):
        load_cases(table_dir)


def test_unknown_collection_is_an_error(table_dir: Path) -> None:
    write(table_dir, CASE.format(name="a", extra="").replace('"tags"', '"nope"'))
    with pytest.raises(TableError, match="not in the fixture"):
        load_cases(table_dir)


def test_the_recorder_rewrites_only_the_answer_lines(table_dir: Path) -> None:
    text = (
        "# header comment\n\n"
        + CASE.format(name="a", extra="# a comment inside\nstatus = 200\nids = []")
        + "\n"
        + CASE.format(name="b", extra='filter2 = """\\\nlong"""').replace("filter2", "sort")
    )
    path = write(table_dir, text)
    changed = rewrite(
        path,
        {
            "a": Answer(200, ids=("ggo000000000000",)),
            "b": Answer(400, message='Bad "quote" \\ and ü'),
        },
    )
    assert changed == 2
    new = path.read_text(encoding="utf-8")
    assert new.startswith("# header comment\n")
    assert "# a comment inside\n" in new
    [a, b] = load_cases(table_dir)
    assert (a.status, a.ids) == (200, ("ggo000000000000",))
    assert (b.status, b.message, b.sort) == (400, 'Bad "quote" \\ and ü', "long")
    assert rewrite(path, {"a": Answer(200, ids=("ggo000000000000",))}) == 0


def test_params_are_in_a_fixed_order(table_dir: Path) -> None:
    extra = 'sort = "-id"\nquery = { foo = "bar" }'
    write(table_dir, CASE.format(name="a", extra=extra))
    [case] = load_cases(table_dir)
    assert params(case) == [
        ("filter", "name = 'go'"),
        ("sort", "-id"),
        ("perPage", "500"),
        ("foo", "bar"),
    ]
