"""Hooks and cron jobs the cluster suite serves with (``parity serve --hooks
harness.cluster_hooks``): each leaves a record behind, so a test counts who ran what.

- ``competing_log`` (competing) and ``broadcast_log`` (broadcast): on every record created
  in ``items``, a ``hook_runs`` record ``{hook, event, node}``: exactly one of the first
  per item across the cluster, one of the second per item and node.
- ``doomed`` (competing, 3 attempts): fails on every record created in ``doomed``, so it
  ends dead.
- cron ``cluster_tick`` (every 2 s): a ``cron_runs`` record ``{tick, node}``.

The collections are the test's to create; without them the hooks do nothing.
"""

from __future__ import annotations

from reference_impl.app import App
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import SUPERUSERS
from reference_impl.core.cron import current_tick
from reference_impl.core.events import RECORD_CREATE, Event


def register(app: App) -> None:
    def actor() -> AuthContext:
        superusers = app.store.find(SUPERUSERS)
        assert superusers is not None
        return AuthContext({"id": ""}, superusers.id, SUPERUSERS)

    def log_to(collection: str, body: dict[str, object]) -> None:
        coll = app.store.find(collection)
        if coll is not None:
            app.records.create(coll, body, actor())

    def logger(hook: str):  # type: ignore[no-untyped-def]
        def run(event: Event) -> None:
            log_to("hook_runs", {"hook": hook, "event": event.id, "node": app.node_id})

        return run

    def doomed(event: Event) -> None:
        raise RuntimeError(f"doomed hook refuses {event.id}")

    app.hooks.register(
        "competing_log",
        logger("competing"),
        types={RECORD_CREATE},
        collections={"items"},
        mode="competing",
    )
    app.hooks.register(
        "broadcast_log",
        logger("broadcast"),
        types={RECORD_CREATE},
        collections={"items"},
        mode="broadcast",
    )
    app.hooks.register(
        "doomed", doomed, types={RECORD_CREATE}, collections={"doomed"}, mode="competing",
        attempts=3,
    )  # fmt: skip
    app.cron.add(
        "cluster_tick",
        "* * * * * */2",
        lambda: log_to("cron_runs", {"tick": current_tick.get(), "node": app.node_id}),
    )
