"""Mutation score of the filter compiler's dialect layer: ``python -m harness.mutation``.

For each mutant of ``harness/mutants.toml`` (``harness._mutants``): copy the repository
(``reference_impl/``, ``harness/``, ``suites/``, ``pyproject.toml``, as they are in the
working tree) into a temporary directory, apply the patch, and run the filter suites against
the copy with ``PYTHONPATH=<copy>``; the reference servers the suites start import from the
same root (``harness.targets.reference._import_root``), which is checked before each run.
Verdicts:

- ``killed``: the suites failed (``-x``: the first failing test is reported);
- ``survived``: they passed; a finding (no test sees the bug), not a crash;
- ``stale``: the ``find`` snippet is missing or not unique (the code moved: fix the mutant);
- ``error``: anything else (a collection error, a timeout, the copy not being imported).

An unmutated baseline runs first: when it fails, every verdict would mean nothing. Writes
``mutation.json`` and ``mutation.md`` (``--report-dir``, default ``reports/latest``) and
prints ``killed / total`` with the survivors named. Exit 1 when a mutant is stale or
errors (or the baseline fails), 2 for bad arguments, else 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import _mutation_report
from harness._mutants import (
    ERROR,
    KILLED,
    MUTANTS_PATH,
    STALE,
    SURVIVED,
    Mutant,
    MutantError,
    Result,
    StaleMutant,
    classify,
    load,
)

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("reference_impl", "harness", "suites", "pyproject.toml")
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".hypothesis", ".pytest_cache", "node_modules", "allure-results"
)
DEFAULT_SUITES = (
    "suites/unit/test_filter_golden.py",
    "suites/unit/test_filter.py",
    "suites/conformance/test_filter_table.py",
    "suites/conformance/test_filter_evaluator.py",
    "suites/conformance/test_filter_properties.py",
)
OPTIONAL_SUITES = (
    "suites/engine/test_filter_norec.py",
    "suites/engine/test_policy_mode.py",
    "suites/engine/test_row_security.py",
    "suites/engine/test_rules_differential.py",
)
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "--target", "none")
BASELINE = "baseline"
_COLOURS = {KILLED: "green", SURVIVED: "bold red", STALE: "bold yellow", ERROR: "bold magenta"}


def default_suites(root: Path = ROOT) -> list[str]:
    return [*DEFAULT_SUITES, *(s for s in OPTIONAL_SUITES if (root / s).is_file())]


def copy_repository(source: Path, dest: Path) -> None:
    """The parts of the repository the suites need, without caches (a stale ``.pyc`` with
    the same size and mtime as a patched file could otherwise be imported instead of it)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (source / name).is_dir():
            shutil.copytree(source / name, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(source / name, dest / name)


class Runner:
    """Runs the suites on copies of one snapshot of the repository, one at a time."""

    def __init__(self, suites: Sequence[str], workdir: Path, *, timeout: float, log_dir: Path):
        self.suites = list(suites)
        self.workdir = workdir
        self.timeout = timeout
        self.log_dir = log_dir
        self.pristine = workdir / "pristine"
        copy_repository(ROOT, self.pristine)

    def run(self, mutant: Mutant | None) -> Result:
        name = mutant.name if mutant else BASELINE
        started = time.monotonic()

        def result(verdict: str, failing: str | None = None, detail: str = "") -> Result:
            seconds = round(time.monotonic() - started, 1)
            why, file = (mutant.summary, mutant.file) if mutant else ("unmutated copy", "")
            return Result(name, why, file, verdict, seconds, failing, detail)

        copy = self.workdir / "src"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(self.pristine, copy)
        if mutant is not None:
            try:
                mutant.apply(copy)
            except StaleMutant as exc:
                return result(STALE, detail=str(exc))
        env = self._env(copy)
        problem = _import_problem(copy, env)
        if problem:
            return result(ERROR, detail=problem)
        verdict, failing, detail, output = self._pytest(copy, env)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.log_dir / f"{name}.log").write_text(output, encoding="utf-8")
        return result(verdict, failing, detail)

    def _env(self, copy: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PARITY_DIALECT_OVERRIDE"}
        env.update(PYTHONPATH=str(copy), HYPOTHESIS_PROFILE="ci", PYTHONDONTWRITEBYTECODE="1")
        return env

    def _pytest(self, copy: Path, env: dict[str, str]) -> tuple[str, str | None, str, str]:
        basetemp = self.workdir / "bt"  # short: PostgreSQL's socket path has a length limit
        cmd = [sys.executable, "-m", "pytest", *self.suites, *PYTEST_ARGS]
        cmd.append(f"--basetemp={basetemp}")
        proc = subprocess.Popen(
            cmd,
            cwd=copy,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a timeout ends pytest and the servers it started
        )
        try:
            output, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            wait_for_postgres(self.workdir)
            output = proc.communicate()[0] or ""
            return ERROR, None, f"timed out after {self.timeout:.0f} s", output
        except BaseException:  # Ctrl-C reaches only our group: end the run's servers too
            _stop_group(proc)
            raise
        verdict, failing, detail = classify(proc.returncode, output)
        return verdict, failing, detail, output


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the run's own process group (it was started in a new session), then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_postgres(workdir: Path, timeout: float = 60.0) -> None:
    """Until no embedded PostgreSQL runs from ``workdir``: when pytest dies without stopping
    it, its reaper (``reference_impl.db._pg_reaper``, in a session of its own) stops it from
    its data directory, which must not be deleted under it (an orphan server would stay)."""
    deadline = time.monotonic() + timeout
    while any(workdir.rglob("postmaster.pid")) and time.monotonic() < deadline:
        time.sleep(0.5)


def _import_problem(copy: Path, env: dict[str, str]) -> str | None:
    """None when the copy is what the suites and the servers they start import."""
    probe = (
        "import reference_impl, harness; from harness.targets.reference import _import_root; "
        "print(reference_impl.__file__); print(harness.__file__); "
        "print(_import_root().split(__import__('os').pathsep)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=copy, env=env, capture_output=True, text=True
    )
    lines = done.stdout.splitlines()
    root = copy.resolve()
    if done.returncode != 0 or len(lines) != 3:
        return f"the import check failed:\n{done.stderr.strip()}"
    if not all(Path(line).resolve().is_relative_to(root) for line in lines):
        return f"the mutated copy is not what gets imported: {lines} (expected under {root})"
    return None


def _select(mutants: list[Mutant], names: Sequence[str]) -> list[Mutant]:
    by_name = {m.name: m for m in mutants}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise MutantError(f"unknown mutants {unknown}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names] if names else mutants


def _run_all(
    runner: Runner, mutants: list[Mutant], console: Console, line: Callable[[Result], str]
) -> list[Result]:
    results: list[Result] = []
    if not console.is_terminal:
        for mutant in mutants:
            results.append(runner.run(mutant))
            console.print(line(results[-1]), highlight=False, soft_wrap=True)
        return results
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("[red]{task.fields[survived]} survived"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("mutants", total=len(mutants), survived=0)
        for mutant in mutants:
            progress.update(task, description=mutant.name[:40])
            results.append(runner.run(mutant))
            progress.console.print(line(results[-1]), highlight=False, soft_wrap=True)
            survived = sum(r.verdict == SURVIVED for r in results)
            progress.update(task, advance=1, survived=survived)
    return results


def _line(result: Result) -> str:
    colour = _COLOURS.get(result.verdict, "")
    label = result.verdict
    if result.name == BASELINE:  # the unmutated copy should pass, not "survive"
        label, colour = ("passed", "green") if result.verdict == SURVIVED else ("failed", "red")
    text = f"[{colour}]{label.upper():<8}[/] {result.name:<40} {result.seconds:>6.1f}s"
    if result.failing_test:
        text += f"  {escape(result.failing_test)}"
    if result.verdict in (STALE, ERROR):
        text += "\n    " + escape(result.detail).replace("\n", "\n    ")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.mutation", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("--mutant", nargs="+", default=[], metavar="NAME", help="only these")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--suites", nargs="+", default=None, help="test paths to run")
    parser.add_argument("--mutants-file", type=Path, default=MUTANTS_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--report-dir", type=Path, default=Path("reports/latest"))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = parser.parse_args(argv)
    console = Console()
    try:
        mutants = _select(load(args.mutants_file), args.mutant)
    except MutantError as exc:
        console.print(f"[bold red]mutation:[/] {exc}", highlight=False)
        return 2
    if args.list:
        return _mutation_report.print_list(mutants, ROOT, console)
    suites = args.suites or default_suites()
    missing = [s for s in suites if not (ROOT / s.split(":")[0]).exists()]  # a node id too
    if missing:
        console.print(f"[bold red]mutation:[/] no such test path {missing}", highlight=False)
        return 2
    console.print(f"mutation: {len(mutants)} mutants; suites: {' '.join(suites)}", highlight=False)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="pp-mut-"))
    try:
        runner = Runner(suites, workdir, timeout=args.timeout, log_dir=args.report_dir / "mutation")
        baseline = None
        if not args.no_baseline:
            baseline = runner.run(None)
            console.print(_line(baseline), highlight=False, soft_wrap=True)
            if baseline.verdict != SURVIVED:
                console.print(
                    "[bold red]mutation:[/] the unmutated copy fails its suites; fix "
                    "that first (its log is in the report directory)"
                )
                return 1
        results = _run_all(runner, mutants, console, _line)
    except KeyboardInterrupt:
        console.print("[bold red]mutation: interrupted[/] (no report written)")
        return 130
    finally:
        wait_for_postgres(workdir)
        if args.keep:
            console.print(f"copies kept in {workdir}", highlight=False)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    total = round(time.monotonic() - started, 1)
    _mutation_report.write(
        results, args.report_dir, suites=suites, baseline=baseline, total_seconds=total
    )
    _mutation_report.print_score(results, console, total)
    return 1 if any(r.verdict in (STALE, ERROR) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
