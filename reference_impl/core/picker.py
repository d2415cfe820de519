"""``?fields=`` : pick keys from a JSON response (dot paths, ``*``, ``:excerpt(max, dots)``)."""

from __future__ import annotations

import html
import re
from typing import Any

_EXCERPT = re.compile(r"^(.*):excerpt\(\s*(\d+)\s*(?:,\s*(\w+)\s*)?\)$")
_TAGS = re.compile(r"<[^>]*>")


def parse_fields(text: str) -> dict[str, Any]:
    """``id,expand.author.email`` -> a tree; leaves hold an excerpt spec or None."""
    tree: dict[str, Any] = {}
    for raw in filter(None, (part.strip() for part in _split_top_level(text))):
        modifier = None
        match = _EXCERPT.match(raw)
        if match:
            raw = match.group(1)
            modifier = (int(match.group(2)), (match.group(3) or "false").lower() == "true")
        node = tree
        parts = raw.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node.setdefault(parts[-1], ("leaf", modifier))
    return tree


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses (``title:excerpt(3,true)`` stays whole)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += (char == "(") - (char == ")")
        current.append(char)
    parts.append("".join(current))
    return parts


def pick(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [pick(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    star = tree.get("*")
    if star is not None:
        out.update(value)
    for key, spec in tree.items():
        if key == "*" or key not in value:
            continue
        if isinstance(spec, dict):
            out[key] = pick(value[key], spec)
        else:
            modifier = spec[1]
            out[key] = excerpt(value[key], *modifier) if modifier else value[key]
    return out


def excerpt(value: Any, limit: int, ellipsis: bool) -> Any:
    if not isinstance(value, str):
        return value
    text = html.unescape(_TAGS.sub("", value))  # tags vanish without a space (as PocketBase)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit] + ("..." if ellipsis else "")
