"""``parity hostile``: send the bad-input catalog to every target and count what breaks.

Targets start as for ``parity check`` (``harness.targetset.started``). Each target runs every
selected category in order (one target at a time: the machine is small), a line per
category as it finishes; then every 5xx, hang and mismatch is printed as a curl repro, a
table per target shows the counts per category, and ``hostile.json`` is written. Exit code:

- 0: no 5xx, no hang, every intact check passed (mismatches alone do not fail the run);
- 1: a 5xx, a hang, or a failed intact check (the server did not survive intact);
- 2: nothing could run (bad arguments, a target failed to start).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from rich.console import Console

from harness import targetset
from harness.hostile import catalog, report, repro
from harness.hostile.case import Category
from harness.hostile.runner import TIMEOUT, CategoryRun, TargetRun
from harness.targets.base import TargetStartError
from harness.targetset import Started, parse_specs, started


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "hostile",
        help="send the bad-input catalog to every target; count 5xx, hangs, mismatches",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    targetset.add_target_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed for generated cases (default 0)")
    parser.add_argument("--quick", action="store_true", help="the CI subset (a few hundred cases)")
    parser.add_argument(
        "--category",
        action="append",
        default=None,
        metavar="NAME",
        help=f"only these categories (repeatable or comma list): {', '.join(catalog.CATEGORIES)}",
    )
    parser.add_argument("--case", default=None, metavar="NAME", help="only the case of this name")
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        help=f"per-request timeout (default {TIMEOUT:g} s)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/latest"),
        help="where hostile.json goes (default reports/latest)",
    )
    parser.add_argument(
        "--max-repros", type=int, default=60, help="repro blocks printed (all go to the JSON)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the targets' files (server logs: WORKDIR/<target>/<target>.log) here "
        "instead of a temporary directory",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    specs = parse_specs(args.target)
    target_arg = ",".join(specs)
    try:
        categories = catalog.build(
            args.seed, quick=args.quick, categories=catalog.parse_categories(args.category)
        )
    except catalog.CatalogError as exc:
        console.print(f"[bold red]parity hostile:[/] {exc}")
        return 2
    planned = sum(len(c.cases) for c in categories)
    console.print(
        f"parity hostile: {len(categories)} categories, {planned} cases"
        f"{' (quick)' if args.quick else ''} + drivers, on {target_arg} (seed {args.seed})"
    )
    try:
        with (
            _workdir(args.workdir) as workdir,
            started(specs, workdir, pg_dsn=args.pg_dsn) as running,
        ):
            for label, info in running.infos.items():
                console.print(f"  {label}: {info.version}")
            runs = run_all(running, categories, args, console)
            infos = dict(running.infos)
    except TargetStartError as exc:
        console.print(f"[bold red]parity hostile: a target failed to start:[/] {exc}")
        return 2
    bad = report.failing(runs)
    if bad:
        console.rule("repros")
        console.print(repro.preamble(), markup=False, highlight=False, soft_wrap=True)
        for result in bad[: args.max_repros]:
            console.print()
            console.print(repro.block(result), markup=False, highlight=False, soft_wrap=True)
        if len(bad) > args.max_repros:
            console.print(f"\n... {len(bad) - args.max_repros} more in hostile.json")
    for category_run in runs:
        for check in category_run.failed_checks:
            console.print(
                f"[bold red]intact check failed[/] {category_run.target.label}/"
                f"{category_run.category.name} after {check.after}: {check.name}: {check.detail}",
                soft_wrap=True,
            )
    report.print_tables(runs, console)
    for line in report.memory_lines(runs):
        console.print(line, highlight=False)
    data = report.as_json(runs, infos, seed=args.seed, quick=args.quick, targets=target_arg)
    path = args.report_dir / "hostile.json"
    report.write_json(path, data)
    console.print(f"report: {path}")
    if report.gate_failed(runs):
        console.print("[bold red]FAIL[/]: 5xx answers, hangs or failed intact checks (see above)")
        return 1
    console.print("[bold green]OK[/]: no 5xx, no hang, every target intact")
    return 0


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="parity-hostile-") as tmp:
        yield Path(tmp)


def run_all(
    running: Started, categories: Sequence[Category], args: argparse.Namespace, console: Console
) -> list[CategoryRun]:
    runs: list[CategoryRun] = []
    for label, session in running.sessions.items():
        target = TargetRun(
            label,
            session.target,
            kind=running.infos[label].kind,
            timeout=args.timeout,
            on_restart=session.reconnect,
        )
        try:
            for category in categories:
                result = target.run_category(
                    category, seed=args.seed, quick=args.quick, only=args.case
                )
                runs.append(result)
                console.print(_line(result), highlight=False)
        finally:
            target.close()
    return runs


def _line(run: CategoryRun) -> str:
    outcomes = {o: sum(r.outcome == o for r in run.results) for o in ("5xx", "hang", "mismatch")}
    parts = [f"{run.target.label:<11} {run.category.name:<12} {len(run.results):>5} requests"]
    parts += [f"{n} {o}" for o, n in outcomes.items() if n]
    if run.failed_checks:
        parts.append(f"{len(run.failed_checks)} intact failed")
    if run.restarts:
        parts.append(f"{len(run.restarts)} restarts")
    return ", ".join(parts) + f" ({run.seconds:.1f} s)"
