"""``parity fuzz``: schemathesis over the reference's own OpenAPI document.

The document is ``GET /api/openapi.json`` of a reference server (superuser only), built
from its live collections; the same collections (``collections()``: every field type,
relations, an auth collection) are created on every target first, so one document fits all
of them. Real PocketBase has no such endpoint: for ``--target pocketbase`` the document is
fetched from a reference on SQLite seeded the same way and schemathesis' base URL points at
PocketBase, which then answers every request; 5xx and off-schema answers are its own.

The pytest tier ``suites/fuzz`` runs the same checks through schemathesis' pytest API; this
command runs its CLI (``st run``), whose report lists every distinct failure with a curl
line. Profiles: ``fast`` (CI: few examples, no stateful phase) and ``deep``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.http import superuser_token

DOC_PATH = "/api/openapi.json"
PROFILE_ENV = "PARITY_FUZZ_PROFILE"
SEEDED_ENV = "PARITY_FUZZ_SEEDED"  # Seeded as JSON, for the hooks in an `st run` process
CHECKS = ("not_a_server_error", "status_code_conformance", "response_schema_conformance")
# Every other schemathesis check, and why it does not apply to a PocketBase-style API.
EXCLUDED = {
    "content_type_conformance": "downloads are served as sniffed (any type, documented */*)",
    "response_headers_conformance": "no response headers are documented",
    "negative_data_rejection": "PocketBase casts leniently: a number field given 'abc' "
    "stores 0 and answers 200, by design",
    "positive_data_acceptance": "schema-valid bodies still fail server-side checks the "
    "document cannot state (passwordConfirm must equal password, relation ids must exist)",
    "missing_required_header": "no header is required: the token is optional everywhere",
    "unsupported_method": "PocketBase answers 404 (not 405) for an unknown method",
    "allow_header_conformance": "no Allow header, as PocketBase",
    "use_after_free": "a stateful check that needs declared links; the document has none "
    "(ids come back inside list items) and the conformance scenarios cover delete-then-view",
    "ensure_resource_availability": "the same: create-then-view is a scenario, not a guess",
    "ignored_auth": "auth is optional: a guest gets answers too (rules decide)",
    "object_level_authorization": "every request is a superuser's, who may see everything",
}


PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class Profile:
    name: str
    max_examples: int  # per operation, fuzzing phase
    phases: tuple[str, ...]
    stateful: bool


PROFILES = {
    "fast": Profile("fast", 15, PHASES[:3], stateful=False),
    "deep": Profile("deep", 300, PHASES, stateful=True),
}


def profile(name: str | None = None, hypothesis_profile: str | None = None) -> Profile:
    """``name``, else ``$PARITY_FUZZ_PROFILE``, else deep for hypothesis' ``deep``, else fast."""
    chosen = name or os.environ.get(PROFILE_ENV)
    if not chosen:
        chosen = "deep" if hypothesis_profile == "deep" else "fast"
    if chosen not in PROFILES:
        raise ValueError(f"fuzz profile {chosen!r}: expected one of {', '.join(PROFILES)}")
    return PROFILES[chosen]


def schemathesis_config(chosen: Profile, base_url: str, token: str, seed_value: int | None) -> Any:
    """The schemathesis config of the pytest tier (``st run`` gets the same as flags)."""
    from schemathesis.config import SchemathesisConfig

    phases = {p: {"enabled": p in chosen.phases} for p in PHASES}
    data: dict[str, Any] = {
        "base-url": base_url,
        "headers": {"Authorization": token},
        "continue-on-failure": True,
        "suppress-health-check": ["all"],
        "generation": {"max-examples": chosen.max_examples},
        "checks": {name: {"enabled": name in CHECKS} for name in (*CHECKS, *EXCLUDED)},
        "phases": phases,
    }
    if seed_value is not None:
        data["seed"] = seed_value
    return SchemathesisConfig.from_dict(data)


# -- the collections every target gets -----------------------------------------------------
TAGS, ALL, MEMBERS = "fz_tags", "fz_all", "fz_members"


def _cid(type_: str, name: str) -> str:
    # PocketBase's default collection id (pbc_ + crc32(type + name)): the same on every target.
    from reference_impl.core.collection import collection_id

    return collection_id(type_, name)


def _open(payload: dict[str, Any]) -> dict[str, Any]:
    rules = ("listRule", "viewRule", "createRule", "updateRule", "deleteRule")
    return {**{r: "" for r in rules}, **payload}


def collections(suffix: str = "") -> list[dict[str, Any]]:
    """Every field type (``fz_all``, but the password field in ``fz_tags``), relations
    single and multiple, an auth collection with extra fields; ``suffix`` is appended to
    each name (tests that share a database)."""
    tags, every, members = TAGS + suffix, ALL + suffix, MEMBERS + suffix
    to_tags = {"type": "relation", "collectionId": _cid("base", tags)}
    return [
        # The password field sits here, not in fz_all: on the reference a password field
        # outside the auth system fields fails every write that sets it (a 500), which in
        # fz_all would hide every other write bug behind it.
        _open({"name": tags, "fields": [{"name": "label", "type": "text", "max": 40},
                                        {"name": "p", "type": "password"}]}),
        _open({"name": every, "fields": [
            {"name": "t", "type": "text", "max": 100},
            {"name": "code", "type": "text", "pattern": "^[A-Z]{0,4}$"},
            {"name": "n", "type": "number", "min": -1000000, "max": 1000000},
            {"name": "ni", "type": "number", "onlyInt": True},
            {"name": "b", "type": "bool"},
            {"name": "e", "type": "email"},
            {"name": "u", "type": "url"},
            {"name": "ed", "type": "editor"},
            {"name": "d", "type": "date"},
            {"name": "s", "type": "select", "values": ["a", "b", "c"]},
            {"name": "sm", "type": "select", "values": ["a", "b", "c"], "maxSelect": 3},
            {"name": "j", "type": "json"},
            {"name": "r", **to_tags},
            {"name": "rm", **to_tags, "maxSelect": 5},
            {"name": "f", "type": "file", "maxSize": 4096},
            {"name": "fm", "type": "file", "maxSelect": 3, "maxSize": 4096},
            {"name": "g", "type": "geoPoint"},
            {"name": "h", "type": "text", "hidden": True},
            {"name": "created", "type": "autodate", "onCreate": True},
            {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
        ]}),
        _open({"name": members, "type": "auth", "fields": [
            {"name": "nick", "type": "text", "max": 30},
            {"name": "fav", "type": "relation", "collectionId": _cid("base", every)},
        ]}),
    ]  # fmt: skip


SEED_ROWS = 3  # per collection, so view/update/delete sometimes hit a real record
SEED_PASSWORD = "fuzz-password-1"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452")  # a PNG signature: sniffed as image/png


@dataclass(frozen=True)
class Seeded:
    """What the hooks reuse and protect (``harness._fuzz_hooks``): row ids per collection
    name, (record id, file name) per collection, (email, password) per auth collection,
    and the names and ids of every collection present before the run."""

    records: dict[str, list[str]]
    files: dict[str, list[tuple[str, str]]]
    logins: dict[str, list[tuple[str, str]]]
    protected: list[str]

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Seeded:
        data = json.loads(text or "{}")

        def pairs(key: str) -> dict[str, list[tuple[str, str]]]:
            return {k: [(a, b) for a, b in v] for k, v in data.get(key, {}).items()}

        records, protected = data.get("records", {}), data.get("protected", [])
        return cls(records, pairs("files"), pairs("logins"), protected)


def seed(base_url: str, token: str) -> Seeded:
    """Create ``collections()``, ``SEED_ROWS`` rows in each of them and in ``users``, and
    files on one ``fz_all`` row."""
    ids: dict[str, list[str]] = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": token}, timeout=30) as client:
        for payload in collections():
            _ok(client.post("/api/collections", json=payload))
        for name in (TAGS, ALL, MEMBERS, "users"):
            ids[name] = [
                _ok(client.post(f"/api/collections/{name}/records", json=_row(name, i, ids)))
                for i in range(SEED_ROWS)
            ]
        uploads = [("f", ("one.png", PNG, "image/png")), ("fm", ("two.txt", b"two", "text/plain"))]
        response = client.patch(f"/api/collections/{ALL}/records/{ids[ALL][0]}", files=uploads)
        _ok(response)
        names = [response.json()["f"], *response.json()["fm"]]
        listed = client.get("/api/collections", params={"perPage": 1000, "skipTotal": 1})
        listed.raise_for_status()
    return Seeded(
        records=ids,
        files={ALL: [(ids[ALL][0], name) for name in names]},
        logins={c: [(f"{c}{i}@example.com", SEED_PASSWORD) for i in range(SEED_ROWS)]
                for c in (MEMBERS, "users")},
        protected=[key for c in listed.json()["items"] for key in (c["name"], c["id"])],
    )  # fmt: skip


def _row(name: str, i: int, ids: dict[str, list[str]]) -> dict[str, Any]:
    if name == TAGS:
        return {"label": f"tag {i}"}
    if name == ALL:
        tags = ids[TAGS]
        return {"t": f"row {i}", "n": i, "s": "a", "sm": ["a", "b"], "r": tags[0], "rm": tags,
                "j": {"k": [i]}, "g": {"lon": i, "lat": -i}, "h": "secret"}  # fmt: skip
    return {"email": f"{name}{i}@example.com", "password": SEED_PASSWORD,
            "passwordConfirm": SEED_PASSWORD, "emailVisibility": i % 2 == 0}  # fmt: skip


def _ok(response: httpx.Response) -> str:
    if response.status_code != 200:
        raise RuntimeError(
            f"fuzz seed: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return str(response.json().get("id", ""))


def fetch_document(base_url: str, token: str) -> dict[str, Any]:
    response = httpx.get(base_url + DOC_PATH, headers={"Authorization": token}, timeout=30)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


# -- the CLI -------------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "fuzz", help="schemathesis over the reference's OpenAPI document, on one target"
    )
    parser.add_argument(
        "--target",
        default="sqlite",
        choices=("sqlite", "postgres", "pocketbase"),
        help="what answers the requests (the document always comes from a reference)",
    )
    parser.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default=None,
        help=f"fast or deep (default ${PROFILE_ENV}, else fast)",
    )
    parser.add_argument("--pg-dsn", default=None, help="PostgreSQL server (default embedded)")
    parser.add_argument("--seed", type=int, default=0, help="schemathesis seed (default 0)")
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/fuzz"),
        help="where schemathesis writes its reports (default reports/fuzz/<target>)",
    )
    parser.add_argument(
        "extra", nargs=argparse.REMAINDER, help="after --: more `st run` options (-n 50, ...)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if shutil.which("st", path=str(Path(sys.executable).parent)) is None and not shutil.which("st"):
        print(
            "parity fuzz: schemathesis is not installed (its `st` command runs the fuzzing); "
            "install the test extra: pip install -e '.[test]'",
            file=sys.stderr,
        )
        return 2
    chosen = profile(args.profile)
    report_dir = args.report_dir / args.target
    workdir = report_dir / "targets"  # server logs stay here after the run, for tracebacks
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with _targets(args.target, workdir, args.pg_dsn) as (doc_source, target_url, token):
        seeded = seed(target_url, token)
        if doc_source != target_url:  # PocketBase: the document is a reference's
            source_token = superuser_token(doc_source, *_superuser())
            seed(doc_source, source_token)
        else:
            source_token = token
        doc_file = report_dir / "openapi.json"
        doc_file.write_text(json.dumps(fetch_document(doc_source, source_token), indent=1))
        command = cli_command(doc_file, target_url, token, chosen, args.seed, report_dir)
        if args.target == "pocketbase":  # it has no such endpoint
            command += ["--exclude-path", DOC_PATH]
        command += [a for a in args.extra if a != "--"]
        print(f"parity fuzz: {args.target} at {target_url}, profile {chosen.name}", flush=True)
        began = time.monotonic()
        hooks = {SEEDED_ENV: seeded.to_json(), "SCHEMATHESIS_HOOKS": "harness._fuzz_hooks"}
        code = subprocess.call(command, env={**os.environ, **hooks})
    shutil.rmtree(workdir / "pg", ignore_errors=True)  # an embedded PostgreSQL's data dir
    print(
        f"parity fuzz: {time.monotonic() - began:.0f} s; reports and the document in "
        f"{report_dir}, server logs under {workdir}"
    )
    return code


def cli_command(
    doc: Path, base_url: str, token: str, chosen: Profile, seed_value: int, report_dir: Path
) -> list[str]:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    return [
        st, "run", str(doc), "--url", base_url, "-H", f"Authorization: {token}",
        "--checks", ",".join(CHECKS), "--phases", ",".join(chosen.phases),
        "--max-examples", str(chosen.max_examples), "--seed", str(seed_value),
        "--workers", "1", "--continue-on-failure", "--suppress-health-check", "all",
        "--report", "json,junit", "--report-dir", str(report_dir),
    ]  # fmt: skip


def _superuser() -> tuple[str, str]:
    from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD

    return SUPERUSER_EMAIL, SUPERUSER_PASSWORD


@contextlib.contextmanager
def _targets(spec: str, workdir: Path, pg_dsn: str | None) -> Iterator[tuple[str, str, str]]:
    """(document source URL, target URL, the target's superuser token)."""
    from harness.targetset import started

    specs = ["pocketbase", "sqlite"] if spec == "pocketbase" else [spec]
    with started(specs, workdir, pg_dsn=pg_dsn) as running:
        target = running.sessions[spec]
        source = running.sessions["sqlite" if spec == "pocketbase" else spec]
        yield source.target.base_url, target.target.base_url, target.superuser_token()
