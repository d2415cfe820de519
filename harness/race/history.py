"""A race run's history: every operation's invocation and completion, with its values.

Times are ``time.monotonic_ns()``: one clock for every process on the machine (Linux's
CLOCK_MONOTONIC), so operations of clients in different processes order by real time. An
operation is ``ok`` (it happened: 2xx), ``fail`` (it did not: a definite 4xx) or ``info``
(unknown: a 5xx or a dropped connection, it may have happened), as Jepsen has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Op:
    id: str  # "r3.c1": round 3, client 1 (the schedule's name for it, X-Parity-Op)
    client: int
    f: str  # incr | read | write | append | create | delete | update
    key: str  # the record it addresses
    value: Any = None  # its argument: the delta, the value written, the element appended
    invoke: int = 0
    complete: int = 0
    type: str = "info"  # ok | fail | info
    status: int = 0  # HTTP status (0: no response)
    result: Any = None  # what it observed: the value read, the record after the write
    error: str = ""  # PocketBase's error code or message, short

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def brief(self) -> str:
        """One line for a report: ``r3.c1 incr(+2) on k0 -> 200 n=17``."""
        arg = "" if self.value is None else f"({self.value!r})"
        seen = "" if self.result is None else f" {self.result!r}"[:80]
        return f"{self.id} {self.f}{arg} on {self.key} -> {self.status or 'no answer'}{seen}"


@dataclass
class Anomaly:
    name: str  # P4, G-single-realtime, dangling-reference, ...
    detail: str
    ops: list[str] = field(default_factory=list)  # the operations involved (ids)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ok(ops: Iterable[Op]) -> list[Op]:
    return [op for op in ops if op.type == "ok"]
