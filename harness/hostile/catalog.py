"""The hostile catalog: every category, built from ``catalog.toml`` and a seed.

``build(seed)`` gives the full catalog (a few thousand requests); ``build(seed, quick=True)``
the deterministic CI subset (the cases marked quick: the ones the issue names, plus the
first few of each generated family). The same seed always yields the same cases, so a
generated case's repro names its seed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from harness.hostile import _build_http, _build_input, _build_schema, _build_values, concurrency
from harness.hostile.case import Category

VOCABULARY = Path(__file__).with_name("catalog.toml")

Build = Callable[[dict[str, Any], int], Category]
BUILDERS: dict[str, Build] = {
    "regex": _build_schema.regex,
    "system": _build_schema.system,
    "nested": _build_input.nested,
    "filter": _build_input.filters,
    "encoding": _build_values.encoding,
    "numbers": _build_values.numbers,
    "passwords": _build_values.passwords,
    "names": _build_schema.names,
    "indexes": _build_schema.indexes,
    "concurrency": concurrency.category,
    "limits": _build_http.limits,
    "smaller": _build_http.smaller,
    "realtime": _build_http.realtime,
}
CATEGORIES = tuple(BUILDERS)


class CatalogError(ValueError):
    """A bad category name, or a catalog whose case names collide."""


@cache
def vocabulary() -> dict[str, Any]:
    with VOCABULARY.open("rb") as handle:
        return tomllib.load(handle)


def parse_categories(text: str | Sequence[str] | None) -> list[str]:
    """``"regex,names"`` (or a list; None = all) -> category names, checked."""
    if text is None:
        return list(CATEGORIES)
    parts = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    chosen = [p.strip() for p in parts if p.strip()]
    unknown = [c for c in chosen if c not in BUILDERS]
    if unknown:
        raise CatalogError(f"unknown categories {unknown}; choose from {', '.join(CATEGORIES)}")
    return chosen


def build(
    seed: int = 0, *, quick: bool = False, categories: Sequence[str] | None = None
) -> list[Category]:
    result = []
    for name in categories or CATEGORIES:
        if name not in BUILDERS:
            raise CatalogError(f"unknown category {name!r}; choose from {', '.join(CATEGORIES)}")
        category = BUILDERS[name](vocabulary(), seed)
        if quick:
            category = replace(category, cases=tuple(c for c in category.cases if c.quick))
        names = [c.name for c in category.cases]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise CatalogError(f"category {name}: case names used twice: {twice[:5]}")
        result.append(category)
    return result
