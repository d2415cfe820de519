"""``parity race WORKLOAD``: run one race workload and say which anomalies it found.

Exit 0 when every anomaly found is one the isolation level allows (``levels.py``), 1 when
one is forbidden, 2 when the run could not be made. Every run prints its seed and the one
command that replays it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.race import levels
from harness.race.runner import STEP_MS, RaceConfig, RaceResult, run_race, write_json
from harness.race.workloads import WORKLOADS


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "race",
        help="concurrent clients on shared records; check the history for anomalies",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    where.add_argument(
        "--target", choices=("pocketbase",), default=None,
        help="real PocketBase instead of the reference (no failpoints: --free implied)",
    )  # fmt: skip
    parser.add_argument("--isolation", choices=levels.LEVELS, default="read-committed")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--ops", type=int, default=200, help="operations in all (200)")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--processes", type=int, default=2, help="client processes (2)")
    parser.add_argument("--keys", type=int, default=1, help="shared records (1)")
    parser.add_argument(
        "--unsafe", action="store_true",
        help="serve the deliberately broken update (read, then write unlocked): the checker "
        "must find the lost updates",
    )  # fmt: skip
    parser.add_argument(
        "--free", action="store_true",
        help="no failpoint schedule: the OS interleaves (not replayable from the seed)",
    )  # fmt: skip
    parser.add_argument("--step-ms", type=float, default=STEP_MS, help=argparse.SUPPRESS)
    parser.add_argument("--pg-dsn", default=None, help="PostgreSQL server (default: embedded)")
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.set_defaults(handler=race)


def race(args: argparse.Namespace) -> int:
    import random

    console = Console(stderr=True, soft_wrap=True)  # the replay command stays one line
    for name in ("clients", "ops", "processes", "keys"):
        if getattr(args, name) < 1:
            console.print(f"parity race: --{name} must be at least 1")
            return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    config = RaceConfig(
        workload=args.workload, target=args.target or args.engine, isolation=args.isolation,
        clients=args.clients, ops=args.ops, seed=seed, unsafe=args.unsafe,
        processes=args.processes, keys=args.keys, free=args.free, step_ms=args.step_ms,
    )  # fmt: skip
    console.print(f"[bold]seed {seed}[/]  replay: [cyan]{config.replay_command()}[/]")
    with tempfile.TemporaryDirectory(prefix="parity-race-") as tmp:
        workdir = args.workdir or Path(tmp)
        with console.status(f"{config.workload} on {config.target} ({config.isolation})..."):
            try:
                result = run_race(config, workdir, pg_dsn=args.pg_dsn)
            except Exception as exc:  # a server that did not start, a refused setup
                console.print(f"parity race: {type(exc).__name__}: {exc}")
                return 2
    report(result, console)
    if args.out:
        write_json(result, args.out)
        console.print(f"history and verdicts: {args.out}")
    return result.exit_code


def report(result: RaceResult, console: Console) -> None:
    c, data = result.config, result.to_json()
    effective = data["effective_isolation"]
    console.print(
        f"{c.workload} on {result.target_version or c.target}: {data['ops']} operations by "
        f"{c.clients} clients in {result.seconds:.1f} s ({data['ops_per_second']}/s), "
        + (f"outcomes {data['outcomes']}, isolation {c.isolation}" if effective != "n/a"
           else f"outcomes {data['outcomes']}, no isolation setting")
        + (f" (runs {effective})" if effective not in (c.isolation, "n/a") else "")
        + (", UNSAFE update" if c.unsafe else "")
        + (", scheduled" if c.scheduled else ", free interleaving")
    )  # fmt: skip
    if result.retries:
        console.print(f"retries: {result.retries}")
    if not result.anomalies:
        console.print("[green]no anomaly found[/]")
    else:
        table = Table("anomaly", "verdict", "PostgreSQL alone (Hermitage)", "count", "example")
        groups: dict[str, list[Any]] = {}
        for a in result.anomalies:
            groups.setdefault(a.name, []).append(a)
        for name, found in sorted(groups.items()):
            bad = levels.forbidden(name, c.target, c.isolation)
            allows = levels.hermitage_allows(name, c.isolation)
            hermitage = "-" if allows is None else "allows" if allows else "prevents"
            example = found[0].detail + (
                f" [{', '.join(found[0].ops[:6])}]" if found[0].ops else ""
            )
            verdict = "[red]FORBIDDEN[/]" if bad else "[yellow]allowed[/]"
            if c.target == "pocketbase":
                verdict = "[magenta]seen on PocketBase[/]"
            table.add_row(name, verdict,
                          hermitage, str(len(found)), example)  # fmt: skip
        console.print(table)
        if c.target == "pocketbase":
            console.print(
                "PocketBase applies field modifiers to the record it read before its write "
                "transaction; the reference locks the row (registered intentional difference "
                "`concurrent-increments`, harness/divergences.toml)."
            )
    verdict = "[red]FAIL[/]: an anomaly the level forbids" if result.exit_code else "[green]OK[/]"
    console.print(f"{verdict}   seed {c.seed}; replay: {c.replay_command()}")
