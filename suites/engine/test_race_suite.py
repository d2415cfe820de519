"""``parity race`` end to end: real servers, clients over HTTP in two processes, the history
checked. The safe reference shows no anomaly its level forbids; the deliberately broken
update (``--unsafe``) is caught as a lost update, and its seed replays the same schedule and
the same anomalies (the proof that the checker and the replay work).

Small runs (4 clients, 24-32 operations): the benchmark (loadtests/bench_races.py) runs the
full matrix.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from harness.race.runner import RaceConfig, RaceResult, run_race

_n = itertools.count()


def _race(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path,
          **kwargs: Any) -> RaceResult:  # fmt: skip
    dsn = None
    if engine_name == "postgres":
        server = request.getfixturevalue("pg_server")
        name = f"pp_race_{next(_n)}_{tmp_path.name[-12:]}".replace("-", "_").lower()
        server.drop_database(name)
        dsn = server.create_database(name)
        request.addfinalizer(lambda: server.drop_database(name))
    config = RaceConfig(target=engine_name, clients=4, ops=kwargs.pop("ops", 24), **kwargs)
    return run_race(config, tmp_path / f"run{next(_n)}", pg_dsn=dsn)


SAFE = [
    ("counter", "read-committed"),
    ("register", "read-committed"),
    ("list-append", "read-committed"),
    ("unique", "read-committed"),
    ("update-vs-delete", "read-committed"),
    ("cascade", "read-committed"),
    ("counter", "repeatable-read"),
    ("counter", "serializable"),
    ("cascade", "serializable"),
]


@pytest.mark.parametrize(("workload", "level"), SAFE)
def test_safe_workloads_show_no_forbidden_anomaly(
    engine_name: str, workload: str, level: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if engine_name == "sqlite" and level != "read-committed":
        pytest.skip("SQLite runs every level serializable: one run covers them")
    result = _race(engine_name, request, tmp_path, workload=workload, isolation=level, seed=11)
    forbidden = [(a.name, a.detail) for a in result.forbidden()]
    assert forbidden == [], f"{forbidden}\nreplay: {result.config.replay_command()}"
    assert result.exit_code == 0
    assert len(result.history) == 24
    assert all(op.type in ("ok", "fail") for op in result.history)


def test_unsafe_update_is_caught_and_its_seed_replays(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    first = _race(engine_name, request, tmp_path, workload="counter", unsafe=True, seed=7)
    assert "P4" in {a.name for a in first.anomalies}, first.anomalies
    assert first.exit_code == 1
    assert "--seed 7" in first.config.replay_command()
    assert "--unsafe" in first.config.replay_command()
    again = _race(engine_name, request, tmp_path, workload="counter", unsafe=True, seed=7)
    assert again.signature() == first.signature()
    outcome = {op.id: (op.status, op.result) for op in first.history}
    assert {op.id: (op.status, op.result) for op in again.history} == outcome
    assert again.summary == first.summary  # the same final value


def test_unsafe_list_append_loses_appends(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    result = _race(engine_name, request, tmp_path, workload="list-append", unsafe=True, seed=3)
    assert "P4" in {a.name for a in result.anomalies}
    assert result.exit_code == 1


def test_the_command_prints_the_seed_and_fails_on_a_forbidden_anomaly(
    engine_name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if engine_name != "sqlite":
        pytest.skip("the command's exit codes and output; the engines are covered above")
    from harness.cli import main

    args = ["race", "counter", "--clients", "3", "--ops", "9", "--seed", "5", "--workdir",
            str(tmp_path), "--out", str(tmp_path / "race.json")]  # fmt: skip
    assert main([*args, "--unsafe"]) == 1
    err = capsys.readouterr().err
    assert "seed 5" in err and "P4" in err and "FORBIDDEN" in err
    assert "parity race counter --engine sqlite" in err and "--seed 5" in err
    assert main(args) == 0
    assert "no anomaly found" in capsys.readouterr().err
    assert main(["race", "counter", "--clients", "0"]) == 2


def test_the_schedule_endpoint_exists_only_with_failpoints_and_checks_its_body(
    engine_name: str, tmp_path: Path
) -> None:
    if engine_name != "sqlite":
        pytest.skip("the endpoint is the same on both engines")
    import httpx

    from harness.http import superuser_token
    from harness.targets.reference import ReferenceTarget

    for failpoints in ("0", "1"):
        target = ReferenceTarget("sqlite", tmp_path / failpoints,
                                 env={"PARITY_FAILPOINTS": failpoints})  # fmt: skip
        target.start()
        try:
            token = superuser_token(target.base_url, *target.superuser)
            with httpx.Client(base_url=target.base_url) as c:
                su = {"Authorization": token}
                listed = c.get("/api/parity/schedule", headers=su)
                if failpoints == "0":
                    assert listed.status_code == 404
                    continue
                assert listed.status_code == 200 and listed.json() == {"trace": []}
                assert c.get("/api/parity/schedule").status_code == 401
                bad = c.post("/api/parity/schedule", headers=su,
                             json={"rounds": [[["a", "nowhere"]]]})  # fmt: skip
                assert bad.status_code == 400 and "unknown point" in bad.json()["message"]
                shape = c.post("/api/parity/schedule", headers=su, json={"rounds": "x"})
                assert shape.status_code == 400
                good = c.post("/api/parity/schedule", headers=su,
                              json={"rounds": [[["a", "records.view.begin"]]]})  # fmt: skip
                assert good.status_code == 200 and good.json() == {"rounds": 1}
                assert c.delete("/api/parity/schedule", headers=su).status_code == 204
                doc = c.get("/api/openapi.json", headers=su).json()
                assert "/api/parity/schedule" in doc["paths"]
        finally:
            target.stop()
