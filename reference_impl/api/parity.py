"""``/api/parity/*``: the reference's own status endpoints (not PocketBase's), superuser only.

``GET /api/parity/rules``: where each collection's API rules are enforced (``--rules``):
per action ``policy`` (a row level security policy, listed in ``pg_policies``) or
``app: <why>`` (the app's filter; with the reason a policy could not express the rule).

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
