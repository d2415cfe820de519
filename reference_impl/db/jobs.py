"""The event grid's tables and their statements, one text for both engines.

``_pp_jobs``: the competing-consumer hooks' queue (``core/hooks.py``) and every hook run
that ended dead (broadcast ones included, for inspection). ``_pp_crons``: each cron job's
shared state (``core/cron.py``). Both are the server's own, created at start outside the
collections, times as epoch seconds (a float on both engines), values bound, never spliced.
The one engine difference, how a claim skips rows another consumer holds, is
``Dialect.skip_locked``.
"""

from __future__ import annotations

from typing import Any

from reference_impl.db.dialect import Dialect

JOBS, CRONS, OVERFLOW = "_pp_jobs", "_pp_crons", "_pp_event_records"
JOB_COLUMNS = (
    "id",
    "hook",
    "mode",
    "event",
    "status",
    "attempts",
    "run_after",
    "lease_until",
    "node",
    "last_error",
    "created",
    "updated",
)
CRON_COLUMNS = (
    "id",
    "expression",
    "last_tick",
    "last_run",
    "last_duration_ms",
    "last_error",
    "holder",
    "running_since",
    "runs",
)

Statement = tuple[str, dict[str, Any]]


def create_statements(d: Dialect, role: str | None = None) -> list[str]:
    """The tables; ``role``: the row level security role requests run as (PostgreSQL's
    ``--rules rls|both``), which queues competing jobs inside their transactions."""
    jobs, crons = d.table(JOBS), d.table(CRONS)
    overflow = d.table(OVERFLOW)
    grant = (
        [
            f"GRANT INSERT ON {jobs} TO {d.quote(role)}",
            f"GRANT SELECT, INSERT, DELETE ON {overflow} TO {d.quote(role)}",
        ]
        if role
        else []
    )
    return [
        f"CREATE TABLE IF NOT EXISTS {jobs} ("
        "id TEXT PRIMARY KEY, hook TEXT NOT NULL, mode TEXT NOT NULL, event TEXT NOT NULL, "
        "status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
        "run_after DOUBLE PRECISION NOT NULL, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0, "
        "node TEXT NOT NULL DEFAULT '', last_error TEXT NOT NULL DEFAULT '', "
        "created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX IF NOT EXISTS {} ON {} (status, run_after)".format(
            *d.index_target("_pp_jobs_due", JOBS)
        ),
        f"CREATE TABLE IF NOT EXISTS {crons} ("
        "id TEXT PRIMARY KEY, expression TEXT NOT NULL, "
        "last_tick DOUBLE PRECISION NOT NULL DEFAULT 0, "
        "last_run DOUBLE PRECISION NOT NULL DEFAULT 0, "
        "last_duration_ms DOUBLE PRECISION NOT NULL DEFAULT 0, "
        "last_error TEXT NOT NULL DEFAULT '', holder TEXT NOT NULL DEFAULT '', "
        "running_since DOUBLE PRECISION NOT NULL DEFAULT 0, runs INTEGER NOT NULL DEFAULT 0)",
        f"CREATE TABLE IF NOT EXISTS {overflow} ("
        "id TEXT PRIMARY KEY, record TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)",
        *grant,
    ]


def _p(d: Dialect, name: str) -> str:
    return d.placeholder(name)


# -- jobs --------------------------------------------------------------------------------
def insert_job(d: Dialect, values: dict[str, Any]) -> Statement:
    names = ", ".join(JOB_COLUMNS)
    marks = ", ".join(_p(d, c) for c in JOB_COLUMNS)
    return f"INSERT INTO {d.table(JOBS)} ({names}) VALUES ({marks})", values


def claim_jobs(d: Dialect, node: str, now: float, lease: float, limit: int) -> Statement:
    """Due jobs (pending and past their backoff, or running on a lease that expired: a
    consumer died with them) taken for ``node`` until ``now + lease``, oldest first."""
    jobs = d.table(JOBS)
    due = (
        f"SELECT id FROM {jobs} WHERE (status = 'pending' AND run_after <= {_p(d, 'now')}) "
        f"OR (status = 'running' AND lease_until < {_p(d, 'now')}) "
        f"ORDER BY run_after LIMIT {_p(d, 'limit')}{d.skip_locked(JOBS)}"
    )
    sql = (
        f"UPDATE {jobs} SET status = 'running', node = {_p(d, 'node')}, "
        f"lease_until = {_p(d, 'lease')}, attempts = attempts + 1, updated = {_p(d, 'now')} "
        f"WHERE id IN ({due}) RETURNING id, hook, event, attempts"
    )
    return sql, {"node": node, "now": now, "lease": now + lease, "limit": limit}


def finish_job(d: Dialect, job_id: str, node: str, now: float) -> Statement:
    sql = (
        f"UPDATE {d.table(JOBS)} SET status = 'done', updated = {_p(d, 'now')} "
        f"WHERE id = {_p(d, 'id')} AND node = {_p(d, 'node')} AND status = 'running'"
    )
    return sql, {"id": job_id, "node": node, "now": now}


def fail_job(
    d: Dialect, job_id: str, node: str, now: float, error: str, retry_at: float | None
) -> Statement:
    """Back to pending until ``retry_at``; dead when ``retry_at`` is None."""
    status = "pending" if retry_at is not None else "dead"
    sql = (
        f"UPDATE {d.table(JOBS)} SET status = {_p(d, 'status')}, "
        f"run_after = {_p(d, 'retry')}, last_error = {_p(d, 'error')}, "
        f"updated = {_p(d, 'now')} "
        f"WHERE id = {_p(d, 'id')} AND node = {_p(d, 'node')} AND status = 'running'"
    )
    params = {
        "status": status,
        "retry": retry_at if retry_at is not None else now,
        "error": error[:2000],
        "now": now,
        "id": job_id,
        "node": node,
    }
    return sql, params


def list_jobs(d: Dialect, status: str | None, limit: int) -> Statement:
    where = f" WHERE status = {_p(d, 'status')}" if status else ""
    sql = (
        f"SELECT {', '.join(JOB_COLUMNS)} FROM {d.table(JOBS)}{where} "
        f"ORDER BY created DESC, id LIMIT {_p(d, 'limit')}"
    )
    return sql, {"status": status, "limit": limit} if status else {"limit": limit}


def retry_job(d: Dialect, job_id: str, now: float) -> Statement:
    """A dead job back in the queue, its attempts counted afresh."""
    sql = (
        f"UPDATE {d.table(JOBS)} SET status = 'pending', attempts = 0, "
        f"run_after = {_p(d, 'now')}, updated = {_p(d, 'now')} "
        f"WHERE id = {_p(d, 'id')} AND status = 'dead' AND mode = 'competing'"
    )
    return sql, {"id": job_id, "now": now}


def purge_done(d: Dialect, before: float) -> Statement:
    sql = f"DELETE FROM {d.table(JOBS)} WHERE status = 'done' AND updated < {_p(d, 'before')}"
    return sql, {"before": before}


# -- events too big for a NOTIFY payload (core/events.py) -------------------------------
def insert_overflow(d: Dialect, ref: str, record: str, now: float) -> Statement:
    sql = (
        f"INSERT INTO {d.table(OVERFLOW)} (id, record, created) "
        f"VALUES ({_p(d, 'id')}, {_p(d, 'record')}, {_p(d, 'now')})"
    )
    return sql, {"id": ref, "record": record, "now": now}


def read_overflow(d: Dialect, ref: str) -> Statement:
    return f"SELECT record FROM {d.table(OVERFLOW)} WHERE id = {_p(d, 'id')}", {"id": ref}


def purge_overflow(d: Dialect, before: float) -> Statement:
    return f"DELETE FROM {d.table(OVERFLOW)} WHERE created < {_p(d, 'before')}", {"before": before}


# -- crons -------------------------------------------------------------------------------
def ensure_cron(d: Dialect, job_id: str, expression: str) -> Statement:
    sql = (
        f"INSERT INTO {d.table(CRONS)} (id, expression) VALUES ({_p(d, 'id')}, {_p(d, 'expr')}) "
        f"ON CONFLICT (id) DO UPDATE SET expression = excluded.expression"
    )
    return sql, {"id": job_id, "expr": expression}


def take_tick(d: Dialect, job_id: str, tick: float, node: str, now: float) -> Statement:
    """Claims ``tick`` of the job for ``node``: one row changed for exactly one claimer
    per tick, across every process (the row's update is atomic on both engines)."""
    sql = (
        f"UPDATE {d.table(CRONS)} SET last_tick = {_p(d, 'tick')}, holder = {_p(d, 'node')}, "
        f"running_since = {_p(d, 'now')} "
        f"WHERE id = {_p(d, 'id')} AND last_tick < {_p(d, 'tick')}"
    )
    return sql, {"id": job_id, "tick": tick, "node": node, "now": now}


def start_manual(d: Dialect, job_id: str, node: str, now: float) -> Statement:
    sql = (
        f"UPDATE {d.table(CRONS)} SET holder = {_p(d, 'node')}, running_since = {_p(d, 'now')} "
        f"WHERE id = {_p(d, 'id')}"
    )
    return sql, {"id": job_id, "node": node, "now": now}


def finish_cron(
    d: Dialect, job_id: str, started: float, duration_ms: float, error: str
) -> Statement:
    sql = (
        f"UPDATE {d.table(CRONS)} SET last_run = {_p(d, 'started')}, "
        f"last_duration_ms = {_p(d, 'ms')}, last_error = {_p(d, 'error')}, "
        f"running_since = 0, runs = runs + 1 WHERE id = {_p(d, 'id')}"
    )
    return sql, {"id": job_id, "started": started, "ms": duration_ms, "error": error[:2000]}


def list_crons(d: Dialect) -> Statement:
    return f"SELECT {', '.join(CRON_COLUMNS)} FROM {d.table(CRONS)} ORDER BY id", {}
