"""Locust scenarios of ``parity load`` (``harness/load.py`` starts the targets, runs this file
headless and checks the outcome after the run). One user class per scenario, FastHttpUser,
route templates as request names:

- ``LoggingBurst`` (``logging_burst``): ``GET /api/health?mark=<run>`` as fast as the rate
  allows: logged requests, the request log pipeline's load. Checked after: the logs of the
  run (``data.url ~ 'mark=<run>'``) == the requests answered - the drops counted.
- ``RecordsCrud`` (``records_crud``): a mix over one collection of seeded records: list
  with a filter and a sort (4), view (4), create (2), update (2). Checked after: the
  collection holds the seeded rows + every create answered 200.
- ``RaceCounter`` (``race_counter``): ``PATCH {"n+": 1}`` on one record from every user at
  once. Checked after: its ``n`` == the increments answered 200 (none lost).

Environment (set by ``parity load``): ``PARITY_LOAD_TOKEN`` (a superuser token),
``PARITY_LOAD_RATE`` (requests per second, all users together; 0: as fast as they can),
``PARITY_LOAD_USERS`` (the ``-u`` given, to split the rate), ``PARITY_LOAD_MARK`` (this
run's id), ``PARITY_LOAD_COLLECTION``, ``PARITY_LOAD_RECORD`` (race_counter's record),
``PARITY_LOAD_IDS`` (records_crud's seeded ids, comma list), ``PARITY_LOAD_COUNTS`` (a
directory: each worker writes ``counts-<pid>.json`` as it exits, its answers by request
name and status, by wall-clock second, and a histogram of response times in µs, Locust's
percentiles being whole milliseconds; ``parity load`` sums them, so the per-second
throughput is exact where Locust's own history moves only with each worker's report to the
master, every 3 s).

    PARITY_LOAD_TOKEN=... locust -f loadtests/locust_scenarios.py --headless \\
        -H http://127.0.0.1:8090 -u 64 -r 64 --run-time 60s --processes 2 LoggingBurst
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import constant, constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpUser

TOKEN = os.environ.get("PARITY_LOAD_TOKEN", "")
RATE = float(os.environ.get("PARITY_LOAD_RATE", "0") or 0)
USERS = max(1, int(os.environ.get("PARITY_LOAD_USERS", "1")))
MARK = os.environ.get("PARITY_LOAD_MARK", "load")
COLLECTION = os.environ.get("PARITY_LOAD_COLLECTION", "load_items")
RECORD = os.environ.get("PARITY_LOAD_RECORD", "")
IDS = [i for i in os.environ.get("PARITY_LOAD_IDS", "").split(",") if i]
COUNTS_DIR = os.environ.get("PARITY_LOAD_COUNTS", "")

RECORDS = f"/api/collections/{COLLECTION}/records"
# request names are PocketBase's route templates: one stats row per route, whatever the ids
LIST = "GET /api/collections/{collection}/records"
ONE = "/api/collections/{collection}/records/{id}"
_answers: Counter[tuple[str, int]] = Counter()  # (request name, status; 0: no answer)
_per_second: Counter[int] = Counter()  # answers by the wall-clock second they arrived in
_latency_us: Counter[int] = Counter()  # answers by response time in whole µs (exact p50)
_lock = threading.Lock()


def _wait() -> Any:
    return constant_throughput(RATE / USERS) if RATE > 0 else constant(0)


@events.request.add_listener
def _count(
    name: str, response_time: float = 0.0, response: Any = None, exception: Any = None, **_: Any
) -> None:
    status = int(getattr(response, "status_code", 0) or 0) if response is not None else 0
    with _lock:
        _answers[(name, status)] += 1
        if status:
            _per_second[int(time.time())] += 1
            _latency_us[int(response_time * 1000)] += 1


_role = {"master": False}


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    from locust.runners import MasterRunner

    _role["master"] = isinstance(environment.runner, MasterRunner)


@events.quit.add_listener
def _write_counts(**_: Any) -> None:
    """Each process that ran users (each worker; a lone local runner) writes its counts as it
    exits, after its users stopped: nothing it counted is left out. The master runs no users
    and writes nothing; ``parity load`` waits for one file per worker (with ``--processes``
    the workers outlive the master, which does not wait for them)."""
    if _role["master"] or not COUNTS_DIR:
        return
    with _lock:
        rows = [{"name": n, "status": st, "count": c} for (n, st), c in sorted(_answers.items())]
        seconds = {str(t): c for t, c in sorted(_per_second.items())}
        latency = {str(us): c for us, c in sorted(_latency_us.items())}
    path = Path(COUNTS_DIR) / f"counts-{os.getpid()}.json"
    partial = path.with_suffix(".part")  # renamed when whole: a reader never sees half a file
    partial.write_text(json.dumps({"answers": rows, "per_second": seconds, "latency_us": latency}))
    os.replace(partial, path)


class LoggingBurst(FastHttpUser):
    wait_time = _wait()

    @task
    def health(self) -> None:
        self.client.get(f"/api/health?mark={MARK}", name="GET /api/health")


class RecordsCrud(FastHttpUser):
    wait_time = _wait()

    def on_start(self) -> None:
        self.headers = {"Authorization": TOKEN}
        self.mine: list[str] = []
        self.rng = random.Random()

    def _some_id(self) -> str:
        pool = self.mine if self.mine and self.rng.random() < 0.5 else IDS
        return self.rng.choice(pool) if pool else "missing00000000"

    @task(4)
    def list_filtered(self) -> None:
        low = self.rng.randrange(0, 900)
        self.client.get(
            f"{RECORDS}?filter=(n>={low}%26%26n<{low + 100})&sort=-n&perPage=20",
            headers=self.headers,
            name=LIST,
        )

    @task(4)
    def view(self) -> None:
        self.client.get(f"{RECORDS}/{self._some_id()}", headers=self.headers, name=f"GET {ONE}")

    @task(2)
    def create(self) -> None:
        body = {"title": f"{MARK}-{self.rng.randrange(10**9)}", "n": self.rng.randrange(1000)}
        with self.client.post(
            RECORDS,
            json=body,
            headers=self.headers,
            name="POST /api/collections/{collection}/records",
            catch_response=True,
        ) as answer:
            if answer.status_code == 200:
                self.mine.append(answer.json()["id"])
                answer.success()

    @task(2)
    def update(self) -> None:
        self.client.patch(
            f"{RECORDS}/{self._some_id()}",
            json={"n": self.rng.randrange(1000)},
            headers=self.headers,
            name=f"PATCH {ONE}",
        )


class RaceCounter(FastHttpUser):
    wait_time = _wait()

    def on_start(self) -> None:
        self.headers = {"Authorization": TOKEN}

    @task
    def increment(self) -> None:
        self.client.patch(
            f"{RECORDS}/{RECORD}",
            json={"n+": 1},
            headers=self.headers,
            name=f"PATCH {ONE} (n+)",
        )
