"""Make two servers' responses comparable: replace what is random, keep what is contract.

One ``Normaliser`` lives for one scenario run on one target, so placeholders are consistent
across all of that run's responses. The rules, and why each value is or is not replaced:

- **Record ids** (15 chars ``[a-z0-9]``, random per server) become ``<id:N>``. N is the
  creation order: ids of setup records are registered first, in insertion order
  (``register_id``), then ids found in responses in the order they first appear under a key
  ``id`` or ending in ``Id`` (``otpId``, ``mfaId``), except field ids (``FIELD_ID_RE``).
  Every string equal to a known id,
  anywhere in a body (relation values, ``expand``), and every known id inside a longer string
  is replaced too, so references line up across targets.
- **Collection and field ids are kept raw.** PocketBase derives them deterministically
  (``pbc_`` + crc32(type+name), ``text`` + crc32(name)); scenario collection names are
  deterministic, so a server that derives them differently is a real divergence.
- **Server-made timestamps** (``YYYY-MM-DD HH:MM:SS.mmmZ`` within ``TIMESTAMP_WINDOW`` of the
  wall clock) become ``<ts>``. Timestamps a scenario wrote itself (dates far from "now")
  are kept, because their storage format is part of the contract: scenarios must use dates
  at least a day away from the run.
- **JWTs** become ``<token:TYPE>`` (the ``type`` claim: ``auth``, ``file``, ...); the claims
  hold random ids and ``exp``, the type is contract.
- **Uploaded file names** (``<sanitised name>_<10 random [a-z0-9]>.<ext>``, PocketBase's
  ``normalizeName``) keep the sanitised name and extension, which are contract; the random
  part becomes ``<rnd:N>`` in order of first appearance, in bodies, paths and captured
  headers alike (``FILE_NAME_RE``). Only names with an extension are recognised, and a
  name shorter than 3 characters gets a second random part that stays raw: scenarios
  upload names like ``hello.txt``.
- **Volatile keys** (``VOLATILE_KEYS``: secrets and durations) become a fixed placeholder
  when they hold a value (an error object under the same key, ``data.clientId``, is kept).
- **Numbers** are parsed exactly (ints as ``int``, fractions as ``Decimal``), never floats:
  PocketBase's float64 rounding of 2^53+1 is a difference we must see.

Key order is kept as the server sent it (dicts preserve insertion order); ``harness.differ``
decides where order is compared.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

ID_RE = re.compile(r"^[a-z0-9]{15}$")
# PocketBase field ids are the type name + crc32(name) digits: "number" + 9 digits is also
# 15 chars of [a-z0-9], so these are excluded from record ids.
FIELD_ID_RE = re.compile(
    r"^(text|number|bool|email|url|editor|date|autodate|select|file|relation|json|password)\d+$"
)
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z")
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
BCRYPT_RE = re.compile(r"^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$")
# <name>_<random>.<ext>: the random part is group 1; the name before it is [a-z0-9_].
FILE_NAME_RE = re.compile(r"(?<=[a-z0-9])_([a-z0-9]{10})(?=\.[A-Za-z0-9*+=#-])")
TIMESTAMP_WINDOW = timedelta(days=1)
INLINE_WIDTH = 88  # dumps(indent=...) writes containers this short on one line

# Values that are random or time-dependent by design; the key name is the contract.
VOLATILE_KEYS: dict[str, str] = {
    "tokenKey": "<tokenKey>",  # hidden auth secret, [a-zA-Z0-9]{50}
    "clientId": "<clientId>",  # realtime client id, 40 random chars
    "execTime": "<duration>",  # POST /api/sql timing
}

Json = Any  # parsed JSON: None | bool | int | Decimal | str | list[Json] | dict[str, Json]


def loads(text: str) -> Json:
    """Parse JSON keeping every number exact (ints stay ints, fractions become Decimal)."""
    return json.loads(text, parse_float=Decimal)


def parse_body(text: str) -> Json:
    """A response body: parsed JSON (numbers exact), the text itself if it is not JSON,
    None when empty."""
    if not text:
        return None
    try:
        return loads(text)
    except ValueError:
        return text


def dumps(value: Json, indent: int | None = None) -> str:
    """Serialise parsed JSON back, writing Decimals verbatim (``json`` would need floats)."""
    return "\n".join(_dump_lines(value, indent, 0)) if indent else "".join(_dump_lines(value))


def _dump_lines(value: Json, indent: int | None = None, level: int = 0) -> list[str]:
    if isinstance(value, Decimal):
        return [str(value)]
    if indent is not None:  # pretty, but keep small containers on one line
        compact = "".join(_dump_lines(value))
        if len(compact) + indent * level <= INLINE_WIDTH:
            return [compact]
    if isinstance(value, dict) and value:
        parts = [
            (json.dumps(k, ensure_ascii=False), _dump_lines(v, indent, level + 1))
            for k, v in value.items()
        ]
        if indent is None:
            return ["{" + ", ".join(f"{k}: {''.join(v)}" for k, v in parts) + "}"]
        pad = " " * indent * (level + 1)
        lines = ["{"]
        for n, (k, v) in enumerate(parts):
            comma = "," if n < len(parts) - 1 else ""
            lines.append(f"{pad}{k}: {v[0]}")
            lines.extend(v[1:])
            lines[-1] += comma
        return [*lines, " " * indent * level + "}"]
    if isinstance(value, list) and value:
        items = [_dump_lines(v, indent, level + 1) for v in value]
        if indent is None:
            return ["[" + ", ".join("".join(v) for v in items) + "]"]
        pad = " " * indent * (level + 1)
        lines = ["["]
        for n, v in enumerate(items):
            lines.append(pad + v[0])
            lines.extend(v[1:])
            lines[-1] += "," if n < len(items) - 1 else ""
        return [*lines, " " * indent * level + "]"]
    return [json.dumps(value, ensure_ascii=False)]


def to_plain(value: Json) -> Any:
    """Parsed JSON with Decimals turned into float when lossless, else str (for reports)."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


class Normaliser:
    """Replaces random values with stable placeholders for one scenario run on one target."""

    def __init__(self, now: datetime | None = None) -> None:
        self.ids: dict[str, str] = {}
        self.file_parts: dict[str, str] = {}  # random part of a stored file name -> <rnd:N>
        self._now = now

    def register_id(self, value: str) -> str:
        """Give ``value`` the next ``<id:N>`` unless it already has one; return the placeholder."""
        if value not in self.ids:
            self.ids[value] = f"<id:{len(self.ids) + 1}>"
        return self.ids[value]

    def register_ids(self, values: Iterable[str]) -> None:
        for value in values:
            self.register_id(value)

    def body(self, value: Json) -> Json:
        """Normalise a parsed JSON body (first registering the ids it introduces)."""
        self._collect_ids(value)
        return self._replace(value, None)

    def answer(self, raw: Json) -> Json:
        """A parsed response body (``parse_body``) normalised: JSON, or text as text."""
        return self.text(raw) if isinstance(raw, str) else self.body(raw)

    def text(self, value: str) -> str:
        """Normalise a string (a non-JSON body, a URL, a string inside a body)."""
        if value in self.ids:
            return self.ids[value]
        if BCRYPT_RE.match(value):
            return "<hash>"
        value = JWT_RE.sub(_token_placeholder, value)
        value = TIMESTAMP_RE.sub(self._timestamp, value)
        value = FILE_NAME_RE.sub(self._file_part, value)
        for raw, placeholder in self.ids.items():
            if raw in value:
                value = value.replace(raw, placeholder)
        return value

    def _collect_ids(self, value: Json) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if (
                    isinstance(v, str)
                    and (k == "id" or k.endswith("Id"))
                    and ID_RE.match(v)
                    and not FIELD_ID_RE.match(v)
                ):
                    self.register_id(v)
                else:
                    self._collect_ids(v)
        elif isinstance(value, list):
            for v in value:
                self._collect_ids(v)

    def _replace(self, value: Json, key: str | None) -> Json:
        if key in VOLATILE_KEYS and value not in (None, "") and not isinstance(value, dict | list):
            return VOLATILE_KEYS[key]
        if isinstance(value, dict):
            return {k: self._replace(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._replace(v, key) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _file_part(self, match: re.Match[str]) -> str:
        placeholder = self.file_parts.setdefault(
            match.group(1), f"<rnd:{len(self.file_parts) + 1}>"
        )
        return "_" + placeholder

    def _timestamp(self, match: re.Match[str]) -> str:
        raw = match.group(0)
        stamp = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S.%fZ").replace(tzinfo=UTC)
        now = self._now or datetime.now(UTC)
        return "<ts>" if abs(stamp - now) <= TIMESTAMP_WINDOW else raw


def _token_placeholder(match: re.Match[str]) -> str:
    """``<token:TYPE>`` from the JWT's ``type`` claim, or ``<token>`` if it can't be read."""
    try:
        payload = match.group(0).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        kind = claims.get("type") if isinstance(claims, dict) else None
    except ValueError:
        kind = None
    return f"<token:{kind}>" if isinstance(kind, str) else "<token>"
