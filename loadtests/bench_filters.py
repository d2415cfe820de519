"""Filtered lists over 100,000 records: reference on SQLite, on PostgreSQL, real PocketBase.

Not a test: a benchmark, one run on one machine with one load generator (wrk), so ratios
compare. Three filters from the filter-language issue, each ``GET .../records?perPage=20&
filter=...`` (with the total, as clients ask by default):

- ``json``:     ``meta.kind = 'k42'``            (a JSON path, 0.1% of rows)
- ``like``:     ``title ~ 'needle'``              (a contains search, 0.1% of rows)
- ``relation``: ``author.team.name = 'team7'``    (two single relations, 1% of rows)

The reference runs twice on the same data: automatic JSON-path indexes off
(``PARITY_AUTO_INDEX_AFTER=0``) and on (``=1``: the first filtered request creates the
index; a warm-up request does that before wrk starts). PocketBase runs once (it has no
automatic indexes).

    python loadtests/bench_filters.py [--rows 100000] [--duration 5] [--connections 16]
        [--targets sqlite,postgres,pocketbase] [--json reports/latest/bench_filters.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from bench_records import wrk

from harness.http import free_port, superuser_token
from harness.targets import PocketBaseTarget
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD

console = Console(stderr=True)
FILTERS = {
    "json": "meta.kind = 'k42'",
    "like": "title ~ 'needle'",
    "relation": "author.team.name = 'team7'",
}
TEAMS, AUTHORS = 100, 1000


def _client(base_url: str) -> httpx.Client:
    token = superuser_token(base_url, SUPERUSER_EMAIL, SUPERUSER_PASSWORD)
    return httpx.Client(base_url=base_url, headers={"Authorization": token}, timeout=60)


def seed(base_url: str, rows: int) -> None:
    """teams <- authors.team <- posts.author; posts have a title and a json ``meta``."""
    with _client(base_url) as c:
        c.post(
            "/api/collections",
            json={"name": "teams", "listRule": "", "fields": [{"name": "name", "type": "text"}]},
        ).raise_for_status()
        teams = c.get("/api/collections/teams").json()["id"]
        c.post(
            "/api/collections",
            json={
                "name": "authors",
                "listRule": "",
                "fields": [
                    {"name": "name", "type": "text"},
                    {"name": "team", "type": "relation", "collectionId": teams, "maxSelect": 1},
                ],
            },
        ).raise_for_status()
        authors = c.get("/api/collections/authors").json()["id"]
        c.post(
            "/api/collections",
            json={
                "name": "posts",
                "listRule": "",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "meta", "type": "json"},
                    {"name": "author", "type": "relation", "collectionId": authors, "maxSelect": 1},
                ],
            },
        ).raise_for_status()

    def team(i: int) -> dict[str, Any]:
        return {"id": f"team{i:011d}", "name": f"team{i}"}

    def author(i: int) -> dict[str, Any]:
        return {"id": f"auth{i:011d}", "name": f"a{i}", "team": f"team{i % TEAMS:011d}"}

    def post(i: int) -> dict[str, Any]:
        title = f"post {i} " + ("needle " if i % 1000 == 7 else "") + "lorem ipsum"
        meta = {"kind": f"k{i % 1000}", "n": i, "tags": ["a", "b"][: i % 3]}
        return {
            "id": f"post{i:011d}",
            "title": title,
            "meta": meta,
            "author": f"auth{i % AUTHORS:011d}",
        }

    create_all(
        base_url, [("teams", TEAMS, team), ("authors", AUTHORS, author), ("posts", rows, post)]
    )


def create_all(
    base_url: str, batches: list[tuple[str, int, Callable[[int], dict[str, Any]]]]
) -> None:
    """Create ``count`` records ``make(i)`` per collection, in order, 8 at a time through
    the API as superuser, with a progress bar each."""
    with Progress(console=console) as progress:
        for name, count, make in batches:
            task = progress.add_task(f"seeding {name}", total=count)
            with ThreadPoolExecutor(max_workers=8) as pool, _client(base_url) as c:

                def create(i: int, name: str = name, make: Any = make, c: Any = c) -> None:
                    c.post(f"/api/collections/{name}/records", json=make(i)).raise_for_status()

                for _ in pool.map(create, range(count)):
                    progress.advance(task)


def measure(base_url: str, args: argparse.Namespace, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, text in FILTERS.items():
        url = f"{base_url}/api/collections/posts/records?perPage=20&filter={quote(text)}"
        warm = httpx.get(url, timeout=120)  # also creates the automatic index when on
        warm.raise_for_status()
        total = warm.json()["totalItems"]
        console.print(f"  {label} {key}: {total} matching; wrk {args.duration}s")
        out[key] = {
            **wrk(url, duration=args.duration, connections=args.connections, script=None),
            "total": total,
        }
    return out


@contextmanager
def reference(
    engine: str, data_dir: Path, auto_index: int, *, rules: str | None = None
) -> Iterator[str]:
    """``parity serve`` on ``data_dir`` (kept between runs, so both variants read the same
    rows), with the automatic-index threshold set (and ``--rules`` when given)."""
    env = {**os.environ, "PARITY_AUTO_INDEX_AFTER": str(auto_index)}
    base = [sys.executable, "-m", "reference_impl"]
    dir_args = ["--engine", engine, "--dir", str(data_dir)]
    subprocess.run(
        [*base, "superuser", "upsert", SUPERUSER_EMAIL, SUPERUSER_PASSWORD, *dir_args],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = (data_dir.parent / f"{engine}-{auto_index}-{rules or 'default'}.log").open("wb")
    rules_args = ["--rules", rules] if rules else []
    proc = subprocess.Popen(
        [*base, "serve", "--http", f"127.0.0.1:{port}", *dir_args, *rules_args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's package `wrk` (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-filters-"))
    results: dict[str, Any] = {}
    for spec in args.targets.split(","):
        console.print(f"[bold]{spec}[/]")
        if spec == "pocketbase":
            target = PocketBaseTarget(workdir / "pocketbase")
            target.start()
            try:
                seed(target.base_url, args.rows)
                results["pocketbase"] = measure(target.base_url, args, "pocketbase")
                results["pocketbase"]["version"] = target.info().version
            finally:
                target.stop()
            continue
        data_dir = workdir / spec / "pb_data"
        data_dir.mkdir(parents=True)
        with reference(spec, data_dir, 0) as url:
            seed(url, args.rows)
            results[f"{spec}"] = measure(url, args, f"{spec} (no auto index)")
        with reference(spec, data_dir, 1) as url:
            results[f"{spec}+index"] = measure(url, args, f"{spec} (auto index)")
    return results


def report(results: dict[str, Any]) -> None:
    base = results.get("pocketbase")
    table = Table(title="filtered lists over posts (wrk -t2, loopback, one machine, one run)")
    table.add_column("target")
    for key in FILTERS:
        table.add_column(f"{key} req/s", justify="right")
        table.add_column("vs PB", justify="right")
    for name, r in results.items():
        cells = [name]
        for key in FILTERS:
            rps = r[key]["rps"]
            cells += [f"{rps:,.0f}", f"{rps / base[key]['rps']:.2f}x" if base else "-"]
        table.add_row(*cells)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--targets", default="sqlite,postgres,pocketbase")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(args)
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
