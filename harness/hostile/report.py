"""The hostile run's report: a rich table per target (one row per category), ``hostile.json``.

Counts per target x category: requests, ok, 5xx, hangs, mismatches, intact checks failed,
restarts, and, when PocketBase ran too, the cases whose status differs from PocketBase's
(``diffs``; never for categories whose statuses depend on timing). The JSON also keeps
every failure with its curl repro, every diff, every failed intact check, each case's
status per target (to compare a later run with this one) and the server memory figures.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.hostile import repro
from harness.hostile.runner import CategoryRun, Result
from harness.targets.base import TargetInfo

ORACLE = "pocketbase"
COLUMNS = ("requests", "ok", "5xx", "hang", "mismatch", "diffs", "intact failed", "restarts")


@dataclass(frozen=True)
class Diff:
    category: str
    case: str
    target: str
    status: int | None
    oracle_status: int | None


def status_text(result: Result) -> str:
    return str(result.status) if result.status is not None else result.outcome


def diffs(runs: Sequence[CategoryRun], oracle: str = ORACLE) -> list[Diff]:
    """Cases whose status on a target differs from the oracle's for the same case."""
    statuses: dict[tuple[str, str], dict[str, Result]] = {}
    for run in runs:
        if not run.category.compare:
            continue
        for result in run.results:
            statuses.setdefault((run.category.name, result.case.name), {})[result.target] = result
    found = []
    for (category, case), by_target in statuses.items():
        reference = by_target.get(oracle)
        if reference is None:
            continue
        for target, result in by_target.items():
            if target != oracle and status_text(result) != status_text(reference):
                found.append(Diff(category, case, target, result.status, reference.status))
    return found


def counts(
    runs: Sequence[CategoryRun], oracle: str = ORACLE
) -> dict[str, dict[str, dict[str, int]]]:
    """{target: {category: {column: n}}} in run order."""
    diff_counts = Counter((d.target, d.category) for d in diffs(runs, oracle))
    table: dict[str, dict[str, dict[str, int]]] = {}
    for run in runs:
        outcomes = Counter(r.outcome for r in run.results)
        cell = table.setdefault(run.target.label, {}).setdefault(
            run.category.name, dict.fromkeys(COLUMNS, 0)
        )
        cell["requests"] += len(run.results)
        for outcome in ("ok", "5xx", "hang", "mismatch"):
            cell[outcome] += outcomes[outcome]
        cell["diffs"] += diff_counts[(run.target.label, run.category.name)]
        cell["intact failed"] += len(run.failed_checks)
        cell["restarts"] += len(run.restarts)
    return table


def failing(runs: Sequence[CategoryRun]) -> list[Result]:
    return [r for run in runs for r in run.results if r.outcome != "ok"]


def gate_failed(runs: Sequence[CategoryRun]) -> bool:
    """True when the run must exit 1: any 5xx, hang or failed intact check."""
    return any(
        run.failed_checks or any(r.outcome in ("5xx", "hang") for r in run.results) for run in runs
    )


_STYLE = {"5xx": "bold red", "hang": "bold red", "intact failed": "bold red", "mismatch": "yellow"}


def print_tables(runs: Sequence[CategoryRun], console: Console, oracle: str = ORACLE) -> None:
    has_oracle = any(run.target.label == oracle for run in runs)
    columns = [c for c in COLUMNS if c != "diffs" or has_oracle]
    for target, rows in counts(runs, oracle).items():
        table = Table(title=f"hostile: {target}" + (" (oracle)" if target == oracle else ""))
        table.add_column("category")
        for column in columns:
            table.add_column(
                "diffs vs pocketbase" if column == "diffs" else column, justify="right"
            )
        total = dict.fromkeys(columns, 0)
        for category, cell in rows.items():
            table.add_row(category, *(_cell(c, cell[c]) for c in columns))
            for column in columns:
                total[column] += cell[column]
        table.add_section()
        table.add_row("total", *(_cell(c, total[c]) for c in columns))
        console.print(table)


def memory_lines(runs: Sequence[CategoryRun]) -> list[str]:
    """The server's resident memory around each large body (when its pid is known)."""
    lines = []
    for run in runs:
        for r in run.results:
            if "rss_peak" in r.extra:
                mb = {k: r.extra[k] / 2**20 for k in ("rss_before", "rss_peak", "rss_after")}
                lines.append(
                    f"memory {r.target} {r.case.name}: {mb['rss_before']:.0f} MB before, "
                    f"{mb['rss_peak']:.0f} MB peak, {mb['rss_after']:.0f} MB after "
                    f"(answer {status_text(r)})"
                )
    return lines


def _cell(column: str, value: int) -> str:
    style = _STYLE.get(column)
    return f"[{style}]{value}[/]" if style and value else str(value)


def as_json(
    runs: Sequence[CategoryRun],
    infos: Mapping[str, TargetInfo],
    *,
    seed: int,
    quick: bool,
    targets: str,
    oracle: str = ORACLE,
) -> dict[str, Any]:
    statuses: dict[str, dict[str, str]] = {}
    histogram: dict[str, dict[str, Counter[str]]] = {}
    rss = []
    for run in runs:
        for result in run.results:
            cell = histogram.setdefault(result.target, {}).setdefault(run.category.name, Counter())
            cell[status_text(result)] += 1
            if run.category.compare:
                statuses.setdefault(result.target, {})[result.case.key] = status_text(result)
            if "rss_before" in result.extra or "rss" in result.extra:
                rss.append({"target": result.target, "case": result.case.key, **result.extra})
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "targets": targets,
        "seed": seed,
        "quick": quick,
        "infos": {
            name: {"kind": i.kind, "engine": i.engine, "version": i.version}
            for name, i in infos.items()
        },
        "summary": counts(runs, oracle),
        "seconds": {
            f"{run.target.label}/{run.category.name}": round(run.seconds, 2) for run in runs
        },
        "failures": [
            {
                "target": r.target,
                "category": r.case.category,
                "case": r.case.name,
                "outcome": r.outcome,
                "status": r.status,
                "expected": r.case.expect.describe(),
                "detail": r.detail,
                "seconds": round(r.seconds, 3),
                "body": r.body,
                "seed": r.case.seed,
                "curl": repro.curl(r.case),
                "rerun": repro.rerun(r.case, r.target),
            }
            for r in failing(runs)
        ],
        "intact": [
            {"target": run.target.label, "category": run.category.name, **check.__dict__}
            for run in runs
            for check in run.checks
            if not check.ok
        ],
        "restarts": [
            {"target": run.target.label, "category": run.category.name, "reason": reason}
            for run in runs
            for reason in run.restarts
        ],
        "diffs": [d.__dict__ for d in diffs(runs, oracle)],
        "status_counts": {
            t: {c: dict(sorted(n.items())) for c, n in cats.items()}
            for t, cats in histogram.items()
        },
        "rss": rss,
        "statuses": statuses,
    }


def write_json(path: Path, report: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
