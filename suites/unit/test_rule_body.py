"""``@request.body`` as PocketBase's rules see it (``records.body.rule_body``) and its
binding (``:changed``, ``:isset``), without an engine.

Expected values come from PocketBase 0.40.6 (``suites/conformance/scenarios/rules.toml``
records the same cases against the server): ``recordDataFromRequest`` +
``Record.ReplaceModifiers`` cast each field key, resolve modifiers over the row, keep
other keys as sent and drop hidden fields for non-superusers.
"""

from __future__ import annotations

from typing import Any

from reference_impl.core.collection import Collection
from reference_impl.core.fields import Field
from reference_impl.core.filter import Bindings, Scope, bind, compile_filter
from reference_impl.core.records.body import rule_body
from reference_impl.ir import Const

POSTS = Collection(
    "posts_id",
    "posts",
    fields=[
        Field("text", "id"),
        Field("text", "title"),
        Field("number", "n"),
        Field("bool", "flag"),
        Field("select", "tags", {"values": ["a", "b", "c"], "maxSelect": 3}),
        Field("text", "secret", {"hidden": True}),
    ],
)
STORED: dict[str, Any] = {
    "id": "p1",
    "title": "t",
    "n": 8,
    "flag": False,
    "tags": ["a", "b"],
    "secret": "s",
}


def test_field_keys_hold_their_cast_values_and_other_keys_stay_as_sent() -> None:
    body, _ = rule_body(POSTS, STORED, {"title": 5, "flag": "1", "extra": 5}, None)
    assert body == {"title": "5", "flag": True, "extra": 5}


def test_modifiers_are_resolved_over_the_row_under_the_field_name() -> None:
    body, changed = rule_body(POSTS, STORED, {"n+": 5, "tags+": "c", "tags-": "a"}, None)
    assert body == {"n": 13, "tags": ["b", "c"]}
    assert changed == {"n", "tags"}


def test_hidden_fields_are_dropped_for_everyone_but_superusers() -> None:
    body, _ = rule_body(POSTS, STORED, {"secret": "x", "title": "y"}, None)
    assert body == {"title": "y"}


def test_changed_compares_the_cast_value_with_the_row() -> None:
    _, changed = rule_body(POSTS, STORED, {"n": "8", "title": "new"}, None)
    assert changed == {"title"}


def _rule(text: str, body: dict[str, Any], changed: frozenset[str] | None) -> Any:
    compiled = compile_filter(
        text, Scope(fields={f.name: f for f in POSTS.fields}, allow_hidden=True)
    )
    return bind(compiled, Bindings(body=body, changed=changed)).where


def test_changed_binding() -> None:
    rule = "@request.body.n:changed = false"
    assert _rule(rule, {"n": 8}, frozenset()) == Const(True)
    assert _rule(rule, {"n": 9}, frozenset({"n"})) == Const(False)
    assert _rule(rule, {}, frozenset()) == Const(True)
    assert _rule(rule, {"n": 8}, None) == Const(False)  # no row compared: set is changed


def test_isset_holds_for_a_null_value() -> None:
    assert _rule("@request.body.title:isset = true", {"title": None}, None) == Const(True)
