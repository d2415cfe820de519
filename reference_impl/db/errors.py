"""One exception class per meaning, the same on both engines.

SQLite's ``SQLITE_CONSTRAINT_UNIQUE`` and PostgreSQL's SQLSTATE 23505 both become
:class:`UniqueViolation`; handlers never look at the engine (STYLE.md item 5). The engine
modules own the mapping tables (``sqlite.py``: extended result codes, ``postgres.py``:
SQLSTATEs); this module only names the meanings.
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Any error raised by an engine, already translated.

    ``constraint`` is the constraint or index name when the engine reports one (PostgreSQL),
    ``columns`` the offending columns when the engine names them (SQLite: "UNIQUE constraint
    failed: posts.a, posts.b"; PostgreSQL: a NOT NULL column), ``column`` the last of them;
    the original driver error is ``__cause__``. Never serialise the cause into a response.
    """

    def __init__(
        self,
        message: str,
        *,
        constraint: str | None = None,
        column: str | None = None,
        columns: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.constraint = constraint
        self.columns = columns or ((column,) if column else ())
        self.column = self.columns[-1] if self.columns else None


class IntegrityError(DatabaseError):
    """A constraint rejected the write."""


class UniqueViolation(IntegrityError):
    """SQLite SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY; PostgreSQL 23505."""


class ForeignKeyViolation(IntegrityError):
    """SQLite SQLITE_CONSTRAINT_FOREIGNKEY; PostgreSQL 23503."""


class NotNullViolation(IntegrityError):
    """SQLite SQLITE_CONSTRAINT_NOTNULL; PostgreSQL 23502."""


class CheckViolation(IntegrityError):
    """SQLite SQLITE_CONSTRAINT_CHECK; PostgreSQL 23514."""


class TransientError(DatabaseError):
    """The transaction can succeed if retried from the start."""


class SerializationFailure(TransientError):
    """SQLite SQLITE_BUSY_SNAPSHOT (a read transaction could not upgrade to a write after
    another connection committed); PostgreSQL 40001."""


class Deadlock(TransientError):
    """PostgreSQL 40P01. SQLite has a single writer and never reports a deadlock."""


class LockTimeout(TransientError):
    """SQLite SQLITE_BUSY after ``busy_timeout``; PostgreSQL 55P03 (lock_not_available)."""


class StatementTimeout(DatabaseError):
    """PostgreSQL 57014 (query_canceled): a statement ran past ``statement_timeout``
    (``--statement-timeout``, off by default) or was cancelled. Not retried: the same
    statement would run as long again. SQLite has no statement timeout (an interrupt is
    never set by the reference)."""


class QueryError(DatabaseError):
    """The statement itself is wrong (syntax, unknown column, type mismatch).

    From user input this is a bug in the compiler, never a user error: the API turns it into
    a generic 400 only where PocketBase does (filters), and logs it.
    """


class AlreadyExists(QueryError):
    """PostgreSQL 42P07 (duplicate_table) / 42710 (duplicate_object): a ``CREATE ... IF NOT
    EXISTS`` found the object made by a concurrent transaction that committed after this
    one's check (``IF NOT EXISTS`` is not atomic against a concurrent creator; the other
    outcome of the same race is a 23505 on the catalogue's unique index). SQLite's one
    writer serialises DDL, so it never raises it. Safe to retry: the object is there."""


class UnstorableText(DatabaseError):
    """A value the engine cannot hold: PostgreSQL and U+0000 in text or JSONB (see
    ``Dialect.TEXT_ALLOWS_NUL``). Values are checked before writes; this is the net for
    anything else (the API answers 400, never 500)."""


class PolicyViolation(DatabaseError):
    """PostgreSQL 42501 "new row violates row-level security policy": a row an INSERT or
    UPDATE writes fails the table's policy (a create rule's ``WITH CHECK``). SQLite has no
    row level security and never raises it."""


class ConnectionFailed(DatabaseError):
    """The engine could not be reached or the connection dropped."""


class StaleSchema(Exception):
    """A transaction ran on collection definitions another server process has changed
    since (``Engine.schema_stale``): a write refused before its COMMIT, or a statement that
    failed while the definitions were stale (a dropped column, a renamed table). Nothing
    was committed; the request is run again once its worker has caught up
    (``api/app.py`` ``CatchUp``). Not a :class:`DatabaseError`: no handler answers it."""
