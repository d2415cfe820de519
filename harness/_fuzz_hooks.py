"""Schemathesis hooks of the fuzz runs, global (``before_call`` has no other scope).

Imported by the pytest tier and, for ``parity fuzz``, by ``st run`` through
``SCHEMATHESIS_HOOKS=harness._fuzz_hooks`` (what it protects then comes from
``$PARITY_FUZZ_SEEDED``).

- ``{id}`` path parameters are sometimes a seeded record's id (``RECORDS``): random ids only
  ever reach the 404 branch, never a real view, update or delete.
- ``fields`` is dropped from every query: it reshapes any body (a subset of keys,
  ``:excerpt`` turns values into text), which the document cannot tie to the query value;
  the conformance scenarios cover it.
- Nothing may update, delete or truncate a collection that existed when the run began
  (``PROTECTED``: the system ones and the seeded ``harness.fuzz.collections()``), nor update
  or delete a superuser: the document describes those collections, so a changed one makes
  every later answer off-schema, and without its superuser the fuzzer's token stops working
  (a truncate of ``_superusers`` on the reference wipes them all, see
  /work/schemathesis-findings.md). Such a request goes to a name that does not exist
  instead (a 404); collections the fuzzer created itself are fair game.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import schemathesis
from hypothesis import strategies as st

from harness.fuzz import SEEDED_ENV

GUARDED = "_fuzz_guarded_"
_RECORD_PATH = re.compile(r"^/api/collections/([^/]+)/records/\{id\}$")
_seeded = json.loads(os.environ.get(SEEDED_ENV, "{}"))
RECORDS: dict[str, list[str]] = _seeded.get("records", {})  # collection name -> row ids
PROTECTED: set[str] = {str(c).lower() for c in _seeded.get("protected", [])}  # names, ids


def use(records: dict[str, list[str]], protected: list[str]) -> None:
    """What this process's hooks protect and reuse (the pytest tier, per target)."""
    RECORDS.clear()
    RECORDS.update(records)
    PROTECTED.clear()
    PROTECTED.update(c.lower() for c in protected)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    operation = getattr(context, "operation", None)
    match = _RECORD_PATH.match(getattr(operation, "path", "") or "")
    known = RECORDS.get(match.group(1), []) if match else []
    if not known or not isinstance(path_parameters, dict) or "id" not in path_parameters:
        return st.just(path_parameters)
    seeded = st.sampled_from(known).map(lambda i: {**path_parameters, "id": i})
    return st.one_of(st.just(path_parameters), seeded)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if isinstance(case.query, dict):
        case.query.pop("fields", None)
    if case.method.upper() not in ("PATCH", "DELETE") or not isinstance(case.path_parameters, dict):
        return
    path = case.operation.path
    collection = str(case.path_parameters.get("collection", "")).lower()
    if path.startswith("/api/collections/{collection}") and collection in PROTECTED:
        case.path_parameters["collection"] = GUARDED
    elif path == "/api/collections/_superusers/records/{id}":
        case.path_parameters["id"] = GUARDED
