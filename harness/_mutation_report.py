"""The mutation run's outputs: ``mutation.json`` (for tools), ``mutation.md`` (for people),
the score on the console, and ``--list``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness._mutants import ERROR, KILLED, STALE, SURVIVED, VERDICTS, Mutant, Result


def score(results: Sequence[Result]) -> tuple[int, int]:
    """(killed, total): every selected mutant counts, stale and errored ones included."""
    return sum(r.verdict == KILLED for r in results), len(results)


def write(
    results: Sequence[Result],
    report_dir: Path,
    *,
    suites: Sequence[str],
    baseline: Result | None,
    total_seconds: float,
) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    killed, total = score(results)
    counts = {verdict: sum(r.verdict == verdict for r in results) for verdict in VERDICTS}
    data = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "suites": list(suites),
        "score": {"killed": killed, "total": total},
        "counts": counts,
        "survivors": [r.name for r in results if r.verdict == SURVIVED],
        "baseline_seconds": baseline.seconds if baseline else None,
        "total_seconds": total_seconds,
        "results": [asdict(r) for r in results],
    }
    json_path = report_dir / "mutation.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md_path = report_dir / "mutation.md"
    header = (
        f"Generated {data['generated']} by `python -m harness.mutation` in {total_seconds} s. "
        f"Suites: {' '.join(f'`{s}`' for s in suites)}."
    )
    md_path.write_text(_markdown(results, header), encoding="utf-8")
    return json_path, md_path


def _markdown(results: Sequence[Result], header: str) -> str:
    killed, total = score(results)
    survivors = [r.name for r in results if r.verdict == SURVIVED]
    lines = [
        "# Mutation score: the filter compiler's dialect layer",
        "",
        f"**{killed} / {total} killed**"
        + (f"; survivors: {', '.join(f'`{s}`' for s in survivors)}" if survivors else ""),
        "",
        header,
        "",
        "| mutant | why | verdict | time | first failing test |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        shown = r.failing_test or (r.detail.splitlines()[0] if r.verdict in (STALE, ERROR) else "")
        lines.append(
            f"| `{r.name}` | {_cell(r.why)} | {r.verdict} | {r.seconds:.1f} s | {_cell(shown)} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def print_score(results: Sequence[Result], console: Console, total_seconds: float) -> None:
    killed, total = score(results)
    survivors = [r.name for r in results if r.verdict == SURVIVED]
    broken = [f"{r.name} ({r.verdict})" for r in results if r.verdict in (STALE, ERROR)]
    colour = "green" if killed == total else "yellow"
    console.print(
        f"[bold {colour}]mutation score: {killed} / {total} killed[/] in {total_seconds:.0f} s"
    )
    if survivors:
        console.print(f"survivors: {', '.join(survivors)}", highlight=False)
    if broken:
        console.print(f"[bold red]stale or errored:[/] {escape(', '.join(broken))}")


def print_list(mutants: Sequence[Mutant], root: Path, console: Console) -> int:
    """The mutants and whether each applies to the current code; 1 when one is stale."""
    table = Table()
    table.add_column("mutant", no_wrap=True)
    table.add_column("file", no_wrap=True)
    table.add_column("applies")
    table.add_column("why", ratio=1)
    stale = 0
    for mutant in mutants:
        reason = mutant.stale_reason(root)
        stale += reason is not None
        table.add_row(
            mutant.name,
            mutant.file.removeprefix("reference_impl/"),
            "yes" if reason is None else f"[bold red]stale[/]: {escape(reason)}",
            escape(mutant.summary),
        )
    console.print(table)
    console.print(f"{len(mutants)} mutants, {stale} stale")
    return 1 if stale else 0
