"""The known-divergence registry: one data file, ``harness/divergences.toml``.

Each entry is keyed by a short slug and says what differs, why we accept it, the evidence,
which targets behave differently from PocketBase, and its kind:

- ``engine-difference``: an engine behaves differently and we accept it (documented for
  users of that engine);
- ``improvement-over-pocketbase``: the reference deliberately does better than PocketBase
  (e.g. keeps int64 precision), so it differs from the oracle on purpose;
- ``reference-limitation``: PocketBase accepts something the reference refuses because it
  cannot do the same on both engines (or in Python) at reasonable cost; the refusal is a
  clear 400, never a 500.

The registry is used three ways: scenarios name a key (``divergence = "key"``) and the
differential runner reports a matching difference as ``known`` and a vanished one as
``fixed`` (a failure); tests carry ``@pytest.mark.known_divergence("key")`` and run as strict
xfail (see ``harness.pytest_plugin``); the report renders it as user documentation.

``targets`` lists target names that deviate from PocketBase ("sqlite", "postgres" = the
reference on that engine). Two targets are expected to differ exactly when one deviates and
the other does not, so the same entry is right whether or not PocketBase is in the run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGISTRY_PATH = Path(__file__).with_name("divergences.toml")
KINDS = ("engine-difference", "improvement-over-pocketbase", "reference-limitation")
TARGET_NAMES = ("sqlite", "postgres", "pocketbase", "url")
_KEY_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FIELDS = {"title", "kind", "targets", "explanation", "evidence", "links"}
_REQUIRED = {"title", "kind", "targets", "explanation", "evidence"}


class RegistryError(ValueError):
    """The registry file is malformed, or a key is not registered."""


@dataclass(frozen=True)
class Divergence:
    key: str
    title: str
    kind: str
    targets: tuple[str, ...]
    explanation: str
    evidence: tuple[str, ...]
    links: tuple[str, ...] = ()

    def deviates(self, target: str) -> bool:
        return target in self.targets

    def expects_mismatch(self, target: str, oracle: str) -> bool:
        return self.deviates(target) != self.deviates(oracle)


class Registry:
    def __init__(self, entries: dict[str, Divergence]) -> None:
        self._entries = entries

    def __iter__(self) -> Iterator[Divergence]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> Divergence:
        try:
            return self._entries[key]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise RegistryError(
                f"unknown known-divergence key {key!r}; registered keys: {known} "
                f"(add it to {REGISTRY_PATH.name} with its evidence)"
            ) from None


def load(path: Path = REGISTRY_PATH) -> Registry:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: {exc}") from exc
    return Registry({key: _entry(key, raw, path) for key, raw in doc.items()})


def _entry(key: str, raw: Any, path: Path) -> Divergence:
    where = f"{path.name} [{key}]"
    if not _KEY_RE.match(key):
        raise RegistryError(f"{where}: keys are lowercase slugs like 'null-ordering'")
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: must be a table")
    unknown, missing = set(raw) - _FIELDS, _REQUIRED - set(raw)
    if unknown:
        raise RegistryError(f"{where}: unknown fields {sorted(unknown)}; allowed {sorted(_FIELDS)}")
    if missing:
        raise RegistryError(f"{where}: missing fields {sorted(missing)}")
    if raw["kind"] not in KINDS:
        raise RegistryError(f"{where}: kind must be one of {KINDS}, not {raw['kind']!r}")
    targets, evidence = raw["targets"], raw["evidence"]
    if not targets or any(t not in TARGET_NAMES for t in targets):
        raise RegistryError(f"{where}: targets must be a non-empty subset of {TARGET_NAMES}")
    if "pocketbase" in targets:
        raise RegistryError(f"{where}: PocketBase is the oracle; it cannot deviate from itself")
    if not evidence or not all(isinstance(e, str) and e.strip() for e in evidence):
        raise RegistryError(f"{where}: evidence must be a non-empty list of statements")
    return Divergence(
        key=key,
        title=raw["title"],
        kind=raw["kind"],
        targets=tuple(targets),
        explanation=raw["explanation"].strip(),
        evidence=tuple(evidence),
        links=tuple(raw.get("links", ())),
    )
