"""The in-memory evaluator as a third engine: every case of the filter table decided in
Python over the rows the reference stored on SQLite, against PocketBase's recorded answer.

The fixture is seeded on the SQLite reference target through its API, its database file
is read in this process (every row of every collection), and the fixture is dropped again;
then each case is compiled as a list request compiles it (list rule, filter, the guards
its sort brings: ``RecordService.list_conditions``) and every record of the collection is
decided by ``core/filter/evaluate.py``. The answer compared is the set of ids (the
evaluator decides matches, not order) or the error status. Cases whose answer is a
registered divergence are left to the table's own test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.filter_table import Case, Table, load_cases, load_fixture
from harness.targetset import Started
from reference_impl.api.records import snakecase
from reference_impl.core.auth import AuthContext
from reference_impl.core.errors import ApiError
from reference_impl.core.filter.evaluate import matches
from reference_impl.core.records import ListQuery, RecordService, RequestValues
from reference_impl.core.store import CollectionStore
from reference_impl.db.sqlite import SqliteEngine

FIXTURE = load_fixture()
CASES = [case for case in load_cases(fixture=FIXTURE) if case.divergence is None]
Row = dict[str, Any]


@dataclass
class Stored:
    """The seeded fixture as the reference stored it: every collection's rows."""

    service: RecordService
    tables: dict[str, list[Row]]
    actors: dict[str, AuthContext | None]

    # RowSource
    def get(self, table: str, record_id: str) -> Row | None:
        return next((r for r in self.tables.get(table, []) if r["id"] == record_id), None)

    def rows(self, table: str) -> list[Row]:
        return self.tables.get(table, [])


@pytest.fixture(scope="module")
def stored(parity_targets: Started) -> Stored:
    if "sqlite" not in parity_targets.sessions:
        pytest.skip("needs the reference on SQLite (--engines sqlite)")
    session = parity_targets.sessions["sqlite"]
    table = Table(session.client, session.superuser_token(), FIXTURE)
    table.seed()
    try:
        data_dir: Path = session.target.data_dir  # type: ignore[attr-defined]
        engine = SqliteEngine(data_dir / "data.db")
        store = CollectionStore(engine)
        store.reload()
        service = RecordService(store)
        with engine.transaction() as tx:
            tables = {coll.name: service.fetch(tx, coll, []) for coll in store.all()}
        engine.close()
    finally:
        table.drop()
    users, superusers = store.find(FIXTURE.user.collection), store.find("_superusers")
    assert users is not None and superusers is not None
    identity = FIXTURE.user.identity
    user = next(r for r in tables[users.name] if identity in (r.get("email"), r.get("username")))
    actors: dict[str, AuthContext | None] = {
        "guest": None,
        "user": AuthContext(user, users.id, users.name),
        "superuser": AuthContext(tables[superusers.name][0], superusers.id, superusers.name),
    }
    return Stored(service, tables, actors)


def _auth_header(case: Case) -> dict[str, str]:
    """What the harness sends: a signed-in actor's token (any non-empty value reads alike
    here: no case compares the token itself)."""
    return {"Authorization": "token"} if case.actor != "guest" else {}


@pytest.mark.conformance
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_evaluator_agrees_with_pocketbase(case: Case, stored: Stored) -> None:
    service = stored.service
    coll = service.store.find(case.collection)
    assert coll is not None, case.collection
    request = RequestValues(
        method="GET",
        query={"filter": case.filter or "", "sort": case.sort, "perPage": "500", **case.query},
        headers={snakecase(k): v for k, v in {**_auth_header(case), **case.headers}.items()},
    )
    query = ListQuery(filter=case.filter or "", sort=case.sort, request=request)
    try:
        where, _sort = service.list_conditions(coll, query, stored.actors[case.actor])
    except ApiError as exc:
        assert exc.status == case.status, f"{case.name}: PocketBase answered {case.status}"
        return
    assert case.status == 200, f"{case.name}: PocketBase answered {case.status}: {case.message}"
    got = {r["id"] for r in stored.rows(coll.name) if matches(where, r, stored)}
    assert got == set(case.ids or ()), f"{case.name}: {case.filter!r} ({case.why})"
