"""Run one scenario on several targets, diff the transcripts against the oracle, judge.

The oracle is real PocketBase when it is among the targets (SPEC: "where PocketBase's
behaviour is clear, it is the expected behaviour"), else the first target. Each other target
gets one verdict:

- ``agree``    same normalised transcript as the oracle;
- ``diverge``  differs, and no registered divergence explains it (a failure);
- ``known``    differs, as the scenario's registered divergence says it will;
- ``fixed``    the scenario's registered divergence says it should differ, but it agrees:
               the divergence was fixed, so the registry entry must go (a failure, loudly);
- ``error``    the target could not run the scenario (setup failed, connection lost).

Diffs are structural, one line per difference with a JSON-pointer path:
``list /items/0/title: "a" != "b"`` (oracle value first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from harness.divergences import Divergence, Registry
from harness.normalise import Json, dumps
from harness.runner import Session, run_scenario
from harness.scenario import KeyOrder, Scenario
from harness.transcript import Exchange, Transcript

Verdict = Literal["oracle", "agree", "diverge", "known", "fixed", "error"]
FAILING: frozenset[str] = frozenset({"diverge", "fixed", "error"})
ORACLE_PREFERENCE = ("pocketbase",)
MAX_DIFF_LINES = 40
_MISSING = object()


@dataclass
class Outcome:
    scenario: Scenario
    seed: int
    oracle: str
    transcripts: dict[str, Transcript]
    verdicts: dict[str, Verdict]
    diffs: dict[str, list[str]] = field(default_factory=dict)
    divergence: Divergence | None = None

    @property
    def failed(self) -> bool:
        return any(v in FAILING for v in self.verdicts.values())

    @property
    def headline(self) -> str:
        """AGREE, KNOWN DIVERGENCE, FIXED DIVERGENCE, DIVERGE or ERROR (worst wins)."""
        verdicts = set(self.verdicts.values())
        for verdict, text in (
            ("error", "ERROR"),
            ("diverge", "DIVERGE"),
            ("fixed", "FIXED DIVERGENCE"),
            ("known", "KNOWN DIVERGENCE"),
        ):
            if verdict in verdicts:
                return text
        return "AGREE"


def pick_oracle(names: Sequence[str]) -> str:
    for preferred in ORACLE_PREFERENCE:
        if preferred in names:
            return preferred
    return names[0]


def run_differential(
    scenario: Scenario, sessions: Mapping[str, Session], seed: int, registry: Registry
) -> Outcome:
    """Run ``scenario`` on every session (in order, sequentially) and judge the results."""
    transcripts = {name: run_scenario(scenario, s, seed, name) for name, s in sessions.items()}
    return judge(scenario, seed, transcripts, registry)


def judge(
    scenario: Scenario, seed: int, transcripts: Mapping[str, Transcript], registry: Registry
) -> Outcome:
    names = list(transcripts)
    divergence = registry.get(scenario.divergence) if scenario.divergence else None
    oracle = pick_oracle(names)
    if transcripts[oracle].error is not None:  # compare the rest among themselves
        oracle = next((n for n in names if transcripts[n].error is None), oracle)
    verdicts: dict[str, Verdict] = {}
    diffs: dict[str, list[str]] = {}
    for name in names:
        if transcripts[name].error is not None:
            verdicts[name] = "error"
        elif name == oracle:
            verdicts[name] = "oracle"
        else:
            diffs[name] = diff_transcripts(transcripts[oracle], transcripts[name])
            expected = divergence is not None and divergence.expects_mismatch(name, oracle)
            if diffs[name]:
                verdicts[name] = "known" if expected else "diverge"
            else:
                verdicts[name] = "fixed" if expected else "agree"
    return Outcome(scenario, seed, oracle, dict(transcripts), verdicts, diffs, divergence)


def diff_transcripts(oracle: Transcript, other: Transcript) -> list[str]:
    lines: list[str] = []
    if len(oracle.exchanges) != len(other.exchanges):
        lines.append(f"steps run: {len(oracle.exchanges)} != {len(other.exchanges)}")
    for mine, theirs in zip(oracle.exchanges, other.exchanges, strict=False):
        lines.extend(f"{mine.step} {line}" for line in diff_exchange(mine, theirs))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more differences"]
    return lines


def diff_exchange(a: Exchange, b: Exchange) -> list[str]:
    if a.error or b.error:
        return [] if a.error == b.error else [f"error: {a.error} != {b.error}"]
    lines = [] if a.status == b.status else [f"status: {a.status} != {b.status}"]
    if a.norm_path != b.norm_path:
        lines.append(f"request path: {a.norm_path} != {b.norm_path}")
    for name in a.captured:
        if a.captured[name] != b.captured.get(name):
            lines.append(f"header {name}: {a.captured[name]!r} != {b.captured.get(name)!r}")
    return lines + diff_values(a.body, b.body, a.key_order)


def diff_values(a: Json, b: Json, key_order: KeyOrder = "records", path: str = "") -> list[str]:
    """Structural diff; dicts compare by key, lists by position, numbers by exact value."""
    if _kind(a) != _kind(b):
        return [f"{path or '/'}: {_show(a)} != {_show(b)}"]
    if isinstance(a, dict):
        lines = _order_diff(a, b, key_order, path)
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}/{_escape(key)}"
            av, bv = a.get(key, _MISSING), b.get(key, _MISSING)
            if av is _MISSING or bv is _MISSING:
                lines.append(f"{sub}: {_show(av)} != {_show(bv)}")
            else:
                lines.extend(diff_values(av, bv, key_order, sub))
        return lines
    if isinstance(a, list):
        lines = [] if len(a) == len(b) else [f"{path or '/'}: length {len(a)} != {len(b)}"]
        for n, (av, bv) in enumerate(zip(a, b, strict=False)):
            lines.extend(diff_values(av, bv, key_order, f"{path}/{n}"))
        return lines
    return [] if a == b else [f"{path or '/'}: {_show(a)} != {_show(b)}"]


def _order_diff(a: dict[str, Any], b: dict[str, Any], mode: KeyOrder, path: str) -> list[str]:
    """Key order is contract for records (PocketBase writes them alphabetically)."""
    check = mode == "all" or (mode == "records" and _is_record(a) and _is_record(b))
    if not check or set(a) != set(b) or list(a) == list(b):
        return []
    return [f"{path or '/'}: key order {list(a)} != {list(b)}"]


def _is_record(value: Mapping[str, Any]) -> bool:
    return "collectionId" in value and "collectionName" in value


def _kind(value: Any) -> str:
    # bool before number: True == 1 in Python, but not in JSON.
    if value is None or value is _MISSING:
        return "null" if value is None else "missing"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | Decimal):
        return "number"
    return type(value).__name__


def _show(value: Any) -> str:
    if value is _MISSING:
        return "<missing>"
    text = dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")  # RFC 6901
