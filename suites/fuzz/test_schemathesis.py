"""schemathesis over the reference's own OpenAPI document, against the reference on each
engine: a real server on a loopback port, every request a superuser's.

Checks: ``not_a_server_error``, ``status_code_conformance``, ``response_schema_conformance``
(``harness.fuzz.CHECKS``; why every other check is left out: ``harness.fuzz.EXCLUDED``).
The hooks (``harness._fuzz_hooks``) reuse seeded ids, drop ``fields=`` and keep the
fuzzer away from the collections the document describes.

Profiles (``harness.fuzz.PROFILES``): ``fast`` by default (15 examples per operation,
phases examples/coverage/fuzzing, seeded by ``--parity-seed``), ``deep`` with
``PARITY_FUZZ_PROFILE=deep`` or ``--hypothesis-profile deep`` (300 examples, random seed,
plus a stateful run over the links schemathesis infers). The same against real PocketBase:
``parity fuzz --target pocketbase``.

The targets are this tier's own (one reference server per ``--engines`` engine), not the
plugin's shared ``parity_targets``: the fuzzer leaves collections and rows behind, which
scenarios diffed against PocketBase must never see. PostgreSQL is the plugin's
``pg_server`` with a database of its own per worker.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from harness import _fuzz_hooks, fuzz
from harness.fuzz import Seeded, seed
from harness.targets.base import TargetStartError
from harness.targetset import started

PROFILE = fuzz.profile(hypothesis_profile=settings.get_current_profile_name())
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
assert [c.__name__ for c in CHECKS] == list(fuzz.CHECKS)


@dataclass
class FuzzTarget:
    engine: str
    base_url: str
    token: str  # a superuser's
    seeded: Seeded
    log: Path  # the server's output: every 500 is logged there as "unhandled ..."
    cases: int = 0  # requests sent, shrinking included


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine_name" in metafunc.fixturenames:
        engines = str(metafunc.config.getoption("engines", "sqlite,postgres"))
        names = [e.strip() for e in engines.split(",") if e.strip()]
        metafunc.parametrize("engine_name", names, scope="session")


@pytest.fixture(scope="session")
def fuzz_target(
    engine_name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    pg: Any = request.getfixturevalue("pg_server") if engine_name == "postgres" else None
    database = f"pp_fuzz_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    dsn = None
    if pg is not None:
        pg.drop_database(database)
        dsn = pg.create_database(database)
    workdir = tmp_path_factory.mktemp(f"fuzz-{engine_name}")
    try:
        with started([engine_name], workdir, pg_dsn=dsn, pg_database="") as running:
            session = running.sessions[engine_name]
            token, base_url = session.superuser_token(), session.target.base_url
            log = getattr(session.target, "log_path", workdir / "missing.log")
            target = FuzzTarget(engine_name, base_url, token, seed(base_url, token), log)
            began = time.monotonic()
            yield target
            seconds = time.monotonic() - began
            _report(request, f"fuzz[{engine_name}] profile {PROFILE.name}: {target.cases} cases "
                             f"in {seconds:.0f} s (server log: {workdir})")  # fmt: skip
    except TargetStartError as exc:
        pytest.fail(f"fuzz target {engine_name} could not start: {exc}", pytrace=False)
    finally:
        if pg is not None:
            pg.drop_database(database)


@pytest.fixture
def fuzz_schema(fuzz_target: FuzzTarget, pytestconfig: pytest.Config) -> Any:
    _fuzz_hooks.use(fuzz_target.seeded)
    seed = None if PROFILE.name == "deep" else int(pytestconfig.getoption("parity_seed"))
    config = fuzz.schemathesis_config(PROFILE, fuzz_target.base_url, fuzz_target.token, seed)
    return schemathesis.openapi.from_url(
        fuzz_target.base_url + fuzz.DOC_PATH,
        headers={"Authorization": fuzz_target.token},
        config=config,
    )


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(
    max_examples=PROFILE.max_examples,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=PROFILE.name != "deep",
)
def test_api(case: Any, fuzz_target: FuzzTarget) -> None:
    fuzz_target.cases += 1
    case.call_and_validate(checks=CHECKS)


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """A line on the terminal even under output capture (the run's figures, not a result)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write("\n")  # after the progress characters
        reporter.write_line(line)


@pytest.mark.skipif(not PROFILE.stateful, reason="stateful runs in the deep profile only")
def test_stateful(fuzz_schema: Any, fuzz_target: FuzzTarget) -> None:
    """Sequences of calls along the links schemathesis infers (create, then view/update/...).

    Generation only: the server keeps what earlier steps created, so replaying a sequence
    (to shrink it, or from the example database) draws differently and hypothesis stops
    with FlakyStrategyDefinition instead of reporting the server's answer. A failure keeps
    its unshrunk steps and the curl repro of the failing call."""
    runs = settings(max_examples=PROFILE.max_examples // 10, deadline=None, database=None,
                    phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    try:
        fuzz_schema.as_state_machine().run(settings=runs)
    except FlakyStrategyDefinition as exc:
        # Hypothesis could not draw the same workflow twice (it replays a failing one, and
        # links draw from what the live server answered). A server error it may have hit
        # is still in the server's log: that fails the test; otherwise nothing was found.
        errors = [line for line in _log_lines(fuzz_target.log) if line.startswith("unhandled")]
        if errors:
            pytest.fail("server errors during the stateful run:\n" + "\n".join(errors[:20]))
        pytest.skip(f"workflow not replayable against a live server ({exc}); no server error")


def _log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []
