"""Send hostile cases to one target, classify every answer, check the target survived.

Each answer is one of: ``ok`` (as expected), ``5xx``, ``hang`` (no answer within the
per-request timeout) or ``mismatch`` (another status class, another body shape, or the
connection dropped). After every category the intact checks run (health within 2 s,
superuser login, collections and the posts fixture listable, seeded posts unchanged, the
posts count unchanged unless the category writes posts). A hang, a dead server or a failed
intact check restarts the target into a fresh state (``_restart``) so that the next cases
and categories are counted on a working server rather than on the wreck of an earlier one.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from harness import divergences
from harness.hostile import _wire, fixtures, shape
from harness.hostile._restart import can_restart, restart
from harness.hostile.case import Case, Category
from harness.http import HEALTH_PATH, superuser_token
from harness.targets.base import Target, TargetStartError

Outcome = Literal["ok", "5xx", "hang", "mismatch"]
Answer = httpx.Response | _wire.WireResponse
TIMEOUT = 10.0  # per request; a timeout is a hang
HEALTH_TIMEOUT = 2.0
RSS_BODY_BYTES = 1_000_000  # sample the server's memory while sending bodies this large
_BODY_EXCERPT = 300
_HTTPX_MAX_URL = 65_000  # httpx raises InvalidURL("URL too long") past 64 KiB
# Everything else is percent-encoded before httpx sees the URL, so httpx sends it unchanged
# and the curl repro (``repro.curl``) can print the very same bytes.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/%:@!$&'()*+,;=-._~?"


def encode_path(path: str) -> str:
    """A case's path as sent: non-ASCII as UTF-8 (lone surrogates too), escapes kept."""
    return quote(path.encode("utf-8", "surrogatepass"), safe=_PATH_SAFE)


def encode_query(query: str) -> str:
    """A case's query as sent: already percent-encoded; only unsafe characters escaped."""
    return quote(query.encode("utf-8", "surrogatepass"), safe=_QUERY_SAFE)


@dataclass
class Result:
    case: Case
    target: str
    outcome: Outcome
    status: int | None
    seconds: float
    detail: str = ""
    body: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Check:
    """One intact check: what was checked, after which case (or the whole category)."""

    name: str
    ok: bool
    detail: str = ""
    after: str = "category"


@dataclass
class CategoryRun:
    category: Category
    target: TargetRun
    results: list[Result] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, case: Case, client: httpx.Client | None = None) -> Result:
        """Send one case (thread-safe with a client of the caller's own) and record it."""
        result = self.target.send(case, client)
        with self._lock:
            self.results.append(result)
        return result

    def client(self) -> httpx.Client:
        """A new client for a driver's thread (the caller closes it)."""
        return self.target.new_client()

    def recover(self, result: Result) -> None:
        """After a hang or a dropped connection: health check, then restart the target."""
        healthy = self.target.healthy()
        self.checks.append(
            Check(
                "health within 2 s",
                healthy is None,
                healthy or "",
                after=f"{result.outcome}: {result.case.name}",
            )
        )
        if healthy is not None or result.outcome == "hang":
            self.restart(f"{result.outcome} on {result.case.name!r}", hung=True)

    def restart(self, reason: str, *, hung: bool = False) -> None:
        if not can_restart(self.target.target):
            self.restarts.append(f"{reason} (not restartable)")
            return
        self.restarts.append(reason)
        self.target.restart(hung=hung)

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


class TargetRun:
    """One target under hostile load: its client, fixtures and tokens, restarts."""

    def __init__(
        self,
        label: str,
        target: Target,
        *,
        kind: str,
        timeout: float = TIMEOUT,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self.label = label
        self.target = target
        self.kind = kind
        self.timeout = timeout
        self._on_restart = on_restart
        self._client: httpx.Client | None = None
        self._tokens: fixtures.Tokens | None = None

    # -- connection and fixtures ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.target.base_url

    def new_client(self) -> httpx.Client:
        # A fresh connection per request: a server may close a connection after answering
        # a bad request (uvicorn does after a 500), and a pooled one would then fail the
        # next, innocent case with a reset instead of its own answer.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        return httpx.Client(base_url=self.base_url, timeout=self.timeout, limits=no_reuse)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    @property
    def tokens(self) -> fixtures.Tokens:
        if self._tokens is None:
            email, password = self.target.superuser
            token = superuser_token(self.base_url, email, password, timeout=self.timeout)
            self._tokens = fixtures.setup(self.client, token)
        return self._tokens

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def restart(self, *, hung: bool = False) -> None:
        """Restart the target into a fresh state and set the fixtures up again."""
        self.close()
        self._tokens = None
        restart(self.target, hung=hung)
        if self._on_restart is not None:
            self._on_restart()
        try:
            self.tokens  # noqa: B018 - guests never ask for a token; set the fixtures up now
        except Exception as exc:  # a transport error, a FixtureError, a failed login
            raise TargetStartError(f"fixtures after the restart: {exc}") from exc

    # -- one request ---------------------------------------------------------------------
    def url(self, case: Case) -> str:
        path = encode_path(case.path.format_map(fixtures.PLACEHOLDERS))
        query = case.query_text()
        return self.base_url + path + ("?" + encode_query(query) if query else "")

    def headers(self, case: Case) -> list[tuple[bytes, bytes]]:
        headers = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in case.headers]
        if case.actor == "superuser":
            headers.append((b"Authorization", self.tokens.superuser.encode()))
        elif case.actor == "user":
            headers.append((b"Authorization", self.tokens.user.encode()))
        headers += [(f"X-Hx-{n}".encode(), b"v") for n in range(case.flood)]
        return headers

    def send(self, case: Case, client: httpx.Client | None = None) -> Result:
        body = case.body_bytes()
        url, headers = self.url(case), self.headers(case)
        big = body is not None and len(body) >= RSS_BODY_BYTES
        sampler = _RssSampler(self.pid) if big else None
        began = time.monotonic()
        try:
            with sampler or _nothing():
                answer = self._exchange(client or self.client, case.method, url, headers, body)
        except (httpx.TimeoutException, _wire.WireTimeout) as exc:
            detail = f"no answer in {self.timeout:g} s ({exc!r})"
            return self._result(case, "hang", None, began, detail, sampler)
        except (httpx.TransportError, _wire.WireError) as exc:
            if case.expect.closed:
                detail = f"connection closed ({exc!r})"
                return self._result(case, "ok", None, began, detail, sampler)
            return self._result(case, "mismatch", None, began, f"no answer: {exc!r}", sampler)
        deviates = bool(case.divergence) and registry().get(case.divergence).deviates(self.label)
        outcome, status, detail = _classify(case, answer, deviates)
        result = self._result(case, outcome, status, began, detail, sampler)
        result.body = answer.content[:_BODY_EXCERPT].decode("utf-8", "replace")
        return result

    def _exchange(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
    ) -> Answer:
        if len(url) > _HTTPX_MAX_URL:  # httpx refuses to build it; send it by hand
            return _wire.send(url, method, headers, body, self.timeout)
        return client.send(client.build_request(method, url, content=body, headers=headers))

    def _result(
        self,
        case: Case,
        outcome: Outcome,
        status: int | None,
        began: float,
        detail: str,
        sampler: _RssSampler | None,
    ) -> Result:
        result = Result(case, self.label, outcome, status, time.monotonic() - began, detail)
        if sampler is not None:
            result.extra.update(sampler.summary())
        return result

    @property
    def pid(self) -> int | None:
        pid = getattr(self.target, "pid", None)
        return pid if isinstance(pid, int) else None

    # -- checks ----------------------------------------------------------------------------
    def healthy(self) -> str | None:
        """None when ``GET /api/health`` answers 200 within 2 s, else what happened."""
        try:
            response = httpx.get(self.base_url + HEALTH_PATH, timeout=HEALTH_TIMEOUT)
        except httpx.HTTPError as exc:
            return f"GET {HEALTH_PATH}: {exc!r}"
        return (
            None if response.status_code == 200 else f"GET {HEALTH_PATH} -> {response.status_code}"
        )

    def login_problem(self) -> str | None:
        email, password = self.target.superuser
        try:
            superuser_token(self.base_url, email, password, timeout=self.timeout)
        except Exception as exc:  # ServerCheckError or a transport error: both mean "no"
            return str(exc)[:300]
        return None

    def intact(self, category: Category, posts_before: int | None) -> list[Check]:
        """The checks after a category: alive, logged-in, fixtures listable and unchanged."""
        checks = [Check("health within 2 s", *_ok(self.healthy()))]
        checks.append(Check("superuser login", *_ok(self.login_problem())))
        token = self.tokens.superuser
        for name, path in (
            ("collections listable", "/api/collections"),
            ("posts listable", f"/api/collections/{fixtures.POSTS}/records"),
        ):
            try:
                response = self.client.get(path, headers={"Authorization": token})
                problem = (
                    None
                    if response.status_code == 200
                    else f"{response.status_code}: {response.text[:200]}"
                )
            except httpx.HTTPError as exc:
                problem = repr(exc)
            checks.append(Check(name, *_ok(problem)))
        try:
            changed = fixtures.seed_differences(self.client, token)
            checks.append(Check("seeded posts intact", not changed, "; ".join(changed)))
            if not category.writes and posts_before is not None:
                now = fixtures.count(self.client, token)
                detail = f"{posts_before} before, {now} after"
                checks.append(Check("posts count unchanged", now == posts_before, detail))
        except (httpx.HTTPError, fixtures.FixtureError) as exc:
            checks.append(Check("seeded posts intact", False, str(exc)[:300]))
        return checks

    def posts_count(self) -> int | None:
        try:
            return fixtures.count(self.client, self.tokens.superuser)
        except (httpx.HTTPError, fixtures.FixtureError):
            return None

    # -- a category ----------------------------------------------------------------------
    def run_category(
        self, category: Category, *, seed: int = 0, quick: bool = False, only: str | None = None
    ) -> CategoryRun:
        """Run one category (``only``: just the case of that name), then the intact checks."""
        run = CategoryRun(category, self)
        began = time.monotonic()
        try:
            self.tokens  # noqa: B018 - fixtures first: a target that cannot take them fails here
        except Exception as exc:  # a transport error, a FixtureError or a failed login
            run.checks.append(Check("fixtures set up", False, str(exc)[:300], after="start"))
            self._restart_into(run, f"fixture setup failed: {str(exc)[:120]}")
        before = self.posts_count()
        if category.driver is not None:
            category.driver(run, seed, quick)
        else:
            self._run_cases(run, (c for c in category.cases if only is None or c.name == only))
        if run.restarts:
            before = None  # a restarted target starts from the seeded rows again: no count
        final = self.intact(category, before)
        try:
            fixtures.restore(self.client, self.tokens.superuser)
        except Exception as exc:  # as above: whatever stops the restore is a failed check
            final.append(Check("fixtures restored", False, str(exc)[:300]))
        run.checks += final
        if any(not c.ok for c in final):
            self._restart_into(run, "failed intact checks after the category")
        run.seconds = time.monotonic() - began
        return run

    def _run_cases(self, run: CategoryRun, cases: Iterable[Case]) -> None:
        for case in cases:
            result = run.send(case)
            if result.status is None:  # a hang or a dropped connection: is it still alive?
                self._recover(run, result)
            elif run.category.check_each:
                problem = self.healthy() or self.login_problem()
                if problem is not None:
                    run.checks.append(Check("alive and superuser login", False, problem, case.name))
                    self._restart_into(run, f"superuser login broken after {case.name!r}")

    def _recover(self, run: CategoryRun, result: Result) -> None:
        try:
            run.recover(result)
        except TargetStartError as exc:
            run.checks.append(Check("restart", False, str(exc)[:300], result.case.name))

    def _restart_into(self, run: CategoryRun, reason: str) -> None:
        try:
            run.restart(reason)
        except TargetStartError as exc:
            run.checks.append(Check("restart", False, str(exc)[:300]))


def _ok(problem: str | None) -> tuple[bool, str]:
    return (problem is None, problem or "")


@functools.cache
def registry() -> divergences.Registry:
    return divergences.load()


def _classify(case: Case, response: Answer, deviates: bool) -> tuple[Outcome, int, str]:
    status = response.status_code
    if status >= 500:
        return "5xx", status, ""
    expect = case.expected_from(deviates)
    known = f" (known divergence {case.divergence})" if expect is not case.expect else ""
    if not expect.status_ok(status):
        return "mismatch", status, f"status {status}, expected {expect.describe()}{known}"
    problem = shape.check(expect.shape, status, response.content, head=case.method == "HEAD")
    if problem is not None:
        return "mismatch", status, f"body: {problem}"
    return "ok", status, ""


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _RssSampler:
    """The server's resident memory before, at peak (sampled every 20 ms) and after."""

    def __init__(self, pid: int | None) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.before: int | None = None
        self.peak: int | None = None
        self.after: int | None = None

    def _rss(self) -> int | None:
        if self._pid is None:
            return None
        try:
            import psutil

            return int(psutil.Process(self._pid).memory_info().rss)
        except Exception:  # psutil missing, or the process is gone: no figure
            return None

    def __enter__(self) -> _RssSampler:
        self.before = self.peak = self._rss()
        if self.before is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            rss = self._rss()
            if rss is not None and (self.peak is None or rss > self.peak):
                self.peak = rss

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.after = self._rss()

    def summary(self) -> dict[str, Any]:
        if self.before is None:
            return {"rss": "unavailable (no server pid)"}
        return {"rss_before": self.before, "rss_peak": self.peak, "rss_after": self.after}
