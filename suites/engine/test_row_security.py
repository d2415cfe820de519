"""Row level security on PostgreSQL (``--rules rls``): the database alone enforces the rules.

- the policies are real: listed in ``pg_policies``, rules reading other rows through
  ``SECURITY DEFINER`` functions;
- direct SQL: inside a transaction with a request's session, plain ``SELECT``s return what
  the API returns; without one, nothing;
- no leak: the session is transaction-local, so many concurrent requests as different users
  over a pool smaller than the client count each see exactly their own rows, and a reused
  connection carries nothing over;
- writes: create, update and delete rules refused by the database give PocketBase's 400 and
  404; a rule a policy cannot express falls back to the app, visibly.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import _rules_world as world
import pytest

from reference_impl.app import App
from reference_impl.core.errors import ApiError
from reference_impl.db import ROW_SECURITY_ROLE
from reference_impl.db.engine import Session

RULES = {
    "listRule": "owner = @request.auth.id || status = 'public'",
    "viewRule": "@collection.members.user ?= @request.auth.id && @collection.members.team ?= team",
    "createRule": "owner = @request.auth.id",
    "updateRule": "owner = @request.auth.id && @request.auth.verified = true",
    "deleteRule": "owner.name = 'Ann' && @request.auth.id != ''",
}


@pytest.fixture(scope="module")
def rls(request: pytest.FixtureRequest) -> Iterator[App]:
    engines = str(request.config.getoption("engines", "sqlite,postgres"))
    if "postgres" not in engines:
        pytest.skip("row level security is PostgreSQL's")
    for app in world.postgres_app(request, "rls", "rls"):
        world.build(app)
        world.set_rules(app, "docs", **RULES)
        yield app


def _sql_ids(app: App, session: Session | None, table: str, *, as_role: bool = False) -> list[str]:
    with app.engine.transaction(session=session) as tx:
        if as_role:  # the unprivileged role without any session settings
            tx.execute(f"SET LOCAL ROLE {ROW_SECURITY_ROLE}")
        return [r[0] for r in tx.fetchall(f'SELECT id FROM "{table}" ORDER BY id')]


def test_policies_are_listed_in_pg_policies(rls: App) -> None:
    with rls.engine.transaction() as tx:
        rows = tx.fetchall(
            "SELECT policyname, cmd, roles::text, qual, with_check FROM pg_policies "
            "WHERE tablename = 'docs' ORDER BY policyname"
        )
        functions = tx.fetchall(
            "SELECT proname, prosecdef FROM pg_proc WHERE proname LIKE '\\_pp\\_rule\\_%docs'"
        )
        forced = tx.fetchone(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'docs'"
        )
    policies = {name: (cmd, roles, qual, check) for name, cmd, roles, qual, check in rows}
    assert set(policies) == {
        "pb_list",
        "pb_view",
        "pb_written",
        "pb_create",
        "pb_update",
        "pb_delete",
    }
    assert policies["pb_list"][0] == "SELECT" and ROW_SECURITY_ROLE in policies["pb_list"][1]
    assert "current_setting('pb.auth.id'" in policies["pb_list"][2]
    assert "'public'" in policies["pb_list"][2]
    assert policies["pb_create"][0] == "INSERT" and "pb.auth.id" in policies["pb_create"][3]
    assert policies["pb_update"][3] == "true"  # PocketBase checks nothing on the new row
    assert "_pp_rule_view_docs" in policies["pb_view"][2]  # @collection: a function
    assert ("_pp_rule_view_docs", True) in functions  # SECURITY DEFINER
    assert ("_pp_rule_delete_docs", True) in functions  # a relation path: a function too
    assert forced == (True, True)


def test_direct_sql_with_a_session_returns_what_the_api_returns(rls: App) -> None:
    for name, auth in world.actors(rls):
        api = world.list_ids(rls, "docs", auth)
        assert _sql_ids(rls, rls.records.session(auth, "list"), "docs") == api, name
        viewable = _sql_ids(rls, rls.records.session(auth, "view"), "docs")
        for row in world.doc_rows():
            coll = rls.store.find("docs")
            assert coll is not None
            try:
                rls.records.view(coll, row["id"], auth)
                seen = True
            except ApiError as exc:
                assert exc.status == 404
                seen = False
            assert seen == (row["id"] in viewable), (name, row["id"])


def test_direct_sql_without_a_session_sees_nothing(rls: App) -> None:
    for table in ("docs", "users", "members", "teams", "_superusers"):
        assert _sql_ids(rls, None, table, as_role=True) == [], table
    # A guest's session: only what the list rule gives a guest (PocketBase: a guest's id
    # is '' for the rule, so ``owner = @request.auth.id`` holds for ownerless rows).
    guest = _sql_ids(rls, Session("guest", "list"), "docs")
    rows = world.doc_rows()
    assert guest == sorted(r["id"] for r in rows if r["status"] == "public" or not r["owner"])
    assert _sql_ids(rls, Session("guest", "list"), "users") == []


def test_a_reused_connection_carries_no_session(rls: App) -> None:
    _, ann = world.actors(rls)[1]
    assert ann is not None
    for _ in range(6):  # more transactions than pooled connections: each is reused
        with rls.engine.transaction(session=rls.records.session(ann, "list")) as tx:
            assert tx.fetchone("SELECT current_setting('pb.auth.id', true)") == (ann.id,)
        with rls.engine.transaction() as tx:
            row = tx.fetchone(
                "SELECT COALESCE(current_setting('pb.auth.id', true), ''), current_user, "
                "COALESCE(current_setting('pb.request.action', true), '')"
            )
            assert row is not None and row[0] == "" and row[2] == ""
            assert row[1] != ROW_SECURITY_ROLE


def test_no_request_sees_another_users_context(rls: App) -> None:
    """48 concurrent clients, 3 pooled connections, 400 lists as random actors."""
    actors = world.actors(rls)
    expected = {name: world.list_ids(rls, "docs", auth) for name, auth in actors}
    assert len(set(map(tuple, expected.values()))) == len(actors)  # every actor differs
    rng = random.Random(9)
    picks = [rng.choice(actors) for _ in range(400)]

    def one(pick: tuple[str, object]) -> tuple[str, list[str]]:
        name, auth = pick
        return name, world.list_ids(rls, "docs", auth)  # type: ignore[arg-type]

    with ThreadPoolExecutor(48) as pool:
        results = list(pool.map(one, picks))
    wrong = [(name, ids) for name, ids in results if ids != expected[name]]
    assert not wrong, wrong[:3]


def test_write_rules_refused_by_the_database(rls: App) -> None:
    docs = rls.store.find("docs")
    assert docs is not None
    _, ann, bob, cid = (auth for _, auth in world.actors(rls))
    assert ann is not None and bob is not None and cid is not None
    with pytest.raises(ApiError) as refused:
        rls.records.create(docs, {"title": "x", "owner": ann.id}, bob)
    assert (refused.value.status, refused.value.message) == (400, "Failed to create record.")
    made = rls.records.create(docs, {"title": "x", "owner": bob.id}, bob)
    # update: owner and verified; Bob owns it but is not verified
    with pytest.raises(ApiError) as missing:
        rls.records.update(docs, made["id"], {"title": "y"}, bob)
    assert missing.value.status == 404
    owned = next(r for r in world.doc_rows() if r["owner"] == ann.id)
    assert rls.records.update(docs, owned["id"], {"n": 5}, ann)["n"] == 5
    with pytest.raises(ApiError) as other:
        rls.records.update(docs, owned["id"], {"n": 6}, cid)
    assert other.value.status == 404
    # delete: the owner's name is Ann (a relation path through a function)
    with pytest.raises(ApiError) as not_ann:
        rls.records.delete(docs, made["id"], bob)
    assert not_ann.value.status == 404
    rls.records.delete(docs, owned["id"], cid)
    assert owned["id"] not in world.list_ids(rls, "docs", world.superuser(rls))
    rls.records.create(docs, owned, world.superuser(rls))  # as it was, for the other tests


def test_a_rule_no_policy_can_express_falls_back_to_the_app(
    rls: App, caplog: pytest.LogCaptureFixture
) -> None:
    # @now is the app's clock (injectable); a policy would read the database's: no policy.
    rule = "@now < '2000-01-01 00:00:00.000Z' || @request.auth.name = 'Ann'"
    world.set_rules(rls, "teams", createRule=rule)
    teams = rls.store.find("teams")
    assert teams is not None
    status = rls.store.policies[teams.id].status()
    assert status["create"].startswith("app: ") and "Macro" in status["create"]
    assert status["list"] == "policy"
    assert "enforced by the app, not row level security" in caplog.text
    ann, bob = world.actors(rls)[1][1], world.actors(rls)[2][1]
    with pytest.raises(ApiError) as refused:
        rls.records.create(teams, {"name": "pink"}, bob)
    assert refused.value.status == 400
    assert rls.records.create(teams, {"name": "green"}, ann)["name"] == "green"


def test_a_renamed_collection_keeps_its_policies(rls: App) -> None:
    _, ann = world.actors(rls)[1]
    before = world.list_ids(rls, "docs", ann)
    world.set_rules(rls, "docs", name="documents")
    try:
        with rls.engine.transaction() as tx:
            names = {
                r[0]
                for r in tx.fetchall(
                    "SELECT policyname FROM pg_policies WHERE tablename = 'documents'"
                )
            }
            old = tx.fetchone("SELECT count(*) FROM pg_policies WHERE tablename = 'docs'")
        assert {"pb_list", "pb_view", "pb_create", "pb_update", "pb_delete"} <= names
        assert old == (0,)
        assert world.list_ids(rls, "documents", ann) == before
    finally:
        world.set_rules(rls, "documents", name="docs")


def test_serves_without_a_superuser(request: pytest.FixtureRequest) -> None:
    """A login role with BYPASSRLS but no SUPERUSER, owning its database: refused with the
    GRANT to run until it may switch to pb_app; then the policies, their functions and the
    requests' switch to pb_app work as with a superuser."""
    from psycopg.conninfo import make_conninfo

    from reference_impl.db.errors import ConnectionFailed
    from reference_impl.db.postgres import PostgresEngine
    from reference_impl.db.provision import connect

    if "postgres" not in str(request.config.getoption("engines", "sqlite,postgres")):
        pytest.skip("row level security is PostgreSQL's")
    server = request.getfixturevalue("pg_server")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    login, database = f"pp_owner_{worker}", f"pp_nosuper_{worker}"
    server.drop_database(database)
    with connect(server.admin_dsn) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {login}")
        admin.execute(f"CREATE ROLE {login} LOGIN NOSUPERUSER BYPASSRLS")
    server.create_database(database)
    try:
        with connect(server.admin_dsn) as admin:
            admin.execute(f"ALTER DATABASE {database} OWNER TO {login}")
        dsn = make_conninfo(server.dsn_for(database), user=login)
        with pytest.raises(ConnectionFailed, match=f"GRANT {ROW_SECURITY_ROLE} TO"):
            PostgresEngine(dsn, row_security_role=ROW_SECURITY_ROLE)
        with connect(server.admin_dsn) as admin:
            admin.execute(f"GRANT {ROW_SECURITY_ROLE} TO {login}")
        engine = PostgresEngine(dsn, row_security_role=ROW_SECURITY_ROLE)
        try:
            app = App(engine, rules="rls")
            app.bootstrap()
            world.build(app)
            world.set_rules(app, "docs", **RULES)
            for name, auth in world.actors(app):
                api = world.list_ids(app, "docs", auth)
                assert _sql_ids(app, app.records.session(auth, "list"), "docs") == api, name
            with engine.transaction() as tx:
                row = tx.fetchone("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert row == (False,)
        finally:
            engine.close()
    finally:
        server.drop_database(database)
        with connect(server.admin_dsn) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {login}")
