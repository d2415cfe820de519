"""``/api/parity/*``: the reference's own status endpoints (not PocketBase's), superuser only.

``GET /api/parity/rules``: where each collection's API rules are enforced (``--rules``):
per action ``policy`` (a row level security policy, listed in ``pg_policies``) or
``app: <why>`` (the app's filter; with the reason a policy could not express the rule).

``GET /api/parity/events``: this process in the event grid (``core/events.py``): its node
id, events published, received from other nodes, own echoes ignored, listening gaps, and
the delivery latency of received events (p50/p95/p99/max in ms; ``?reset=1`` clears the
samples after reading: the latency probe's window).

``GET /api/parity/logs``: this process's request log pipeline: entries accepted, dropped
(the buffer was full), written, failed, pending.

``GET /api/parity/crons``, ``POST /api/parity/crons/{id}/release``: the cron jobs' shared
state and the forced release of a job's lock (``core/cron.py``). ``GET /api/parity/jobs``,
``POST /api/parity/jobs/{id}/retry``: the hooks' jobs, dead ones queued again
(``core/hooks.py``).

``/api/parity/schedule`` (only on a server started with ``--failpoints``; 404 elsewhere):
``POST`` installs the race suite's interleaving schedule (``reference_impl/failpoints.py``),
``GET`` returns its trace (which operation passed or skipped which point, in order),
``DELETE`` removes it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from reference_impl import failpoints
from reference_impl.api._http import app_of, auth_of, read_json, require_superuser, respond
from reference_impl.bridge import run_bridged
from reference_impl.core import errors as e
from reference_impl.core.row_security import RULE_OF


async def rules_status(request: Request) -> Response:
    require_superuser(await auth_of(request))
    app = app_of(request)
    collections: dict[str, dict[str, str]] = {}
    for coll in sorted(app.store.all(), key=lambda c: c.name):
        compiled = app.store.policies.get(coll.id)
        if app.rules == "app" or compiled is None:
            collections[coll.name] = {action: "app" for action in RULE_OF}
        else:
            collections[coll.name] = compiled.status()
    return respond(request, {"mode": app.rules, "collections": collections}, None)


async def events_status(request: Request) -> Response:
    require_superuser(await auth_of(request))
    app = app_of(request)
    reset = request.query_params.get("reset", "") in ("1", "true")
    stats = app.events.stats(reset=reset)
    stats["cache"] = {
        "records": len(app.records.cache),
        "hits": app.records.cache.hits,
        "misses": app.records.cache.misses,
        "collectionRefreshes": app.coherence.refreshed,
    }
    if app.peers is not None:  # a worker of --workers N
        stats["worker"] = {
            "index": app.peers.worker.index,
            "of": app.peers.worker.count,
            "catchUps": app.coherence.caught_up,
            "realtimeClients": len(app.realtime.clients),
            "forwarded": app.peers.forwarded,
        }
    return respond(request, stats, None)


async def crons_list(request: Request) -> Response:
    """PocketBase's ``GET /api/crons``: ``[{id, expression}]``."""
    require_superuser(await auth_of(request))
    jobs = app_of(request).cron.jobs()
    return respond(request, [{"id": j.id, "expression": j.expression} for j in jobs], None)


async def cron_run(request: Request) -> Response:
    """PocketBase's ``POST /api/crons/{id}``: the run starts in the background, 204."""
    require_superuser(await auth_of(request))
    cron = app_of(request).cron
    job = cron.get(request.path_params["id"])
    if job is None:
        raise e.not_found("Missing or invalid cron job.")
    cron.trigger(job)
    return respond(request, None, None, status=204)


async def crons_state(request: Request) -> Response:
    """``GET /api/parity/logs``: this process's request log pipeline: entries accepted, dropped
    (the buffer was full), written, failed, pending.

    ``GET /api/parity/crons``: each job's shared state (``core/cron.py``)."""
    require_superuser(await auth_of(request))
    app = app_of(request)
    items = await run_bridged(app.cron.state)
    return respond(request, {"node": app.node_id, "items": items}, None)


async def logs_status(request: Request) -> Response:
    """``GET /api/parity/logs``: this process's request log pipeline (``core/logs.py``):
    entries accepted, dropped (the buffer was full), written, failed, pending; with
    ``--workers`` one worker's (the metrics listener sums them, per worker)."""
    require_superuser(await auth_of(request))
    app = app_of(request)
    status = {"node": app.node_id, "maxDays": app.logs.max_days, **app.logs.counts()}
    return respond(request, status, None)


async def cron_release(request: Request) -> Response:
    """``POST /api/parity/crons/{id}/release``: the job's lock forced free."""
    require_superuser(await auth_of(request))
    cron = app_of(request).cron
    job = cron.get(request.path_params["id"])
    if job is None:
        raise e.not_found("Missing or invalid cron job.")
    return respond(request, {"released": await cron.release(job)}, None)


JOB_STATUSES = ("pending", "running", "done", "dead")


async def jobs_list(request: Request) -> Response:
    """``GET /api/parity/jobs?status=dead&limit=100``: hook jobs, newest first."""
    require_superuser(await auth_of(request))
    status = request.query_params.get("status") or None
    if status is not None and status not in JOB_STATUSES:
        raise e.bad_request(f"status must be one of {', '.join(JOB_STATUSES)}, not {status!r}.")
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise e.bad_request("limit must be a whole number from 1 to 1000.")
    app = app_of(request)
    items = await run_bridged(lambda: app.hooks.jobs(status, int(raw)))
    return respond(request, {"items": items}, None)


async def job_retry(request: Request) -> Response:
    """``POST /api/parity/jobs/{id}/retry``: a dead competing job queued again."""
    require_superuser(await auth_of(request))
    app = app_of(request)
    job_id = request.path_params["id"]
    if not await run_bridged(lambda: app.hooks.retry(job_id)):
        raise e.not_found("No dead competing job with this id.")
    return respond(request, None, None, status=204)


async def schedule(request: Request) -> Response:
    if not failpoints.enabled():
        raise e.not_found()
    require_superuser(await auth_of(request))
    if request.method == "POST":
        try:
            installed = failpoints.install(await read_json(request))
        except ValueError as exc:
            raise e.bad_request(f"Invalid schedule: {exc}") from exc
        return respond(request, {"rounds": len(installed.rounds_events())}, None)
    current = failpoints.current()
    if request.method == "DELETE":
        failpoints.clear()
        return respond(request, None, None, status=204)
    return respond(request, {"trace": current.trace if current else []}, None)


async def worker_metrics(request: Request) -> Response:
    """``--workers``: this worker's metrics for its supervisor's listener, over the worker's
    Unix socket only (no peer address); 404 on the public port (routed in workers only)."""
    app = app_of(request)
    if request.client is not None:
        raise e.not_found()
    from reference_impl.metrics import engine_metrics_text

    text = engine_metrics_text(app.engine, app.logs)
    return Response(text, media_type="text/plain; version=0.0.4")
