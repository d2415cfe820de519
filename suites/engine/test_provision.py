"""PostgreSQL provisioning against a real embedded server (no mocks).

One embedded server per module keeps this file at a few seconds; the concurrency test starts
its own server in a fresh directory because it checks start and stop across processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import reference_impl
from reference_impl.db._pg_container import docker_problem
from reference_impl.db.provision import (
    DSN_ENV,
    PostgresServer,
    ProvisionError,
    mask_dsn,
    provision_postgres,
)

REPO_ROOT = Path(reference_impl.__file__).resolve().parents[1]
SECRET = "s3cr3t-Pw"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pg")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[PostgresServer]:
    pg = provision_postgres(data_dir=data_dir, dsn=None)
    yield pg
    pg.stop()


@pytest.fixture(autouse=True)
def _no_external_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's PARITY_PG_DSN would silently turn the embedded tests into DSN tests.
    monkeypatch.delenv(DSN_ENV, raising=False)


def scalar(dsn: str, query: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_embedded_server_is_configured(server: PostgresServer) -> None:
    assert server.source == "embedded"
    assert scalar(server.admin_dsn, "SHOW wal_level") == "logical"
    assert scalar(server.admin_dsn, "SHOW max_connections") == "200"
    assert server.server_version().startswith("18.")
    bin_dir = server.bin_dir()
    assert bin_dir is not None and (bin_dir / "pg_dump").exists()


def test_new_database_sorts_text_like_sqlite_binary(server: PostgresServer) -> None:
    dsn = server.create_database("collation_check")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT datcollate, datctype, pg_encoding_to_char(encoding)"
            " FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert row == ("C", "C", "UTF8")
        conn.execute("CREATE TABLE t (v text)")
        values = ["b", "B", "a", "_z", "é", "f"]
        conn.cursor().executemany("INSERT INTO t VALUES (%s)", [(v,) for v in values])
        ordered = [r[0] for r in conn.execute("SELECT v FROM t ORDER BY v").fetchall()]
    # SQLite's BINARY collation compares UTF-8 bytes, i.e. code points, like Python's sorted().
    assert ordered == ["B", "_z", "a", "b", "f", "é"] == sorted(values)


def test_template_clone_copies_tables_and_collation(server: PostgresServer) -> None:
    with psycopg.connect(server.create_database("tpl_src")) as conn:
        conn.execute("CREATE TABLE items (id text PRIMARY KEY)")
        conn.execute("INSERT INTO items VALUES ('x')")
    clone = server.create_database("tpl_clone", template="tpl_src")
    assert scalar(clone, "SELECT string_agg(id, ',') FROM items") == "x"
    assert scalar(clone, "SELECT datcollate FROM pg_database WHERE datname = 'tpl_clone'") == "C"


def test_drop_terminates_open_connections(server: PostgresServer) -> None:
    dsn = server.create_database("dropme")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT 1")
        server.drop_database("dropme")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    assert not server.database_exists("dropme")
    server.drop_database("dropme")  # missing_ok=True by default
    with pytest.raises(ProvisionError, match="does not exist"):
        server.drop_database("dropme", missing_ok=False)


def test_create_existing_database(server: PostgresServer) -> None:
    first = server.create_database("twice")
    assert server.create_database("twice", exist_ok=True) == first
    with pytest.raises(ProvisionError, match="already exists"):
        server.create_database("twice")


def test_database_names_are_quoted_not_interpolated(server: PostgresServer) -> None:
    name = 'we"ird; DROP DATABASE postgres; --'
    dsn = server.create_database(name)
    assert scalar(dsn, "SELECT current_database()") == name
    server.drop_database(name)
    assert server.database_exists("postgres")
    with pytest.raises(ProvisionError, match="invalid database name"):
        server.create_database("x" * 64)  # the server would silently truncate it


def test_same_process_provisioning_is_reference_counted(
    server: PostgresServer, data_dir: Path
) -> None:
    second = provision_postgres(data_dir=data_dir)
    assert second.admin_dsn == server.admin_dsn
    second.stop()
    second.stop()  # idempotent
    assert server.database_exists("postgres")  # the module's handle still keeps it running


def test_dsn_path_uses_external_server(server: PostgresServer, tmp_path: Path) -> None:
    # The DSN may name an application database (it need not exist): it identifies the server.
    external = provision_postgres(data_dir=tmp_path, dsn=server.dsn_for("some_app"))
    assert external.source == "dsn"
    assert external.bin_dir() is None
    # Admin work goes to the maintenance database, whatever database the DSN named.
    assert scalar(external.admin_dsn, "SELECT current_database()") == "postgres"
    external.create_database("via_dsn")
    external.drop_database("via_dsn")
    external.stop()
    assert server.database_exists("postgres")  # stop() leaves a DSN server alone
    assert not (tmp_path / "pg").exists()  # nothing embedded was started


def test_dsn_from_environment(
    server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_ENV, server.admin_dsn)
    assert provision_postgres(data_dir=tmp_path).source == "dsn"


def test_unreachable_dsn_error_masks_password(tmp_path: Path) -> None:
    dsn = f"postgresql://parity:{SECRET}@127.0.0.1:1/postgres"
    with pytest.raises(ProvisionError) as info:
        provision_postgres(data_dir=tmp_path, dsn=dsn)
    message = str(info.value)
    assert "cannot connect" in message and "127.0.0.1" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (f"postgresql://u:{SECRET}@h:5432/db", "postgresql://u:***@h:5432/db"),
        (f"postgres://u:{SECRET}@h/db?sslmode=disable", "postgres://u:***@h/db?sslmode=disable"),
        (f"postgresql://u@h/db?password={SECRET}&x=1", "postgresql://u@h/db?password=***&x=1"),
        (f"host=h user=u password={SECRET} dbname=db", "host=h user=u password=*** dbname=db"),
        (f"host=h password='{SECRET} x' dbname=db", "host=h password=*** dbname=db"),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            "postgresql://postgres:@/postgres?host=/tmp/pg",
        ),
    ],
)
def test_mask_dsn(dsn: str, expected: str) -> None:
    assert mask_dsn(dsn) == expected


def test_repr_hides_password() -> None:
    pg = PostgresServer("dsn", f"postgresql://u:{SECRET}@h/db")
    assert SECRET not in repr(pg) and "***" in repr(pg)


def test_container_without_docker_says_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    if docker_problem() is None:
        pytest.skip("a Docker engine is reachable here; this test covers machines without one")
    with pytest.raises(ProvisionError) as info:
        provision_postgres(data_dir=tmp_path, container=True)
    message = str(info.value)
    assert "/var/run/docker.sock" in message and "DOCKER_HOST" in message
    assert "embedded" in message  # points at the alternative that works without Docker


_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import psycopg
    from reference_impl.db.provision import provision_postgres

    pg = provision_postgres(data_dir=Path(sys.argv[1]))
    with psycopg.connect(pg.admin_dsn) as conn:
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        time.sleep(float(sys.argv[2]))  # overlap with the other workers
        conn.execute("SELECT 1")  # still served although others have stopped
    pg.stop()
    print(started, wal_level)
    """
)


def test_processes_share_one_server_and_last_one_stops_it(tmp_path: Path) -> None:
    # Like pytest-xdist workers: started together on a fresh directory, finishing at
    # different times. One initdb, one server, no restart under anyone, stopped at the end.
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-c", _WORKER, str(tmp_path), str(hold)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for hold in (0.1, 0.6, 1.2)
    ]
    results = [worker.communicate(timeout=60) for worker in workers]
    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
    assert len({out for out, _ in results}) == 1  # same postmaster start time for all
    assert results[0][0].split()[-1] == "logical"
    assert not (tmp_path / "pg" / "postmaster.pid").exists()  # the last one stopped it
    log = (tmp_path / "pg" / "log").read_text()
    assert log.count("database system is ready to accept connections") == 1
