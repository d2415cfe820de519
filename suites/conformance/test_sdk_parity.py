"""The official ``pocketbase`` JS SDK (npm) drives every target the same way.

``harness/sdk/crud.mjs`` uses the SDK exactly as an application would (superuser login,
create a collection, create/get/list with a filter/update with ``n+``/delete records, a
validation error, a bad filter). Its normalised transcript must be identical on the
reference server on SQLite and on PostgreSQL, and on real PocketBase when it is a target.
``harness/sdk/realtime.mjs`` does the same with ``subscribe()``: a superuser and a guest
client on a collection whose list rule shows public records only.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from harness.sdk_runner import run_sdk_crud, run_sdk_realtime
from harness.targetset import Started

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{path}/{key}"))
        return out
    if isinstance(value, list):
        out = {f"{path}/#len": len(value)}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{path}/{index}"))
        return out
    return {path: value}


def _differences(transcripts: dict[str, Any]) -> tuple[str, list[str]]:
    names = list(transcripts)
    oracle = "pocketbase" if "pocketbase" in transcripts else names[0]
    expected = _flatten(transcripts[oracle])
    problems = []
    for name in names:
        got = _flatten(transcripts[name])
        for key in sorted(set(expected) | set(got)):
            if expected.get(key, "<missing>") != got.get(key, "<missing>"):
                problems.append(
                    f"{name} {key}: {oracle}={expected.get(key, '<missing>')!r} "
                    f"{name}={got.get(key, '<missing>')!r}"
                )
    return oracle, problems


def test_sdk_crud_transcript_is_identical_on_every_target(parity_targets: Started) -> None:
    transcripts = {
        name: run_sdk_crud(session.target, "sdk_crud")
        for name, session in parity_targets.sessions.items()
    }
    oracle, problems = _differences(transcripts)
    assert problems == [], "\n".join(problems)
    # and the transcript is about something: the steps the SDK ran, with real outcomes
    steps = transcripts[oracle]["steps"]
    assert steps["createMissingRequired"]["status"] == 400
    assert steps["getDeleted"]["status"] == 404
    assert steps["getList"]["totalItems"] >= 1


def test_sdk_subscribe_receives_the_same_events_on_every_target(parity_targets: Started) -> None:
    transcripts = {
        name: run_sdk_realtime(session.target, "sdk_realtime")
        for name, session in parity_targets.sessions.items()
    }
    oracle, problems = _differences(transcripts)
    assert problems == [], "\n".join(problems)
    seen = transcripts[oracle]
    # the superuser sees every change with the hidden field, the record topic its own
    # record's, the guest only what the list rule shows (the private record's create not)
    assert [e["action"] for e in seen["superuser"]] == ["create", "delete", "update", "update"]
    assert all("secret" in e["record"] for e in seen["superuser"])
    assert {e["record"]["id"] for e in seen["one"]} == {"#0"}
    assert len(seen["guest"]) == 3
    assert all(e["record"]["public"] and "secret" not in e["record"] for e in seen["guest"])
