"""Filter stage 3: a name -> an operand plus the joins and multi-match check it needs.

``FieldResolver`` is the counterpart of PocketBase's ``core/record_field_resolver*.go``
(0.40.6): plain fields; JSON (and geoPoint) fields with a path (``j.a.0``); single and
multi relations up to 6 levels (``author.team.name``, ``tags.title``), ``rel.id`` read from
the relation column itself; back-relations (``comments_via_post.body``);
``@collection.<name>[:alias].<path>``; ``@request.auth.*`` (scalars from the request, other
fields through a join on the auth record); ``@request.body|query|headers.*``,
``@request.method``, ``@request.context``; macros; modifiers ``:isset :changed :length
:each :lower``.

A path through a multi relation, a back-relation, ``@collection`` or ``:each`` of a
multiple field is *multi*: besides its operand on the joined row, it carries a fresh chain
of the same joins for the "all of" check (PocketBase's multi-match sub-query). Who asks
matters: without ``allow_hidden`` (a non-superuser's client filter) hidden fields are
refused, ``email`` of an auth collection is visible only where ``emailVisibility`` is
true, and a relation into a collection is refused when its list rule is null and
otherwise filtered by that rule (``guards``). It never folds a value: request values stay
symbolic until ``fold``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from reference_impl.core.collection import Collection, single_column_unique
from reference_impl.core.fields import Field
from reference_impl.core.filter.parser import Call, Ident, Num, Operand, Text
from reference_impl.ir import (
    BASE,
    AuthRef,
    BackJoin,
    BoolOp,
    CrossJoin,
    EachJoin,
    FilterError,
    Func,
    IsEmpty,
    Join,
    Kind,
    Length,
    Lower,
    Macro,
    Node,
    Not,
    Ref,
    Referenced,
    RelationJoin,
    RequestRef,
    Val,
    unsupported,
)
from reference_impl.ir import Operand as IrOperand

MAX_NESTED_RELATIONS = 6
MODIFIERS = ("isset", "changed", "length", "each", "lower")
_VIA = re.compile(r"^(\w+)_via_(\w+)$")
_PLAIN = re.compile(r"^\w+[\w.:]*$")
_JSON_REST = re.compile(r"[\w.:]*\w", re.ASCII)  # fullmatch; Go's \w is ASCII
_COLLECTION = re.compile(r"^@collection\.(\w+)(?:[:](\w+))?\.(.+)$")
_REQUEST = re.compile(r"^@request\.(auth|body|query|headers)\.(.+)$")
MULTI_VALUE_TYPES = frozenset({"select", "file", "relation"})

# ``@request.auth.<key>`` values the request carries without a join.
AUTH_SCALARS: dict[str, Kind] = {
    "id": Kind.TEXT,
    "collectionId": Kind.TEXT,
    "collectionName": Kind.TEXT,
    "email": Kind.TEXT,
    "verified": Kind.BOOL,
    "emailVisibility": Kind.BOOL,
}

DATE_MACROS = (
    "now",
    "yesterday",
    "tomorrow",
    "todayStart",
    "todayEnd",
    "monthStart",
    "monthEnd",
    "yearStart",
    "yearEnd",
)
NUMBER_MACROS = ("second", "minute", "hour", "day", "month", "year", "weekday")


@dataclass
class Scope:
    """What names resolve to. ``fields``: the collection's fields (or a system table's);
    ``collection`` and ``find`` (a collection by id or name) enable relations,
    back-relations and ``@collection``; ``auth_collection`` the auth record's collection
    (``None`` for a guest); ``allow_hidden``: a rule or a superuser (no client guards);
    ``policy``: a rule compiled once for the database (row level security), request values
    symbolic, so nothing may depend on which auth collection the caller comes from;
    ``row_security``: the database hides joined rows their list rule refuses (``--rules
    rls|both``), so the client relation guard tells "no related row" by the relation
    column, not by the joined row's absence."""

    fields: dict[str, Field]
    allow_hidden: bool
    collection: Collection | None = None
    find: Callable[[str], Collection | None] | None = None
    auth_collection: Collection | None = None
    policy: bool = False
    row_security: bool = False
    # Policy mode: the auth collections' fields a policy can read from the session (one
    # kind across every auth collection that has the field; see core/row_security.py).
    auth_fields: dict[str, Kind] | None = None
    # PocketBase's ``SimpleFieldResolver`` (the logs API): a name is one of ``fields``
    # exactly or a path into one of its JSON fields; no ``@request.*``, ``@collection.*``
    # or modifiers (macros, ``null``, ``true``, ``false`` and the functions stay).
    simple: bool = False


@dataclass(frozen=True)
class MultiMatch:
    """A fresh chain of the path's joins (rooted at the outer row) and the value it reads."""

    joins: tuple[Join, ...]
    value: IrOperand


@dataclass(frozen=True)
class Path:
    """A resolved operand; ``None`` is the null literal. ``visible_email``: the
    ``emailVisibility`` column that must be true for this operand to be compared."""

    operand: IrOperand | None
    multi: MultiMatch | None = None
    visible_email: Ref | None = None


@dataclass
class _Walk:
    """Where a path walk is: the collection, its alias on the joined row and in the fresh
    multi-match chain, whether a to-many step was taken, the fresh chain so far."""

    coll: Collection | None
    fields: dict[str, Field]
    alias: str
    mm_alias: str  # what the fresh chain's columns are read from (the outer row at first)
    mm_name: str  # the unique prefix its aliases are named after
    multi: bool = False
    mm_joins: list[Join] = field(default_factory=list)
    nullify_missing: bool = False  # under @request.*: unknown fields are NULL


@dataclass
class FieldResolver:
    scope: Scope
    base_alias: str = BASE
    joins: dict[str, Join] = field(default_factory=dict)
    guards: list[Node] = field(default_factory=list)
    _guarded: set[str] = field(default_factory=set)
    _mm_counter: list[int] = field(default_factory=lambda: [0])

    # -- entry points --------------------------------------------------------------------
    def resolve(self, op: Operand) -> Path:
        if isinstance(op, Text):
            return Path(Val(op.value, Kind.TEXT))
        if isinstance(op, Num):
            return Path(Val(op.value, Kind.NUMBER))
        if isinstance(op, Call):
            return self._function(op)
        name = op.name
        if self.scope.simple and not self._simple_name(name):
            lowered = name.lower()
            if lowered == "null":
                return Path(None)
            if lowered in ("true", "false"):
                return Path(Val(lowered == "true", Kind.BOOL))
            if name[1:] in DATE_MACROS or name[1:] in NUMBER_MACROS:
                return self._special(name)
            raise FilterError(f"failed to resolve field {name!r}")
        if name.startswith("@"):
            return self._special(name)
        found = self.scope.fields.get(name.split(".")[0].split(":")[0])
        if found is None and "." not in name and ":" not in name:
            lowered = name.lower()
            if lowered == "null":
                return Path(None)
            if lowered in ("true", "false"):
                return Path(Val(lowered == "true", Kind.BOOL))
        if not _PLAIN.match(name):
            raise FilterError(f"invalid field name {name!r}")
        return self._walk(self._start(), name.split("."))

    def _simple_name(self, name: str) -> bool:
        """A field of the scope by its exact name, or a JSON path into one (``data.status``,
        ``data.a.0``: what PocketBase's allow-list pattern for ``data`` accepts)."""
        if name in self.scope.fields:
            return True
        head, dot, rest = name.partition(".")
        found = self.scope.fields.get(head)
        is_json = found is not None and found.type == "json"
        return bool(dot) and is_json and _JSON_REST.fullmatch(rest) is not None

    def _function(self, call: Call) -> Path:
        """``geoDistance(lonA, latA, lonB, latB)`` (identifiers or numbers) and
        ``strftime(format [, time value [, modifiers...]])`` (PocketBase's token functions)."""
        args = call.args
        if call.name == "geoDistance":
            if len(args) != 4:
                raise FilterError(f"geoDistance() expects 4 arguments, got {len(args)}")
            values: list[IrOperand] = []
            for index, arg in enumerate(args):
                if not isinstance(arg, Ident | Num):
                    raise FilterError(f"geoDistance() argument {index} must be a field or number")
                path = self.resolve(arg)
                if path.multi is not None:
                    raise FilterError("geoDistance() over a multi-valued path is not supported yet")
                values.append(path.operand if path.operand is not None else Val(None, Kind.NUMBER))
            return Path(Func("geoDistance", tuple(values), Kind.NUMBER))
        if call.name == "strftime":
            if not 1 <= len(args) <= 10:
                raise FilterError(f"strftime() takes 1 to 10 arguments, got {len(args)}")
            if not isinstance(args[0], Text):
                raise FilterError("strftime() expects the format as its first argument")
            if len(args) > 1 and not isinstance(args[1], Text | Ident | Num):
                raise FilterError("strftime() expects a text, field or number time value")
            if any(not isinstance(arg, Text) for arg in args[2:]):
                raise FilterError("strftime() modifiers must be texts")
            fmt = Val(args[0].value, Kind.TEXT)
            mods = tuple(Val(a.value, Kind.TEXT) for a in args[2:] if isinstance(a, Text))
            if len(args) == 1:
                return Path(Func("strftime", (fmt,), Kind.TEXT))
            value = self.resolve(args[1])
            operand = value.operand if value.operand is not None else Val(None, Kind.TEXT)
            func = Func("strftime", (fmt, operand, *mods), Kind.TEXT)
            if value.multi is None:
                return Path(func)
            mm = Func("strftime", (fmt, value.multi.value, *mods), Kind.TEXT)
            return Path(func, MultiMatch(value.multi.joins, mm))
        raise FilterError(f"unknown function {call.name}()")

    def _start(self) -> _Walk:
        coll = self.scope.collection
        base = self.base_alias
        return _Walk(coll, self.scope.fields, base, base, self._mm_alias(base))

    def _special(self, name: str) -> Path:
        if name in ("@request.method", "@request.context"):
            return Path(RequestRef(name[len("@request.") :], Kind.TEXT))
        if name.startswith("@request."):
            return self._request(name)
        if name.startswith("@collection."):
            return self._collection(name)
        macro = name[1:]
        if macro in DATE_MACROS:
            return Path(Macro(macro, Kind.TEXT))
        if macro in NUMBER_MACROS:
            return Path(Macro(macro, Kind.NUMBER))
        raise FilterError(f"unknown identifier {name}")

    # -- @request.* ----------------------------------------------------------------------
    def _request(self, name: str) -> Path:
        match = _REQUEST.match(name)
        if not match:
            raise FilterError(f"invalid @request field {name!r}")
        group, rest = match.groups()
        if group == "auth":
            return self._auth(rest)
        if group == "body" and (relation := self._body_relation(rest)) is not None:
            return relation
        key, modifier = _split_modifier(rest)
        path = f"{group}.{key}"
        if modifier == "isset":
            return Path(RequestRef(f"{path}:isset", Kind.BOOL))
        if modifier == "changed":
            if group != "body":
                raise FilterError(":changed applies to @request.body fields only")
            return Path(RequestRef(f"{path}:changed", Kind.BOOL))
        if modifier in ("each", "length"):
            if group != "body":
                raise FilterError(f":{modifier} applies to @request.body fields only")
            kind = Kind.NUMBER if modifier == "length" else Kind.TEXT
            return Path(RequestRef(f"{path}:{modifier}", kind))
        operand: IrOperand = RequestRef(path, Kind.TEXT)
        return Path(Lower(operand) if modifier == "lower" else operand)

    def _auth(self, rest: str) -> Path:
        key, modifier = _split_modifier(rest)
        if "." not in key and key in AUTH_SCALARS and modifier in ("", "isset"):
            if modifier == "isset":
                return Path(RequestRef(f"auth.{key}:isset", Kind.BOOL))
            return Path(AuthRef(key, AUTH_SCALARS[key]))
        if self.scope.policy and modifier == "" and key in (self.scope.auth_fields or {}):
            return Path(AuthRef(key, (self.scope.auth_fields or {})[key]))
        if self.scope.policy:
            raise unsupported(
                RequestRef(f"auth.{rest}", Kind.ANY),
                "a row level security policy",
                f"@request.auth.{rest} is not a single text or bool field with one type in "
                "every auth collection (a policy reads the caller's auth fields from the "
                "session, typed once for all collections)",
            )
        auth = self.scope.auth_collection
        if auth is None:  # a guest: every auth field is NULL
            return Path(None)
        alias, mm_alias = "__auth", self._mm_alias("__auth")
        self._register(RelationJoin(alias, auth.name, AuthRef("id", Kind.TEXT)))
        fields = {f.name: f for f in auth.fields}
        walk = _Walk(auth, fields, alias, mm_alias, mm_alias, nullify_missing=True)
        walk.mm_joins.append(RelationJoin(mm_alias, auth.name, AuthRef("id", Kind.TEXT)))
        return self._walk(walk, rest.split("."))

    def _body_relation(self, rest: str) -> Path | None:
        """``@request.body.rel.field``: the record the body names in a single relation field
        of the collection, joined by that id (PocketBase's
        ``processRequestBodyRelationField``). ``None``: not such a path (a static value).
        (A multi relation in the body, joined there by ``id IN (...)``, stays a static
        value here.)"""
        first, _, tail = rest.partition(".")
        rel = self.scope.fields.get(first)
        if not tail or rel is None or rel.type != "relation" or rel.multiple:
            return None
        target = self._find(str(rel.opt("collectionId")))
        if target is None:
            raise FilterError(f"failed to load the collection of field {rel.name!r}")
        alias = f"__data_{target.name}_{rel.name}"
        mm_alias = self._mm_alias(alias)
        key = RequestRef(f"body.{rel.name}", Kind.TEXT)
        self._register(RelationJoin(alias, target.name, key))
        fields = {f.name: f for f in target.fields}
        walk = _Walk(target, fields, alias, mm_alias, mm_alias, nullify_missing=True)
        walk.mm_joins.append(RelationJoin(mm_alias, target.name, key))
        return self._walk(walk, tail.split("."))

    # -- @collection.* -------------------------------------------------------------------
    def _collection(self, name: str) -> Path:
        match = _COLLECTION.match(name)
        if not match:
            raise FilterError(f"invalid @collection field {name!r}")
        coll_name, label, rest = match.groups()
        target = self._find(coll_name)
        if target is None:
            raise FilterError(f"unknown collection {coll_name!r}")
        alias = f"__collection_alias_{label}" if label else f"__collection_{coll_name}"
        self._register(CrossJoin(alias, target.name))
        mm_alias = self._mm_alias(alias)
        fields = {f.name: f for f in target.fields}
        walk = _Walk(target, fields, alias, mm_alias, mm_alias, multi=True)
        walk.mm_joins.append(CrossJoin(mm_alias, target.name))
        return self._walk(walk, rest.split("."))

    # -- collection paths ----------------------------------------------------------------
    def _walk(self, walk: _Walk, props: list[str]) -> Path:
        for index, prop in enumerate(props):
            if index == len(props) - 1:
                return self._finish(walk, prop)
            found = walk.fields.get(prop)
            if found is not None and found.hidden and not self.scope.allow_hidden:
                raise FilterError(f"non-filterable field {prop!r}")
            if found is not None and found.type in ("json", "geoPoint"):
                return self._json(walk, found, props[index + 1 :])
            if index >= MAX_NESTED_RELATIONS:
                raise FilterError(f"max nested relations reached for field {'.'.join(props)!r}")
            if found is None:
                if not self._back_relation(walk, prop):
                    if walk.nullify_missing:
                        return Path(None)
                    raise FilterError(f"failed to resolve field {prop!r}")
                continue
            if found.type != "relation":
                raise FilterError(f"field {prop!r} is not a valid relation")
            if not found.multiple and index == len(props) - 2 and props[index + 1] == "id":
                return self._finish(walk, prop)  # ``rel.id`` is the relation column itself
            self._relation(walk, found)
        raise FilterError("empty field path")

    def _relation(self, walk: _Walk, rel: Field) -> None:
        target = self._find(str(rel.opt("collectionId")))
        if target is None:
            raise FilterError(f"failed to load the collection of field {rel.name!r}")
        alias = _child(walk.alias, rel.name)
        mm_alias = _child(walk.mm_name, rel.name)
        if rel.multiple:
            each = f"__je{alias}"
            self._register(EachJoin(each, Ref(walk.alias, rel.name, Kind.JSON_ARRAY)))
            key = Ref(each, "value", Kind.TEXT)
            self._register(RelationJoin(alias, target.name, key))
            mm_each = f"__je{mm_alias}"
            walk.mm_joins += [
                EachJoin(mm_each, Ref(walk.mm_alias, rel.name, Kind.JSON_ARRAY)),
                RelationJoin(mm_alias, target.name, Ref(mm_each, "value", Kind.TEXT)),
            ]
            walk.multi = True
        else:
            key = Ref(walk.alias, rel.name, Kind.TEXT)
            self._register(RelationJoin(alias, target.name, key))
            walk.mm_joins.append(
                RelationJoin(mm_alias, target.name, Ref(walk.mm_alias, rel.name, Kind.TEXT))
            )
        self._guard(target, alias, key)
        walk.coll, walk.fields = target, {f.name: f for f in target.fields}
        walk.alias, walk.mm_alias, walk.mm_name = alias, mm_alias, mm_alias

    def _back_relation(self, walk: _Walk, prop: str) -> bool:
        match = _VIA.match(prop)
        if not match or walk.coll is None:
            return False
        back = self._find(match.group(1))
        back_field = back.get_field(match.group(2)) if back is not None else None
        if back is None or back_field is None or back_field.type != "relation":
            return False
        if back_field.hidden and not self.scope.allow_hidden:
            raise FilterError(f"non-filterable back relation field {back_field.name!r}")
        if back_field.opt("collectionId") != walk.coll.id:
            return False
        alias = _child(walk.alias, prop)
        mm_alias = _child(walk.mm_name, prop)
        multiple = back_field.multiple
        self._register(BackJoin(alias, back.name, back_field.name, multiple, walk.alias))
        walk.mm_joins.append(
            BackJoin(mm_alias, back.name, back_field.name, multiple, walk.mm_alias)
        )
        if multiple or not _has_single_unique_index(back, back_field.name):
            walk.multi = True
        parent = Ref(walk.alias, "id", Kind.TEXT)
        self._guard(back, alias, back=Referenced(back.name, back_field.name, multiple, parent))
        walk.coll, walk.fields = back, {f.name: f for f in back.fields}
        walk.alias, walk.mm_alias, walk.mm_name = alias, mm_alias, mm_alias
        return True

    def _json(self, walk: _Walk, json_field: Field, rest: list[str]) -> Path:
        # A part with a colon is a key (``j.s:lower`` reads the key "s:lower").
        path = tuple(int(p) if p.isdigit() else p for p in rest)
        ref = Ref(walk.alias, json_field.name, Kind.JSON, path)
        return self._result(walk, ref, Ref(walk.mm_alias, json_field.name, Kind.JSON, path))

    def _finish(self, walk: _Walk, prop: str) -> Path:
        name, modifier = _split_modifier(prop)
        found = walk.fields.get(name)
        if found is None:
            if walk.nullify_missing:
                return Path(None)
            raise FilterError(f"unknown field {name!r}")
        if found.hidden and not self.scope.allow_hidden:
            raise FilterError(f"non-filterable field {name!r}")
        multi_valued = found.type in MULTI_VALUE_TYPES
        kind = found.kind
        if modifier == "length" and multi_valued:
            return self._result(
                walk, Length(Ref(walk.alias, name, kind)), Length(Ref(walk.mm_alias, name, kind))
            )
        if modifier == "each" and multi_valued and found.multiple:
            each = f"__je{_child(walk.alias, name)}"
            self._register(EachJoin(each, Ref(walk.alias, name, kind)))
            mm_each = f"__je{_child(walk.mm_name, name)}"
            walk.mm_joins.append(EachJoin(mm_each, Ref(walk.mm_alias, name, kind)))
            walk.multi = True
            return self._result(
                walk, Ref(each, "value", Kind.TEXT), Ref(mm_each, "value", Kind.TEXT)
            )
        if modifier == "each" and multi_valued:
            kind = Kind.TEXT  # one item: the value itself (the items of a one-item array)
        ref: IrOperand = Ref(walk.alias, name, kind)
        mm_ref: IrOperand = Ref(walk.mm_alias, name, kind)
        if modifier == "lower":
            ref, mm_ref = Lower(ref), Lower(mm_ref)
        visible = None
        if (
            name == "email"
            and not self.scope.allow_hidden
            and walk.coll is not None
            and walk.coll.is_auth
        ):
            visible = Ref(walk.alias, "emailVisibility", Kind.BOOL)
        path = self._result(walk, ref, mm_ref)
        return Path(path.operand, path.multi, visible)

    def _result(self, walk: _Walk, operand: IrOperand, mm_operand: IrOperand) -> Path:
        if not walk.multi:
            return Path(operand)
        return Path(operand, MultiMatch(tuple(walk.mm_joins), mm_operand))

    # -- helpers -------------------------------------------------------------------------
    def _find(self, id_or_name: str) -> Collection | None:
        return self.scope.find(id_or_name) if self.scope.find is not None else None

    def _register(self, join: Join) -> None:
        self.joins.setdefault(join.alias, join)

    def _mm_alias(self, alias: str) -> str:
        self._mm_counter[0] += 1
        return f"__mm{self._mm_counter[0]}{alias}"

    def _guard(
        self,
        target: Collection,
        alias: str,
        key: Ref | None = None,
        back: Referenced | None = None,
    ) -> None:
        """PocketBase's client-side relation guard (v0.31+): a client filter may not reach
        a superuser-only collection; through one with a list rule, that rule must hold for
        the related row (or there is none). Under row level security a refused row is
        not joined at all, so "none" is read from the relation column ``key`` (a forward
        relation) or, for a back-relation, from whether any row points back (``back``,
        answered without the policies)."""
        if self.scope.allow_hidden or alias in self._guarded:
            return
        self._guarded.add(alias)
        rule = target.rule("listRule")
        if rule is None:
            raise FilterError(f"the collection {target.name!r} is reachable by superusers only")
        if not rule.strip():
            return
        from reference_impl.core.filter import compile_rule_on

        sub = FieldResolver(
            Scope(
                {f.name: f for f in target.fields},
                allow_hidden=True,
                collection=target,
                find=self.scope.find,
                auth_collection=self.scope.auth_collection,
                row_security=self.scope.row_security,
            ),
            base_alias=alias,
            joins=self.joins,
            _mm_counter=self._mm_counter,
        )
        row_rule = compile_rule_on(rule, sub)
        joined = IsEmpty(Ref(alias, "id", Kind.TEXT), negate=True)
        if self.scope.row_security and key is not None:
            self.guards.append(BoolOp("OR", (IsEmpty(key), BoolOp("AND", (joined, row_rule)))))
        elif self.scope.row_security and back is not None:
            visible = BoolOp("AND", (joined, row_rule))
            self.guards.append(BoolOp("OR", (visible, Not(back))))
        else:
            no_row = IsEmpty(Ref(alias, "id", Kind.TEXT))
            self.guards.append(BoolOp("OR", (no_row, row_rule)))
        self.guards += sub.guards


def _child(alias: str, name: str) -> str:
    return f"{alias or ''}_{name}"


def _split_modifier(prop: str) -> tuple[str, str]:
    name, _, modifier = prop.partition(":")
    if ":" in modifier:
        raise FilterError(f"invalid field name {prop!r}")
    if modifier and modifier not in MODIFIERS:
        raise FilterError(f"unknown modifier {modifier!r}")
    return name, modifier


def _has_single_unique_index(coll: Collection, column: str) -> bool:
    return column in single_column_unique(coll.indexes)
