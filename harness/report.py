"""Parity reports: ``parity.json`` (for tools), ``parity.md`` (for people), a rich matrix.

The matrix is suite x target; each cell counts verdicts (``harness.differ``). The oracle's
column counts the scenarios it ran (and errors). ``parity.md`` also lists every failing
scenario with its repro block, the known divergences that showed up, and the whole
divergence registry as user documentation of where the engines differ.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.differ import Outcome
from harness.divergences import Registry
from harness.repro import render_repro
from harness.targets.base import TargetInfo

VERDICT_ORDER = ("agree", "diverge", "known", "fixed", "error", "oracle")
_STYLE = {
    "agree": "green",
    "diverge": "bold red",
    "known": "yellow",
    "fixed": "bold magenta",
    "error": "bold red",
    "oracle": "cyan",
}


def matrix(outcomes: Sequence[Outcome]) -> dict[str, dict[str, dict[str, int]]]:
    """{suite: {target: {verdict: count}}}, suites and targets in first-seen order."""
    cells: dict[str, dict[str, Counter[str]]] = {}
    for outcome in outcomes:
        row = cells.setdefault(outcome.scenario.suite, {})
        for target, verdict in outcome.verdicts.items():
            row.setdefault(target, Counter())[verdict] += 1
    return {suite: {t: dict(c) for t, c in row.items()} for suite, row in cells.items()}


def cell_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts.get(v))


def print_matrix(outcomes: Sequence[Outcome], console: Console, oracle: str | None) -> None:
    table = Table(title="Parity matrix (suite x target)")
    targets = list(dict.fromkeys(t for o in outcomes for t in o.verdicts))
    table.add_column("suite")
    for target in targets:
        table.add_column(f"{target} (oracle)" if target == oracle else target)
    for suite, row in matrix(outcomes).items():
        cells = []
        for target in targets:
            counts = row.get(target, {})
            worst = next(
                (v for v in ("error", "diverge", "fixed", "known") if counts.get(v)), "agree"
            )
            cells.append(f"[{_STYLE[worst]}]{cell_text(counts)}[/]")
        table.add_row(suite, *cells)
    console.print(table)


def write_reports(
    outcomes: Sequence[Outcome],
    infos: Mapping[str, TargetInfo],
    registry: Registry,
    directory: Path,
    *,
    seed: int,
    targets: str,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = report_data(outcomes, infos, registry, seed=seed, targets=targets)
    (directory / "parity.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (directory / "parity.md").write_text(render_markdown(data), encoding="utf-8")


def report_data(
    outcomes: Sequence[Outcome],
    infos: Mapping[str, TargetInfo],
    registry: Registry,
    *,
    seed: int,
    targets: str,
) -> dict[str, Any]:
    oracle = outcomes[0].oracle if outcomes else None
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "oracle": oracle,
        "ok": not any(o.failed for o in outcomes),
        "targets": [asdict(info) | {"label": label} for label, info in infos.items()],
        "matrix": matrix(outcomes),
        "scenarios": [
            {
                "name": o.scenario.name,
                "suite": o.scenario.suite,
                "tags": list(o.scenario.tags),
                "divergence": o.scenario.divergence,
                "headline": o.headline,
                "verdicts": o.verdicts,
                "diff": o.diffs,
                "repro": render_repro(o, targets) if o.headline != "AGREE" else None,
            }
            for o in outcomes
        ],
        "registry": [asdict(d) for d in registry],
    }


def render_markdown(data: Mapping[str, Any]) -> str:
    status = (
        "PASS: every scenario agrees or is a known divergence"
        if data["ok"]
        else "FAIL: unexpected divergences, fixed divergences or errors"
    )
    out = [
        f"# Parity report ({data['generated']})",
        "",
        f"**{status}.** Seed {data['seed']}; oracle `{data['oracle']}`.",
        "",
        "## Targets",
        "",
        "| target | kind | engine | version |",
        "|---|---|---|---|",
    ]
    for t in data["targets"]:
        out.append(f"| {t['label']} | {t['kind']} | {t['engine'] or '-'} | {t['version']} |")
    targets = [t["label"] for t in data["targets"]]
    out += [
        "",
        "## Matrix (suite x target)",
        "",
        "| suite | " + " | ".join(targets) + " |",
        "|---" * (len(targets) + 1) + "|",
    ]
    for suite, row in data["matrix"].items():
        out.append(f"| {suite} | " + " | ".join(cell_text(row.get(t, {})) for t in targets) + " |")
    failing = [s for s in data["scenarios"] if s["headline"] not in ("AGREE", "KNOWN DIVERGENCE")]
    out += ["", f"## Unexpected results ({len(failing)})", ""]
    out += [line for s in failing for line in ("```text", s["repro"], "```", "")] or ["None.", ""]
    known = [s for s in data["scenarios"] if s["headline"] == "KNOWN DIVERGENCE"]
    out += [f"## Known divergences seen in this run ({len(known)})", ""]
    out += [f"- {s['name']}: `{s['divergence']}`" for s in known] or ["None."]
    out += [
        "",
        "## Divergence registry",
        "",
        "Where a target differs from PocketBase on purpose or by engine "
        "(`harness/divergences.toml`).",
        "",
    ]
    for d in data["registry"]:
        out += [
            f"### `{d['key']}`: {d['title']}",
            "",
            f"*{d['kind']}*; deviating targets: {', '.join(d['targets'])}.",
            "",
            d["explanation"],
            "",
            "Evidence:",
            "",
        ]
        out += [f"- {e}" for e in d["evidence"]]
        out += [f"- <{link}>" for link in d["links"]] + [""]
    return "\n".join(out)
