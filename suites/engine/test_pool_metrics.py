"""The pool (EPIC-1.5): settings from flags and the environment, the leak warning, and the
metrics listener of ``parity serve --metrics`` on a live server of two workers (one listener,
samples labelled by worker), on both engines."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.http import free_port, superuser_token
from harness.targets.reference import ReferenceTarget


def test_pool_settings_come_from_the_environment_then_the_flags() -> None:
    from reference_impl.db.postgres import PoolConfig

    env = {
        "PARITY_PG_POOL_MAX_SIZE": "7",
        "PARITY_PG_ISOLATION": "serializable",
        "PARITY_PG_POOL_LEAK_AFTER": "2.5",
    }
    config = PoolConfig.from_env(env, max_size=None, min_size=3)
    assert (config.max_size, config.min_size, config.isolation, config.leak_after) == (
        7,
        3,
        "SERIALIZABLE",
        2.5,
    )
    assert PoolConfig.from_env(env, max_size=9).max_size == 9  # a flag wins
    with pytest.raises(ValueError, match="PARITY_PG_POOL_MAX_SIZE='many'"):
        PoolConfig.from_env({"PARITY_PG_POOL_MAX_SIZE": "many"})
    with pytest.raises(ValueError, match="isolation must be one of"):
        PoolConfig.from_env({"PARITY_PG_ISOLATION": "dirty"})
    with pytest.raises(ValueError, match="0 < min"):
        PoolConfig.from_env({}, min_size=5, max_size=2)


def test_a_connection_held_too_long_is_reported_with_its_stack(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    if "postgres" not in str(request.config.getoption("engines", "sqlite,postgres")):
        pytest.skip("the pool is PostgreSQL's")
    from reference_impl.db.postgres import PoolConfig, PostgresEngine

    server: Any = request.getfixturevalue("pg_server")
    database = f"pp_leak_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    engine = PostgresEngine(
        server.create_database(database, exist_ok=True),
        pool=PoolConfig(min_size=1, max_size=2, leak_after=0.2),
    )
    try:

        def forgets_to_give_it_back() -> None:
            with engine.transaction() as tx:
                tx.fetchone("SELECT 1")
                time.sleep(0.9)

        with caplog.at_level(logging.WARNING, logger="reference_impl.pool"):
            forgets_to_give_it_back()
            with engine.transaction() as tx:  # a quick one: never reported
                tx.fetchone("SELECT 1")
            time.sleep(0.3)
        reports = [r.getMessage() for r in caplog.records if "has been held" in r.getMessage()]
        assert len(reports) == 1, reports
        assert "forgets_to_give_it_back" in reports[0]  # where it was taken
        assert engine.pool_stats()["leaks"] == 1
    finally:
        engine.close()


def _metrics(url: str) -> tuple[dict[str, float], set[str]]:
    """Each sample summed over the workers, and the workers that answered."""
    text = httpx.get(url, timeout=10).text
    values: dict[str, float] = {}
    workers: set[str] = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found = re.search(r',?worker="(\d+)"', name)
            if found:
                workers.add(found.group(1))
                name = name.replace(found.group(0), "").replace("{,", "{")
            values[name] = values.get(name, 0.0) + float(value)
    return values, workers


def test_metrics_listener_shows_the_pool_during_load(
    engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dsn = None
    if engine_name == "postgres":
        server: Any = request.getfixturevalue("pg_server")
        database = f"pp_metrics_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
        server.drop_database(database)
        dsn = server.create_database(database)
    port = free_port()
    target = ReferenceTarget(
        engine_name,
        tmp_path,
        pg_dsn=dsn,
        env={"PARITY_METRICS": f"127.0.0.1:{port}", "PARITY_WORKERS": "2"},
    )
    target.start()
    try:
        su = {"Authorization": superuser_token(target.base_url, *target.superuser)}
        with httpx.Client(base_url=target.base_url, headers=su, timeout=30) as c:
            c.post(
                "/api/collections",
                json={"name": "hits", "fields": [{"name": "n", "type": "number"}]},
            ).raise_for_status()
            for i in range(20):
                c.post("/api/collections/hits/records", json={"n": i}).raise_for_status()
        metrics, workers = _metrics(f"http://127.0.0.1:{port}/metrics")
        assert workers == {"1", "2"}  # one listener for the whole server, by worker
        label = f'engine="{engine_name}"'
        assert metrics[f'parity_pool_connections{{{label},state="open"}}'] >= 1
        assert f'parity_pool_connections{{{label},state="in_use"}}' in metrics
        assert f"parity_pool_max{{{label}}}" in metrics
        assert f"parity_pool_timeouts_total{{{label}}}" in metrics
        if engine_name == "postgres":
            assert metrics[f"parity_pool_requests_total{{{label}}}"] >= 20
        else:
            assert f"parity_sqlite_writer_queue{{{label}}}" in metrics
        # every request so far was taken by the request log (the login, the collection,
        # the 20 records), none dropped
        assert metrics['parity_request_logs_total{outcome="accepted"}'] >= 22
        assert metrics['parity_request_logs_total{outcome="dropped"}'] == 0
        assert 'parity_request_logs_total{outcome="written"}' in metrics
    finally:
        target.stop()
        if dsn is not None:
            request.getfixturevalue("pg_server").drop_database(database)
