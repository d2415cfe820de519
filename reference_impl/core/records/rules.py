"""API rules and request filters as IR: rule text + collection + caller/request -> the
WHERE conditions of a statement (``list[Node | Compiled]``, bound for this request).

This is the input of the rule compiler: the scope a rule or filter is compiled in (what
it may name), the request values it is bound to (``@request.auth.*``, ``@request.query``,
headers, the clock for ``@now``) and PocketBase's 403/400 answers for what it refuses.
Rules are enforced in SQL through the same filter compiler as client filters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reference_impl.core import errors as e
from reference_impl.core.auth import AuthContext
from reference_impl.core.collection import Collection
from reference_impl.core.filter import (
    Bindings,
    FilterError,
    Scope,
    bind,
    compile_filter,
    parse_sort,
    scope_key,
)
from reference_impl.core.records.context import RecordContext
from reference_impl.core.row_security import RULE_OF
from reference_impl.db.engine import Action, Session
from reference_impl.db.policies import reads_other_rows
from reference_impl.ir import Compiled, Node, SortTerm

Conditions = list[Node | Compiled]


@dataclass(frozen=True)
class RequestValues:
    """The request as a rule's ``@request.*`` sees it (PocketBase's ``RequestInfo``): the
    method, the first value of each query key, the headers (snake_cased names), the
    context (``default``, ``expand``, ``password``, ...) and, for a create or update,
    ``body``: PocketBase's post-cast body (``records.body.rule_body``). ``changed``: the
    body's field keys whose value differs from the row the rule reads (``:changed``);
    ``None`` where no row was compared."""

    method: str = "GET"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    context: str = "default"
    body: Mapping[str, Any] | None = None
    changed: frozenset[str] | None = None


@dataclass
class ListQuery:
    page: int = 1
    per_page: int = 30
    sort: str = ""
    filter: str = ""
    skip_total: bool = False
    expand: str = ""
    request: RequestValues = field(default_factory=RequestValues)


def is_superuser(auth: AuthContext | None) -> bool:
    return auth is not None and auth.is_superuser


def scope(ctx: RecordContext, coll: Collection, auth: AuthContext | None, *, rules: bool) -> Scope:
    """Rules and superusers see hidden fields and skip the client relation guard."""
    return Scope(
        fields={f.name: f for f in coll.fields},
        allow_hidden=rules or is_superuser(auth),
        collection=coll,
        find=ctx.store.find,
        auth_collection=ctx.store.find(auth.collection_id) if auth else None,
        row_security=ctx.row_security,
    )


def compiled_filter(ctx: RecordContext, text: str, where: Scope) -> Compiled:
    """``compile_filter``, once per text and scope while the definitions stand
    (``CollectionStore.compiled``)."""
    return ctx.store.compiled.get(_cache_key(ctx, "filter", text, where),
                                  lambda: compile_filter(text, where))  # fmt: skip


def compiled_sort(ctx: RecordContext, text: str, where: Scope) -> list[SortTerm]:
    """``parse_sort``, cached as :func:`compiled_filter` is (a fresh list each call)."""
    key = _cache_key(ctx, "sort", text, where)
    return list(ctx.store.compiled.get(key, lambda: tuple(parse_sort(text, where))))


def _cache_key(ctx: RecordContext, kind: str, text: str, where: Scope) -> Hashable | None:
    found = scope_key(where)
    if found is None or where.find != ctx.store.find:  # resolved against another store
        return None
    return (kind, text, *found)


def session(
    auth: AuthContext | None,
    action: Action,
    record: str = "",
    *,
    context: str = "default",
    method: str = "GET",
) -> Session:
    """Whom the statements of a request run for (row level security reads it)."""
    if auth is None:
        return Session("guest", action, record, {}, context, method)
    if auth.is_superuser:
        return Session("superuser", action, record, auth.session_values(), context, method)
    return Session("user", action, record, auth.session_values(), context, method)


def policy_enforces(ctx: RecordContext, coll: Collection, rule: str) -> bool:
    """The collection's row level security policy expresses ``rule`` (no fallback)."""
    policies = ctx.store.policies.get(coll.id)
    action = next(a for a, name in RULE_OF.items() if name == rule)
    return policies is not None and policies.enforced_by_policy(action)


def request_bindings(
    clock: Callable[[], datetime], auth: AuthContext | None, request: RequestValues | None = None
) -> Bindings:
    request = request or RequestValues()
    return Bindings(
        auth=auth.rule_values() if auth else None,
        method=request.method,
        context=request.context,
        query=request.query,
        headers=request.headers,
        body=dict(request.body) if request.body is not None else None,
        changed=request.changed,
        now=clock(),
    )


@dataclass(frozen=True)
class RulePlan:
    """How one request applies one rule: ``nodes``, the conditions the app adds to its
    statement, and ``bypass``: the statement must run as the app's own (``SYSTEM``).

    Under row level security the app's statements see other tables through their
    policies, while PocketBase's rules see every row. So the app repeats a rule the
    policy enforces only when it reads nothing but the row (``--rules both``; never under
    ``rls``); a rule left to the app (no policy could express it) that reads other rows
    runs its statement bypassing the policies, as in ``--rules app``."""

    nodes: Conditions
    bypass: bool = False


def rule_plan(
    ctx: RecordContext,
    coll: Collection,
    rule: str,
    auth: AuthContext | None,
    request: RequestValues | None = None,
) -> RulePlan:
    """The rule (``listRule``, ``viewRule``, ...) for this request, bound to its values
    (``request``; none: a plain GET); no conditions for a superuser or an empty rule.
    Raises 403 for a superuser-only (null) rule."""
    if is_superuser(auth):
        return RulePlan([])
    text = coll.rule(rule)
    if text is None:
        raise e.forbidden(e.MSG_SUPERUSER_ONLY)
    if not text.strip():
        return RulePlan([])
    in_database = ctx.row_security and policy_enforces(ctx, coll, rule)
    if in_database and ctx.rules == "rls":
        return RulePlan([])
    try:
        compiled = compiled_filter(ctx, text, scope(ctx, coll, auth, rules=True))
        bound = bind(compiled, request_bindings(ctx.clock, auth, request))
    except FilterError as exc:  # stored rules were validated; a broken one denies
        raise e.forbidden(e.MSG_SUPERUSER_ONLY) from exc
    if not ctx.row_security:
        return RulePlan([bound])
    reads = reads_other_rows(compiled)
    if in_database:
        return RulePlan([] if reads else [bound])
    return RulePlan([bound], bypass=reads)


def rule_nodes(
    ctx: RecordContext,
    coll: Collection,
    rule: str,
    auth: AuthContext | None,
    request: RequestValues | None = None,
) -> Conditions:
    """The conditions of :func:`rule_plan`."""
    return rule_plan(ctx, coll, rule, auth, request).nodes


def bound_rule(
    ctx: RecordContext,
    coll: Collection,
    text: str,
    auth: AuthContext | None,
    request: RequestValues | None = None,
) -> Conditions | None:
    """A rule outside the row level security plan (``manageRule``, ``authRule``) as
    conditions for this request, read by the app's own statements (``SYSTEM``: PocketBase
    evaluates them over every row); ``None`` when the stored text no longer compiles."""
    try:
        compiled = compiled_filter(ctx, text, scope(ctx, coll, auth, rules=True))
        return [bind(compiled, request_bindings(ctx.clock, auth, request))]
    except FilterError:
        return None


def list_conditions(
    ctx: RecordContext, coll: Collection, query: ListQuery, auth: AuthContext | None
) -> tuple[Conditions, list[SortTerm]]:
    """What a list request selects by (the list rule, the filter, the guards its sort
    brings), bound for this request, and its sort: PocketBase's 403 and 400 answers
    for what it refuses. The SQL renderer and the in-memory evaluator read the same."""
    where, sort, _ = list_plan(ctx, coll, query, auth)
    return where, sort


def superuser_only_field(filter_text: str, sort_text: str) -> str | None:
    """PocketBase's ``checkForSuperuserOnlyRuleFields``, a loose text check: the first of
    ``@collection.`` / ``@request.`` found in the filter, then the sort; a list answers
    403 naming it, realtime drops the event."""
    for text in (filter_text, sort_text):
        for prefix in ("@collection.", "@request."):
            if prefix in text:
                return prefix
    return None


def list_plan(
    ctx: RecordContext, coll: Collection, query: ListQuery, auth: AuthContext | None
) -> tuple[Conditions, list[SortTerm], bool]:
    """:func:`list_conditions` and whether the statement bypasses the policies."""
    plan = rule_plan(ctx, coll, "listRule", auth, query.request)
    where = list(plan.nodes)
    kind = superuser_only_field(query.filter, query.sort)
    if kind is not None and not is_superuser(auth):
        raise e.forbidden(f"Only superusers can filter by {kind}")
    list_scope = scope(ctx, coll, auth, rules=False)
    if plan.bypass:  # no policy hides joined rows: PocketBase's guard as it is
        list_scope = dataclasses.replace(list_scope, row_security=False)
    bindings = request_bindings(ctx.clock, auth, query.request)
    try:
        if query.filter:
            where.append(bind(compiled_filter(ctx, query.filter, list_scope), bindings))
        sort = compiled_sort(ctx, query.sort, list_scope)
        where += [bind(t.guard, bindings) for t in sort if t.guard]
    except FilterError as exc:
        raise e.bad_request() from exc
    return where, sort, plan.bypass
