"""The filter IR -> SQL per dialect, and the record statements.

Two bind modes. ``params`` (request filters and rules): every value is bound, parameter
names are deterministic (``p1, p2, ...`` in order of appearance) so golden SQL compares byte
for byte. ``policy`` (row level security, the rules issue): no parameters; literals are
inlined through ``Dialect.literal`` and ``@request.auth.*`` reads the transaction's session
settings (``Dialect.session_value``). Identifiers are validated field names, quoted.

Rendering is a table from node type to function; what a back-end cannot express goes
through the one ``unsupported`` funnel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reference_impl.db.dialect import Dialect
from reference_impl.ir import (
    BASE,
    FLIP,
    RANDOM,
    ROWID,
    ArrayContains,
    AuthRef,
    BackJoin,
    BoolOp,
    Cmp,
    Compiled,
    Const,
    CrossJoin,
    DateText,
    EachJoin,
    Exists,
    Func,
    In,
    IsEmpty,
    Join,
    JsonCmp,
    Kind,
    KnownIf,
    Length,
    Like,
    Lower,
    Macro,
    Node,
    Not,
    Operand,
    Ref,
    Referenced,
    RelationJoin,
    RequestRef,
    SortTerm,
    Val,
    unsupported,
)

PARAMS = "params"
POLICY = "policy"


@dataclass
class Sql:
    dialect: Dialect
    table: str
    params: dict[str, Any] = field(default_factory=dict)
    mode: str = PARAMS

    def bind(self, value: Any, kind: Kind) -> str:
        if self.mode == POLICY:
            return self.dialect.literal(kind, value)
        name = f"p{len(self.params) + 1}"
        self.params[name] = self.dialect.to_db(kind, value)
        return self.dialect.placeholder(name)

    def col(self, name: str) -> str:
        return self.ref(Ref(BASE, name, Kind.TEXT))

    def ref(self, ref: Ref) -> str:
        """The column itself (a JSON column without its path: see ``operand``)."""
        q = self.dialect.quote
        return f"{q(ref.alias or self.table)}.{q(ref.column)}"

    def node(self, node: Node) -> str:
        render = _NODES.get(type(node))
        if render is None:
            raise unsupported(node, f"{self.dialect.name} ({self.mode})")
        return render(self, node)

    def operand(self, operand: Operand, kind: Kind | None = None) -> str:
        """An operand as an SQL expression; ``kind`` types a bound value."""
        if isinstance(operand, Ref):
            if operand.kind is Kind.JSON:
                return self.dialect.json_value(self.ref(operand), operand.json_path)
            return self.ref(operand)
        if isinstance(operand, Lower):
            inner = operand.operand
            return self.dialect.lower(self.dialect.text_of(self.operand(inner), inner.kind))
        if isinstance(operand, Length):
            return self.dialect.array_length(self.ref(operand.operand), operand.operand.kind)
        if isinstance(operand, Func):
            return self.func(operand)
        if isinstance(operand, Val):
            return self.bind(operand.value, kind or operand.kind)
        if self.mode == POLICY and (name := session_setting(operand)) is not None:
            return self.dialect.session_value(name, operand.kind)
        if self.mode == POLICY and isinstance(operand, RequestRef):
            why = (
                f"@request.{operand.path} is a value of each request (query, headers and "
                "body are typed per request); a policy reads only the session: the auth "
                "record, @request.method and @request.context"
            )
        elif self.mode == POLICY and isinstance(operand, Macro):
            why = f"@{operand.name} is the app's clock, not the database's"
        else:
            why = "request values are bound first"
        raise unsupported(operand, f"{self.dialect.name} ({self.mode})", why)

    def func(self, func: Func) -> str:
        d = self.dialect
        if func.name == "geoDistance":
            lon_a, lat_a, lon_b, lat_b = (self._number(arg) for arg in func.args)
            cos = (
                f"cos(radians({lat_a})) * cos(radians({lat_b})) * "
                f"cos(radians({lon_b}) - radians({lon_a})) + "
                f"sin(radians({lat_a})) * sin(radians({lat_b}))"
            )
            return f"(6371 * {d.acos(cos)})"
        if func.name == "strftime":
            args = [self.operand(func.args[0], Kind.TEXT)]
            if len(func.args) == 1:
                args.append(self.bind("now", Kind.TEXT))
            else:
                value = func.args[1]
                args.append(d.text_of(self.operand(value), value.kind))
            args += [self.operand(arg, Kind.TEXT) for arg in func.args[2:]]
            return d.strftime(args)
        raise unsupported(func, d.name)

    def _number(self, operand: Operand) -> str:
        text = self.operand(operand, Kind.NUMBER)
        if isinstance(operand, Ref) and operand.kind is Kind.JSON:
            return self.dialect.json_number(text)
        return text

    def join(self, join: Join) -> str:
        d = self.dialect
        if isinstance(join, RelationJoin):
            alias = d.quote(join.alias)
            key = self.operand(join.key, Kind.TEXT)
            return f" LEFT JOIN {d.table(join.table)} AS {alias} ON {alias}.{d.quote('id')} = {key}"
        if isinstance(join, EachJoin):
            return d.each_join(d.quote(join.alias), self.ref(join.array))
        if isinstance(join, BackJoin):
            alias = d.quote(join.alias)
            column = f"{alias}.{d.quote(join.column)}"
            parent_id = f"{d.quote(join.parent or self.table)}.{d.quote('id')}"
            on = (
                d.json_array_contains(column, parent_id)
                if join.multiple
                else f"{column} = {parent_id}"
            )
            return f" LEFT JOIN {d.table(join.table)} AS {alias} ON {on}"
        if isinstance(join, CrossJoin):
            return f" LEFT JOIN {d.table(join.table)} AS {d.quote(join.alias)} ON 1 = 1"
        raise unsupported(join, d.name)


def _bool_op(sql: Sql, node: BoolOp) -> str:
    return "(" + f" {node.op} ".join(sql.node(item) for item in node.items) + ")"


def _not(sql: Sql, node: Not) -> str:
    return f"NOT ({sql.node(node.item)})"


def _const(sql: Sql, node: Const) -> str:
    return "1 = 1" if node.value else "1 = 0"


def _is_empty(sql: Sql, node: IsEmpty) -> str:
    kind = node.operand.kind
    if kind is Kind.JSON_ARRAY or (isinstance(node.operand, Ref) and node.operand.json_path):
        kind = Kind.JSON
    text = sql.dialect.is_empty(sql.operand(node.operand), kind, nullable=node.operand.nullable)
    return f"NOT {text}" if node.negate else text


def _like(sql: Sql, node: Like) -> str:
    d = sql.dialect
    target = d.text_of(sql.operand(node.operand), node.operand.kind)
    if isinstance(node.pattern, Val):
        pattern = sql.operand(node.pattern, Kind.TEXT)
    elif sql.mode == POLICY and session_setting(node.pattern) is not None:
        pattern = d.value_pattern(sql.operand(node.pattern))  # a bound value's pattern
    else:  # a column: contains its text (PocketBase wraps it, escapes nothing)
        pattern = d.contains_pattern(d.text_of(sql.operand(node.pattern), node.pattern.kind))
    return d.like(target, pattern, negate=node.negate)


def _json_cmp(sql: Sql, node: JsonCmp) -> str:
    value = sql.operand(node.ref)
    literal = node.literal
    if literal is None or literal.value is None:
        return sql.dialect.json_compare(value, node.op, None, "null")
    if literal.kind is Kind.BOOL:
        number = sql.bind(1 if literal.value else 0, Kind.NUMBER)
        return sql.dialect.json_compare(value, node.op, number, "number")
    if literal.kind is Kind.NUMBER:
        number = sql.bind(literal.value, Kind.NUMBER)
        return sql.dialect.json_compare(value, node.op, number, "number")
    text = sql.bind(str(literal.value), Kind.TEXT)
    return sql.dialect.json_compare(value, node.op, text, "text")


def _known_if(sql: Sql, node: KnownIf) -> str:
    value = sql.operand(node.operand)
    if node.value:
        return f"({value} IS NOT NULL OR NULL)"
    return f"({value} IS NULL AND NULL)"


def _date_text(sql: Sql, node: DateText) -> str:
    left = sql.dialect.datetime_text(sql.ref(node.ref))
    return f"{left} {node.op} {sql.bind(node.text, Kind.TEXT)}"


def _array_contains(sql: Sql, node: ArrayContains) -> str:
    return sql.dialect.json_array_contains(sql.ref(node.ref), sql.bind(node.value, Kind.TEXT))


def _referenced(sql: Sql, node: Referenced) -> str:
    return sql.dialect.referenced(node.table, node.column, sql.operand(node.parent))


def _in(sql: Sql, node: In) -> str:
    values = [sql.operand(v) for v in node.values]
    text = sql.dialect.in_list(sql.operand(node.operand), values)
    return f"NOT ({text})" if node.negate else text


def _exists(sql: Sql, node: Exists) -> str:
    joins = "".join(sql.join(j) for j in node.joins)
    text = f"EXISTS (SELECT 1 FROM (SELECT 1) AS {sql.dialect.quote('__root')}{joins}"
    text += f" WHERE {sql.node(node.where)})"
    return f"NOT {text}" if node.negate else text


def session_setting(operand: Operand) -> str | None:
    """The session setting a policy reads for a request value (``Session``), if any:
    ``@request.auth.<scalar>``, ``@request.method``, ``@request.context``."""
    if isinstance(operand, AuthRef):
        return f"pb.auth.{operand.field}"
    if isinstance(operand, RequestRef) and operand.path in ("method", "context"):
        return f"pb.request.{operand.path}"
    return None


def _cmp(sql: Sql, node: Cmp) -> str:
    d = sql.dialect
    if sql.mode == POLICY and session_setting(node.left) is not None:
        if isinstance(node.right, Ref) and node.op in FLIP:
            return _cmp(sql, Cmp(FLIP[node.op], node.right, node.left))
        if isinstance(node.right, Val) or session_setting(node.right) is not None:
            return _cmp_session_static(sql, node)
    if sql.mode == POLICY and isinstance(node.left, Val) and session_setting(node.right):
        return _cmp(sql, Cmp(FLIP.get(node.op, node.op), node.right, node.left))
    if isinstance(node.left, Val | AuthRef):
        raise unsupported(node, d.name, "the left side of a comparison is a column")
    left_kind = node.left.kind
    left = sql.operand(node.left)
    if left_kind is Kind.JSON_ARRAY:  # a multi-value column compared as its JSON text
        left = d.text_of(left, Kind.JSON_ARRAY)
    if sql.mode == POLICY and session_setting(node.right) is not None:
        assert isinstance(node.left, Ref)
        return _cmp_session(sql, node, left, node.right)
    if not isinstance(node.right, Val):
        right = sql.operand(node.right)
        right_kind = node.right.kind
        if right_kind is Kind.JSON_ARRAY:
            right = d.text_of(right, Kind.JSON_ARRAY)
        if left_kind is Kind.JSON:  # PocketBase's IS / IS NOT (no null fallback)
            if right_kind is Kind.JSON:
                return d.json_equal(left, right, negate=node.op == "!=")
            return d.null_safe_equal(d.text_of(left, Kind.JSON), right, negate=node.op == "!=")
        if left_kind in (Kind.TEXT, Kind.JSON_ARRAY) and node.op in ("=", "!="):
            # PocketBase: COALESCE(L,'') = COALESCE(R,'')
            left, right = f"COALESCE({left}, '')", f"COALESCE({right}, '')"
    else:
        right = sql.operand(node.right, Kind.TEXT if left_kind is Kind.JSON_ARRAY else left_kind)
    if node.op == "!=":
        return d.null_safe_equal(left, right, negate=True)
    if (
        node.op in ("<", "<=")
        and left_kind is Kind.DATETIME_MS
        and d.UNSET_DATE_IS_NULL
        and isinstance(node.right, Val)
    ):
        # PocketBase's unset date is '', below every date: keep those rows here too.
        return f"({left} {node.op} {right} OR {left} IS NULL)"
    return f"{left} {node.op} {right}"


def _cmp_session_static(sql: Sql, node: Cmp) -> str:
    """Policy mode: a request value against a literal or another request value, decided per
    statement. PocketBase binds both as parameters: ``=`` is ``COALESCE(a, '') =
    COALESCE(b, '')`` (a guest's NULL id equals ''), ``!=`` its negation; booleans compare as
    SQLite's 0/1 against '' for NULL, so a guest's ``verified`` is neither true nor false
    (``= false`` fails, ``!= false`` holds). Ordering operators and LIKE are refused."""
    d = sql.dialect
    left, right = node.left, node.right
    kinds = {left.kind, right.kind}
    if node.op not in ("=", "!=") or len(kinds) != 1 or kinds - {Kind.TEXT, Kind.BOOL}:
        raise unsupported(node, f"{d.name} policy", f"{node.op} between request values")
    a, b = sql.operand(left), sql.operand(right)
    negate = node.op == "!="
    if Kind.TEXT in kinds:
        return f"COALESCE({a}, '') {'<>' if negate else '='} COALESCE({b}, '')"
    if negate:
        return d.null_safe_equal(a, b, negate=True)
    return f"COALESCE({a} = {b}, FALSE)"


def _cmp_session(sql: Sql, node: Cmp, left: str, right_ref: Operand) -> str:
    """Policy mode: ``column = @request.auth.x`` with the value unknown until the request.
    PocketBase's rule for an empty parameter (a guest's NULL, or '') is "the column is
    empty"; otherwise a plain comparison, ``!=`` null-safe."""
    d = sql.dialect
    assert isinstance(node.left, Ref)
    if node.op not in ("=", "!=") or node.left.kind is not right_ref.kind:
        raise unsupported(node, f"{d.name} policy", f"{node.op} against @request.auth")
    right = sql.operand(right_ref)
    negate = node.op == "!="
    if right_ref.kind is Kind.TEXT and not negate:
        # The same, written so the planner can use an index on the column (``col = x`` for
        # a user, ``col = ''`` / ``IS NULL`` for a guest), and two-valued like the CASE.
        key = f"COALESCE({right}, '')"
        match = f"({left} = {key} OR ({left} IS NULL AND {key} = ''))"
        return f"({match} AND ({left} IS NOT NULL OR {key} = ''))"
    if right_ref.kind is Kind.TEXT:
        empty = d.is_empty(left, Kind.TEXT)
        equal = d.null_safe_equal(left, right, negate=negate)
        when_empty = f"NOT {empty}" if negate else empty
        return f"(CASE WHEN COALESCE({right}, '') = '' THEN {when_empty} ELSE {equal} END)"
    if negate:
        return d.null_safe_equal(left, right, negate=True)
    return f"COALESCE({left} = {right}, FALSE)"


_NODES: dict[type, Callable[[Sql, Any], str]] = {
    BoolOp: _bool_op,
    Not: _not,
    Const: _const,
    IsEmpty: _is_empty,
    Like: _like,
    DateText: _date_text,
    ArrayContains: _array_contains,
    Referenced: _referenced,
    In: _in,
    Exists: _exists,
    Cmp: _cmp,
    JsonCmp: _json_cmp,
    KnownIf: _known_if,
}


def render_policy(dialect: Dialect, table: str, node: Node) -> str:
    """A row level security expression on ``table`` (no parameters)."""
    return Sql(dialect, table, mode=POLICY).node(node)


def select_sql(
    dialect: Dialect,
    table: str,
    columns: Sequence[str],
    where: Sequence[Node | Compiled],
    sort: Sequence[SortTerm],
    *,
    joins: Sequence[Join] = (),
    limit: int | None = None,
    offset: int = 0,
    lock: bool = False,
    with_total: bool = False,
) -> tuple[str, dict[str, Any]]:
    """``joins``: the filter's to-one LEFT JOINs (sort terms bring their own; one join per
    alias). ``with_total`` appends the number of matching rows before LIMIT as a last
    column: an uncorrelated scalar sub-select (``Dialect.TOTAL_IN_STATEMENT``), so the
    page keeps its own plan (an index scan stopped at LIMIT)."""
    sql = Sql(dialect, table)
    nodes, filter_joins = _split(where)
    cols = ", ".join(sql.col(c) for c in columns)
    if with_total:
        total = f"SELECT COUNT(*) FROM {dialect.table(table)}"
        cols += f", ({total}{_joins(sql, [*joins, *filter_joins])}{_where(sql, nodes)})"
    text = f"SELECT {cols} FROM {dialect.table(table)}"
    text += _joins(sql, [*joins, *filter_joins, *(j for term in sort for j in term.joins)])
    text += _where(sql, nodes)
    terms = []
    for term in sort:
        if term.special == RANDOM:
            terms.append(dialect.random_function())
        elif term.special == ROWID:
            terms.append(dialect.order_term(dialect.rowid(table), term.descending, nullable=False))
        else:
            assert term.ref is not None
            expr = sql.operand(term.ref)
            if term.many:  # the record's first value in this key's order
                many = "".join(sql.join(j) for j in term.many)
                first = dialect.order_term(expr, term.descending)
                expr = (
                    f"(SELECT {expr} FROM (SELECT 1) AS {dialect.quote('__root')}{many}"
                    f" ORDER BY {first} LIMIT 1)"
                )
            if isinstance(term.ref, Ref) and term.ref.kind is Kind.JSON and not term.many:
                terms += dialect.json_order_terms(expr, term.descending)
            elif isinstance(term.ref, Ref) and term.ref.kind is Kind.JSON_ARRAY:
                # SQLite sorts the stored JSON text (PocketBase's), not a JSON order.
                stored = dialect.text_of(expr, Kind.JSON_ARRAY)
                terms.append(dialect.order_term(stored, term.descending))
            else:
                nullable = term.many != () or _nullable(dialect, term.ref)
                terms.append(dialect.order_term(expr, term.descending, nullable=nullable))
    # Ties (and no sort at all) fall back to insertion order: SQLite's natural order,
    # made explicit so PostgreSQL's heap order never leaks into a response.
    if not any(term.special == RANDOM for term in sort):
        terms.append(dialect.order_term(dialect.rowid(table), False, nullable=False))
    text += " ORDER BY " + ", ".join(terms)
    if limit is not None:
        limit_p = sql.bind(limit, Kind.INT64)
        offset_p = sql.bind(offset, Kind.INT64)
        text += " " + dialect.limit_offset(limit_p, offset_p)
    if lock:
        text += dialect.for_update(table)
    return text, sql.params


def _nullable(dialect: Dialect, operand: Operand) -> bool:
    """Whether a sort key can be NULL: anything but a main-table column its DDL makes
    ``NOT NULL`` (a joined column is NULL where the LEFT JOIN finds nothing). Every
    collection table is created from ``TYPE_MAPPING``; a view collection's columns (not
    built yet) come from its SELECT and must count as nullable when they are."""
    if not isinstance(operand, Ref) or operand.json_path:
        return True
    return operand.nullable or not dialect.never_null(operand.kind)


def _split(where: Sequence[Node | Compiled]) -> tuple[list[Node], list[Join]]:
    """Conditions (a compiled filter or a bare node) -> their nodes and their joins."""
    nodes: list[Node] = []
    joins: list[Join] = []
    for item in where:
        if isinstance(item, Compiled):
            nodes.append(item.where)
            joins += item.joins
        else:
            nodes.append(item)
    return nodes, joins


def _where(sql: Sql, nodes: Sequence[Node]) -> str:
    conditions = [sql.node(node) for node in nodes]
    return " WHERE " + " AND ".join(f"({c})" for c in conditions) if conditions else ""


def _joins(sql: Sql, joins: Sequence[Join]) -> str:
    seen: set[str] = set()
    text = ""
    for join in joins:
        if join.alias not in seen:
            seen.add(join.alias)
            text += sql.join(join)
    return text


def count_sql(
    dialect: Dialect, table: str, where: Sequence[Node | Compiled]
) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    nodes, joins = _split(where)
    text = f"SELECT COUNT(*) FROM {dialect.table(table)}" + _joins(sql, joins)
    return text + _where(sql, nodes), sql.params


def hourly_counts_sql(
    dialect: Dialect, table: str, column: str, where: Sequence[Node | Compiled]
) -> tuple[str, dict[str, Any]]:
    """Rows per hour of the date ``column`` (``Dialect.log_hour``), oldest hour first:
    ``(hour text, count)``; what ``/api/logs/stats`` answers."""
    sql = Sql(dialect, table)
    nodes, joins = _split(where)
    hour, q = dialect.log_hour(sql.col(column)), dialect.quote
    text = f"SELECT {hour} AS {q('hour')}, COUNT({sql.col('id')}) FROM {dialect.table(table)}"
    text += _joins(sql, joins) + _where(sql, nodes)
    return text + f" GROUP BY {q('hour')} ORDER BY {q('hour')}", sql.params


def _returning(dialect: Dialect, columns: Sequence[str] | None) -> str:
    # RETURNING: PostgreSQL always, SQLite since 3.35 (the pinned build is 3.54).
    return f" RETURNING {', '.join(dialect.quote(c) for c in columns)}" if columns else ""


def insert_sql(
    dialect: Dialect,
    table: str,
    values: Sequence[tuple[str, Kind, Any]],
    *,
    returning: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    names = ", ".join(dialect.quote(name) for name, _, _ in values)
    binds = ", ".join(sql.bind(value, kind) for _, kind, value in values)
    text = f"INSERT INTO {dialect.table(table)} ({names}) VALUES ({binds})"
    return text + _returning(dialect, returning), sql.params


def update_sql(
    dialect: Dialect,
    table: str,
    record_id: str,
    values: Sequence[tuple[str, Kind, Any]],
    *,
    returning: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    q = dialect.quote
    # A collection of only ``id`` still updates (to return the row): a no-op assignment.
    sets = ", ".join(f"{q(name)} = {sql.bind(value, kind)}" for name, kind, value in values)
    sets = sets or f"{q('id')} = {q('id')}"
    where = sql.bind(record_id, Kind.TEXT)
    text = f"UPDATE {dialect.table(table)} SET {sets} WHERE {q('id')} = {where}"
    return text + _returning(dialect, returning), sql.params


def delete_sql(dialect: Dialect, table: str, record_id: str) -> tuple[str, dict[str, Any]]:
    sql = Sql(dialect, table)
    where = sql.bind(record_id, Kind.TEXT)
    return f"DELETE FROM {dialect.table(table)} WHERE {dialect.quote('id')} = {where}", sql.params


def exists_ids_sql(dialect: Dialect, table: str, ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The ids of ``table`` among ``ids``, kept from deletion until the transaction ends
    (``Dialect.for_key_share``): a record cannot be deleted between the check that a new
    relation's target exists and the commit of the row pointing at it."""
    sql = Sql(dialect, table)
    binds = [sql.bind(i, Kind.TEXT) for i in ids]
    cond = dialect.in_list(dialect.quote("id"), binds)
    lock = dialect.for_key_share(table)
    return (
        f"SELECT {dialect.quote('id')} FROM {dialect.table(table)} WHERE {cond}{lock}",
        sql.params,
    )


def delete_all_sql(dialect: Dialect, table: str) -> tuple[str, dict[str, Any]]:
    return f"DELETE FROM {dialect.table(table)}", {}
