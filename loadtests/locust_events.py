"""Locust scenario ``grid_writes``: record creates spread over the nodes of a cluster, at a
fixed total rate (the event grid's write load; ``probe_events.py`` runs it and reads the
latencies the servers measured; ``probe_realtime.py`` runs it and times the SSE events
against each body's ``t``, the writer's clock just before the request).

Environment: ``PARITY_PROBE_URLS`` (comma-separated node URLs), ``PARITY_PROBE_TOKEN`` (a
superuser token), ``PARITY_PROBE_RATE`` (creates per second, all users together),
``PARITY_PROBE_USERS`` (the ``-u`` given to Locust, to split the rate).

    locust -f loadtests/locust_events.py --headless -u 40 -r 40 --run-time 10s
"""

from __future__ import annotations

import itertools
import os
import time

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

URLS = [u for u in os.environ.get("PARITY_PROBE_URLS", "").split(",") if u]
TOKEN = os.environ.get("PARITY_PROBE_TOKEN", "")
RATE = float(os.environ.get("PARITY_PROBE_RATE", "100"))
USERS = max(1, int(os.environ.get("PARITY_PROBE_USERS", "40")))
_next_node = itertools.count()


class GridWriter(FastHttpUser):
    host = URLS[0] if URLS else "http://127.0.0.1:8090"
    wait_time = constant_throughput(RATE / USERS)

    def on_start(self) -> None:
        if URLS:  # round-robin over the nodes, one node per user
            self.client.base_url = URLS[next(_next_node) % len(URLS)]

    @task
    def create(self) -> None:
        self.client.post(
            "/api/collections/probe/records",
            json={"n": 1, "t": time.time()},  # t: probe_realtime's start of the write
            headers={"Authorization": TOKEN},
            name="POST /api/collections/probe/records",
        )
