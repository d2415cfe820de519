"""The filter table: every case of ``conformance/filters/*.toml`` on every target.

One test per case per target (``test_filter_case[text_eq_null-sqlite]``). Each target's
answer must be the recorded one, PocketBase 0.40.6's: the status, and the ids in order
(200) or the message. The fixture (``filters/fixture.toml``) is seeded once per target
for the module; the answers a worker needs are fetched up front, each target's cases on a
few threads, and each test compares one of them (so the file costs a few seconds, not a
round trip per test in series).

Marks, from the case's data:
- ``todo = "..."``: the reference cannot answer it yet; a strict xfail on the reference
  targets only (``todo_on`` narrows it to some engines), so a case the rewrite makes pass
  fails until its ``todo`` is removed;
- ``divergence = "key"``: a registered divergence (``harness/divergences.toml``), the
  usual ``known_divergence`` marker (strict xfail on the targets the entry names).

A failure prints the case, both answers and a curl repro. Re-record the answers with
``python -m harness.filter_table record`` (see ``suites/README.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.filter_table import Answer, Case, Table, load_cases, load_fixture, mismatch, repro
from harness.pytest_plugin import target_specs
from harness.targetset import Started, labels

FIXTURE = load_fixture()
CASES = load_cases(fixture=FIXTURE)
THREADS = 4  # requests in flight per target while fetching answers (2 cores shared)


def _engine(target: str) -> str:
    """ "sqlite-2" -> "sqlite": the reference engine behind a target label, if any."""
    return target.split("-")[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    params = []
    for case in CASES:
        for target in labels(target_specs(metafunc.config)):
            marks: list[pytest.MarkDecorator] = []
            if case.divergence:
                marks.append(pytest.mark.known_divergence(case.divergence))
            if case.todo and _engine(target) in case.todo_on:
                marks.append(pytest.mark.xfail(strict=True, reason=f"todo: {case.todo}"))
            params.append(pytest.param(case, target, marks=marks, id=f"{case.name}-{target}"))
    metafunc.parametrize(("case", "target"), params)


class Answers:
    """Per target: the seeded table and the answers fetched for this worker's tests."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        self.answers: dict[tuple[str, str], Answer] = {}

    def fetch(self, wanted: dict[str, list[Case]]) -> None:
        with ThreadPoolExecutor(max_workers=THREADS * max(1, len(wanted))) as pool:
            futures = {
                (target, case.name): pool.submit(self.tables[target].run, case)
                for target, cases in wanted.items()
                for case in cases
            }
            self.answers.update({key: future.result() for key, future in futures.items()})

    def get(self, target: str, case: Case) -> Answer:
        key = (target, case.name)
        if key not in self.answers:  # a test run alone, or re-run by a plugin
            self.answers[key] = self.tables[target].run(case)
        return self.answers[key]


@pytest.fixture(scope="module")
def filter_table(parity_targets: Started, request: pytest.FixtureRequest) -> Iterator[Answers]:
    tables = {
        label: Table(session.client, session.superuser_token(), FIXTURE)
        for label, session in parity_targets.sessions.items()
    }
    with ThreadPoolExecutor(max_workers=len(tables) or 1) as pool:
        list(pool.map(Table.seed, tables.values()))
    answers = Answers(tables)
    wanted: dict[str, list[Case]] = {}
    for item in request.session.items:  # this worker's tests of this module
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec is not None:  # type: ignore[attr-defined]
            wanted.setdefault(callspec.params["target"], []).append(callspec.params["case"])
    answers.fetch({t: cases for t, cases in wanted.items() if t in tables})
    yield answers
    for table in tables.values():
        table.drop()


@pytest.mark.conformance
def test_filter_case(case: Case, target: str, filter_table: Answers) -> None:
    table = filter_table.tables[target]
    got = filter_table.get(target, case)
    if mismatch(case, got):
        base = str(table.client.base_url).rstrip("/")
        pytest.fail(repro(case, got, target, base, table.degraded), pytrace=False)
