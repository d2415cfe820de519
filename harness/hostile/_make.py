"""Small helpers the category builders share: JSON bodies, expectations, scratch names."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from harness.hostile.case import (
    OK,
    Actor,
    Body,
    Case,
    Expect,
    Pattern,
    Shape,
    StatusClass,
    json_case,
)

ExpectSpec = int | str | list[int]
_CLASSES: dict[str, StatusClass] = {"2xx": "2xx", "4xx": "4xx", "ok": "ok"}


def dumps(value: Any) -> bytes:
    """JSON as UTF-8; lone surrogates (from TOML ``\\U`` ranges) stay as JSON escapes."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def expect_of(spec: ExpectSpec | None, default: Expect = OK, shape: Shape = "auto") -> Expect:
    """``400`` / ``[200, 400]`` / ``"2xx"`` / ``"4xx"`` / ``"ok"`` (a catalog entry) -> Expect."""
    if spec is None:
        return default
    if isinstance(spec, int):
        return Expect((spec,), shape)
    if isinstance(spec, list):
        return Expect(tuple(spec), shape)
    if spec in _CLASSES:
        return Expect(_CLASSES[spec], shape)
    raise ValueError(f"bad expectation {spec!r} in the hostile catalog")


def qv(text: str) -> str:
    """Percent-encode a query value (every byte outside the unreserved set; UTF-8)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def qparam(name: str, value: str) -> str:
    return f"{name}={qv(value)}"


def short(text: str, limit: int = 40) -> str:
    """A case-name-friendly rendering of an odd value: escapes visible, long values cut."""
    shown = "".join(
        ch if " " <= ch <= "~" else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )
    return shown if len(shown) <= limit else f"{shown[:limit]}...({len(text)} chars)"


@dataclass
class Builder:
    """Collects one category's cases; names stay unique (a repeat gets ``#2``)."""

    category: str
    seed: int = 0
    cases: list[Case] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)

    def add(self, case: Case) -> Case:
        count = self._seen.get(case.name, 0) + 1
        self._seen[case.name] = count
        if count > 1:
            case = Case(**{**case.__dict__, "what": f"{case.what} #{count}"})
        self.cases.append(case)
        return case

    def diverging(self, case: Case, key: str, reference: Expect) -> Case:
        """Mark ``case`` (already added) as the registered divergence ``key``: the targets
        the registry names answer ``reference`` and are judged by it."""
        from harness.hostile.runner import registry

        registry().get(key)  # an unknown key fails the catalog build
        marked = dataclasses.replace(case, divergence=key, reference=reference)
        self.cases[self.cases.index(case)] = marked
        return marked

    def json(
        self,
        method: str,
        what: str,
        path: str,
        body: Body | Any,
        expect: Expect = OK,
        *,
        actor: Actor = "superuser",
        quick: bool = True,
        generated: bool = False,
        query: str = "",
    ) -> Case:
        """A JSON request; ``body`` is raw bytes, a Pattern, or a value to serialise."""
        payload: Body = body if isinstance(body, bytes | Pattern) else dumps(body)
        return self.add(
            json_case(
                self.category,
                method,
                what,
                path,
                payload,
                expect,
                actor=actor,
                seed=self.seed if generated else None,
                quick=quick,
                query=query,
            )
        )

    def get(
        self,
        what: str,
        path: str,
        expect: Expect = OK,
        *,
        query: str = "",
        actor: Actor = "superuser",
        quick: bool = True,
        method: str = "GET",
        generated: bool = False,
    ) -> Case:
        """A request without a body (GET by default, DELETE/HEAD/... via ``method``)."""
        return self.add(
            Case(
                self.category,
                method,
                what,
                path,
                expect,
                actor,
                query,
                seed=self.seed if generated else None,
                quick=quick,
            )
        )
