"""What the record modules read from the service: the collections, the dialect, the clock
(and, for writes, the engine, the file storage and the id mode).

Protocols, so that rules, reads, relations, expand and writes depend on these and not on
:class:`~reference_impl.core.records.service.RecordService` (which satisfies both).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from reference_impl.core.events import EventBus
from reference_impl.core.file_storage import FileStorage
from reference_impl.core.store import CollectionStore
from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import Engine


class RecordContext(Protocol):
    @property
    def store(self) -> CollectionStore: ...

    @property
    def rules(self) -> str:
        """Where rules are enforced: ``app``, ``rls`` or ``both`` (core/row_security.py)."""
        ...

    @property
    def row_security(self) -> bool:
        """The database enforces the rules' policies (``--rules rls|both``)."""
        ...

    @property
    def dialect(self) -> Dialect: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...


class WriteContext(RecordContext, Protocol):
    @property
    def engine(self) -> Engine: ...

    @property
    def storage(self) -> FileStorage: ...

    @property
    def id_mode(self) -> str: ...

    @property
    def events(self) -> EventBus:
        """Where committed writes are told (``core/events.py``)."""
        ...

    @property
    def unsafe_rmw(self) -> bool:
        """The race suite's broken variant (``--unsafe-rmw``): an update reads the record in
        one transaction and writes it in another, unlocked, so modifiers lose updates."""
        ...
