"""The concurrency category: writers creating records while the collection's schema changes.

N writer threads (each with its own httpx client) create records in ``hx_conc`` and, every
third request, in the name it is renamed to; meanwhile one client adds and removes fields,
renames the collection back and forth and finally drops it, after which every writer sends
a few more requests (the collection is gone: 404). Any 5xx or hang counts. The pauses
between schema steps are drawn from the seed, so a run is repeatable as far as threads
allow; statuses of racing requests are not compared with PocketBase (timing decides them).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from harness.hostile._make import dumps
from harness.hostile.case import JSON_HEADERS, OK_2XX, Case, Category, codes
from harness.hostile.runner import CategoryRun

NAME = "hx_conc"
RENAMED = "hx_conc_renamed"
COLLECTIONS = "/api/collections"
BASE_FIELDS: list[dict[str, Any]] = [{"name": "a", "type": "text"}, {"name": "n", "type": "number"}]
F1 = {"name": "f1", "type": "text"}
F2 = {"name": "f2", "type": "number"}
# 200 created; 400 a value the current schema refuses; 404 renamed away or dropped.
WRITER = codes(200, 400, 404)
GONE = codes(404)
AFTER_DROP = 3  # requests per writer once the collection is gone
_DROP_WAIT = 120.0  # a writer that is done waits this long for the drop (steps may hang)


def _case(what: str, method: str, path: str, body: Any, expect: Any, actor: Any, seed: int) -> Case:
    raw = None if body is None else dumps(body)
    headers = JSON_HEADERS if body is not None else ()
    return Case(
        "concurrency", method, what, path, expect, actor, headers=headers, body=raw, seed=seed
    )


def _schema_steps(rounds: int) -> list[tuple[str, str, Any]]:
    steps: list[tuple[str, str, Any]] = []
    for _ in range(rounds):
        steps += [
            ("PATCH", NAME, {"fields": [*BASE_FIELDS, F1]}),
            ("PATCH", NAME, {"fields": [*BASE_FIELDS, F1, F2]}),
            ("PATCH", NAME, {"fields": [*BASE_FIELDS, F2]}),
            ("PATCH", NAME, {"name": RENAMED}),
            ("PATCH", RENAMED, {"fields": BASE_FIELDS}),
            ("PATCH", RENAMED, {"name": NAME}),
        ]
    return [*steps, ("DELETE", NAME, None)]


def drive(run: CategoryRun, seed: int, quick: bool) -> None:
    writers, per_writer, rounds = (4, 25, 2) if quick else (8, 100, 6)
    rng = random.Random(f"{seed}:concurrency")
    pauses = [rng.uniform(0.0, 0.05) for _ in _schema_steps(rounds)]
    definition = {
        "name": NAME,
        "type": "base",
        "createRule": "",
        "listRule": "",
        "fields": BASE_FIELDS,
    }
    created = run.send(
        _case("collection for the race", "POST", COLLECTIONS, definition, OK_2XX, "superuser", seed)
    )
    if created.outcome != "ok":
        return
    dropped = threading.Event()

    def write(w: int) -> None:
        def send(k: int) -> None:
            name = RENAMED if k % 3 == 2 else NAME
            body = {"a": f"w{w}-{k}", "n": k, "f1": "x", "f2": k}
            path = f"{COLLECTIONS}/{name}/records"
            what = f"record w{w}#{k} into {name} while the schema changes"
            run.send(_case(what, "POST", path, body, WRITER, "guest", seed), client)

        with run.client() as client:
            k = 0
            while k < per_writer and not dropped.is_set():
                send(k)
                k += 1
            dropped.wait(_DROP_WAIT)
            for extra in range(AFTER_DROP):
                send(k + extra)

    def change() -> None:
        with run.client() as client:
            for n, ((method, name, body), pause) in enumerate(
                zip(_schema_steps(rounds), pauses, strict=True)
            ):
                time.sleep(pause)
                keys = "/".join(sorted(body)) if body else ""
                what = f"schema step {n}: {method} {name} {keys}".rstrip()
                run.send(
                    _case(what, method, f"{COLLECTIONS}/{name}", body, OK_2XX, "superuser", seed),
                    client,
                )
        dropped.set()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads.append(threading.Thread(target=change))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.send(
        _case("dropped collection", "GET", f"{COLLECTIONS}/{NAME}", None, GONE, "superuser", seed)
    )
    run.send(
        _case(
            "records of the dropped collection",
            "GET",
            f"{COLLECTIONS}/{NAME}/records",
            None,
            GONE,
            "guest",
            seed,
        )
    )


def category(vocab: dict[str, Any], seed: int) -> Category:
    return Category(
        "concurrency",
        driver=drive,
        compare=False,
        summary="writers racing field changes, renames and a drop",
    )
