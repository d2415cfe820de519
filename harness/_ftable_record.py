"""Write recorded answers back into the case files, touching nothing but the answer lines.

There is no TOML writer in the standard library, and a general one would lose the
comments and layout the cases are written with. The case files are kept in one shape
instead (``[[case]]`` tables, answer keys on one line each, no sub-table headers), so a
recorder can work on lines: in each ``[[case]]`` block it drops the ``status``/``ids``/
``message`` lines and writes fresh ones after the block's last key. The result is parsed
again and must give back exactly the answers written.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness._ftable_model import ANSWER_KEYS, TableError

_ANSWER_LINE = re.compile(rf"^\s*({'|'.join(ANSWER_KEYS)})\s*=")
_HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Answer:
    status: int
    ids: tuple[str, ...] | None = None  # for 200
    message: str | None = None  # for anything else
    sql: str = field(default="", compare=False)  # the reference's X-Parity-Sql, for repros

    def lines(self) -> list[str]:
        out = [f"status = {self.status}"]
        if self.status == 200:
            out.append("ids = [" + ", ".join(_toml_str(i) for i in self.ids or ()) + "]")
        else:
            out.append(f"message = {_toml_str(self.message or '')}")
        return out

    def show(self) -> str:
        if self.status == 200:
            return f"200 {list(self.ids or ())}"
        return f"{self.status} {self.message!r}"


def _toml_str(text: str) -> str:
    # A JSON string is a valid TOML basic string, except that TOML wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def rewrite(path: Path, answers: dict[str, Answer]) -> int:
    """Replace the answers of the named cases in ``path``; return how many changed.

    The new text is parsed and checked before it is written, so a file the recorder
    cannot handle is left as it was.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    names = [c.get("name") for c in tomllib.loads("\n".join(lines)).get("case", [])]
    starts = [i for i, line in enumerate(lines) if line.strip() == "[[case]]"]
    other = [i for i, line in enumerate(lines) if _HEADER.match(line) and i not in starts]
    if len(starts) != len(names) or other:
        raise TableError(f"{path}: the recorder needs plain [[case]] blocks (no sub-tables)")
    out: list[str] = lines[: starts[0]] if starts else list(lines)
    changed = 0
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
        block = lines[start:end]
        if names[index] not in answers:
            out.extend(block)
            continue
        kept = [line for line in block if not _ANSWER_LINE.match(line)]
        last = max(i for i, line in enumerate(kept) if line.strip() and line.lstrip()[0] != "#")
        new_block = kept[: last + 1] + answers[names[index]].lines() + kept[last + 1 :]
        changed += new_block != block
        out.extend(new_block)
    text = "\n".join(out) + "\n"
    _verify(path, text, answers)
    path.write_text(text, encoding="utf-8")
    return changed


def _verify(path: Path, text: str, answers: dict[str, Answer]) -> None:
    try:
        cases = tomllib.loads(text).get("case", [])
    except tomllib.TOMLDecodeError as exc:
        raise TableError(
            f"{path}: rewriting the answers broke the file ({exc}); keep "
            "status/ids/message on one line each"
        ) from None
    for raw in cases:
        want = answers.get(raw["name"])
        if want is None:
            continue
        ids = tuple(raw["ids"]) if "ids" in raw else None
        got = Answer(raw["status"], ids, raw.get("message"))
        if got != want:
            raise TableError(f"{path}: case {raw['name']!r} reads back as {got}, wrote {want}")
