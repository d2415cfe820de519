"""The filter table: every case of ``conformance/filters/*.toml`` on every target.

One test per case per target (``test_filter_case[text_eq_null-sqlite]``). Each target's
answer must be the recorded one, PocketBase 0.40.6's: the status, and the ids in order
(200) or the message. The fixture (``filters/fixture.toml``) is seeded on each target
once, the answers the tests need are fetched on a few threads per target (targets in
parallel), the fixture is dropped again, and each test compares one answer: the file
costs a few seconds, not a round trip per test in series.

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

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.filter_table import Answer, Case, Table, load_cases, load_fixture, mismatch, repro
from harness.pytest_plugin import target_specs
from harness.targetset import Started, labels

FIXTURE = load_fixture()
CASES = load_cases(fixture=FIXTURE)
THREADS = 4  # requests in flight per target while fetching answers (2 cores shared)
URL_SKIP = (
    "the filter table replaces collections such as users on the target; it runs only on "
    "targets the harness started (use `python -m harness.filter_table seed --url` and "
    "`check` on a throwaway server)"
)


def _engine(target: str) -> str:
    """The reference engine behind a target label, if any: "sqlite-2" -> "sqlite"."""
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
    """Each target's answers, fetched on the fixture seeded for the purpose and then dropped.

    Kept for the worker's whole session: pytest tears a module fixture down when a worker
    runs another module in between (xdist) and sets it up again when it comes back; the
    answers stay valid (the fixture is the same data), so coming back costs nothing. The
    collections are dropped right after fetching, so no other suite ever sees them (the
    hostile suite, for one, deletes every non-system collection it finds).
    """

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}
        self.degraded: dict[str, list[str]] = {}
        self.base_urls: dict[str, str] = {}

    def fetch(self, running: Started, wanted: dict[str, list[Case]]) -> None:
        missing = {
            target: todo
            for target, cases in wanted.items()
            if target in running.sessions
            and running.infos[target].kind != "url"
            and (todo := [c for c in cases if (target, c.name) not in self.answers])
        }
        with ThreadPoolExecutor(max_workers=len(missing) or 1) as pool:
            futures = [
                pool.submit(self._fetch_on, running, target, cases)
                for target, cases in missing.items()
            ]
            for future in futures:
                future.result()

    def _fetch_on(self, running: Started, target: str, cases: list[Case]) -> None:
        session = running.sessions[target]
        table = Table(session.client, session.superuser_token(), FIXTURE)
        table.seed()
        self.degraded[target] = table.degraded
        self.base_urls[target] = session.target.base_url
        try:
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                for case, answer in zip(cases, pool.map(table.run, cases), strict=True):
                    self.answers[(target, case.name)] = answer
        finally:
            table.drop()


_ANSWERS = Answers()  # per worker process


@pytest.fixture(scope="module")
def filter_table(parity_targets: Started, request: pytest.FixtureRequest) -> Answers:
    wanted: dict[str, list[Case]] = {}
    for item in request.session.items:  # this module's tests (all of them under xdist)
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec is not None:
            wanted.setdefault(callspec.params["target"], []).append(callspec.params["case"])
    _ANSWERS.fetch(parity_targets, wanted)
    return _ANSWERS


@pytest.mark.conformance
def test_filter_case(
    case: Case, target: str, filter_table: Answers, parity_targets: Started
) -> None:
    if parity_targets.infos[target].kind == "url":
        pytest.skip(URL_SKIP)
    filter_table.fetch(parity_targets, {target: [case]})  # a no-op unless run oddly
    got = filter_table.answers[(target, case.name)]
    if mismatch(case, got):
        message = repro(
            case, got, target, filter_table.base_urls[target], filter_table.degraded[target]
        )
        pytest.fail(message, pytrace=False)
