"""Engine fixtures: one SQLite file and one PostgreSQL database per xdist worker.

``engine`` is parametrised over the engines selected with ``--engines`` (default both), so
every engine test runs on SQLite and PostgreSQL. Tables are created per test with unique
names, so tests never depend on each other's data. ``app`` is the whole backend on that
engine (one per test module), ``superuser`` a superuser's auth context on it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reference_impl.app import App
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import SUPERUSERS
from reference_impl.db.engine import Engine

_counter = itertools.count()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine_name" in metafunc.fixturenames:
        engines = metafunc.config.getoption("engines", "sqlite,postgres")
        names = [e.strip() for e in str(engines).split(",") if e.strip()]
        metafunc.parametrize("engine_name", names, scope="session")


@pytest.fixture(scope="session")
def engine(
    engine_name: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if engine_name == "sqlite":
        from reference_impl.db.sqlite import SqliteEngine

        eng: Engine = SqliteEngine(tmp_path_factory.mktemp("sqlite") / "engine.db")
    else:
        from reference_impl.db.postgres import PoolConfig, PostgresEngine

        server: Any = request.getfixturevalue("pg_server")
        dsn = server.create_database(f"pp_engine_{worker}", exist_ok=True)
        eng = PostgresEngine(dsn, pool=PoolConfig(min_size=1, max_size=8))
    yield eng
    eng.close()


@pytest.fixture
def table() -> str:
    """A fresh table name for one test."""
    return f"t{os.getpid()}_{next(_counter)}"


@pytest.fixture(scope="session")
def engine_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine")


@pytest.fixture(scope="module")
def app(engine: Engine) -> App:
    app = App(engine)
    app.bootstrap()
    return app


@pytest.fixture
def superuser(app: App) -> AuthContext:
    coll = app.store.find(SUPERUSERS)
    assert coll is not None
    return AuthContext({"id": ""}, coll.id, SUPERUSERS)
