"""Where each API rule is enforced: in the app, in the database (row level security), or both.

``--rules app`` (SQLite and PostgreSQL): the rule's IR is ANDed into the app's statements
(``records``). ``--rules rls`` (PostgreSQL): the app adds no rule; each rule is compiled once
into a policy of the collection's table (``db/policies.py``) and the database alone filters
and refuses rows, under the transaction's ``Session``. ``--rules both``: the two at once (a
policy bug and an app bug must coincide to leak).

A rule the policy renderer cannot express (``Unsupported``: e.g. ``@request.body.*``, whose
values are typed per request) falls back to the app for that collection and action, visibly:
the reason is logged and listed by ``GET /api/parity/rules``; the policy for that action is
then ``true`` and the app's filter does the work, so nothing is both unenforced and silent.
Null rules stay the app's 403 in every mode (and the policy is ``false``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from reference_impl.core.auth import SECRET_FIELDS
from reference_impl.core.collection import Collection
from reference_impl.core.filter import FilterError, Scope, bind, compile_filter, semantics
from reference_impl.core.filter.resolver import AUTH_SCALARS
from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import Action
from reference_impl.db.policies import TablePolicy, policy_statements, reads_other_rows
from reference_impl.db.render import session_setting
from reference_impl.ir import (
    AuthRef,
    BoolOp,
    Cmp,
    Compiled,
    Const,
    Exists,
    Kind,
    Like,
    Node,
    Not,
    Val,
)

log = logging.getLogger("reference_impl.rules")

Mode = Literal["app", "rls", "both"]
MODES: tuple[Mode, ...] = ("app", "rls", "both")
RULE_OF: dict[Action, str] = {
    "list": "listRule",
    "view": "viewRule",
    "create": "createRule",
    "update": "updateRule",
    "delete": "deleteRule",
}
EVERYONE = Compiled(Const(True))


PG_MODE_ENV = "PARITY_PG_RULES"


def default_mode(row_level_security: bool) -> str:
    """``app`` without row level security (SQLite); on PostgreSQL ``$PARITY_PG_RULES`` when
    set (so a whole test run can serve ``rls`` alone), else ``both``."""
    if not row_level_security:
        return "app"
    return os.environ.get(PG_MODE_ENV) or "both"


def check_mode(mode: str, row_level_security: bool) -> Mode:
    """The mode, or a ValueError saying why it cannot run on this engine."""
    if mode not in MODES:
        raise ValueError(f"--rules must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != "app" and not row_level_security:
        raise ValueError(
            f"--rules {mode} needs row level security, which SQLite does not have; "
            "use --rules app (the app enforces every rule)"
        )
    return mode


@dataclass
class CollectionPolicies:
    """One collection's compiled policies and the actions left to the app (with why)."""

    collection: str
    policies: list[TablePolicy]
    fallbacks: dict[str, str] = field(default_factory=dict)
    # Fields of the caller's auth record the policies read from the session (beyond the
    # scalars every session carries): the engine sends them as ``pb.auth.<name>``.
    auth_fields: set[str] = field(default_factory=set)
    # Its relation columns (name, multiple): the guard's ``referenced`` functions.
    relations: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def reads_others(self) -> bool:
        """A rule reads other collections: its function must follow their changes."""
        return any(p.rule is not None and reads_other_rows(p.rule) for p in self.policies)

    def enforced_by_policy(self, action: Action) -> bool:
        return action not in self.fallbacks

    def status(self) -> dict[str, str]:
        """Per action: ``policy`` or ``app: <reason>``."""
        return {
            action: f"app: {self.fallbacks[action]}" if action in self.fallbacks else "policy"
            for action in RULE_OF
        }


SESSION_KINDS = (Kind.TEXT, Kind.BOOL)


def session_auth_fields(auth_collections: list[Collection]) -> dict[str, Kind]:
    """The auth fields a policy may read from the session: single-valued text or bool
    fields, never a secret, with the same kind in every auth collection that has them (a
    policy is one expression for every caller)."""
    kinds: dict[str, set[Kind]] = {}
    for coll in auth_collections:
        for f in coll.fields:
            if f.name in AUTH_SCALARS or f.name in SECRET_FIELDS or f.multiple:
                continue
            kinds.setdefault(f.name, set()).add(f.kind)
    return {
        name: next(iter(found))
        for name, found in kinds.items()
        if len(found) == 1 and next(iter(found)) in SESSION_KINDS
    }


def compile_policies(
    coll: Collection,
    dialect: Dialect,
    role: str,
    find: Callable[[str], Collection | None],
    auth_collections: list[Collection] | None = None,
) -> CollectionPolicies:
    """Each rule of ``coll`` as a table policy; what cannot be expressed is ``true`` in the
    database and recorded as a fallback (the app keeps enforcing it)."""
    scope = Scope(
        fields={f.name: f for f in coll.fields},
        allow_hidden=True,
        collection=coll,
        find=find,
        policy=True,
        auth_fields=session_auth_fields(auth_collections or []),
    )
    result = CollectionPolicies(coll.name, [])
    result.relations = [(f.name, f.multiple) for f in coll.fields if f.is_relation]
    for action, rule_name in RULE_OF.items():
        text = coll.rule(rule_name)
        if text is None:
            result.policies.append(TablePolicy(action, None))
            continue
        if not text.strip():
            result.policies.append(TablePolicy(action, EVERYONE))
            continue
        try:
            compiled = bind(compile_filter(text, scope), None)
            policy = TablePolicy(action, Compiled(_session_likes(compiled.where), compiled.joins))
            policy_statements(dialect, coll.name, [policy], role)  # renders, or refuses
        except (FilterError, ValueError) as exc:
            result.fallbacks[action] = str(exc)
            log.warning(
                "collection %r: %s %r is enforced by the app, not row level security: %s",
                coll.name,
                rule_name,
                text,
                exc,
            )
            policy = TablePolicy(action, EVERYONE)
        result.policies.append(policy)
        if policy.rule is not None:
            result.auth_fields |= _auth_fields(policy.rule.where) - set(AUTH_SCALARS)
    return result


def _session_likes(node: Node) -> Node:
    """``@request.auth.email ~ 'x'``: the fold finishes such a comparison with the request's
    value; a policy keeps the value in the session, so the literal becomes PocketBase's
    ``~`` pattern here (``semantics.like_pattern``), and the renderer matches the setting."""
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(_session_likes(item) for item in node.items))
    if isinstance(node, Not):
        return Not(_session_likes(node.item))
    if isinstance(node, Exists):
        return replace(node, where=_session_likes(node.where))
    if (
        isinstance(node, Like)
        and session_setting(node.operand) is not None
        and isinstance(node.pattern, Val)
    ):
        if node.pattern.value is None:
            return Const(False)  # LIKE NULL is NULL: no row matches either way
        pattern = semantics.like_pattern(semantics.like_text(node.pattern))
        return Like(node.operand, Val(pattern, Kind.TEXT), node.negate)
    return node


def _auth_fields(node: Node) -> set[str]:
    """``@request.auth.<field>`` names a policy expression reads."""
    if isinstance(node, BoolOp):
        return set().union(*(_auth_fields(item) for item in node.items))
    if isinstance(node, Not):
        return _auth_fields(node.item)
    if isinstance(node, Exists):
        return _auth_fields(node.where)
    found: set[str] = set()
    if isinstance(node, Cmp | Like):
        for side in vars(node).values():
            if isinstance(side, AuthRef):
                found.add(side.field)
    return found
