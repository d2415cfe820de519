"""The race workloads: what each client does, through the public API, and how it is checked.

A workload creates its collections through the API (so it runs on PocketBase too), plans
its operations from the seed (rounds of one operation per client, all sent at once), runs
one operation as an HTTP request, reads the final state, and hands both to the checker.
Each operation kind lists the failpoints it passes (``reference_impl/failpoints.py``), in
order, for the schedule.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.race import checker
from harness.race.history import Anomaly, Op

RECORDS = "/api/collections/{}/records"
UPDATE_POINTS = ("records.update.begin", "records.update.read")
CREATE_POINTS = ("records.create.checked",)
DELETE_POINTS = ("records.delete.read", "records.delete.deleted")
VIEW_POINTS = ("records.view.begin",)


@dataclass
class Spec:
    """One planned operation."""

    id: str
    client: int
    f: str
    key: str
    value: Any = None


@dataclass
class Outcome:
    status: int
    result: Any = None
    error: str = ""


def record_id(prefix: str, n: int) -> str:
    """A PocketBase id (15 characters a-z0-9) that says what it is: ``kc00000000000003``."""
    return (prefix + str(n).rjust(15 - len(prefix), "0"))[:15]


def error_code(response: httpx.Response) -> str:
    """The first field's validation code (``validation_not_unique``), else the message."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:80]
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and "code" in value:
                return str(value["code"])
    return str(body.get("message", ""))[:80] if isinstance(body, dict) else ""


def _create_collection(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    client.delete(f"/api/collections/{body['name']}")  # a leftover of an earlier run
    response = client.post("/api/collections", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"cannot create collection {body['name']}: {response.text[:300]}")
    created: dict[str, Any] = response.json()
    return created


def _create(client: httpx.Client, collection: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(RECORDS.format(collection), json=body)
    if response.status_code != 200:
        raise RuntimeError(f"cannot create a {collection} record: {response.text[:300]}")
    created: dict[str, Any] = response.json()
    return created


def _shared_records(
    client: httpx.Client,
    collection: str,
    prefix: str,
    keys: int,
    body: dict[str, Any] | None = None,
) -> list[str]:
    """The ``keys`` records every client works on, with ids that say what they are."""
    return [
        _create(client, collection, {"id": record_id(prefix, i), **(body or {})})["id"]
        for i in range(keys)
    ]


def _answer(response: httpx.Response, pick: Callable[[dict[str, Any]], Any]) -> Outcome:
    if 200 <= response.status_code < 300:
        body = response.json() if response.content else {}
        return Outcome(response.status_code, pick(body) if body else None)
    return Outcome(response.status_code, None, error_code(response))


@dataclass
class Workload:
    name: str = ""
    keys: int = 1
    state: dict[str, Any] = field(default_factory=dict)

    def setup(self, client: httpx.Client, rounds: int, clients: int) -> None: ...

    def plan_round(self, rng: random.Random, r: int, clients: int) -> list[Spec]:
        raise NotImplementedError

    def points(self, spec: Spec) -> tuple[str, ...]:
        return ()

    def execute(self, client: httpx.Client, spec: Spec) -> Outcome:
        raise NotImplementedError

    def check(self, client: httpx.Client, history: list[Op]) -> list[Anomaly]:
        raise NotImplementedError

    def plan(self, rng: random.Random, rounds: int, clients: int) -> list[list[Spec]]:
        return [self.plan_round(rng, r, clients) for r in range(rounds)]


class Counter(Workload):
    """Increments (``n+: 1..3``, a server-side read-modify-write) and reads of shared
    records."""

    COLLECTION = "race_counter"

    def setup(self, client: httpx.Client, rounds: int, clients: int) -> None:
        _create_collection(client, {"name": self.COLLECTION, "type": "base",
                                    "fields": [{"name": "n", "type": "number"}]})  # fmt: skip
        self.state["ids"] = _shared_records(client, self.COLLECTION, "kc", self.keys, {"n": 0})

    def plan_round(self, rng: random.Random, r: int, clients: int) -> list[Spec]:
        specs = []
        for c in range(clients):
            key = rng.choice(self.state["ids"])
            if rng.random() < 0.75:
                specs.append(Spec(f"r{r}.c{c}", c, "incr", key, rng.randint(1, 3)))
            else:
                specs.append(Spec(f"r{r}.c{c}", c, "read", key))
        return specs

    def points(self, spec: Spec) -> tuple[str, ...]:
        return UPDATE_POINTS if spec.f == "incr" else VIEW_POINTS

    def execute(self, client: httpx.Client, spec: Spec) -> Outcome:
        url = f"{RECORDS.format(self.COLLECTION)}/{spec.key}"
        if spec.f == "incr":
            return _answer(client.patch(url, json={"n+": spec.value}), lambda b: b["n"])
        return _answer(client.get(url), lambda b: b["n"])

    def check(self, client: httpx.Client, history: list[Op]) -> list[Anomaly]:
        url = RECORDS.format(self.COLLECTION)
        finals = {key: int(client.get(f"{url}/{key}").json()["n"]) for key in self.state["ids"]}
        self.state["finals"] = finals
        return checker.check_counter(history, finals)


class Register(Workload):
    """Writes of unique values and reads of shared text fields."""

    COLLECTION = "race_register"

    def setup(self, client: httpx.Client, rounds: int, clients: int) -> None:
        _create_collection(client, {"name": self.COLLECTION, "type": "base",
                                    "fields": [{"name": "v", "type": "text"}]})  # fmt: skip
        self.state["ids"] = _shared_records(client, self.COLLECTION, "kr", self.keys)

    def plan_round(self, rng: random.Random, r: int, clients: int) -> list[Spec]:
        specs = []
        for c in range(clients):
            key = rng.choice(self.state["ids"])
            op = f"r{r}.c{c}"
            if rng.random() < 0.5:
                specs.append(Spec(op, c, "write", key, f"v-{op}"))
            else:
                specs.append(Spec(op, c, "read", key))
        return specs

    def points(self, spec: Spec) -> tuple[str, ...]:
        return UPDATE_POINTS if spec.f == "write" else VIEW_POINTS

    def execute(self, client: httpx.Client, spec: Spec) -> Outcome:
        url = f"{RECORDS.format(self.COLLECTION)}/{spec.key}"
        if spec.f == "write":
            return _answer(client.patch(url, json={"v": spec.value}), lambda b: b["v"])
        return _answer(client.get(url), lambda b: b["v"])

    def check(self, client: httpx.Client, history: list[Op]) -> list[Anomaly]:
        url = RECORDS.format(self.COLLECTION)
        finals = {key: client.get(f"{url}/{key}").json()["v"] for key in self.state["ids"]}
        self.state["finals"] = finals
        return checker.check_register(history, finals, initial="")


class ListAppend(Workload):
    """Appends of unique elements to a multi-value field (``list+: "e17"``, read-modify-write
    on the server) and reads of the whole list."""

    COLLECTION = "race_list"

    def setup(self, client: httpx.Client, rounds: int, clients: int) -> None:
        n = rounds * clients
        values = [f"e{i}" for i in range(n)]
        _create_collection(client, {
            "name": self.COLLECTION, "type": "base",
            "fields": [{"name": "list", "type": "select", "values": values, "maxSelect": n}],
        })  # fmt: skip
        self.state["ids"] = _shared_records(client, self.COLLECTION, "kl", self.keys)

    def plan_round(self, rng: random.Random, r: int, clients: int) -> list[Spec]:
        specs = []
        for c in range(clients):
            key = rng.choice(self.state["ids"])
            op = f"r{r}.c{c}"
            if rng.random() < 0.6:
                specs.append(Spec(op, c, "append", key, f"e{r * clients + c}"))
            else:
                specs.append(Spec(op, c, "read", key))
        return specs

    def points(self, spec: Spec) -> tuple[str, ...]:
        return UPDATE_POINTS if spec.f == "append" else VIEW_POINTS

    def execute(self, client: httpx.Client, spec: Spec) -> Outcome:
        url = f"{RECORDS.format(self.COLLECTION)}/{spec.key}"
        if spec.f == "append":
            return _answer(client.patch(url, json={"list+": spec.value}), lambda b: b["list"])
        return _answer(client.get(url), lambda b: b["list"])

    def check(self, client: httpx.Client, history: list[Op]) -> list[Anomaly]:
        url = RECORDS.format(self.COLLECTION)
        finals = {key: client.get(f"{url}/{key}").json()["list"] for key in self.state["ids"]}
        self.state["finals"] = {k: len(v) for k, v in finals.items()}
        return checker.check_list_append(history, finals)


class Unique(Workload):
    """Every client of a round creates a record with one contested id (a base collection)
    or one contested email (an auth collection), alternately."""

    BASE, AUTH = "race_unique", "race_unique_users"

    def setup(self, client: httpx.Client, rounds: int, clients: int) -> None:
        _create_collection(client, {"name": self.BASE, "type": "base",
                                    "fields": [{"name": "by", "type": "text"}]})  # fmt: skip
        _create_collection(client, {"name": self.AUTH, "type": "auth", "fields": []})

    def plan_round(self, rng: random.Random, r: int, clients: int) -> list[Spec]:
        even = r % 2 == 0
        key = record_id("ku", r) if even else f"race{r}-{rng.randrange(10**6)}@example.com"
        return [Spec(f"r{r}.c{c}", c, "create", key, f"c{c}") for c in range(clients)]

    def points(self, spec: Spec) -> tuple[str, ...]:
        return CREATE_POINTS

    def execute(self, client: httpx.Client, spec: Spec) -> Outcome:
        if "@" in spec.key:
            body = {"email": spec.key, "password": "race-password-1", "passwordConfirm":
                    "race-password-1"}  # fmt: skip
            return _answer(client.post(RECORDS.format(self.AUTH), json=body), lambda b: b["id"])
        response = client.post(RECORDS.format(self.BASE), json={"id": spec.key, "by": spec.value})
        return _answer(response, lambda b: b["id"])

    def check(self, client: httpx.Client, history: list[Op]) -> list[Anomaly]:
        survivors = {}
        for key in sorted({op.key for op in history}):
            field_name, coll = ("email", self.AUTH) if "@" in key else ("id", self.BASE)
            params: dict[str, str | int] = {"filter": f"{field_name}='{key}'", "perPage": 1}
            survivors[key] = int(client.get(RECORDS.format(coll), params=params).json()
                                 ["totalItems"])  # fmt: skip
        return checker.check_unique(history, survivors)


class UpdateVsDelete(Workload):
    """Per round a fresh record: one client (sometimes two) deletes it while the others
    increment it."""

    COLLECTION = "race_uvd"

    def setup(self, client: httpx.Client, rounds: int, clients: int) -> None:
        _create_collection(client, {"name": self.COLLECTION, "type": "base",
                                    "fields": [{"name": "n", "type": "number"}]})  # fmt: skip
        self.state["ids"] = [
            _create(client, self.COLLECTION, {"id": record_id("kd", r), "n": 0})["id"]
            for r in range(rounds)
        ]

    def plan_round(self, rng: random.Random, r: int, clients: int) -> list[Spec]:
        key = self.state["ids"][r]
        deleters = set(rng.sample(range(clients), 2 if clients > 2 and rng.random() < 0.3 else 1))
        return [
            Spec(f"r{r}.c{c}", c, "delete", key) if c in deleters
            else Spec(f"r{r}.c{c}", c, "update", key, 1)
            for c in range(clients)
        ]  # fmt: skip

    def points(self, spec: Spec) -> tuple[str, ...]:
        return DELETE_POINTS if spec.f == "delete" else UPDATE_POINTS

    def execute(self, client: httpx.Client, spec: Spec) -> Outcome:
        url = f"{RECORDS.format(self.COLLECTION)}/{spec.key}"
        if spec.f == "delete":
            return _answer(client.delete(url), lambda b: None)
        return _answer(client.patch(url, json={"n+": spec.value}), lambda b: b["n"])

    def check(self, client: httpx.Client, history: list[Op]) -> list[Anomaly]:
        url = RECORDS.format(self.COLLECTION)
        present = {key: client.get(f"{url}/{key}").status_code == 200 for key in self.state["ids"]}
        return checker.check_update_delete(history, present)


class Cascade(Workload):
    """Per round a parent: one client deletes it while the others create children pointing
    at it through a ``cascadeDelete`` relation."""

    PARENT, CHILD = "race_parent", "race_child"

    def setup(self, client: httpx.Client, rounds: int, clients: int) -> None:
        client.delete(f"/api/collections/{self.CHILD}")
        fields = [{"name": "t", "type": "text"}]
        parent = _create_collection(client, {"name": self.PARENT, "type": "base", "fields": fields})
        _create_collection(client, {"name": self.CHILD, "type": "base", "fields": [
            {"name": "parent", "type": "relation", "collectionId": parent["id"],
             "maxSelect": 1, "cascadeDelete": True},
        ]})  # fmt: skip
        self.state["ids"] = [
            _create(client, self.PARENT, {"id": record_id("kp", r)})["id"] for r in range(rounds)
        ]

    def plan_round(self, rng: random.Random, r: int, clients: int) -> list[Spec]:
        key = self.state["ids"][r]
        deleter = rng.randrange(clients)
        return [
            Spec(f"r{r}.c{c}", c, "delete" if c == deleter else "create", key)
            for c in range(clients)
        ]

    def points(self, spec: Spec) -> tuple[str, ...]:
        return DELETE_POINTS if spec.f == "delete" else CREATE_POINTS

    def execute(self, client: httpx.Client, spec: Spec) -> Outcome:
        if spec.f == "delete":
            return _answer(client.delete(f"{RECORDS.format(self.PARENT)}/{spec.key}"),
                           lambda b: None)  # fmt: skip
        response = client.post(RECORDS.format(self.CHILD), json={"parent": spec.key})
        return _answer(response, lambda b: b["id"])

    def check(self, client: httpx.Client, history: list[Op]) -> list[Anomaly]:
        dangling: dict[str, list[str]] = {}
        for key in self.state["ids"]:
            if client.get(f"{RECORDS.format(self.PARENT)}/{key}").status_code == 404:
                params: dict[str, str | int] = {"filter": f"parent='{key}'", "perPage": 500}
                items = client.get(RECORDS.format(self.CHILD), params=params).json()["items"]
                dangling[key] = [item["id"] for item in items]
        return checker.check_cascade(history, dangling)


WORKLOADS: dict[str, type[Workload]] = {
    "counter": Counter,
    "register": Register,
    "list-append": ListAppend,
    "unique": Unique,
    "update-vs-delete": UpdateVsDelete,
    "cascade": Cascade,
}


def make(name: str, keys: int = 1) -> Workload:
    try:
        cls = WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; one of: {', '.join(WORKLOADS)}") from None
    return cls(name=name, keys=keys)
