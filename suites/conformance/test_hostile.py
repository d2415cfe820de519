"""The hostile quick catalog on every target: no 5xx, no hang, still intact afterwards.

One test per category x target (``test_hostile[regex-sqlite]``), on the plugin's session
targets (``--engines`` / ``--target``), running what ``parity hostile --quick`` runs. Every
target must answer every case without a 5xx or a hang and pass the intact checks after the
category (health, superuser login, fixtures listable and unchanged). On reference targets
each answer must also be what the case expects (status class and body shape); PocketBase's
own answers are where those expectations come from, so on it only survival is asserted.
A failure lists every offending case as a curl repro (``harness.hostile.repro``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.hostile import catalog, repro
from harness.hostile.runner import CategoryRun, Result, TargetRun
from harness.pytest_plugin import target_specs
from harness.targetset import Started, labels

MAX_REPROS = 15


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", labels(target_specs(metafunc.config)))


@pytest.fixture(scope="module")
def hostile_targets(parity_targets: Started) -> Iterator[dict[str, TargetRun]]:
    runs = {
        label: TargetRun(
            label,
            session.target,
            kind=parity_targets.infos[label].kind,
            on_restart=session.reconnect,  # other tests share these targets after a restart
        )
        for label, session in parity_targets.sessions.items()
    }
    yield runs
    for run in runs.values():
        run.close()


def _problems(run: CategoryRun, strict: bool) -> list[Result]:
    bad = {"5xx", "hang", "mismatch"} if strict else {"5xx", "hang"}
    return [r for r in run.results if r.outcome in bad]


@pytest.mark.conformance
@pytest.mark.parametrize("category", catalog.CATEGORIES)
def test_hostile(
    category: str, target: str, hostile_targets: dict[str, TargetRun], parity_seed: int
) -> None:
    runner = hostile_targets[target]
    [chosen] = catalog.build(parity_seed, quick=True, categories=[category])
    run = runner.run_category(chosen, seed=parity_seed, quick=True)
    strict = runner.kind == "reference"
    problems = _problems(run, strict)
    failed = run.failed_checks
    if not problems and not failed:
        return
    counts = {o: sum(r.outcome == o for r in problems) for o in ("5xx", "hang", "mismatch")}
    lines = [
        f"hostile {category} on {target}: {len(run.results)} requests, "
        + ", ".join(f"{n} {o}" for o, n in counts.items() if n)
        + (f", {len(failed)} failed intact checks" if failed else "")
        + (f", {len(run.restarts)} restarts" if run.restarts else "")
    ]
    lines += [f"intact check failed after {c.after}: {c.name}: {c.detail}" for c in failed]
    lines += ["", repro.preamble(), ""]
    lines += [repro.block(r) + "\n" for r in problems[:MAX_REPROS]]
    if len(problems) > MAX_REPROS:
        lines.append(f"... and {len(problems) - MAX_REPROS} more (parity hostile --quick)")
    pytest.fail("\n".join(lines), pytrace=False)
