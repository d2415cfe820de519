"""A realtime scenario's repro block is runnable: its shell lines, pasted into bash against a
live server, open the SSE stream, subscribe, write, and print the same events the harness
saw. The repro is what an engineer reruns at 2 a.m.; a block that does not run is a bug."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import divergences
from harness.differ import run_differential
from harness.repro import find_scenario, render_repro
from harness.scenario import load_dir
from harness.targetset import started

SCENARIOS = Path(__file__).parent / "scenarios"
NAME = "PATCH a record topic gets only that record's events (guest)"


def shell_lines(block: str) -> str:
    """The runnable part of a repro block: setup and requests, without the section lines."""
    start = block.index("-- schema and rows")
    end = block.index("-- responses --")
    lines = block[start:end].splitlines()[1:]
    return "\n".join(line for line in lines if not line.startswith("-- "))


@pytest.mark.skipif(shutil.which("curl") is None, reason="the repro's lines are curl commands")
def test_a_realtime_repro_runs_in_bash(tmp_path: Path) -> None:
    scenario = find_scenario(load_dir(SCENARIOS, {"realtime"}), NAME)
    with started(["sqlite"], tmp_path / "targets") as running:
        outcome = run_differential(scenario, running.sessions, 0, divergences.load())
        [transcript] = outcome.transcripts.values()
        assert transcript.error is None
        harness_events = transcript.exchanges[-1].body
        script = shell_lines(render_repro(outcome))
        base = running.sessions["sqlite"].target.base_url
        run = subprocess.run(
            ["bash", "-c", script + "\nkill $(jobs -p) 2>/dev/null; exit 0"],
            env={**os.environ, "BASE": base, "TMPDIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0, run.stderr
    # The block's last command prints the client's messages; an HTTP answer printed just
    # before it may share the first line (curl adds no newline), so match within lines.
    found = re.findall(r"(event|data):(.*)$", run.stdout, re.M)
    events = [value for key, value in found if key == "event"]
    payloads = [json.loads(value) for key, value in found if key == "data"]
    assert [p["action"] for p in payloads] == ["update", "delete"], run.stdout
    assert len(events) == 2 and all(e.endswith(f"/{payloads[0]['record']['id']}") for e in events)
    assert [p["record"]["title"] for p in payloads] == ["watched 2", "watched 2"]
    assert [e["data"]["action"] for e in harness_events] == ["update", "delete"]
