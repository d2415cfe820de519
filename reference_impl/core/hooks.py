"""After-commit hooks (EPIC-2.3): code that runs when records or collections change, on one
server process or on every one.

A hook is registered per event type (``record.create``...), optionally per collection
(name or id), with a mode:

- **broadcast**: every process runs it, for every matching event, its own and the others'
  (as the bus delivers them: after commit). Retried in memory with backoff; after
  ``attempts`` failures the run is written down dead (``_pp_jobs``, status ``dead``, mode
  ``broadcast``, the node that gave up) for inspection.
- **competing**: exactly one process runs it. The job is a row of ``_pp_jobs`` inserted in
  the publishing transaction itself (it exists if and only if the change committed); every
  process's consumer claims due jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the single
  writer on SQLite) under a lease, runs them, and marks them done, or pending again after a
  backoff, or dead after ``attempts`` failures. A consumer that dies mid-job leaves it
  running on an expired lease: another one claims it again (at-least-once; a hook whose
  effect must not repeat checks what it already did).

Dead jobs are listed by ``GET /api/parity/jobs?status=dead``; a competing one goes back to
the queue with ``POST /api/parity/jobs/{id}/retry``.

Hooks run as bridged work on the server's loop, off the request that caused them (its
response never waits for them). Outside a server (the CLI) competing jobs are queued for
the servers and broadcast hooks do not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from reference_impl.bridge import background, cancel_tasks, run_bridged
from reference_impl.core.events import TYPES, Event, EventBus
from reference_impl.db import jobs as sql
from reference_impl.db.engine import Engine, Tx, run_in_transaction

log = logging.getLogger("parity.hooks")

Mode = Literal["broadcast", "competing"]
HookFn = Callable[[Event], None]
LEASE = 30.0  # seconds a claimed job is this consumer's; past it, another may take it
POLL = 1.0  # seconds between claims when no event wakes the consumer (retries, leases)
BATCH = 16
KEEP_DONE = 3600.0  # seconds done jobs stay listed


def retry_delay(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1-based): 0.2 s doubling, capped at 60 s, with
    half of it jittered so a failing hook's retries do not line up across processes."""
    delay = min(60.0, 0.2 * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


@dataclass(frozen=True)
class Hook:
    name: str
    fn: HookFn
    types: frozenset[str]
    mode: Mode
    collections: frozenset[str] | None = None  # names or ids; None: every collection
    attempts: int = 5

    def matches(self, event: Event) -> bool:
        if event.type not in self.types:
            return False
        return self.collections is None or bool({event.collection, event.name} & self.collections)


class Hooks:
    def __init__(self, engine: Engine, bus: EventBus):
        self.engine = engine
        self.bus = bus
        self._hooks: dict[str, Hook] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.ran: dict[str, int] = {}  # successful runs here, per hook
        bus.on_publish(self._enqueue)
        bus.subscribe(self._on_event)

    def register(
        self,
        name: str,
        fn: HookFn,
        *,
        types: Iterable[str],
        mode: Mode = "broadcast",
        collections: Iterable[str] | None = None,
        attempts: int = 5,
    ) -> Hook:
        kinds = frozenset(types)
        unknown = sorted(kinds - TYPES)
        if unknown or not kinds:
            raise ValueError(f"hook {name!r}: unknown event types {unknown or '(none)'}")
        if mode not in ("broadcast", "competing"):
            raise ValueError(f"hook {name!r}: mode must be broadcast or competing, not {mode!r}")
        if attempts < 1:
            raise ValueError(f"hook {name!r}: attempts must be at least 1")
        if name in self._hooks:
            raise ValueError(f"hook {name!r} is registered already")
        hook = Hook(
            name,
            fn,
            kinds,
            mode,
            frozenset(collections) if collections is not None else None,
            attempts,
        )
        self._hooks[name] = hook
        return hook

    def registered(self) -> list[Hook]:
        return list(self._hooks.values())

    def create_tables(self) -> None:
        def work(tx: Tx) -> None:
            for statement in sql.create_statements(
                self.engine.dialect, self.engine.row_security_role
            ):
                tx.execute(statement)

        run_in_transaction(self.engine, work, write=True)

    # -- competing: queued with the change -----------------------------------------------
    def _enqueue(self, tx: Tx, event: Event) -> None:
        now = time.time()
        for hook in self._hooks.values():
            if hook.mode == "competing" and hook.matches(event):
                tx.execute(*sql.insert_job(self.engine.dialect, _job_row(hook, event, now)))

    def _on_event(self, event: Event) -> None:
        matching = [h for h in self._hooks.values() if h.matches(event)]
        if not matching:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not a server: the servers' consumers take the jobs
        if any(h.mode == "competing" for h in matching) and self._wake is not None:
            self._wake.set()
        for hook in matching:
            if hook.mode == "broadcast":
                task = background(loop, self._broadcast(hook, event))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _broadcast(self, hook: Hook, event: Event) -> None:
        for attempt in range(1, hook.attempts + 1):
            try:
                await run_bridged(lambda: hook.fn(event))
            except Exception as exc:
                log.warning("hook %s failed (attempt %d/%d): %s", hook.name, attempt,
                            hook.attempts, exc)  # fmt: skip
                if attempt == hook.attempts:
                    dead = functools.partial(self._write_dead, hook, event, hook.attempts, exc)
                    await run_bridged(dead)
                    return
                await asyncio.sleep(retry_delay(attempt))
            else:
                self.ran[hook.name] = self.ran.get(hook.name, 0) + 1
                return

    def _write_dead(self, hook: Hook, event: Event, attempts: int, exc: Exception) -> None:
        now = time.time()
        row = _job_row(hook, event, now)
        row.update(status="dead", attempts=attempts, node=self.bus.node_id, last_error=repr(exc))

        def work(tx: Tx) -> None:
            tx.execute(*sql.insert_job(self.engine.dialect, row))

        run_in_transaction(self.engine, work, write=True)

    # -- the consumer --------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None and any(h.mode == "competing" for h in self._hooks.values()):
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._consume())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_tasks(task, *self._running)

    async def _consume(self) -> None:
        assert self._wake is not None
        last_purge = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL)
            self._wake.clear()
            try:
                while await run_bridged(self._claim_and_run):
                    pass
                if time.time() - last_purge > 60:
                    last_purge = time.time()
                    await run_bridged(self._purge)
            except Exception:
                log.exception("the competing-hook consumer failed; retrying in %.0f s", POLL)

    def _claim_and_run(self) -> bool:
        """One batch claimed and run; True when the batch was full (more may be due)."""
        d, node = self.engine.dialect, self.bus.node_id

        def claim(tx: Tx) -> list[tuple[Any, ...]]:
            return tx.fetchall(*sql.claim_jobs(d, node, time.time(), LEASE, BATCH))

        claimed = run_in_transaction(self.engine, claim, write=True)
        for job_id, name, payload, attempts in claimed:
            hook = self._hooks.get(str(name))
            event = Event.from_payload(str(payload))
            error = ""
            if hook is None or event is None:
                error = f"no hook {name!r} here" if hook is None else "unreadable event"
            else:
                try:
                    hook.fn(event)
                except Exception as exc:
                    error = repr(exc)
                    log.warning("hook %s failed (attempt %d/%d): %s", name, attempts,
                                hook.attempts, exc)  # fmt: skip
            now = time.time()
            if not error:
                self.ran[str(name)] = self.ran.get(str(name), 0) + 1
                statement = sql.finish_job(d, str(job_id), node, now)
            else:
                limit = hook.attempts if hook is not None else 1
                retry = now + retry_delay(int(attempts)) if int(attempts) < limit else None
                statement = sql.fail_job(d, str(job_id), node, now, error, retry)

            def record(tx: Tx, statement: sql.Statement = statement) -> None:
                tx.execute(*statement)

            run_in_transaction(self.engine, record, write=True)
        return len(claimed) == BATCH

    def _purge(self) -> None:
        def work(tx: Tx) -> None:
            tx.execute(*sql.purge_done(self.engine.dialect, time.time() - KEEP_DONE))

        run_in_transaction(self.engine, work, write=True)

    # -- inspection ----------------------------------------------------------------------
    def jobs(self, status: str | None, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.transaction() as tx:
            rows = tx.fetchall(*sql.list_jobs(self.engine.dialect, status, limit))
        return [_job_json(row) for row in rows]

    def retry(self, job_id: str) -> bool:
        def work(tx: Tx) -> int:
            return tx.execute(*sql.retry_job(self.engine.dialect, job_id, time.time()))

        changed = run_in_transaction(self.engine, work, write=True)
        if changed and self._wake is not None:
            self._wake.set()
        return bool(changed)


def _job_row(hook: Hook, event: Event, now: float) -> dict[str, Any]:
    return {
        "id": secrets.token_hex(10),
        "hook": hook.name,
        "mode": hook.mode,
        "event": event.payload(),
        "status": "pending",
        "attempts": 0,
        "run_after": now,
        "lease_until": 0.0,
        "node": "",
        "last_error": "",
        "created": now,
        "updated": now,
    }


def _job_json(row: tuple[Any, ...]) -> dict[str, Any]:
    data = dict(zip(sql.JOB_COLUMNS, row, strict=True))
    event = Event.from_payload(str(data.pop("event")))
    return {
        "id": data["id"],
        "hook": data["hook"],
        "mode": data["mode"],
        "status": data["status"],
        "attempts": int(data["attempts"]),
        "node": data["node"],
        "lastError": data["last_error"],
        "event": None
        if event is None
        else {"type": event.type, "collection": event.name or event.collection, "id": event.id},
        "created": float(data["created"]),
        "updated": float(data["updated"]),
    }
