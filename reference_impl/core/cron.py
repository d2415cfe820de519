"""Cron jobs across server processes (EPIC-2.4): each tick of a job runs once in the cluster.

Every process schedules every job (croniter computes the next fire time from the wall
clock, so all of them agree on the tick). At a tick, each process tries the job's named
lock (``Engine.try_lock``: a session advisory lock on PostgreSQL, held on a dedicated
connection, so a crashed holder's lock is released by the server when its session ends);
the one that gets it claims the tick in ``_pp_crons`` (``last_tick < tick``: one row
update, one winner, which also stops a process that takes the lock just after the
previous holder released it from running the tick again), runs the job, records how it
went, and releases the lock. A job still running at its next tick holds its lock: that
tick is skipped, never run twice at once.

State per job, shared by the cluster (``GET /api/parity/crons``): last run, its duration
and error, the node that ran it (or runs it now), the number of runs, the next run.
PocketBase's API: ``GET /api/crons`` lists ``{id, expression}``; ``POST /api/crons/{id}``
starts a run now (fire and forget, 204) under the same lock. ``POST
/api/parity/crons/{id}/release`` forces the lock free (``Engine.force_unlock``).

Expressions: PocketBase's five fields and macros (``@hourly``...); a sixth field, seconds
(croniter's order: last), for jobs finer than a minute.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from reference_impl.bridge import background, cancel_tasks, run_bridged
from reference_impl.db import jobs as sql
from reference_impl.db.engine import Engine, Tx, run_in_transaction

log = logging.getLogger("parity.cron")

# The tick the running job was started for (0.0: started by hand).
current_tick: contextvars.ContextVar[float] = contextvars.ContextVar("current_tick", default=0.0)


def check_expression(expression: str) -> str:
    """The expression if croniter reads it with five or six fields (or a macro); ValueError
    naming the problem otherwise."""
    text = " ".join(expression.split())
    fields = text.split(" ")
    if not text.startswith("@") and len(fields) not in (5, 6):
        raise ValueError(
            f"cron expression {expression!r} has {len(fields)} fields: five "
            "(minute hour day month weekday) or six (then seconds last)"
        )
    if not croniter.is_valid(text):
        raise ValueError(f"invalid cron expression {expression!r}")
    return text


@dataclass(frozen=True)
class CronJob:
    id: str
    expression: str
    fn: Callable[[], None]

    def next_after(self, moment: float) -> float:
        return float(croniter(self.expression, moment).get_next(float))


class Cron:
    def __init__(self, engine: Engine, node_id: str):
        self.engine = engine
        self.node_id = node_id
        self._jobs: dict[str, CronJob] = {}
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.skipped = 0  # ticks this process found locked or taken

    def add(self, job_id: str, expression: str, fn: Callable[[], None]) -> CronJob:
        if not job_id or len(job_id) > 100:
            raise ValueError("a cron job id is 1 to 100 characters")
        job = CronJob(job_id, check_expression(expression), fn)
        self._jobs[job_id] = job
        return job

    def jobs(self) -> list[CronJob]:
        """PocketBase's order: the app's jobs by id, then the built-in ``__pb*`` ones."""
        mine = sorted((j for j in self._jobs.values() if not j.id.startswith("__pb")),
                      key=lambda j: j.id)  # fmt: skip
        return mine + [j for j in self._jobs.values() if j.id.startswith("__pb")]

    def get(self, job_id: str) -> CronJob | None:
        return self._jobs.get(job_id)

    def create_state(self) -> None:
        """The shared state rows (the tables are ``Hooks.create_tables``')."""

        def work(tx: Tx) -> None:
            for job in self._jobs.values():
                tx.execute(*sql.ensure_cron(self.engine.dialect, job.id, job.expression))

        run_in_transaction(self.engine, work, write=True)

    # -- scheduling ----------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None and self._jobs:
            await run_bridged(self.create_state)
            self._task = asyncio.create_task(self._schedule())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_tasks(task, *self._running)

    async def _schedule(self) -> None:
        after = time.time()
        while True:
            upcoming = {job.id: job.next_after(after) for job in self._jobs.values()}
            tick = min(upcoming.values())
            delay = tick - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for job_id, at in upcoming.items():
                if at == tick:
                    self._spawn(self._fire(self._jobs[job_id], tick))
            after = tick

    def _spawn(self, work: Any) -> None:
        task = background(asyncio.get_running_loop(), work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _fire(self, job: CronJob, tick: float) -> None:
        name = f"cron:{job.id}"
        if not await self.engine.try_lock(name):
            self.skipped += 1
            return
        try:
            d, node = self.engine.dialect, self.node_id

            def take(tx: Tx) -> int:
                return tx.execute(*sql.take_tick(d, job.id, tick, node, time.time()))

            if not await run_bridged(lambda: run_in_transaction(self.engine, take, write=True)):
                self.skipped += 1
                return
            await run_bridged(lambda: self._run(job, tick))
        except Exception:
            log.exception("cron job %s: the tick could not be run", job.id)
        finally:
            await self.engine.unlock(name)

    def _run(self, job: CronJob, tick: float) -> None:
        started = time.time()
        error = ""
        token = current_tick.set(tick)
        try:
            job.fn()
        except Exception as exc:
            error = repr(exc)
            log.warning("cron job %s failed: %s", job.id, exc)
        finally:
            current_tick.reset(token)
        ms = (time.time() - started) * 1000
        d = self.engine.dialect

        def record(tx: Tx) -> None:
            tx.execute(*sql.finish_cron(d, job.id, started, ms, error))

        run_in_transaction(self.engine, record, write=True)

    # -- by hand -------------------------------------------------------------------------
    def trigger(self, job: CronJob) -> None:
        """``POST /api/crons/{id}``: run now, in the background, under the job's lock (a
        run in progress anywhere makes this one a no-op, logged)."""
        self._spawn(self._manual(job))

    async def _manual(self, job: CronJob) -> None:
        name = f"cron:{job.id}"
        if not await self.engine.try_lock(name):
            log.info("cron job %s is running elsewhere; the manual run is skipped", job.id)
            return
        try:
            d, node = self.engine.dialect, self.node_id

            def start(tx: Tx) -> None:
                tx.execute(*sql.start_manual(d, job.id, node, time.time()))

            await run_bridged(lambda: run_in_transaction(self.engine, start, write=True))
            await run_bridged(lambda: self._run(job, 0.0))
        finally:
            await self.engine.unlock(name)

    async def release(self, job: CronJob) -> bool:
        return await self.engine.force_unlock(f"cron:{job.id}")

    # -- state ---------------------------------------------------------------------------
    def state(self) -> list[dict[str, Any]]:
        with self.engine.transaction() as tx:
            rows = {r[0]: dict(zip(sql.CRON_COLUMNS, r, strict=True))
                    for r in tx.fetchall(*sql.list_crons(self.engine.dialect))}  # fmt: skip
        now = time.time()
        out = []
        for job in self.jobs():
            row = rows.get(job.id, {})
            running = float(row.get("running_since") or 0)
            out.append(
                {
                    "id": job.id,
                    "expression": job.expression,
                    "lastRun": float(row.get("last_run") or 0) or None,
                    "lastDurationMs": round(float(row.get("last_duration_ms") or 0), 3),
                    "lastError": row.get("last_error") or "",
                    "holder": row.get("holder") or "",
                    "running": running > 0,
                    "runs": int(row.get("runs") or 0),
                    "nextRun": job.next_after(now),
                }
            )
        return out
