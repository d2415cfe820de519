"""API rules over 100,000 records: row level security vs app-layer filtering (issue 9).

Not a test: one run, one machine, one load generator (wrk), so ratios compare. The
reference on PostgreSQL serves the same data three times, ``--rules app`` (the app adds the
rule to its SQL), ``rls`` (the database alone, through the policies) and ``both``; real
PocketBase (and the reference on SQLite, ``app``) serve the same rows for scale. Each rule is
``docs``' listRule in turn, and a user lists ``GET /api/collections/docs/records?perPage=20``
(with the total, as clients ask by default):

- ``static``:     ``status = 'public'``                                   (10% of rows)
- ``owner``:      ``owner = @request.auth.id``                            (0.5% of rows)
- ``collection``: ``@collection.members.user ?= @request.auth.id &&
  @collection.members.team ?= team``                                      (4% of rows)

For each PostgreSQL mode the list statement the app runs is ``EXPLAIN ANALYZE``d under the
same session, so the plan (index use, the policy's InitPlan or function call) is evidence
next to the figures.

    python loadtests/bench_rules.py [--rows 100000] [--duration 5] [--connections 16]
        [--targets postgres,pocketbase,sqlite] [--json reports/latest/bench_rules.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from bench_filters import _client, create_all, reference
from bench_records import wrk

from harness.targets import PocketBaseTarget

console = Console(stderr=True)
RULES = {
    "static": "status = 'public'",
    "owner": "owner = @request.auth.id",
    "collection": (
        "@collection.members.user ?= @request.auth.id && @collection.members.team ?= team"
    ),
}
USERS, TEAMS, PASSWORD = 200, 50, "bench-password-1"
LIST = "/api/collections/docs/records?perPage=20"


def seed(base_url: str, rows: int) -> None:
    """users (the default auth collection), teams, members (2 teams per user), docs."""
    with _client(base_url) as c:
        c.post(
            "/api/collections",
            json={"name": "teams", "fields": [{"name": "name", "type": "text"}]},
        ).raise_for_status()
        teams = c.get("/api/collections/teams").json()["id"]
        users = c.get("/api/collections/users").json()["id"]
        c.post(
            "/api/collections",
            json={
                "name": "members",
                "fields": [
                    {"name": "user", "type": "relation", "collectionId": users, "maxSelect": 1},
                    {"name": "team", "type": "relation", "collectionId": teams, "maxSelect": 1},
                ],
                "indexes": ["CREATE INDEX idx_members_user ON members (user)"],
            },
        ).raise_for_status()
        c.post(
            "/api/collections",
            json={
                "name": "docs",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "status", "type": "text"},
                    {"name": "owner", "type": "relation", "collectionId": users, "maxSelect": 1},
                    {"name": "team", "type": "relation", "collectionId": teams, "maxSelect": 1},
                ],
                "indexes": [
                    "CREATE INDEX idx_docs_owner ON docs (owner)",
                    "CREATE INDEX idx_docs_status ON docs (status)",
                    "CREATE INDEX idx_docs_team ON docs (team)",
                ],
            },
        ).raise_for_status()

    def user(i: int) -> dict[str, Any]:
        return {
            "id": f"user{i:011d}",
            "email": f"u{i}@example.com",
            "password": PASSWORD,
            "passwordConfirm": PASSWORD,
        }

    def team(i: int) -> dict[str, Any]:
        return {"id": f"team{i:011d}", "name": f"team{i}"}

    def member(i: int) -> dict[str, Any]:
        team = (i // 2 + (i % 2) * 17) % TEAMS
        return {"id": f"memb{i:011d}", "user": f"user{i // 2:011d}", "team": f"team{team:011d}"}

    def doc(i: int) -> dict[str, Any]:
        return {
            "id": f"docs{i:011d}",
            "title": f"doc {i}",
            "status": "public" if i % 10 == 0 else "draft",
            "owner": f"user{i % USERS:011d}",
            "team": f"team{(i * 7) % TEAMS:011d}",
        }

    create_all(
        base_url,
        [
            ("users", USERS, user),
            ("teams", TEAMS, team),
            ("members", USERS * 2, member),
            ("docs", rows, doc),
        ],
    )


def user_token(base_url: str) -> str:
    response = httpx.post(
        f"{base_url}/api/collections/users/auth-with-password",
        json={"identity": "u1@example.com", "password": PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["token"])


def measure(base_url: str, args: argparse.Namespace, label: str) -> dict[str, Any]:
    token = user_token(base_url)
    out: dict[str, Any] = {}
    for key, rule in RULES.items():
        with _client(base_url) as c:
            c.patch("/api/collections/docs", json={"listRule": rule}).raise_for_status()
        warm = httpx.get(base_url + LIST, headers={"Authorization": token}, timeout=120)
        warm.raise_for_status()
        total = warm.json()["totalItems"]
        console.print(f"  {label} {key}: {total} visible to u1; wrk {args.duration}s")
        result = wrk(
            base_url + LIST,
            duration=args.duration,
            connections=args.connections,
            script=None,
            headers={"Authorization": token},
        )
        out[key] = {**result, "total": total}
    return out


def explain(data_dir: Path, mode: str, base_url: str) -> dict[str, str]:
    """The app's list statement for user u1, EXPLAIN ANALYZEd under u1's session."""
    from reference_impl.app import App
    from reference_impl.core.auth import AuthContext
    from reference_impl.core.records import ListQuery
    from reference_impl.db import DATABASE_NAME, ROW_SECURITY_ROLE
    from reference_impl.db.engine import capturing_sql
    from reference_impl.db.postgres import PostgresEngine
    from reference_impl.db.provision import provision_postgres

    server = provision_postgres(data_dir=data_dir)
    dsn = server.dsn_for(DATABASE_NAME)
    role = None if mode == "app" else ROW_SECURITY_ROLE
    engine = PostgresEngine(dsn, row_security_role=role)
    plans: dict[str, str] = {}
    try:
        app = App(engine, rules=mode)  # type: ignore[arg-type]
        app.bootstrap()
        users, docs = app.store.find("users"), app.store.find("docs")
        assert users is not None and docs is not None
        record = app.records.find_auth_record(users, "user00000000001")
        assert record is not None
        auth = AuthContext(record, users.id, users.name)
        for key, rule in RULES.items():
            with _client(base_url) as c:
                c.patch("/api/collections/docs", json={"listRule": rule}).raise_for_status()
            app.store.reload()
            app.bootstrap()  # the policies as the server has them
            docs = app.store.find("docs")
            assert docs is not None
            with capturing_sql() as statements:
                app.records.list_records(docs, ListQuery(per_page=20), auth)
            main = next(s for s in statements if "COUNT(*) OVER" in s["sql"])
            session = app.records.session(auth, "list")
            with engine.transaction(session=session) as tx:
                rows = tx.fetchall("EXPLAIN (ANALYZE, COSTS OFF) " + main["sql"], main["params"])
            plans[key] = "\n".join(r[0] for r in rows)
    finally:
        engine.close()
        server.stop()
    return plans


@contextmanager
def _pocketbase(workdir: Path) -> Iterator[str]:
    target = PocketBaseTarget(workdir / "pocketbase")
    target.start()
    try:
        yield target.base_url
    finally:
        target.stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's package `wrk` (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    results: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    for spec in args.targets.split(","):
        console.print(f"[bold]{spec}[/]")
        if spec == "pocketbase":
            with _pocketbase(workdir) as url:
                seed(url, args.rows)
                results["pocketbase"] = measure(url, args, "pocketbase")
            continue
        data_dir = workdir / spec / "pb_data"
        data_dir.mkdir(parents=True)
        modes = ("app", "rls", "both") if spec == "postgres" else ("app",)
        for index, mode in enumerate(modes):
            with reference(spec, data_dir, 0, rules=mode) as url:
                if index == 0:
                    seed(url, args.rows)
                results[f"{spec}:{mode}"] = measure(url, args, f"{spec} --rules {mode}")
                if spec == "postgres":
                    plans[mode] = explain(data_dir, mode, url)
    return {"results": results, "plans": plans}


def report(out: dict[str, Any]) -> None:
    results = out["results"]
    base = results.get("postgres:app")
    table = Table(title="lists under a rule, 100k docs (wrk -t2, loopback, one machine, one run)")
    table.add_column("target")
    for key in RULES:
        table.add_column(f"{key} req/s", justify="right")
        table.add_column("p50 ms", justify="right")
        table.add_column("vs pg app", justify="right")
    for name, r in results.items():
        cells = [name]
        for key in RULES:
            rps = r[key]["rps"]
            ratio = f"{rps / base[key]['rps']:.2f}x" if base else "-"
            cells += [f"{rps:,.0f}", f"{r[key]['p50_ms']:.1f}", ratio]
        table.add_row(*cells)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--targets", default="postgres,pocketbase,sqlite")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    out = run(args)
    report(out)
    for mode, plans in out["plans"].items():
        for key, plan in plans.items():
            console.print(f"[bold]EXPLAIN --rules {mode} {key}[/]\n{plan}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
