"""API rules as PostgreSQL row level security policies (EPIC-4.2, 4.3).

The domain says which rule guards which command (``TablePolicy``: an action and the rule's
IR, compiled with request values symbolic); this module writes the DDL. Per table:

- ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` (the owner is subject too), ``GRANT`` of the
  record commands to the unprivileged role the requests run as (``Session``).
- PostgreSQL has one SELECT command for list and view, so the SELECT policies are keyed on
  the session's action: ``pb_list`` (listRule), ``pb_view`` (viewRule), and ``pb_written``
  (the row an insert, update or delete addresses: PostgreSQL also checks the rows such a
  statement writes or returns against the SELECT policies, which PocketBase does not).
- ``pb_create`` ``FOR INSERT WITH CHECK`` (createRule over the new row), ``pb_update`` ``FOR
  UPDATE USING`` (updateRule over the stored row; ``WITH CHECK (true)``: PocketBase checks
  nothing on the new row), ``pb_delete`` ``FOR DELETE USING`` (deleteRule). A null rule is
  ``false``: only bypassing sessions (superusers, the app itself) pass.

A rule that reads other rows (relations, back-relations, ``@collection``) cannot be an
inline sub-query: that sub-query would run under the other table's policies (PocketBase's
rules see every row) and two tables whose rules read each other make PostgreSQL refuse the
policies ("infinite recursion detected in policy"). Such a rule becomes a ``SECURITY
DEFINER`` function owned by the app's login role (which bypasses row level security):

- for a list, a set function of the ids the rule lets through, ``id IN (SELECT f())``:
  evaluated once per statement and hashed (measured on 20,000 rows: 3.7 ms, against 2.7 ms
  for the app's inline ``EXISTS`` and 90 ms for a call per row, which PostgreSQL cannot
  inline for a ``SECURITY DEFINER`` function);
- for a view, create, update or delete (one row), a function of the row itself (the
  created row is not in the table yet).

Rules over the row and the session alone stay inline, so the planner sees them.

Per relation column there is one more function, ``referenced``: whether any row points
back at a record, seen without the policies. A client filter through a back-relation
drops the records whose back-related rows the caller may not list (PocketBase's relation
guard); under row level security those rows are not joined, so the guard asks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reference_impl.db.dialect import Dialect
from reference_impl.db.engine import Action, Tx
from reference_impl.db.render import POLICY, Sql
from reference_impl.ir import BoolOp, Compiled, Const, Exists, Kind, Node, Not

POLICY_NAMES = ("pb_list", "pb_view", "pb_written", "pb_create", "pb_update", "pb_delete")
_FUNCTION_PREFIX = "_pp_rule_"
_REFERENCES_PREFIX = "_pp_refs_"
ACTION_SETTING = "pb.request.action"
RECORD_SETTING = "pb.request.record"


@dataclass(frozen=True)
class TablePolicy:
    """The rule one action runs under: ``rule`` None is superuser-only (false)."""

    action: Action
    rule: Compiled | None


def reads_other_rows(compiled: Compiled) -> bool:
    """True when the rule joins or sub-queries other rows (it then needs a function)."""
    return bool(compiled.joins) or _has_exists(compiled.where)


def _has_exists(node: Node) -> bool:
    if isinstance(node, Exists):
        return True
    if isinstance(node, BoolOp):
        return any(_has_exists(item) for item in node.items)
    if isinstance(node, Not):
        return _has_exists(node.item)
    return False


def apply_policies(
    tx: Tx,
    dialect: Dialect,
    table: str,
    policies: Sequence[TablePolicy],
    role: str,
    relations: Sequence[tuple[str, bool]] = (),
) -> None:
    """Replace ``table``'s policies (and rule functions) by ``policies``, in ``tx``;
    ``relations``: its relation columns (name, multiple) for ``referenced``."""
    drop_policies(tx, dialect, table)
    for statement in policy_statements(dialect, table, policies, role):
        tx.execute(statement)
    for column, multiple in relations:
        for statement in references_statements(dialect, table, column, multiple, role):
            tx.execute(statement)


def references_function(dialect: Dialect, table: str, column: str) -> str:
    """The qualified name of ``table.column``'s ``referenced`` function."""
    name = dialect.index_name(f"{_REFERENCES_PREFIX}{table}_{column}")
    return f"{dialect.quote(dialect.SCHEMA)}.{dialect.quote(name)}"


def references_statements(
    dialect: Dialect, table: str, column: str, multiple: bool, role: str
) -> list[str]:
    q = dialect.quote
    held = f"{q(table)}.{q(column)}"
    test = dialect.json_array_contains(held, "$1") if multiple else f"{held} = $1"
    body = f"SELECT EXISTS (SELECT 1 FROM {dialect.table(table)} AS {q(table)} WHERE {test})"
    signature = f"{references_function(dialect, table, column)}(text)"
    comment = dialect.literal(Kind.TEXT, _owner_tag(table))
    return [
        *_definer_function(dialect, signature, "boolean", body, role),
        f"COMMENT ON FUNCTION {signature} IS {comment}",
    ]


def _owner_tag(table: str) -> str:
    """What a ``referenced`` function's comment says, so its table's drop finds it (a long
    name is shortened with a hash, so its prefix cannot be searched)."""
    return f"parity:referenced:{table}"


def drop_policies(tx: Tx, dialect: Dialect, table: str) -> None:
    """Drop the policies and rule functions of ``table`` (before its columns change or it
    goes: a policy depends on the columns it reads, a function on the table's row type)."""
    q = dialect.quote
    qualified = dialect.table(table)
    for name in POLICY_NAMES:
        tx.execute(f"DROP POLICY IF EXISTS {q(name)} ON {qualified}")
    names = [_function_name(dialect, action, table) for action in _ACTIONS]
    rows = tx.fetchall(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass "
        "WHERE p.pronamespace = to_regnamespace(%(schema)s) "
        "AND (p.proname = ANY(%(names)s) OR d.description = %(tag)s)",
        {"schema": q(dialect.SCHEMA), "names": names, "tag": _owner_tag(table)},
    )
    for (signature,) in rows:
        tx.execute(f"DROP FUNCTION IF EXISTS {signature}")


def policy_statements(
    dialect: Dialect, table: str, policies: Sequence[TablePolicy], role: str
) -> list[str]:
    """The DDL giving ``table`` its policies (``drop_policies`` first when replacing)."""
    q = dialect.quote
    qualified, to = dialect.table(table), q(role)
    statements = [
        f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {qualified} TO {to}",
    ]
    action = dialect.session_value(ACTION_SETTING, Kind.TEXT)
    record = dialect.session_value(RECORD_SETTING, Kind.TEXT)
    statements.append(
        f"CREATE POLICY {q('pb_written')} ON {qualified} FOR SELECT TO {to} USING "
        f"({action} IN ('create', 'update', 'delete') AND {q(table)}.{q('id')} = {record})"
    )
    for policy in policies:
        expr, function = _expression(dialect, table, policy, role)
        if function:
            statements += function
        name = q(f"pb_{policy.action}")
        if policy.action in ("list", "view"):
            statements.append(
                f"CREATE POLICY {name} ON {qualified} FOR SELECT TO {to} USING "
                f"({action} = '{policy.action}' AND {expr})"
            )
        elif policy.action == "create":
            statements.append(
                f"CREATE POLICY {name} ON {qualified} FOR INSERT TO {to} WITH CHECK ({expr})"
            )
        elif policy.action == "update":
            statements.append(
                f"CREATE POLICY {name} ON {qualified} FOR UPDATE TO {to} USING ({expr}) "
                "WITH CHECK (true)"
            )
        elif policy.action == "delete":
            statements.append(
                f"CREATE POLICY {name} ON {qualified} FOR DELETE TO {to} USING ({expr})"
            )
    return statements


def _expression(
    dialect: Dialect, table: str, policy: TablePolicy, role: str
) -> tuple[str, list[str]]:
    """The policy's boolean expression, and the DDL of the function it calls (if any)."""
    if policy.rule is None:
        return "false", []
    compiled = policy.rule
    if isinstance(compiled.where, Const) and not compiled.joins:
        return ("true" if compiled.where.value else "false"), []
    sql = Sql(dialect, table, mode=POLICY)
    if not reads_other_rows(compiled):
        return sql.node(compiled.where), []
    q = dialect.quote
    joins = "".join(sql.join(join) for join in compiled.joins)
    where = sql.node(compiled.where)
    function = f"{q(dialect.SCHEMA)}.{q(_function_name(dialect, policy.action, table))}"
    if policy.action == "list":  # many rows: the set of ids, once per statement
        body = f"SELECT {q(table)}.{q('id')} FROM {dialect.table(table)} AS {q(table)}{joins}"
        body += f" WHERE {where}"
        signature, returns = f"{function}()", "SETOF text"
        call = f"{q(table)}.{q('id')} IN (SELECT {function}())"
    else:  # one row: the row itself (an inserted one is not in the table yet)
        body = f"SELECT EXISTS (SELECT 1 FROM (SELECT ($1).*) AS {q(table)}{joins}"
        body += f" WHERE {where})"
        signature, returns = f"{function}({dialect.table(table)})", "boolean"
        call = f"{function}({q(table)}.*)"
    return call, _definer_function(dialect, signature, returns, body, role)


def _definer_function(
    dialect: Dialect, signature: str, returns: str, body: str, role: str
) -> list[str]:
    """A SQL function that reads as its owner (the login role: no row level security),
    executable by ``role`` alone; the body's literals cannot end its dollar quote."""
    tag = _dollar_tag(body)
    return [
        f"CREATE FUNCTION {signature} RETURNS {returns} LANGUAGE sql STABLE SECURITY DEFINER "
        f"SET search_path = pg_catalog, pg_temp AS {tag} {body} {tag}",
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {signature} TO {dialect.quote(role)}",
    ]


_ACTIONS: tuple[Action, ...] = ("list", "view", "create", "update", "delete")


def _function_name(dialect: Dialect, action: str, table: str) -> str:
    return dialect.index_name(f"{_FUNCTION_PREFIX}{action}_{table}")


def _dollar_tag(body: str) -> str:
    """A dollar-quote tag the body does not contain (literals come from rule text)."""
    n = 0
    while f"$pp{n}$" in body:
        n += 1
    return f"$pp{n}$"
