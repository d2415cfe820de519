"""Records: list/view/create/update/delete with API rules, validation, expand.

:class:`RecordService` is the entry point; the modules beside it each own one concept
(``rules``, ``reads``, ``export``, ``body``, ``writes``, ``relations``, ``expand``,
``ids``). Rules are enforced in SQL through the same filter compiler as client filters:
the rule's IR is ANDed into the WHERE (list, view, update, delete), and the create rule
is checked on the inserted row inside the write transaction.
"""

from __future__ import annotations

from reference_impl.core.records.ids import new_record_id, uuid7
from reference_impl.core.records.reads import page_window
from reference_impl.core.records.rules import ListQuery, RequestValues
from reference_impl.core.records.service import RecordService

__all__ = ["ListQuery", "RecordService", "RequestValues", "new_record_id", "page_window", "uuid7"]
