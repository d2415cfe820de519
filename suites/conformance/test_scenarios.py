"""Every conformance scenario, run on every target and diffed against the oracle.

One test per scenario (the id is the scenario name). Targets come from the plugin's
``--engines`` / ``--target`` options; with fewer than two there is nothing to compare.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import divergences
from harness.differ import run_differential
from harness.pytest_plugin import assert_parity, label_allure
from harness.scenario import Scenario, load_dir
from harness.targetset import Started

SCENARIOS = load_dir(Path(__file__).parent / "scenarios")


@pytest.mark.conformance
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(
    scenario: Scenario,
    parity_targets: Started,
    parity_registry: divergences.Registry,
    parity_seed: int,
    request: pytest.FixtureRequest,
) -> None:
    if len(parity_targets.sessions) < 2:
        pytest.skip("needs at least two targets to compare (--engines / --target)")
    label_allure(scenario, parity_targets)
    outcome = run_differential(scenario, parity_targets.sessions, parity_seed, parity_registry)
    assert_parity(outcome, request)
