"""Seeded row generators for scenarios (``[[scenario.generate]]``).

A generate block inserts ``count`` rows into one collection, each field filled by a small
generator spec. Every block draws from ``random.Random(f"{seed}:{collection}:{n}")``, so
the rows depend only on the run's seed and the block, never on the target: all targets get
byte-identical inserts, and the seed printed in a repro reproduces them.

Generator specs (``fields = { title = "word", n = "int:0:100" }``):

- ``seq`` / ``seq:START``        the row number (from 0, or START)
- ``fmt:TEXT``                   ``TEXT.format(i=row number)``, e.g. ``"fmt:post-{i:02d}"``
- ``int:LO:HI``                  random integer in [LO, HI]
- ``float:LO:HI``                random float rounded to 2 places
- ``bool``                       random true/false
- ``word`` / ``word:MIN:MAX``    random ``[a-zA-Z]`` text (mixed case: sorting is BINARY)
- ``choice:a|b|c``               one of the listed texts
- ``const:TEXT``                 the text itself
- ``null``                       JSON null (json fields only)
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Generator = Callable[[random.Random, int], Any]


class GenerateError(ValueError):
    """A generator spec is invalid."""


@dataclass(frozen=True)
class GenerateSpec:
    collection: str
    count: int
    fields: Mapping[str, str]

    @classmethod
    def from_toml(cls, raw: Mapping[str, Any], where: str) -> GenerateSpec:
        unknown = set(raw) - {"collection", "count", "fields"}
        if unknown:
            raise GenerateError(f"{where}: generate has unknown keys {sorted(unknown)}")
        spec = cls(raw["collection"], int(raw["count"]), dict(raw.get("fields", {})))
        for name, text in spec.fields.items():
            try:
                parse(text)
            except GenerateError as exc:
                raise GenerateError(f"{where}: field {name!r}: {exc}") from None
        return spec

    def rows(self, seed: int) -> list[dict[str, Any]]:
        generators = {name: parse(text) for name, text in self.fields.items()}
        rows = []
        for n in range(self.count):
            rng = random.Random(f"{seed}:{self.collection}:{n}")
            rows.append({name: gen(rng, n) for name, gen in generators.items()})
        return rows


def parse(spec: str) -> Generator:
    kind, _, arg = spec.partition(":")
    try:
        return _KINDS[kind](arg)
    except KeyError:
        raise GenerateError(f"unknown generator {spec!r}; known: {sorted(_KINDS)}") from None
    except ValueError as exc:
        raise GenerateError(f"bad generator {spec!r}: {exc}") from None


def _seq(arg: str) -> Generator:
    start = int(arg or 0)
    return lambda _rng, n: start + n


def _fmt(arg: str) -> Generator:
    arg.format(i=0)  # fail at load time, not mid-run
    return lambda _rng, n: arg.format(i=n)


def _int(arg: str) -> Generator:
    lo, hi = (int(x) for x in arg.split(":"))
    return lambda rng, _n: rng.randint(lo, hi)


def _float(arg: str) -> Generator:
    lo, hi = (float(x) for x in arg.split(":"))
    return lambda rng, _n: round(rng.uniform(lo, hi), 2)


def _bool(arg: str) -> Generator:
    return lambda rng, _n: rng.random() < 0.5


def _word(arg: str) -> Generator:
    lo, hi = (int(x) for x in arg.split(":")) if arg else (3, 10)
    return lambda rng, _n: "".join(rng.choices(string.ascii_letters, k=rng.randint(lo, hi)))


def _choice(arg: str) -> Generator:
    options = arg.split("|")
    return lambda rng, _n: rng.choice(options)


def _const(arg: str) -> Generator:
    return lambda _rng, _n: arg


def _null(arg: str) -> Generator:
    return lambda _rng, _n: None


_KINDS: dict[str, Callable[[str], Generator]] = {
    "seq": _seq,
    "fmt": _fmt,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "word": _word,
    "choice": _choice,
    "const": _const,
    "null": _null,
}
