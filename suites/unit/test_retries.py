"""``run_in_transaction``: transient failures are retried from the start, each retry
counted per reason, and the last failure re-raised and counted as exhausted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from reference_impl.db.engine import RETRIES, run_in_transaction
from reference_impl.db.errors import Deadlock, SerializationFailure


class FlakyEngine:
    """Fails the first ``failures`` transactions with the given errors, then works."""

    name = "flaky"

    def __init__(self, failures: list[Exception]):
        self.failures = failures
        self.started = 0

    @contextmanager
    def transaction(self, **_: Any) -> Iterator[object]:
        self.started += 1
        if self.failures:
            raise self.failures.pop(0)
        yield object()


def test_retries_are_counted_per_reason() -> None:
    before, _ = RETRIES.snapshot()
    engine = FlakyEngine([Deadlock("40P01"), SerializationFailure("40001"), Deadlock("40P01")])
    assert run_in_transaction(engine, lambda tx: "done", write=True) == "done"  # type: ignore[arg-type]
    after, _ = RETRIES.snapshot()
    assert engine.started == 4
    assert after.get("Deadlock", 0) - before.get("Deadlock", 0) == 2
    assert after.get("SerializationFailure", 0) - before.get("SerializationFailure", 0) == 1


def test_the_last_failure_is_raised_and_counted_as_exhausted() -> None:
    _, before = RETRIES.snapshot()
    engine = FlakyEngine([SerializationFailure("40001") for _ in range(3)])
    with pytest.raises(SerializationFailure):
        run_in_transaction(engine, lambda tx: None, attempts=3)  # type: ignore[arg-type]
    _, after = RETRIES.snapshot()
    assert engine.started == 3
    assert after["SerializationFailure"] - before.get("SerializationFailure", 0) == 1
