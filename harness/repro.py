"""The repro block printed for a differential result, and ``parity repro`` that re-runs one.

The block always has the same sections in the same order (STYLE.md item 7), so people and
tools can read it without searching:

1. verdict line          ``==== PARITY <HEADLINE>: <scenario name> ====`` + per-target verdicts
2. seed
3. schema and rows       a shell script: superuser login, then the setup calls as curl lines
4. requests              the scenario name, then each step as a curl line
5. responses             per step, per target: status, normalised body, SQL (reference only)
6. diff                  per target against the oracle, JSON-pointer paths
7. known divergence      the registry key and title, or "none"
8. re-run                ``parity repro "<name>" --seed N --target ...``

Setup is deterministic (row ids included), so sections 3-4 run against any server: set
``BASE`` to its URL. Ids in step paths that came from earlier responses are the oracle's.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from harness import _realtime_steps, divergences
from harness.differ import Outcome, run_differential
from harness.normalise import dumps
from harness.scenario import Scenario, ScenarioError, default_dir, load_dir
from harness.targets.base import SUPERUSER_EMAIL, SUPERUSER_PASSWORD, TargetStartError
from harness.targetset import add_run_arguments, parse_specs, started
from harness.transcript import Exchange, SetupRequest

MAX_BODY_LINES = 60
_TOKEN_FROM_JSON = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])'"
_TOKEN_VARS = {"superuser": "$SUPERUSER_TOKEN", "user": "$USER_TOKEN"}


def render_repro(outcome: Outcome, targets: str | None = None) -> str:
    """The repro block; ``targets`` is the ``--target`` value for the re-run line."""
    scenario, oracle = outcome.scenario, outcome.oracle
    reference = outcome.transcripts[oracle]
    verdicts = " ".join(f"{name}={verdict}" for name, verdict in outcome.verdicts.items())
    out = [
        f"==== PARITY {outcome.headline}: {scenario.name} ====",
        f"verdict: {outcome.headline} ({verdicts}; oracle {oracle})",
        f"seed: {outcome.seed}",
        f"-- schema and rows (suite {scenario.suite}; BASE=<server url>) --",
        _login_line(
            "SUPERUSER_TOKEN",
            "/api/collections/_superusers/auth-with-password",
            dumps({"identity": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD}),
        ),
    ]
    out += [_setup_line(req) for req in reference.setup]
    out += [f"-- requests: {scenario.name} --"]
    if reference.user_login is not None:
        out.append(_login_line("USER_TOKEN", reference.user_login.path, reference.user_login.body))
    for exchange in reference.exchanges:
        if exchange.kind == "await_events":
            out += [f"# {exchange.step} (events of client {exchange.client})", _curl(exchange)]
        else:
            out += [f"# {exchange.step} ({exchange.actor})", _curl(exchange)]
    out += ["-- responses --"]
    out += _responses(outcome)
    out += [f"-- diff (against {oracle}) --"]
    diffs = [(name, lines) for name, lines in outcome.diffs.items() if lines]
    for name, lines in diffs:
        out += [f"{name}:"] + [f"  {line}" for line in lines]
    errors = [(n, t.error) for n, t in outcome.transcripts.items() if t.error]
    out += [f"{name}: ERROR {error}" for name, error in errors]
    if not diffs and not errors:
        out.append("(no differences)")
    out += ["-- known divergence --"]
    div = outcome.divergence
    out.append(
        f"{div.key}: {div.title} ({div.kind}; deviating: {', '.join(div.targets)})"
        if div
        else "none"
    )
    specs = targets or ",".join(_spec(label) for label in outcome.transcripts)
    out += ["-- re-run --", rerun_command(scenario, outcome.seed, specs)]
    return "\n".join(out)


def _spec(label: str) -> str:
    """Column label back to a --target spec: "pocketbase-2" -> "pocketbase"."""
    base, _, n = label.rpartition("-")
    return base if base and n.isdigit() else label


def rerun_command(scenario: Scenario, seed: int, targets: str) -> str:
    return f"parity repro {shlex.quote(scenario.name)} --seed {seed} --target {targets}"


def _responses(outcome: Outcome) -> list[str]:
    lines: list[str] = []
    oracle = outcome.transcripts[outcome.oracle]
    for index, ref in enumerate(oracle.exchanges):
        what = f"events of client {ref.client}" if ref.kind == "await_events" else ref.norm_path
        lines.append(f"[{ref.step}] {ref.method} {what}")
        for name, transcript in outcome.transcripts.items():
            if transcript.error is not None or index >= len(transcript.exchanges):
                continue
            exchange = transcript.exchanges[index]
            role = " (oracle)" if name == outcome.oracle else ""
            same = name != outcome.oracle and not any(
                line.startswith(f"{exchange.step} ") for line in outcome.diffs.get(name, [])
            )
            lines.append(
                f"  {name}{role}: {_status(exchange)}" + (" (same as oracle)" if same else "")
            )
            if exchange.note:
                lines.append(f"    ({exchange.note})")
            if not same:
                lines += [f"    {k}: {v}" for k, v in exchange.captured.items()]
                lines += [f"    {line}" for line in _body(exchange)]
            lines += [
                f"    sql: {st.get('sql')}  -- params {st.get('params')}" for st in exchange.sql
            ]
    return lines


def _status(exchange: Exchange) -> str:
    if exchange.error:
        return f"ERROR {exchange.error}"
    if exchange.kind == "await_events":
        received = len(exchange.body) if isinstance(exchange.body, list) else 0
        return f"{received} event(s), {exchange.count} awaited"
    return str(exchange.status)


def _body(exchange: Exchange) -> list[str]:
    if exchange.body is None:
        return []
    text = exchange.body if isinstance(exchange.body, str) else dumps(exchange.body, indent=2)
    body = text.splitlines()
    if len(body) > MAX_BODY_LINES:
        body = [*body[:MAX_BODY_LINES], f"... ({len(body) - MAX_BODY_LINES} more lines)"]
    return body


def _login_line(var: str, path: str, body: str) -> str:
    return (
        f'{var}=$(curl -sS -X POST "$BASE"{shlex.quote(path)} '
        f"-H 'Content-Type: application/json' --data-raw {shlex.quote(body)} "
        f"| {_TOKEN_FROM_JSON})"
    )


def _setup_line(request: SetupRequest) -> str:
    line = (
        f'curl -sS -X {request.method} "$BASE"{shlex.quote(request.path)} '
        f"-H \"Authorization: $SUPERUSER_TOKEN\" -H 'Content-Type: application/json' "
        f"--data-raw {shlex.quote(request.body)}"
    )
    return line + (f"  # {request.created}" if request.created else "")


def _curl(exchange: Exchange) -> str:
    if exchange.kind != "http":
        return _realtime_steps.shell(exchange, _TOKEN_VARS)
    parts = [f'curl -sS -X {exchange.method} "$BASE"{shlex.quote(exchange.path)}']
    if exchange.actor in _TOKEN_VARS and "Authorization" not in exchange.headers:
        parts.append(f'-H "Authorization: {_TOKEN_VARS[exchange.actor]}"')
    parts += [f"-H {shlex.quote(f'{k}: {v}')}" for k, v in exchange.headers.items()]
    if exchange.body_sent is not None:
        parts += [
            "-H 'Content-Type: application/json'",
            f"--data-raw {shlex.quote(exchange.body_sent)}",
        ]
    for name, value in exchange.form_sent or []:
        parts.append(f"--form-string {shlex.quote(f'{name}={value}')}")
    for f in exchange.files_sent or []:
        # bash process substitution gives curl the content as a file; the part keeps the
        # scenario's file name and type.
        source = (
            f"<(printf %s {shlex.quote(f.content)})"
            if f.repeat == 1
            else f"<(python3 -c 'import sys; sys.stdout.write(sys.argv[1] * {f.repeat})' "
            f"{shlex.quote(f.content)})"
        )
        parts.append(f'-F "{f.field}=@"{source}{shlex.quote(f";filename={f.name};type={f.type}")}')
    return " ".join(parts)


# --- parity repro -----------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "repro",
        help="re-run one scenario on the targets and print its repro block",
        description="Re-run one scenario by name (as printed in a repro block) with a seed.",
    )
    parser.add_argument("name", help="scenario name, e.g. 'GET list records (guest)'")
    add_run_arguments(parser)
    parser.set_defaults(handler=run)


def find_scenario(scenarios: list[Scenario], name: str) -> Scenario:
    """Exact name, else the single scenario whose name contains ``name``."""
    exact = [s for s in scenarios if s.name == name]
    matches = exact or [s for s in scenarios if name.lower() in s.name.lower()]
    if len(matches) != 1:
        names = "\n  ".join(s.name for s in matches) or "(none)"
        raise ScenarioError(f"{len(matches)} scenarios match {name!r}:\n  {names}")
    return matches[0]


def run(args: argparse.Namespace) -> int:
    try:
        scenario = find_scenario(load_dir(args.scenarios or default_dir()), args.name)
        registry = divergences.load()
        specs = parse_specs(args.target)
        with (
            tempfile.TemporaryDirectory(prefix="parity-repro-") as tmp,
            started(specs, Path(tmp), pg_dsn=args.pg_dsn) as run_targets,
        ):
            outcome = run_differential(scenario, run_targets.sessions, args.seed, registry)
    except (ScenarioError, divergences.RegistryError, TargetStartError) as exc:
        print(f"parity repro: {exc}", file=sys.stderr)
        return 2
    print(render_repro(outcome, ",".join(specs)))
    return 1 if outcome.failed else 0
