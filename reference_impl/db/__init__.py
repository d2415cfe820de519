"""The engine layer: the only package that knows SQLite from PostgreSQL.

``open_engine`` is the one door: domain code gets an :class:`~reference_impl.db.engine.Engine`
and never imports a driver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reference_impl.db.engine import Engine

DATABASE_NAME = "parity"  # the database the embedded server hosts for ``parity serve``
# The PostgreSQL role requests run as under ``--rules rls|both`` (policies apply to it).
ROW_SECURITY_ROLE = "pb_app"


def sqlite_build() -> str:
    """The pinned SQLite library version the engine layer runs (for reports and headers)."""
    import apsw

    return str(apsw.sqlite_lib_version())


def has_row_level_security(engine: str) -> bool:
    """``Dialect.ROW_LEVEL_SECURITY`` of ``sqlite`` or ``postgres``, before any engine opens
    (``--rules`` is checked first)."""
    if engine == "sqlite":
        from reference_impl.db.sqlite import SqliteDialect

        return SqliteDialect.ROW_LEVEL_SECURITY
    if engine == "postgres":
        from reference_impl.db.postgres import PostgresDialect

        return PostgresDialect.ROW_LEVEL_SECURITY
    raise ValueError(f"unknown engine {engine!r}: use sqlite or postgres")


def open_engine(
    engine: str,
    data_dir: Path,
    *,
    pg_dsn: str | None = None,
    pg_container: bool = False,
    row_security: bool = False,
    pool_options: dict[str, Any] | None = None,
) -> tuple[Engine, object | None]:
    """Open ``sqlite`` (``data_dir/data.db``) or ``postgres`` (DSN, container, or embedded).
    ``row_security``: PostgreSQL runs requests as :data:`ROW_SECURITY_ROLE` under the
    rules' policies (``--rules rls|both``). ``pool_options``: PostgreSQL pool and isolation
    settings (``PoolConfig`` fields; None keeps ``PARITY_PG_POOL_*`` or the default).

    Returns the engine and the provisioned server handle (to ``stop()`` on exit) or None.
    """
    data_dir = Path(data_dir)
    if engine == "sqlite":
        from reference_impl.db.sqlite import SqliteEngine

        return SqliteEngine(data_dir / "data.db"), None
    if engine == "postgres":
        from reference_impl.db.postgres import PoolConfig, PostgresEngine
        from reference_impl.db.provision import provision_postgres

        role = ROW_SECURITY_ROLE if row_security else None
        pool = PoolConfig.from_env(os.environ, **(pool_options or {}))
        if pg_dsn:
            return PostgresEngine(pg_dsn, pool=pool, row_security_role=role), None
        server = provision_postgres(data_dir=data_dir, container=pg_container)
        dsn = server.create_database(DATABASE_NAME, exist_ok=True)
        return PostgresEngine(dsn, pool=pool, row_security_role=role), server
    raise ValueError(f"unknown engine {engine!r}: use sqlite or postgres")
