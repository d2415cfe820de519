"""The filter table: filter cases as data, answered by the real PocketBase, run on any target.

Data: ``suites/conformance/filters/`` (``fixture.toml`` and one case file per topic; the
formats are in their headers and in ``harness._ftable_model``). A case is one list
request, ``GET /api/collections/{c}/records?filter=..&sort=..&perPage=500`` as one actor,
and its recorded answer is PocketBase 0.40.6's: the status, and the ids in order (200) or
the message (anything else). ``suites/conformance/test_filter_table.py`` runs every case
on every target against that answer.

Commands (``python -m harness.filter_table ...``):

- ``record``: start a fresh PocketBase, seed the fixture, run the cases (all, or ``--case``
  names / ``--file`` stems), write their answers into the case files;
- ``check --target sqlite,postgres,pocketbase``: run the cases on those targets and list
  every case whose answer differs from the recorded one (with its repro);
- ``seed --url URL``: seed the fixture into a running server (for a repro by hand); it
  deletes the server's collections of the same names first (``users`` included), so use
  a throwaway server.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx

from harness._ftable_model import (
    FILTERS_DIR,
    Case,
    Fixture,
    TableError,
    load_cases,
    load_fixture,
)
from harness._ftable_record import Answer, rewrite
from harness._ftable_seed import SeedError, drop, login, seed
from harness.runner import SQL_HEADER

__all__ = [
    "FILTERS_DIR",
    "Answer",
    "Case",
    "Fixture",
    "SeedError",
    "Table",
    "TableError",
    "expected",
    "load_cases",
    "load_fixture",
    "mismatch",
    "repro",
]

PER_PAGE = "500"
TIMEOUT = 30.0


class Table:
    """The fixture seeded on one server, plus the actors' tokens: runs cases there."""

    def __init__(self, client: httpx.Client, superuser_token: str, fixture: Fixture) -> None:
        self.client = client
        self.fixture = fixture
        self._superuser = superuser_token
        self._user: str | None = None
        self.degraded: list[str] = []  # fixture parts this target refused (see _ftable_seed)

    def seed(self) -> None:
        self.degraded = seed(self.client, self._superuser, self.fixture)

    def drop(self) -> None:
        drop(self.client, self._superuser, self.fixture)

    def token(self, actor: str) -> str | None:
        if actor == "superuser":
            return self._superuser
        if actor == "user":
            if self._user is None:
                u = self.fixture.user
                self._user = login(self.client, u.collection, u.identity, u.password)
            return self._user
        return None

    def run(self, case: Case) -> Answer:
        headers = dict(case.headers)
        token = self.token(case.actor)
        if token:
            headers["Authorization"] = token
        response = self.client.get(
            f"/api/collections/{case.collection}/records",
            params=params(case),
            headers=headers,
        )
        sql = response.headers.get(SQL_HEADER, "")
        try:
            body = response.json()
        except ValueError:
            text = f"(not JSON) {response.text[:200]}"
            return Answer(response.status_code, message=text, sql=sql)
        if response.status_code == 200:
            ids = tuple(str(item["id"]) for item in body["items"])
            return Answer(200, ids=ids, sql=sql)
        message = body.get("message") if isinstance(body, dict) else None
        return Answer(response.status_code, message=str(message), sql=sql)


def params(case: Case) -> list[tuple[str, str | int | float | bool | None]]:
    """The query string of a case, in a fixed order (the same bytes on every target)."""
    out: list[tuple[str, str | int | float | bool | None]] = []
    if case.filter is not None:
        out.append(("filter", case.filter))
    if case.sort:
        out.append(("sort", case.sort))
    out.append(("perPage", PER_PAGE))
    out.extend(case.query.items())
    return out


def expected(case: Case) -> Answer:
    if case.status is None:
        raise TableError(
            f"case {case.name!r} ({case.file.name}) has no recorded answer; run "
            f"`python -m harness.filter_table record --case {case.name}`"
        )
    return Answer(case.status, case.ids, case.message if case.status != 200 else None)


def mismatch(case: Case, got: Answer) -> bool:
    want = expected(case)
    return (got.status, got.ids if got.status == 200 else got.message) != (
        want.status,
        want.ids if want.status == 200 else want.message,
    )


def repro(
    case: Case,
    got: Answer,
    target: str,
    base_url: str = "http://127.0.0.1:8090",
    degraded: Sequence[str] = (),
) -> str:
    """Verdict, the case, both answers, and the request as runnable curl lines.

    ``degraded``: what this target refused while seeding (``Table.degraded``); any line
    about the case's collection is shown, since it may be the whole reason.
    """
    want = expected(case)
    lines = [
        f"FILTER TABLE MISMATCH on {target}: {case.name} ({case.file.name})",
        f"why: {case.why}",
        f"collection {case.collection}, actor {case.actor}, filter {case.filter!r}, "
        f"sort {case.sort!r}"
        + (f", query {case.query}" if case.query else "")
        + (f", headers {case.headers}" if case.headers else ""),
        f"expected (PocketBase 0.40.6): {want.show()}",
        f"got ({target}):{' ' * max(1, 22 - len(target))}{got.show()}",
        *(
            f"fixture on {target}: {line}"
            for line in degraded
            if line.startswith(f"{case.collection}.")
        ),
        *_sql_lines(got.sql),
        "",
        "repro (any server: seed the fixture first, then run the request):",
        f"  python -m harness.filter_table seed --url {base_url}",
        f"  BASE={base_url}",
    ]
    auth = ""
    if case.actor == "superuser":
        lines.append(
            "  TOKEN=$(curl -s $BASE/api/collections/_superusers/auth-with-password "
            "-H 'content-type: application/json' "
            '-d \'{"identity":"parity@example.com","password":"parity-password-1234"}\''
            " | jq -r .token)"
        )
        auth = ' -H "Authorization: $TOKEN"'
    elif case.actor == "user":
        lines.append(
            "  TOKEN=$(curl -s $BASE/api/collections/users/auth-with-password "
            "-H 'content-type: application/json' "
            '-d \'{"identity":"alice@example.com","password":"alice-password-1"}\''
            " | jq -r .token)"
        )
        auth = ' -H "Authorization: $TOKEN"'
    parts = " ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in params(case))
    extra = "".join(f" -H {shlex.quote(f'{k}: {v}')}" for k, v in case.headers.items())
    lines.append(
        f"  curl -sG $BASE/api/collections/{case.collection}/records {parts}{auth}{extra}"
        " | jq -c '[.items[].id], .message'"
    )
    lines.append(f"  (URL: /api/collections/{case.collection}/records?{urlencode(params(case))})")
    lines.append(
        f"re-run: pytest suites/conformance/test_filter_table.py -k '[{case.name}-{target}]'"
        "  or  python -m harness.filter_table check "
        f"--case {case.name} --target {target}"
    )
    return "\n".join(lines)


def _sql_lines(header: str) -> list[str]:
    """The statements a reference target ran (its X-Parity-Sql header), one per line."""
    if not header:
        return []
    try:
        statements = json.loads(header)
    except ValueError:
        return [f"sql: {header[:2000]}"]
    lines = []
    for statement in statements if isinstance(statements, list) else []:
        if isinstance(statement, dict):
            lines.append(f"sql: {statement.get('sql')}")
            lines.append(f"params: {statement.get('params')}")
    return lines


# -- commands ----------------------------------------------------------------------------
def _select(cases: Iterable[Case], names: Sequence[str], files: Sequence[str]) -> list[Case]:
    chosen = [
        c for c in cases if (not names or c.name in names) and (not files or c.topic in files)
    ]
    unknown = set(names) - {c.name for c in chosen}
    if unknown:
        raise SystemExit(f"unknown case names: {sorted(unknown)}")
    return chosen


def _run_all(table: Table, cases: Sequence[Case]) -> list[Answer]:
    with ThreadPoolExecutor(max_workers=2) as pool:  # the machine has 2 cores to share
        return list(pool.map(table.run, cases))


def _record(args: argparse.Namespace) -> int:
    from harness.targets import PocketBaseTarget

    fixture = load_fixture()
    cases = _select(load_cases(fixture=fixture), args.case, args.file)
    with tempfile.TemporaryDirectory(prefix="filter-table-") as tmp:
        target = PocketBaseTarget(Path(tmp))
        target.start()
        try:
            version = target.info().version
            with httpx.Client(base_url=target.base_url, timeout=TIMEOUT) as client:
                from harness.http import superuser_token

                table = Table(client, superuser_token(target.base_url, *target.superuser), fixture)
                table.seed()
                answers = _run_all(table, cases)
        finally:
            target.stop()
    by_file: dict[Path, dict[str, Answer]] = {}
    for case, answer in zip(cases, answers, strict=True):
        by_file.setdefault(case.file, {})[case.name] = answer
        if answer.status >= 500:
            print(f"warning: {case.name}: PocketBase answered {answer.show()}", file=sys.stderr)
    changed = sum(rewrite(path, answers) for path, answers in by_file.items())
    print(f"{version}: recorded {len(cases)} cases in {len(by_file)} files, {changed} changed")
    return 0


def _check(args: argparse.Namespace) -> int:
    from harness.targetset import parse_specs, started

    fixture = load_fixture()
    cases = _select(load_cases(fixture=fixture), args.case, args.file)
    bad = 0
    with (
        tempfile.TemporaryDirectory(prefix="filter-table-") as tmp,
        started(parse_specs(args.target), Path(tmp), pg_dsn=args.pg_dsn) as running,
    ):
        for label, session in running.sessions.items():
            table = Table(session.client, session.superuser_token(), fixture)
            table.seed()
            for line in table.degraded:
                print(f"{label}: fixture: {line}", file=sys.stderr)
            for case, got in zip(cases, _run_all(table, cases), strict=True):
                if not mismatch(case, got):
                    continue
                bad += 1
                if args.brief:
                    print(f"{label}\t{case.topic}\t{case.name}\t{got.show()}")
                else:
                    base = session.target.base_url
                    print(repro(case, got, label, base, table.degraded) + "\n")
    print(f"{bad} mismatches in {len(cases)} cases", file=sys.stderr)
    return 1 if bad else 0


def _seed(args: argparse.Namespace) -> int:
    from harness.http import superuser_token

    with httpx.Client(base_url=args.url, timeout=TIMEOUT) as client:
        Table(client, superuser_token(args.url, args.email, args.password), load_fixture()).seed()
    print(f"seeded {FILTERS_DIR / 'fixture.toml'} into {args.url}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD
    from harness.targetset import add_target_arguments

    parser = argparse.ArgumentParser(prog="python -m harness.filter_table")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("record", "record PocketBase's answers into the case files"),
        ("check", "run the cases on targets, list mismatches"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--case", action="append", default=[], help="case name (repeatable)")
        p.add_argument("--file", action="append", default=[], help="case file stem (repeatable)")
        if name == "check":
            add_target_arguments(p)
            p.add_argument("--brief", action="store_true", help="one line per mismatch")
    p = sub.add_parser(
        "seed",
        help="seed the fixture into a running server (replaces its fixture collections, "
        "users included: use a throwaway server)",
    )
    p.add_argument("--url", required=True)
    p.add_argument("--email", default=SUPERUSER_EMAIL)
    p.add_argument("--password", default=SUPERUSER_PASSWORD)
    args = parser.parse_args(argv)
    handlers = {"record": _record, "check": _check, "seed": _seed}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
