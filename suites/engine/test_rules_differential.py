"""Generated rules: the rows row level security alone lets through equal the rows app-layer
filtering lets through, on SQLite and on PostgreSQL (EPIC-4 parity).

Three apps hold the same world (``_rules_world``): SQLite (``--rules app``), PostgreSQL
(``--rules app``) and PostgreSQL (``--rules rls``: the app adds no rule the policies
express). Hypothesis draws rules from the filter language's rule vocabulary (auth values,
the row's fields, relation paths, ``@collection`` joins, modifiers, and constructs no
policy can express, which must fall back to the app); each rule becomes the list and view
rule of ``docs`` on all three, and every actor (a guest and each user) lists the
collection. Profiles: ``ci`` 25, ``dev`` 100, ``deep`` 2000 rules (``--hypothesis-profile``).
A failure prints the rule, the actor, each target's ids and the policy PostgreSQL holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _rules_world as world
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from reference_impl.app import App
from reference_impl.core.records.rules import rule_plan
from reference_impl.db.sqlite import SqliteEngine

ATOMS = (
    "owner = @request.auth.id",
    "owner != @request.auth.id",
    "@request.auth.id = owner",
    "@request.auth.id != ''",
    "@request.auth.id = ''",
    "@request.auth.verified = true",
    "@request.auth.verified = false",
    "@request.auth.verified != true",
    "@request.auth.collectionName = 'users'",
    "@request.auth.email != ''",
    "@request.method = 'GET'",
    "@request.context != 'expand'",
    "status = 'public'",
    "status != 'secret'",
    "n > 3",
    "n <= 2",
    "flag = true",
    "flag != false",
    "title ~ 'a'",
    "title = ''",
    "title != null",
    "owner.name = 'Ann'",
    "owner.verified = true",
    "owner.email = @request.auth.email",
    "owner.id = @request.auth.id",
    "team.name = 'red'",
    "team = ''",
    "tags ?= 'a'",
    "tags:length > 1",
    "tags:each != 'c'",
    "tags ~ 'b'",
    "@collection.members.user ?= @request.auth.id",
    "@collection.members.user ?= @request.auth.id && @collection.members.team ?= team",
    "@collection.members:m.team ?= team && @collection.members:m.user.name ?= 'Bob'",
    "owner ~ @request.auth.id",
    "@request.auth.email ~ 'ob@'",
    "@request.auth.collectionId ~ '_pb_users'",  # '_' escaped: not a LIKE wildcard
    "@request.auth.email !~ 'example.com'",
    "title ~ @request.auth.collectionName",
    "@request.auth.name = 'Ann'",  # a custom auth field, read from the session
    "@request.auth.name != owner.name",
    "@now > '2000-01-01 00:00:00.000Z'",  # a macro: no policy, the app's
    "@request.query.page = ''",  # per-request values: no policy, the app's
)


def _rules() -> st.SearchStrategy[str]:
    def combine(kids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        pair = st.tuples(kids, st.sampled_from(("&&", "||")), kids)
        return pair.map(lambda t: f"({t[0]} {t[1]} {t[2]})")

    return st.recursive(st.sampled_from(ATOMS), combine, max_leaves=4)


@pytest.fixture(scope="module")
def targets(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, App]]:
    engines = str(request.config.getoption("engines", "sqlite,postgres"))
    if "postgres" not in engines:
        pytest.skip("row level security is PostgreSQL's")
    sqlite = App(SqliteEngine(Path(tmp_path_factory.mktemp("rulesdiff")) / "data.db"))
    sqlite.bootstrap()
    world.build(sqlite)
    for pg_app in world.postgres_app(request, "rulesapp", "app"):
        world.build(pg_app)
        for pg_rls in world.postgres_app(request, "rulesrls", "rls"):
            world.build(pg_rls)
            yield {"sqlite": sqlite, "postgres-app": pg_app, "postgres-rls": pg_rls}
    sqlite.engine.close()
    # How much was compared (the figure release notes quote): reports/latest/.
    out = Path(str(request.config.rootpath)) / "reports" / "latest" / "rules_differential.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"profile": settings.get_current_profile_name(), **COMPARED}))


COMPARED = {"rules": 0, "lists": 0, "in_policy": 0}


def _policy(app: App) -> str:
    with app.engine.transaction() as tx:
        rows = tx.fetchall(
            "SELECT policyname, qual FROM pg_policies WHERE tablename = 'docs' "
            "AND policyname IN ('pb_list', 'pb_view')"
        )
    return "\n".join(f"  {name}: {qual}" for name, qual in rows)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rule=_rules())
def test_rls_alone_lets_through_what_the_app_does(targets: dict[str, App], rule: str) -> None:
    for app in targets.values():
        world.set_rules(app, "docs", listRule=rule, viewRule=rule)
    rls = targets["postgres-rls"]
    docs = rls.store.find("docs")
    assert docs is not None
    status = rls.store.policies[docs.id].status()
    COMPARED["rules"] += 1
    COMPARED["in_policy"] += status["list"] == "policy"
    if status["list"] == "policy":  # the database alone filters: the app adds no rule
        for _, auth in world.actors(rls):
            assert rule_plan(rls.records, docs, "listRule", auth).nodes == []
    actors: dict[str, list[tuple[str, Any]]] = {n: world.actors(a) for n, a in targets.items()}
    for index, (actor, _) in enumerate(actors["sqlite"]):
        seen = {
            name: world.list_ids(app, "docs", actors[name][index][1])
            for name, app in targets.items()
        }
        COMPARED["lists"] += 1
        if len({tuple(ids) for ids in seen.values()}) != 1:
            note(f"rule: {rule}\nactor: {actor}\nenforced: {status['list']}")
            for name, ids in seen.items():
                note(f"{name}: {ids}")
            note("PostgreSQL policies:\n" + _policy(rls))
            note("re-run: pytest suites/engine/test_rules_differential.py --hypothesis-seed=<seed>")
        assert seen["postgres-rls"] == seen["sqlite"], (rule, actor, seen)
        assert seen["postgres-app"] == seen["sqlite"], (rule, actor, seen)


@pytest.mark.parametrize(
    "rule",
    [
        "title != \"it's\" && owner.name != 'x'",
        "owner.name != '$pp0$' && title != '$pp1$'",  # the function body's dollar quotes
        "title ~ '100%' || owner.name ~ '_n'",  # LIKE wildcards in literals, inlined
        "title != 'a\\\\b' && owner.name != 'a\\\\'",  # backslashes stay literal
        "title = '' || owner.name = 'Ann' || @request.auth.name = 'Bob'",
    ],
)
def test_literals_are_inlined_safely(targets: dict[str, App], rule: str) -> None:
    """Policies have no parameters: rule literals are written into the DDL (quotes doubled,
    a dollar-quote tag the body does not contain), and mean what they mean in the app."""
    for app in targets.values():
        world.set_rules(app, "docs", listRule=rule)
    rls = targets["postgres-rls"]
    docs = rls.store.find("docs")
    assert docs is not None
    assert rls.store.policies[docs.id].status()["list"] == "policy"
    for index, (actor, _) in enumerate(world.actors(targets["sqlite"])):
        seen = {
            name: world.list_ids(app, "docs", world.actors(app)[index][1])
            for name, app in targets.items()
        }
        assert seen["postgres-rls"] == seen["sqlite"] == seen["postgres-app"], (rule, actor)


@pytest.mark.parametrize("atom", ATOMS)
def test_each_rule_alone_beside_a_different_view_rule(targets: dict[str, App], atom: str) -> None:
    """Every atom of the vocabulary on its own, whatever hypothesis draws, with a view rule
    that differs from it: a list must apply the list rule only (PostgreSQL has one SELECT
    policy command; the session's action tells list from view)."""
    for app in targets.values():
        world.set_rules(app, "docs", listRule=atom, viewRule="status = 'secret'")
    for index, (actor, _) in enumerate(world.actors(targets["sqlite"])):
        seen = {
            name: world.list_ids(app, "docs", world.actors(app)[index][1])
            for name, app in targets.items()
        }
        assert seen["postgres-rls"] == seen["sqlite"] == seen["postgres-app"], (atom, actor)
