"""The mutants of ``harness/mutants.toml`` and the runner's pieces that need no server.

Every mutant must apply to the current code (its snippet occurs exactly once), so a refactor
that moves the code fails here instead of leaving a mutant that silently "survives". The
mutation loop itself (``python -m harness.mutation``) is not run here: it runs the filter
suites once per mutant.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from harness import _mutants, mutation
from harness._mutants import KILLED, SURVIVED, Mutant, MutantError, StaleMutant, classify

MUTANTS = _mutants.load()
ROOT = mutation.ROOT
BY_NAME = pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])


def test_the_shipped_mutants_load() -> None:
    assert len(MUTANTS) >= 15
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    assert all(_mutants.allowed_file(m.file) for m in MUTANTS)


@BY_NAME
def test_snippet_occurs_exactly_once(mutant: Mutant) -> None:
    assert mutant.stale_reason(ROOT) is None


@BY_NAME
def test_applying_changes_exactly_that_file(mutant: Mutant, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "reference_impl", copy / "reference_impl", ignore=mutation.IGNORED)
    changed = mutant.apply(copy)
    assert changed == copy / mutant.file
    original = (ROOT / mutant.file).read_text(encoding="utf-8")
    mutated = changed.read_text(encoding="utf-8")
    assert mutated == original.replace(mutant.find, mutant.replace)
    compile(mutated, mutant.file, "exec")  # a mutant is a bug, not a syntax error
    assert _differing(ROOT / "reference_impl", copy / "reference_impl") == [mutant.file]


def _differing(left: Path, right: Path) -> list[str]:
    """Files (relative to the repository) that differ between two trees, caches ignored."""
    out: list[str] = []
    stack = [(filecmp.dircmp(left, right, ignore=["__pycache__"]), left.name)]
    while stack:
        node, prefix = stack.pop()
        out += [f"{prefix}/{name}" for name in node.diff_files + node.left_only + node.right_only]
        stack += [(sub, f"{prefix}/{name}") for name, sub in node.subdirs.items()]
    return sorted(out)


def test_copy_has_no_bytecode(tmp_path: Path) -> None:
    mutation.copy_repository(ROOT, tmp_path)
    assert not list(tmp_path.rglob("*.pyc"))
    assert (tmp_path / "pyproject.toml").is_file()


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mutants.toml"
    path.write_text(body, encoding="utf-8")
    return path


ENTRY = """
[[mutant]]
name = "m"
why = "w"
file = "{file}"
find = "a"
replace = "b"
"""


def test_stale_when_the_snippet_is_missing_or_repeated(tmp_path: Path) -> None:
    target = tmp_path / "reference_impl" / "db" / "dialect.py"
    target.parent.mkdir(parents=True)
    mutant = Mutant("m", "w", "reference_impl/db/dialect.py", "x = 1", "x = 2")
    target.write_text("y = 0\n", encoding="utf-8")
    with pytest.raises(StaleMutant, match="missing"):
        mutant.apply(tmp_path)
    target.write_text("x = 1\nx = 1\n", encoding="utf-8")
    with pytest.raises(StaleMutant, match="2 times"):
        mutant.apply(tmp_path)
    assert target.read_text(encoding="utf-8") == "x = 1\nx = 1\n"  # untouched


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (ENTRY.format(file="reference_impl/core/records.py"), "neither the engine layer"),
        (ENTRY.format(file="reference_impl/core/filter/sub/x.py"), "neither the engine layer"),
        (ENTRY.format(file="reference_impl/db/dialect.py") * 2, "used twice"),
        (ENTRY.format(file="reference_impl/db/dialect.py") + 'extra = "?"\n', "unknown fields"),
        (ENTRY.format(file="reference_impl/db/dialect.py").replace('"m"', '"Bad Name"'), "slug"),
        (ENTRY.format(file="reference_impl/db/dialect.py").replace('"b"', '"a"'), "same as"),
    ],
    ids=["outside-layer", "nested-dir", "duplicate", "unknown-key", "bad-name", "no-op"],
)
def test_malformed_files_are_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(MutantError, match=message):
        _mutants.load(_write(tmp_path, body))


SUMMARY = "=== short test summary info ===\n"


@pytest.mark.parametrize(
    ("returncode", "output", "expected"),
    [
        (0, "12 passed in 1.0s\n", (SURVIVED, None)),
        (
            1,
            SUMMARY + "FAILED suites/unit/t.py::test_x[a b-postgres] - AssertionError: no\n",
            (KILLED, "suites/unit/t.py::test_x[a b-postgres]"),
        ),
        (
            1,
            SUMMARY + "ERROR suites/engine/t.py::test_y - Failed: could not start\n",
            (KILLED, "suites/engine/t.py::test_y (error)"),
        ),
        (
            2,
            SUMMARY + "ERROR suites/unit/t.py - ImportError\n!!! 1 error during collection !!!\n",
            ("error", None),
        ),
        (4, "ERROR: usage: ...\n", ("error", None)),
    ],
    ids=["passed", "failed", "setup-error", "collection-error", "usage-error"],
)
def test_classify(returncode: int, output: str, expected: tuple[str, str | None]) -> None:
    verdict, failing, _ = classify(returncode, output)
    assert (verdict, failing) == expected


def test_default_suites_exist() -> None:
    for suite in mutation.default_suites():
        assert (ROOT / suite).is_file(), suite
