"""Generated filters on generated rows: every target returns the same ids (property suite).

Hypothesis draws an example = up to 10 rows of one collection (text ``title``, number ``n``,
bool ``ok``, date ``d``, json ``j``, multi select ``tags``) and 1-4 queries: a filter tree
of ``= != < <= > >= ~ !~`` between a field (or ``title:lower``) and a literal of a
matching or mismatched type (``null`` and ``''`` included), JSON paths (``j``, ``j.a``,
``j.0``) with ``=``/``!=``, ``tags:each`` with ``= != ?= ?!=`` and ``tags:length``, joined
by ``&&``/``||`` under at most three levels of parentheses, plus a sort on 0-2 fields
(``harness/_props.py``). The rows are inserted with fixed ids on every target (one
collection per module, truncated between examples, so inserts are paid once per example,
not per filter); each query is listed with ``perPage=500`` on every target.

Three oracles, all sound (the third: the in-memory evaluator, ``_evaluated``, must select
the oracle's rows from the rows as the reference casts them):

1. **Differential.** The oracle is PocketBase when it runs, else the first reference
   target. Status and ``totalItems`` must match, and the ids must match *up to ties*:
   PocketBase's order among rows with equal sort keys, and with no sort at all, is
   SQLite's scan order, which SQL does not promise (``scenarios/listing.toml`` makes the
   same call). So against PocketBase the ids are compared as runs of equal sort keys, each
   run as a set (``_props.tie_groups``; no sort = one run = a set). Between two reference
   targets the order is compared exactly: the reference breaks ties by insertion order on
   both engines (``reference_impl/db/render.py``).
2. **TLP** (ternary logic partitioning, shared/research/testing.md 1.1) on *each* target.
   The filter language has no NOT, so ``!p`` is built by De Morgan: ``&&``/``||`` swap and
   every comparison takes its complement operator (``=``/``!=``, ``<``/``>=``, ``>``/``<=``,
   ``~``/``!~``; over array items ``=``/``?!=`` and ``!=``/``?=``: "not every item is x"
   is "some item is not x", an empty array's NULL row counting as not x). The complement
   is exact because in PocketBase no compared value is NULL:
   its columns are ``NOT NULL`` with defaults, ``!=`` is the null-safe ``IS NOT``, and
   ``= ''``/``!= null`` expand to complementary ``(x = '' OR x IS NULL)`` /
   ``(x IS NOT '' AND x IS NOT NULL)``. Hence ``rows(p)`` and ``rows(!p)`` must be disjoint
   and together cover the collection, on every target, whatever the oracle says. The one
   NULL is a literal ``null`` under an ordering or ``~`` operator (``n < null`` is NULL on
   every row): it has no complement, so it negates to itself (NOT NULL is NULL, and De
   Morgan holds in three-valued logic) and a filter containing one is only checked for
   disjointness. ``!p`` is diffed across targets like ``p``. (Checking
   ``rows(a || b) = rows(a) | rows(b)`` is sound too, but costs two requests per junction
   where TLP costs one per filter.)

On failure hypothesis shrinks; the final replay then drops every row the failure does not
need, and notes the repro block (rows as curl inserts, both requests, each target's ids and
SQL, the diff) with the command that re-runs the search. Constructs where the reference is
known to differ are kept out of the generator: ``_props.KNOWN_DIFFERENCES``.

Cost: ``1 + rows + 2 * queries`` requests per target per example, the targets in
parallel; ``max_examples`` comes from the plugin's profile (ci 25, dev 100, deep 2000).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, note, settings

from harness import _props
from harness._props import COLLECTION, Case, Query, Result
from harness.runner import SQL_HEADER, Session
from harness.targetset import Started
from reference_impl.core.collection import Collection
from reference_impl.core.fields import Field
from reference_impl.core.filter import Bindings, FilterError, Scope, bind, compile_filter
from reference_impl.core.filter.evaluate import matches

RECORDS = f"/api/collections/{COLLECTION}/records"
Results = dict[str, dict[str, Result]]  # target -> "filter"/"negated" -> result


class Targets:
    """The started targets with the collection in place. Not a dataclass: hypothesis prints
    dataclass fields in the falsifying example, and this repr keeps that to one line."""

    def __init__(self, running: Started, oracle: str) -> None:
        self.running = running
        self.oracle = oracle

    def __repr__(self) -> str:
        return f"Targets({', '.join(self.running.sessions)}; oracle {self.oracle})"

    def exact(self, name: str) -> bool:
        """Compare ``name`` with the oracle in exact order (both are the reference)."""
        kinds = self.running.infos
        return kinds[name].kind == kinds[self.oracle].kind == "reference"


@pytest.fixture(scope="module")
def prop_targets(parity_targets: Started) -> Iterator[Targets]:
    """The collection on every target, created once for the module and dropped after."""
    sessions, infos = parity_targets.sessions, parity_targets.infos
    for session in sessions.values():
        _drop(session)
        auth = _auth(session)
        response = session.client.post("/api/collections", json=_props.TARGETS, headers=auth)
        assert response.status_code == 200, f"{session.name}: {response.text}"
        for rid, name in _props.TARGET_ROWS.items():
            response = session.client.post(
                f"/api/collections/{_props.TARGETS['name']}/records",
                json={"id": rid, "name": name},
                headers=auth,
            )
            assert response.status_code == 200, f"{session.name}: {response.text}"
        body = {"name": COLLECTION, "type": "base", "fields": _props.FIELDS}
        response = session.client.post("/api/collections", json=body, headers=auth)
        assert response.status_code == 200, f"{session.name}: {response.text}"
    oracle = next((n for n in sessions if infos[n].kind == "pocketbase"), next(iter(sessions)))
    yield Targets(parity_targets, oracle)
    for session in sessions.values():
        _drop(session)


def _auth(session: Session) -> dict[str, str]:
    return {"Authorization": session.superuser_token()}


def _drop(session: Session) -> None:
    for name in (COLLECTION, _props.TARGETS["name"]):
        response = session.client.delete(f"/api/collections/{name}", headers=_auth(session))
        assert response.status_code in (204, 404), f"{session.name}: {response.text}"


# -- running an example -------------------------------------------------------------------
def _run(case: Case, targets: Targets) -> list[Results]:
    """Per query: every target's results. Targets run in parallel, each on its own client."""
    sessions = targets.running.sessions
    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        futures = {name: pool.submit(_run_on, s, case) for name, s in sessions.items()}
        per_target = {name: future.result() for name, future in futures.items()}
    return [{name: per_target[name][i] for name in sessions} for i in range(len(case.queries))]


def _run_on(session: Session, case: Case) -> list[dict[str, Result]]:
    """Truncate, insert the rows in order, list every query and its negation."""
    auth = _auth(session)
    response = session.client.delete(f"/api/collections/{COLLECTION}/truncate", headers=auth)
    assert response.status_code == 204, f"{session.name} truncate: {response.text}"
    for rid, row in zip(case.ids, case.rows, strict=True):
        response = session.client.post(RECORDS, json={"id": rid, **row}, headers=auth)
        assert response.status_code == 200, f"{session.name} insert {row}: {response.text}"
    return [
        {"filter": _list(session, query), "negated": _list(session, query.negated())}
        for query in case.queries
    ]


def _list(session: Session, query: Query) -> Result:
    params = {"filter": query.filter, "perPage": "500"}
    if query.sort:
        params["sort"] = query.sort
    response = session.client.get(RECORDS, params=params, headers=_auth(session))
    sql = json.loads(response.headers.get(SQL_HEADER) or "[]")
    if response.status_code != 200:
        return Result(response.status_code, sql=sql)
    body = response.json()
    return Result(200, [item["id"] for item in body["items"]], body["totalItems"], sql)


# -- the two oracles ------------------------------------------------------------------------
def _problems(case: Case, query: Query, results: Results, targets: Targets) -> list[str]:
    return (
        _diff(case, query, results, targets)
        + _tlp(case, query, results)
        + _evaluated(case, query, results, targets)
    )


_FIELDS = [
    Field(f["type"], f["name"], {k: v for k, v in f.items() if k not in ("type", "name")})
    for f in _props.FIELDS
]
_COLLECTION = Collection("zprop_id", COLLECTION, fields=[Field("text", "id"), *_FIELDS])
_TARGET = Collection(
    str(_props.TARGETS["id"]),
    str(_props.TARGETS["name"]),
    fields=[Field("text", "id"), Field("text", "name")],
    rules={"listRule": ""},
)
_BY_KEY = {c.id: c for c in (_COLLECTION, _TARGET)} | {c.name: c for c in (_COLLECTION, _TARGET)}
_SCOPE = Scope(
    {f.name: f for f in _COLLECTION.fields},
    allow_hidden=True,
    collection=_COLLECTION,
    find=_BY_KEY.get,
)


def _evaluated(case: Case, query: Query, results: Results, targets: Targets) -> list[str]:
    """The in-memory evaluator, a third engine: the rows as the reference casts them, the
    filter compiled as a list request compiles it; the same rows (a set: it decides, it
    does not sort) as the oracle, or the same refusal."""
    stored = [
        {"id": rid, **{f.name: f.cast(row[f.name]) for f in _FIELDS}}
        for rid, row in zip(case.ids, case.rows, strict=True)
    ]
    problems = []
    for label, q in (("filter", query), ("negated", query.negated())):
        want = results[targets.oracle][label]
        try:
            compiled = bind(compile_filter(q.filter, _SCOPE), Bindings())
        except FilterError as exc:
            if want.status == 200:
                problems.append(f"evaluator [{label}]: refused ({exc}), {targets.oracle} 200")
            continue
        if want.status != 200:
            problems.append(f"evaluator [{label}]: compiled, {targets.oracle} {want.status}")
            continue
        got = sorted(r["id"] for r in stored if matches([compiled], r, _Targets()))
        if got != sorted(want.ids):
            problems.append(f"evaluator [{label}]: {got} != {targets.oracle} {sorted(want.ids)}")
    return problems


_TARGET_ROWS = [{"id": rid, "name": name} for rid, name in _props.TARGET_ROWS.items()]


class _Targets:
    """The related collection's fixed rows, for the evaluator."""

    def get(self, table: str, record_id: str) -> dict[str, object] | None:
        return next((r for r in _TARGET_ROWS if r["id"] == record_id), None)

    def rows(self, table: str) -> list[dict[str, object]]:
        return _TARGET_ROWS if table == _props.TARGETS["name"] else []


def _diff(case: Case, query: Query, results: Results, targets: Targets) -> list[str]:
    oracle = targets.oracle
    problems = []
    for label in ("filter", "negated"):
        want = results[oracle][label]
        for name, by_label in results.items():
            got = by_label[label]
            if name == oracle:
                continue
            if got.status != want.status:
                problems.append(f"{name} [{label}]: status {got.status}, {oracle} {want.status}")
                continue
            if got.status != 200:
                continue
            mine: list[str] | list[list[str]]
            theirs: list[str] | list[list[str]]
            if targets.exact(name):
                mine, theirs, how = got.ids, want.ids, "exact order"
            else:
                mine = _props.tie_groups(got.ids, query.sort, case)
                theirs = _props.tie_groups(want.ids, query.sort, case)
                how = "runs of equal sort keys"
            if mine != theirs:
                problems.append(f"{name} [{label}]: {mine} != {oracle} {theirs} ({how})")
            if got.total != want.total:
                problems.append(f"{name} [{label}]: totalItems {got.total} != {want.total}")
    return problems


def _tlp(case: Case, query: Query, results: Results) -> list[str]:
    problems = []
    for name, by_label in results.items():
        p, not_p = by_label["filter"], by_label["negated"]
        if p.status != 200 or not_p.status != 200:
            continue
        if len(p.ids) != len(set(p.ids)) or len(not_p.ids) != len(set(not_p.ids)):
            problems.append(f"{name} TLP: duplicate ids")
        both = sorted(set(p.ids) & set(not_p.ids))
        if both:
            problems.append(f"{name} TLP: rows match both p and !p: {both}")
        neither = sorted(set(case.ids) - set(p.ids) - set(not_p.ids))
        if neither and not query.node.may_be_null and not query.correlated:
            problems.append(f"{name} TLP: rows match neither p nor !p: {neither}")
    return problems


# -- the report ---------------------------------------------------------------------------
def _final_replay() -> bool:
    """True on hypothesis' last run of the shrunk example (the one whose notes it prints)."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # not public API: without it the repro keeps hypothesis' rows
        return False


def _fewer_rows(
    case: Case, results: Results, problems: list[str], targets: Targets
) -> tuple[Case, Results, list[str]]:
    """Drop each row the failure does not need (one query, so a few dozen requests)."""
    index = 0
    while index < len(case.rows):
        trial = Case(case.rows[:index] + case.rows[index + 1 :], case.queries)
        trial_results = _run(trial, targets)[0]
        trial_problems = _problems(trial, trial.queries[0], trial_results, targets)
        if trial_problems:
            case, results, problems = trial, trial_results, trial_problems
        else:
            index += 1
    return case, results, problems


def _rerun(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(seed line, re-run command) for the repro."""
    base = f"pytest '{request.node.nodeid}' -p no:cacheprovider"
    if settings().derandomize:
        profile = settings.get_current_profile_name()
        return (
            f"seed: derandomized (hypothesis profile {profile!r})",
            f"{base} --hypothesis-profile={profile}",
        )
    # The seed hypothesis drew for this run (it prints it itself only for some failures).
    seed = request.config.getoption("hypothesis_seed", None) or getattr(
        test_filters_agree_and_partition, "_hypothesis_internal_use_generated_seed", None
    )
    return f"seed: --hypothesis-seed={seed}", f"{base} --hypothesis-seed={seed}"


@pytest.mark.conformance
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=_props.cases(max_rows=10, max_queries=5))
def test_filters_agree_and_partition(
    case: Case, prop_targets: Targets, request: pytest.FixtureRequest
) -> None:
    for query, results in zip(case.queries, _run(case, prop_targets), strict=True):
        problems = _problems(case, query, results, prop_targets)
        if not problems:
            continue
        shown = Case(case.rows, (query,))
        if _final_replay():
            shown, results, problems = _fewer_rows(shown, results, problems, prop_targets)
        verdict = "TLP VIOLATION" if all(" TLP: " in p for p in problems) else "DIVERGE"
        seed_line, rerun = _rerun(request)
        note(_props.repro(verdict, seed_line, shown, query, results, problems, rerun))
        raise AssertionError(f"filter {query.filter!r} sort {query.sort!r}: {problems[0]}")
