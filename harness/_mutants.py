"""Mutants of the dialect layer as data (``harness/mutants.toml``): load, check, apply.

A mutant is one plausible engine bug written as a text patch: an exact snippet of one file
of the reference and what it becomes. The snippet must occur exactly once, so a refactor
that moves or rewrites the code makes the mutant *stale* (``suites/unit/test_mutation.py``
fails) instead of a patch that silently applies nowhere and "survives". Only the engine
layer and the filter front-end may be mutated: the point is the dialect layer's score.
The runner is ``harness.mutation``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MUTANTS_PATH = Path(__file__).with_name("mutants.toml")
ENGINE_FILES = frozenset(
    f"reference_impl/db/{name}.py"
    for name in ("dialect", "postgres", "sqlite", "render", "_pg_functions", "policies")
)
FRONT_END_DIR = "reference_impl/core/filter/"
_FIELDS = ("name", "why", "file", "find", "replace")
KILLED, SURVIVED, STALE, ERROR = "killed", "survived", "stale", "error"
VERDICTS = (KILLED, SURVIVED, STALE, ERROR)
_NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class MutantError(ValueError):
    """``mutants.toml`` is malformed (a missing or unknown field, a bad name or file)."""


class StaleMutant(Exception):
    """The mutant's snippet is missing from its file, or occurs more than once."""


@dataclass(frozen=True)
class Mutant:
    name: str
    why: str
    file: str  # relative to the repository root, under reference_impl/
    find: str
    replace: str

    def occurrences(self, root: Path) -> int:
        """How often the snippet occurs in the file under ``root`` (0 if there is no file)."""
        path = root / self.file
        return path.read_text(encoding="utf-8").count(self.find) if path.is_file() else 0

    def stale_reason(self, root: Path) -> str | None:
        """Why the mutant cannot be applied under ``root``, or None when it can."""
        if not (root / self.file).is_file():
            return f"{self.file} does not exist"
        count = self.occurrences(root)
        if count == 1:
            return None
        where = "is missing from" if count == 0 else f"occurs {count} times in"
        return f"the find snippet {where} {self.file} (it must occur exactly once)"

    def apply(self, root: Path) -> Path:
        """Patch the file under ``root`` in place; the path of the file it changed."""
        reason = self.stale_reason(root)
        if reason is not None:
            raise StaleMutant(f"{self.name}: {reason}")
        path = root / self.file
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(self.find, self.replace, 1), encoding="utf-8")
        return path

    @property
    def summary(self) -> str:
        """``why`` on one line (reports, tables)."""
        return " ".join(self.why.split())


@dataclass(frozen=True)
class Result:
    """One mutant's run (``name`` "baseline": the unmutated copy)."""

    name: str
    why: str
    file: str
    verdict: str
    seconds: float
    failing_test: str | None = None  # killed: the first failing test id
    detail: str = ""  # killed: pytest's summary line; stale / error: what went wrong


def classify(returncode: int, output: str) -> tuple[str, str | None, str]:
    """(verdict, first failing test id, detail) of one ``pytest -x -q`` run: exit 0 is
    survived, 1 with a FAILED/ERROR line is killed (a setup error too: the suites failed),
    a collection error or any other exit is an error."""
    failures = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    if returncode == 0:
        return SURVIVED, None, ""
    collection = "during collection" in output
    if returncode == 1 and failures and not collection:
        kind, _, rest = failures[0].partition(" ")
        test_id = rest.split(" - ", 1)[0].strip()
        return KILLED, test_id + (" (error)" if kind == "ERROR" else ""), failures[0]
    tail = "\n".join(failures or output.strip().splitlines()[-15:])
    what = "collection error" if collection else f"pytest exited {returncode}"
    return ERROR, None, f"{what}:\n{tail}"


def allowed_file(file: str) -> bool:
    """The engine layer, or a module of the filter front-end."""
    if file in ENGINE_FILES:
        return True
    rest = file.removeprefix(FRONT_END_DIR)
    return rest != file and "/" not in rest and rest.endswith(".py")


def load(path: Path = MUTANTS_PATH) -> list[Mutant]:
    """Every mutant of the file, in file order, validated (``MutantError`` otherwise)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MutantError(f"{path}: {exc}") from exc
    if set(data) - {"mutant"}:
        raise MutantError(f"{path}: unknown top-level keys {sorted(set(data) - {'mutant'})}")
    entries = data.get("mutant", [])
    if not isinstance(entries, list):
        raise MutantError(f"{path}: mutants are [[mutant]] tables")
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, 1):
        mutant = _parse(entry, f"{path.name}, mutant #{index}")
        if mutant.name in seen:
            raise MutantError(f"{path.name}: mutant name {mutant.name!r} is used twice")
        seen.add(mutant.name)
        mutants.append(mutant)
    return mutants


def _parse(entry: Any, where: str) -> Mutant:
    if not isinstance(entry, dict):
        raise MutantError(f"{where}: not a table")
    unknown = set(entry) - set(_FIELDS)
    missing = [key for key in _FIELDS if key not in entry]
    if unknown or missing:
        raise MutantError(f"{where}: unknown fields {sorted(unknown)}, missing {missing}")
    if not all(isinstance(entry[key], str) and entry[key].strip() for key in _FIELDS[:4]):
        raise MutantError(f"{where}: name, why, file and find must be non-empty strings")
    if not isinstance(entry["replace"], str):
        raise MutantError(f"{where}: replace must be a string")
    name = entry["name"]
    if not _NAME_RE.match(name) or name == "baseline":  # the unmutated run's name
        raise MutantError(f"{where}: name {name!r} is not a slug (a-z, 0-9, dashes) or is reserved")
    if not allowed_file(entry["file"]):
        raise MutantError(
            f"{where} ({name}): {entry['file']} is neither the engine layer "
            f"({', '.join(sorted(ENGINE_FILES))}) nor {FRONT_END_DIR}*.py"
        )
    if entry["find"] == entry["replace"]:
        raise MutantError(f"{where} ({name}): replace is the same as find")
    return Mutant(**{key: entry[key] for key in _FIELDS})
