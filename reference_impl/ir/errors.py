"""Why a filter, rule or sort was refused: one class per stage, one message template."""

from __future__ import annotations


class FilterError(ValueError):
    """A filter or sort was rejected (PocketBase answers a generic 400; the reason is
    logged and shown to superusers' debug output)."""


class Unsupported(FilterError):
    """A valid expression the chosen back-end cannot express (``unsupported``)."""


def unsupported(node: object, backend: str, why: str = "") -> Unsupported:
    """The one funnel for "cannot express": names the node, the back-end and why."""
    name = type(node).__name__
    return Unsupported(f"{name} cannot be rendered for {backend}" + (f": {why}" if why else ""))
