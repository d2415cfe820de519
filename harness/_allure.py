"""Allure result files for ``parity check --alluredir`` (one test result per scenario x target).

``parity check`` runs scenarios itself rather than through pytest (it needs its own progress
and matrix), so it writes Allure's result JSON directly with ``allure_commons`` (shipped by
allure-pytest). Labels match the pytest plugin's: epic "conformance", feature = suite,
story = scenario name, tags, plus ``target`` and ``engine``. A known divergence is
"skipped" (like an xfail in allure-pytest); diverge and fixed are "failed"; error "broken".
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.differ import Outcome
from harness.repro import render_repro
from harness.targets.base import TargetInfo

_STATUS = {
    "oracle": "passed",
    "agree": "passed",
    "known": "skipped",
    "diverge": "failed",
    "fixed": "failed",
    "error": "broken",
}


def write_results(
    outcomes: Sequence[Outcome], infos: Mapping[str, TargetInfo], directory: Path, targets: str
) -> int:
    """Write the result files; return how many. Raises ImportError without allure-pytest."""
    from allure_commons.logger import AllureFileLogger
    from allure_commons.model2 import Attachment, Label, Parameter, StatusDetails, TestResult

    logger_class: Any = AllureFileLogger  # untyped
    logger = logger_class(str(directory))
    now = int(time.time() * 1000)
    count = 0
    for outcome in outcomes:
        repro = render_repro(outcome, targets)
        for target, verdict in outcome.verdicts.items():
            info = infos.get(target)
            full_name = f"parity/{outcome.scenario.suite}/{outcome.scenario.name}[{target}]"
            labels = [
                Label("epic", "conformance"),
                Label("feature", outcome.scenario.suite),
                Label("story", outcome.scenario.name),
                Label("target", target),
                Label("engine", (info.engine if info else None) or "unknown"),
                Label("framework", "parity check"),
            ]
            labels += [Label("tag", tag) for tag in outcome.scenario.tags]
            result = TestResult(
                uuid=str(uuid.uuid4()),
                name=f"{outcome.scenario.name} [{target}]",
                fullName=full_name,
                historyId=hashlib.sha256(full_name.encode()).hexdigest()[:32],
                status=_STATUS[verdict],
                labels=labels,
                start=now,
                stop=now,
                parameters=[Parameter("target", target), Parameter("seed", str(outcome.seed))],
                statusDetails=StatusDetails(message=f"{verdict}: {outcome.headline}"),
            )
            if verdict not in ("oracle", "agree"):
                source = f"{uuid.uuid4()}-attachment.txt"
                logger.report_attached_data(repro, source)
                result.attachments.append(Attachment("repro", source, "text/plain"))
            logger.report_result(result)
            count += 1
    return count
