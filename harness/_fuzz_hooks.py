"""Schemathesis hooks of the fuzz runs, global (``before_call`` has no other scope).

Imported by the pytest tier (which calls ``use`` per target) and, for ``parity fuzz``, by
``st run`` through ``SCHEMATHESIS_HOOKS=harness._fuzz_hooks`` (``$PARITY_FUZZ_SEEDED``).

- Seeded data is drawn some of the time (``harness.fuzz.Seeded``): a real record id for
  ``{id}``, a stored file for downloads, a real login for auth-with-password, and a
  ``passwordConfirm`` equal to ``password``. Random values only ever reach the 404 or
  validation branch, never a real view, update, delete, download or login.
- ``fields`` is dropped from every query: it reshapes any body (a subset of keys,
  ``:excerpt`` turns values into text), which the document cannot tie to the query value;
  the conformance scenarios cover it.
- Nothing may update, delete or truncate a collection that existed when the run began
  (``protected``: the system ones and the seeded ``harness.fuzz.collections()``), nor update
  or delete a superuser: the document describes those collections, so a changed one makes
  every later answer off-schema, and without its superuser the fuzzer's token stops working
  (a truncate of ``_superusers`` once wiped them all on the reference; both servers now
  refuse it, ``suites/conformance/scenarios/hostile.toml`` keeps that so). Such a request
  goes to a name that does not exist instead (a 404); collections the fuzzer created
  itself are fair game.
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from hypothesis import strategies as st

from harness.fuzz import SEEDED_ENV, Seeded

GUARDED = "_fuzz_guarded_"
_RECORD = re.compile(r"^/api/collections/([^/]+)/records/\{id\}$")
_FILE = re.compile(r"^/api/files/([^/]+)/\{recordId\}/\{filename\}$")
_LOGIN = re.compile(r"^/api/collections/([^/]+)/auth-with-password$")
SEEDED = Seeded.from_json(os.environ.get(SEEDED_ENV, ""))
_protected = {key.lower() for key in SEEDED.protected}


def use(seeded: Seeded) -> None:
    """What this process's hooks reuse and protect (the pytest tier, per target)."""
    global SEEDED
    SEEDED = seeded
    _protected.clear()
    _protected.update(key.lower() for key in seeded.protected)


def _path(context: Any) -> str:
    return str(getattr(getattr(context, "operation", None), "path", "") or "")


def _sometimes(value: Any, seeded: list[Any]) -> Any:
    return st.one_of(st.just(value), st.sampled_from(seeded)) if seeded else st.just(value)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
    path = _path(context)
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    if (match := _RECORD.match(path)) and "id" in path_parameters:
        ids = [{**path_parameters, "id": i} for i in SEEDED.records.get(match[1], [])]
        return _sometimes(path_parameters, ids)
    if match := _FILE.match(path):
        files = SEEDED.files.get(match[1], [])
        return _sometimes(path_parameters, [{"recordId": r, "filename": f} for r, f in files])
    return st.just(path_parameters)


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> Any:
    if not isinstance(body, dict):
        return st.just(body)
    if match := _LOGIN.match(_path(context)):
        logins = SEEDED.logins.get(match[1], [])
        return _sometimes(body, [{**body, "identity": e, "password": p} for e, p in logins])
    if isinstance(body.get("password"), str) and "passwordConfirm" in body:
        return _sometimes(body, [{**body, "passwordConfirm": body["password"]}])
    return st.just(body)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if isinstance(case.query, dict):
        case.query.pop("fields", None)
    params = case.path_parameters
    if case.method.upper() not in ("PATCH", "DELETE") or not isinstance(params, dict):
        return
    path = case.operation.path
    if path.startswith("/api/collections/{collection}"):
        if str(params.get("collection", "")).lower() in _protected:
            params["collection"] = GUARDED
    elif path == "/api/collections/_superusers/records/{id}":
        params["id"] = GUARDED
