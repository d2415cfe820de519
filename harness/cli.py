"""The ``parity`` command: one entry point, one module per sub-command.

- ``parity serve``       the reference server (like ``pocketbase serve``)
- ``parity superuser``   create or update a superuser in a data dir
- ``parity check``       run the suites on every target, print the parity matrix, write reports
- ``parity repro``       re-run one scenario from a repro block (by scenario name and seed)
- ``parity hostile``     send the bad-input catalog to every target, count 5xx/hangs/mismatches
- ``parity fuzz``        schemathesis over the reference's OpenAPI document, on one target
- ``parity race``        concurrent workloads on shared records, the history checked for anomalies
- ``parity cluster``     several reference servers on one PostgreSQL (up / down)
- ``parity load``        a Locust scenario against each target, checked after the run
- ``parity report``      the release report (HTML with plots, Markdown, raw JSON/CSV)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from harness import check, cluster, fuzz, load, release_report, repro
    from harness.hostile import command as hostile
    from harness.race import command as race
    from reference_impl import cli as server_cli

    parser = argparse.ArgumentParser(
        prog="parity",
        description="Dual-engine (SQLite / PostgreSQL) parity harness for PocketBase backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server_cli.add_serve_parser(sub)
    server_cli.add_superuser_parser(sub)
    check.add_parser(sub)
    fuzz.add_parser(sub)
    repro.add_parser(sub)
    hostile.add_parser(sub)
    race.add_parser(sub)
    cluster.add_parser(sub)
    load.add_parser(sub)
    release_report.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
