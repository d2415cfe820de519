"""``parity report``: the release report from the last runs' results.

Reads what ``parity load`` (``load_<scenario>.json`` and its raw Locust CSVs) and ``parity
check`` (``parity.json`` / ``parity.md``) wrote into ``--from`` (``reports/latest``) and
writes, into ``reports/<release>/`` with ``--release`` or back into ``reports/latest``:

- ``index.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched):
  the targets and their versions; the parity matrix with a link to ``parity.md``; per load
  scenario the checks made after the run, throughput over time (one line per target), the
  latency percentiles per route (one bar per target) and the routes side by side with the
  ratio to real PocketBase;
- ``summary.md``: the same figures as tables, for a release page;
- the raw files it was made from (JSON and CSV), copied beside them.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness import plots

PERCENTILES = ("50%", "95%", "99%")
_NUMERIC = re.compile(r"-?[\d,]+(\.\d+)?x?")
_RELEASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_CSS = """
body { font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #111827; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #d1d5db; padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #15803d; } .fail { color: #b91c1c; font-weight: bold; } .known { color: #b45309; }
.chart { display: block; margin: 0.5em 0 1.5em; }
"""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "report",
        help="the HTML + Markdown report of the last parity load / parity check runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--release", default=None, help="write reports/<RELEASE>/ (else latest)")
    parser.add_argument(
        "--from", dest="source", type=Path, default=Path("reports/latest"),
        help="where parity load / parity check wrote their results (reports/latest)",
    )  # fmt: skip
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="reports root")
    parser.add_argument(
        "--browser-check", action="store_true",
        help="open the page in headless Chromium: fail on a console error or an empty chart",
    )  # fmt: skip
    parser.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if args.release is not None and not _RELEASE.fullmatch(args.release):
        console.print(
            f"parity report: --release {args.release!r} is not a folder name (letters, digits, "
            "'.', '_', '+', '-'; at most 64)"
        )
        return 2
    out = args.reports / (args.release or "latest")
    try:
        written = write_report(args.source, out, release=args.release or "latest")
    except ReportInputError as exc:
        console.print(f"parity report: {exc}")
        return 2
    console.print(f"report: {written}")
    if args.browser_check:
        return _browser_check(written, console)
    return 0


def _browser_check(page: Path, console: Console) -> int:
    from harness.browser import BrowserError, BrowserMissing, check_page

    try:
        seen = check_page(page)
    except (BrowserMissing, BrowserError) as exc:
        console.print(f"parity report: browser check not made: {exc}")
        return 2
    empty = len(seen.charts) - len(seen.drawn)
    for problem in seen.errors:
        console.print(f"[red]browser[/]: {problem}")
    if empty:
        console.print(f"[red]browser[/]: {empty} of {len(seen.charts)} charts have nothing drawn")
    if seen.errors or empty:
        return 1
    console.print(f"browser check: rendered, {len(seen.drawn)} charts drawn, no console error")
    return 0


class ReportInputError(Exception):
    """Nothing to report, or a results file that cannot be read (named in the message)."""


def read_results(source: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The load runs (``load_*.json``, by scenario name) and the parity run, if any."""
    if not source.is_dir():
        raise ReportInputError(f"{source} is not a folder (run parity load or parity check)")
    loads = []
    for path in sorted(source.glob("load_*.json")):
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ReportInputError(f"{path}: not readable JSON ({exc})") from exc
        if not isinstance(run, dict) or not isinstance(run.get("targets"), list):
            raise ReportInputError(f"{path}: not a parity load result (no targets list)")
        run["_file"] = path.name
        loads.append(run)
    parity = None
    parity_path = source / "parity.json"
    if parity_path.is_file():
        try:
            parity = json.loads(parity_path.read_text())
        except (OSError, ValueError) as exc:
            raise ReportInputError(f"{parity_path}: not readable JSON ({exc})") from exc
    if not loads and parity is None:
        raise ReportInputError(f"{source} holds no load_*.json and no parity.json")
    return loads, parity


def write_report(source: Path, out: Path, *, release: str) -> Path:
    loads, parity = read_results(source)
    out.mkdir(parents=True, exist_ok=True)
    if source.resolve() != out.resolve():
        for run in loads:
            shutil.copy(source / run["_file"], out / run["_file"])
            raw = source / Path(run["_file"]).stem
            if raw.is_dir():
                shutil.copytree(raw, out / raw.name, dirs_exist_ok=True)
        for name in ("parity.json", "parity.md"):
            if (source / name).is_file():
                shutil.copy(source / name, out / name)
    has_md = (out / "parity.md").is_file()
    page = out / "index.html"
    # the folder's other pages (the benchmarks' own reports), linked at the end
    others = sorted(p.name for p in out.glob("*.html") if p.name != "index.html")
    try:
        text = html_page(release, loads, parity, parity_md=has_md, others=others)
        summary = markdown(release, loads, parity)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ReportInputError(
            f"a results file in {source} is not in the shape parity load / parity check "
            f"write ({type(exc).__name__}: {exc})"
        ) from exc
    page.write_text(text)
    (out / "summary.md").write_text(summary)
    return page


# -- figures ------------------------------------------------------------------------------
def routes(target: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in target.get("stats", []) if r.get("Name") != "Aggregated"]


def aggregated(target: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in target.get("stats", []) if r.get("Name") == "Aggregated"]
    return rows[0] if rows else {}


def throughput(target: dict[str, Any]) -> list[tuple[float, float]]:
    """(seconds since the first answer, answers in that second), from the answers the
    Locust processes counted per wall-clock second. The first and last seconds are partial
    (the run began and ended inside them) and are left out."""
    seconds = target.get("per_second") or []
    if len(seconds) < 3:
        return []
    start = seconds[0][0]
    return [(float(t - start), float(n)) for t, n in seconds[1:-1]]


def _label(target: dict[str, Any]) -> str:
    return str(target.get("target", "?"))


def _ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return ""
    return f"{value / base:.2f}x"


def _route_table(run: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Rows: route x target with req/s, its ratio to PocketBase, percentiles, failures."""
    targets = [t for t in run["targets"] if not t.get("error")]
    oracle = next((t for t in targets if t.get("kind") == "pocketbase"), None)
    oracle_rps = {r["Name"]: r.get("Requests/s") for r in oracle["stats"]} if oracle else {}
    header = ["route", "target", "requests", "failures", "req/s", "vs PocketBase"]
    header += [f"p{p.rstrip('%')} ms" for p in PERCENTILES]
    rows = []
    names = list(dict.fromkeys(r["Name"] for t in targets for r in t.get("stats", [])))
    for name in names:
        for t in targets:
            row = next((r for r in t["stats"] if r["Name"] == name), None)
            if row is None:
                continue
            rps = row.get("Requests/s")
            ratio = "" if t is oracle else _ratio(rps, oracle_rps.get(name))
            rows.append(
                [
                    name,
                    _label(t),
                    f"{row.get('Request Count') or 0:,.0f}",
                    f"{row.get('Failure Count') or 0:,.0f}",
                    f"{rps or 0:,.0f}",
                    ratio,
                    *(f"{row.get(p) or 0:,.0f}" for p in PERCENTILES),
                ]
            )
    return header, rows


def _check_rows(run: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, verdict ok/FAIL/known/error, check, detail)."""
    rows = []
    for t in run["targets"]:
        if t.get("error"):
            rows.append((_label(t), "error", "run", str(t["error"])))
            continue
        for c in t.get("checks", []):
            verdict = "ok" if c["ok"] else ("known" if c.get("known") else "FAIL")
            detail = c["detail"] + (
                f" (registered divergence {c['known']})" if c.get("known") else ""
            )
            rows.append((_label(t), verdict, c["name"], detail))
    return rows


# -- HTML -----------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{html.escape(c)}</td>"
            if _NUMERIC.fullmatch(c)
            else f"<td>{html.escape(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _targets_seen(loads: list[dict[str, Any]], parity: dict[str, Any] | None) -> list[list[str]]:
    seen: dict[str, list[str]] = {}
    for run in loads:
        for t in run["targets"]:
            seen.setdefault(_label(t), [_label(t), str(t.get("kind", "")), str(t.get("version"))])
    for t in (parity or {}).get("targets", []):
        seen.setdefault(t["name"], [t["name"], str(t.get("kind", "")), str(t.get("version"))])
    return list(seen.values())


def _parity_html(parity: dict[str, Any], *, parity_md: bool) -> str:
    targets = [t["name"] for t in parity.get("targets", [])]
    rows = []
    for suite, cells in parity.get("matrix", {}).items():
        row = [suite]
        for name in targets:
            counts = cells.get(name, {})
            row.append(", ".join(f"{n} {v}" for v, n in counts.items()) or "-")
        rows.append(row)
    verdict = "passed" if parity.get("ok") else "FAILED"
    link = (
        " (<a href='parity.md'>parity.md</a>: every divergence with its repro)" if parity_md else ""
    )
    return (
        f"<h2>Parity</h2><p>parity check {verdict}, seed {_e(parity.get('seed'))}, "
        f"generated {html.escape(str(parity.get('generated')))}{link}.</p>"
        + _table(["suite", *targets], rows)
    )


def _scenario_html(run: dict[str, Any]) -> str:
    name = str(run.get("scenario"))
    targets = [t for t in run["targets"] if not t.get("error")]
    parts = [
        f"<h2 id='{html.escape(name)}'>Load: {html.escape(name)}</h2>",
        f"<p>{_e(run.get('users'))} Locust users, {_e(_rate(run))}, "
        f"{_e(run.get('duration_s'))} s per target, Locust master + "
        f"{_e(run.get('locust_processes'))} "
        f"worker processes, {html.escape(str(run.get('machine')))}, "
        f"{html.escape(str(run.get('date')))}; the targets ran one after the other under the "
        "same load, the load generator on the same machine.</p>",
    ]
    checks = _check_rows(run)
    if checks:
        cells = "".join(
            f"<tr><td>{html.escape(t)}</td><td class='{_css(v)}'>{html.escape(v)}</td>"
            f"<td>{html.escape(c)}</td><td>{html.escape(d)}</td></tr>"
            for t, v, c, d in checks
        )
        parts.append(
            "<h3>Checked after the run</h3><table><thead><tr><th>target</th><th>verdict</th>"
            f"<th>check</th><th>detail</th></tr></thead><tbody>{cells}</tbody></table>"
        )
    series = {_label(t): throughput(t) for t in targets}
    if any(series.values()):
        parts.append("<h3>Throughput over time</h3>")
        parts.append(
            plots.line_chart(
                f"{name}: requests per second over time",
                series,
                x_label="seconds into the run",
                y_label="requests/s",
            )
        )
    names = list(dict.fromkeys(r["Name"] for t in targets for r in routes(t)))
    if names:
        parts.append("<h3>Latency percentiles per route</h3>")
    for route in names:
        by_target: dict[str, list[float | None]] = {}
        for t in targets:
            row = next((r for r in routes(t) if r["Name"] == route), None)
            by_target[_label(t)] = [row.get(p) if row else None for p in PERCENTILES]
        groups = [f"p{p.rstrip('%')}" for p in PERCENTILES]
        parts.append(f"<h4>{html.escape(route)}</h4>")
        parts.append(plots.grouped_bars(f"{route}: latency (ms)", groups, by_target, unit="ms"))
    header, rows = _route_table(run)
    if rows:
        parts.append("<h3>Side by side</h3>" + _table(header, rows))
    return "".join(parts)


def _e(value: Any) -> str:
    """Any value read from a results file, as HTML text."""
    return html.escape(str(value))


def _rate(run: dict[str, Any]) -> str:
    rate = run.get("rate")
    if not isinstance(rate, int | float):
        rate = 0
    logs = ", request logs off" if run.get("logs") == "off" else ""
    return (f"{rate:,.0f} req/s offered" if rate else "as fast as the users go") + logs


def _css(verdict: str) -> str:
    return {"ok": "ok", "known": "known"}.get(verdict, "fail")


def html_page(
    release: str,
    loads: list[dict[str, Any]],
    parity: dict[str, Any] | None,
    *,
    parity_md: bool = False,
    others: list[str] | None = None,
) -> str:
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    toc = "".join(
        f"<li><a href='#{html.escape(str(r['scenario']))}'>{html.escape(str(r['scenario']))}</a>"
        "</li>"
        for r in loads
    )
    body = [
        f"<h1>PocketParity report {html.escape(release)}</h1>",
        f"<p>Generated {generated} by <code>parity report</code>.</p>",
        "<h2>Targets</h2>" + _table(["target", "kind", "version"], _targets_seen(loads, parity)),
    ]
    if toc:
        body.append(f"<ul>{toc}</ul>")
    if parity is not None:
        body.append(_parity_html(parity, parity_md=parity_md))
    body += [_scenario_html(run) for run in loads]
    if others:
        items = "".join(f"<li><a href='{html.escape(n)}'>{html.escape(n)}</a></li>" for n in others)
        body.append(f"<h2>More in this folder</h2><ul>{items}</ul>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>PocketParity report {html.escape(release)}</title><style>{_CSS}</style>"
        f"</head><body>{''.join(body)}</body></html>"
    )


# -- Markdown ------------------------------------------------------------------------------------
def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(release: str, loads: list[dict[str, Any]], parity: dict[str, Any] | None) -> str:
    lines = [f"# PocketParity report {release}", ""]
    lines += [_md_table(["target", "kind", "version"], _targets_seen(loads, parity)), ""]
    if parity is not None:
        verdict = "passed" if parity.get("ok") else "FAILED"
        lines += [f"## Parity: {verdict} (details: parity.md)", ""]
    for run in loads:
        lines += [
            f"## Load: {run.get('scenario')}",
            "",
            f"{run.get('users')} users, {_rate(run)}, "
            f"{run.get('duration_s')} s per target, {run.get('machine')}, {run.get('date')}.",
            "",
        ]
        checks = [list(row) for row in _check_rows(run)]
        if checks:
            lines += [_md_table(["target", "verdict", "check", "detail"], checks), ""]
        header, rows = _route_table(run)
        if rows:
            lines += [_md_table(header, rows), ""]
    lines.append("Plots: index.html.")
    return "\n".join(lines) + "\n"
