"""Hostile cases as data: one request, who sends it, and what an acceptable answer looks like.

A case is exactly the bytes that go on the wire (path, percent-encoded query, headers, raw
body), so invalid UTF-8, a BOM or 50 MB of filler can be expressed; a large body or query is
a ``Pattern`` (parts repeated), which is cheap to keep and prints as a short generator in
the curl repro. Expectations are a status class plus a body shape (``harness.hostile.shape``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from harness.hostile.runner import CategoryRun

Actor = Literal["guest", "superuser", "user"]
Shape = Literal["auto", "error", "record", "list", "collection", "json", "empty", "any"]
StatusClass = Literal["2xx", "4xx", "ok"]  # "ok": anything but 5xx (2xx or 4xx)


@dataclass(frozen=True)
class Pattern:
    """Bytes built from ``(chunk, repeat)`` parts: a 50 MB body, a 10,000-level array."""

    parts: tuple[tuple[bytes, int], ...]
    source: str = ""  # a shorter Python expression for the same bytes, when parts are many

    def build(self) -> bytes:
        return b"".join(chunk * count for chunk, count in self.parts)

    def size(self) -> int:
        return sum(len(chunk) * count for chunk, count in self.parts)

    def python(self) -> str:
        """A Python expression that builds the same bytes (for the repro)."""
        if self.source:
            return self.source
        terms = [repr(chunk) + (f" * {count}" if count != 1 else "") for chunk, count in self.parts]
        return " + ".join(terms)


def repeat(prefix: bytes, unit: bytes, count: int, suffix: bytes = b"") -> Pattern:
    """``prefix + unit * count + suffix``."""
    return Pattern(((prefix, 1), (unit, count), (suffix, 1)))


def deep(
    prefix: bytes, opener: bytes, inner: bytes, closer: bytes, depth: int, suffix: bytes = b""
) -> Pattern:
    """``prefix + opener * depth + inner + closer * depth + suffix`` (nesting ``depth`` levels)."""
    return Pattern(((prefix, 1), (opener, depth), (inner, 1), (closer, depth), (suffix, 1)))


Body = bytes | Pattern


@dataclass(frozen=True)
class Expect:
    """An acceptable answer: a status class or exact codes, and a body shape.

    ``shape="auto"`` means: an error body (``{"data":{},"message":str,"status":int}``) on
    4xx, strictly valid JSON on 2xx (204 and HEAD: empty). ``closed`` accepts the server
    closing the connection instead of answering (what an HTTP server may do to a request
    it refuses to read, such as a 50 MB body).
    """

    status: StatusClass | tuple[int, ...] = "ok"
    shape: Shape = "auto"
    closed: bool = False

    def status_ok(self, code: int) -> bool:
        if isinstance(self.status, tuple):
            return code in self.status
        if self.status == "2xx":
            return 200 <= code < 300
        if self.status == "4xx":
            return 400 <= code < 500
        return code < 500

    def describe(self) -> str:
        status = (
            "/".join(str(c) for c in self.status) if isinstance(self.status, tuple) else self.status
        )
        return f"{status} {self.shape}" + (" (or connection closed)" if self.closed else "")


OK = Expect()
OK_2XX = Expect("2xx")
REJECT = Expect("4xx", "error")


def codes(*status: int, shape: Shape = "auto") -> Expect:
    return Expect(tuple(status), shape)


@dataclass(frozen=True)
class Case:
    """One request of the catalog; ``name`` is ``"<METHOD> <what> (<actor>)"``.

    ``path`` may hold the fixture placeholders of ``harness.hostile.fixtures.PLACEHOLDERS``
    (``{coll}`` for the posts collection). ``query`` is sent as is (already percent-encoded:
    ``fields=%FF`` stays ``%FF``). ``seed`` is set on generated variants: the catalog built
    with that seed contains the same case. ``flood`` adds that many ``X-Hx-N: v`` headers.
    """

    category: str
    method: str
    what: str
    path: str
    expect: Expect = OK
    actor: Actor = "superuser"
    query: str | Pattern = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: Body | None = None
    flood: int = 0
    seed: int | None = None
    quick: bool = True
    # A registered divergence (harness/divergences.toml): the reference targets answer
    # ``reference`` instead of ``expect`` (PocketBase's answer) and are judged by it.
    divergence: str = ""
    reference: Expect | None = None

    def expected_from(self, deviates: bool) -> Expect:
        """``reference`` on a target the divergence names, else PocketBase's ``expect``."""
        return self.reference if deviates and self.reference is not None else self.expect

    @property
    def name(self) -> str:
        return f"{self.method} {self.what} ({self.actor})"

    @property
    def key(self) -> str:
        return f"{self.category}/{self.name}"

    def body_bytes(self) -> bytes | None:
        if self.body is None:
            return None
        return self.body.build() if isinstance(self.body, Pattern) else self.body

    def query_text(self) -> str:
        if isinstance(self.query, Pattern):
            return self.query.build().decode("latin-1")
        return self.query


JSON_HEADERS: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


def json_case(
    category: str,
    method: str,
    what: str,
    path: str,
    body: Body,
    expect: Expect = OK,
    *,
    actor: Actor = "superuser",
    seed: int | None = None,
    quick: bool = True,
    query: str = "",
) -> Case:
    """A case with a raw body sent as ``Content-Type: application/json``."""
    return Case(
        category,
        method,
        what,
        path,
        expect,
        actor,
        query,
        JSON_HEADERS,
        body,
        seed=seed,
        quick=quick,
    )


# A category that is not a list of independent requests (concurrent writers against schema
# changes) supplies a driver: it gets the category run and sends what it likes through it.
Driver = Callable[["CategoryRun", int, bool], None]


@dataclass(frozen=True)
class Category:
    """A named group of cases, run in order on one target, followed by the intact checks.

    ``writes``: the category may add or remove posts (``{coll}``) records, so the count
    check after it is skipped (the seeded rows must still be there unchanged either way).
    ``check_each``: run the cheap intact checks (health, superuser login) after every case,
    so a case that breaks the server is named and the target restarted before the next one.
    ``driver``: a category that is not a list of requests sends its own (``concurrency``).
    """

    name: str
    cases: Sequence[Case] = field(default_factory=tuple)
    writes: bool = False
    check_each: bool = False
    driver: Driver | None = None
    compare: bool = True  # False: statuses depend on timing, so no diff against PocketBase
    summary: str = ""
