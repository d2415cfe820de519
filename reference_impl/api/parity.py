"""``/api/parity/*``: the reference's own status endpoints (not PocketBase's), superuser only.

``GET /api/parity/rules``: where each collection's API rules are enforced (``--rules``):
per action ``policy`` (a row level security policy, listed in ``pg_policies``) or
``app: <why>`` (the app's filter; with the reason a policy could not express the rule).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from reference_impl.api._http import app_of, auth_of, require_superuser, respond
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
