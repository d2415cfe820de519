"""JSON input as PocketBase 0.40 reads it (Go's ``encoding/json/v2``), checked before
anything is stored.

Every JSON text a client sends (request bodies, ``@jsonPayload`` parts, a json field given
as a string) is decoded here, so nothing that cannot be written back out reaches a
transaction. Refused, as PocketBase refuses them (verified on 0.40.6), where Python's
``json.loads`` would accept them:

- ``NaN``, ``Infinity``, ``-Infinity``: not JSON (Python would later emit
  ``"tags":Infinity``, invalid JSON);
- a number beyond float64 (``1e400``): Go's "value out of range" (Python: ``inf``);
- invalid UTF-8, and lone UTF-16 surrogates (``"\\ud800"``) in values or keys: Python makes
  strings no database driver or encoder can write;
- duplicate object keys (``{"a":1,"a":2}``): json v2 rejects them;
- nesting deeper than :data:`MAX_DEPTH` (counting the outer object, as Go does). Go allows
  10,000 levels; Python's C decoder and encoder recurse once per level under a limit of
  their own on 3.12 (measured: 2,000 levels fail there, 10,000 on 3.13), so the reference
  stops at 1,000 levels, which every supported Python decodes, stores, reads back and
  encodes on both engines. Registered as the divergence ``json-nesting-depth``. The
  Python-level walks of a record (``jsonfmt``, ``picker``) recurse too: the interpreter's
  limit is raised here to leave room for them above the server's own stack.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

MAX_DEPTH = 1000
# Python-level recursion does not grow the C stack on 3.11+; this covers a MAX_DEPTH value
# walked by a few functions per level above the frames of the server itself.
_RECURSION_ROOM = 10 * MAX_DEPTH
if sys.getrecursionlimit() < _RECURSION_ROOM:
    sys.setrecursionlimit(_RECURSION_ROOM)

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")  # the regex engine reads the escapes
# One scan of the text for anything that may decode to a lone surrogate: an escape of one,
# or one already there (undecodable bytes under surrogateescape).
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


class JsonInputError(ValueError):
    """Why a JSON text was refused (the API answers 400 with its own message)."""


def _constant(name: str) -> Any:
    raise JsonInputError(f"invalid JSON token {name}")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonInputError(f"number {text[:40]} is out of the float64 range")
    return value


_FLOAT64_MAX = 1.7976931348623157e308


def _int(text: str) -> int:
    value = int(text)
    if abs(value) > _FLOAT64_MAX:  # Go decodes every number into a float64
        raise JsonInputError(f"number {text[:40]}... is out of the float64 range")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise JsonInputError("duplicate object member name")
    return value


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float, object_pairs_hook=_object)
# Integers with 309+ digits exceed float64: checked only when the text has such a run.
_BIG_INT_DECODER = json.JSONDecoder(
    parse_constant=_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_object
)
_LONG_DIGITS = re.compile(r"[0-9]{309}")
_JSON_SPACE = " \t\n\r"


def loads(raw: bytes | str, *, first_value: bool = False) -> Any:
    """Decode one JSON text (see the module docstring); raises :class:`JsonInputError`.

    ``first_value``: what PocketBase's ``BindBody`` reads: the first value, whatever
    follows it (``{"a":1} garbage`` is ``{"a":1}``). A byte order mark is a syntax error.
    """
    try:
        # Invalid UTF-8 is an error inside the value but not after it (the decoder stops at
        # the value's end): undecodable bytes become lone surrogates, refused below if the
        # value holds one; BindBody never reads what follows.
        errors = "surrogateescape" if first_value else "strict"
        text = raw.decode("utf-8", errors) if isinstance(raw, bytes) else raw
        decoder = _BIG_INT_DECODER if _LONG_DIGITS.search(text) else _DECODER
        if first_value:
            start = len(text) - len(text.lstrip(_JSON_SPACE))
            value = decoder.raw_decode(text, start)[0]
        else:
            value = decoder.decode(text)
    except RecursionError as exc:
        raise JsonInputError(f"JSON nested deeper than {MAX_DEPTH} levels") from exc
    except JsonInputError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, the int digit limit
        raise JsonInputError(str(exc)[:200]) from exc
    if text.count("[") + text.count("{") > MAX_DEPTH and too_deep(value, MAX_DEPTH):
        raise JsonInputError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if _MAYBE_SURROGATE.search(text) and has_lone_surrogate(value):
        raise JsonInputError("invalid surrogate pair in string")
    return value


def too_deep(value: Any, limit: int) -> bool:
    """More than ``limit`` nested arrays/objects; walks without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def any_text(value: Any, test: Any) -> bool:
    """``test(s)`` holds for a string anywhere in ``value`` (values and keys); no recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if test(item):
                return True
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


def has_lone_surrogate(value: Any) -> bool:
    """An unpaired surrogate in a string or key. (A valid escaped pair decodes to one
    astral character, so any surrogate left is lone.)"""
    return any_text(value, _LONE_SURROGATE.search)


def has_nul(value: Any) -> bool:
    return any_text(value, lambda text: "\x00" in text)
