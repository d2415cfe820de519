"""The filter IR: what a filter, a rule or a sort means, with no SQL and no engine in it.

The front-end (``core/filter``) builds it: names resolve to :class:`Ref` (a column of a
FROM item, maybe a JSON path into it), request values stay symbolic (:class:`AuthRef`,
:class:`RequestRef`, :class:`Macro`) until ``fold`` binds them for one request, so a rule
compiles once. Three back-ends read it: ``db/render.py`` (SQL per dialect, as bound
parameters or as a row level security policy), and the in-memory evaluator.

Value expressions (operands) and predicates are separate unions; joins are data too, so a
renderer places them (outer LEFT JOINs for to-one paths, ``EXISTS`` for to-many ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reference_impl.ir.kinds import Kind

BASE = ""
"""The alias of the statement's own table (the collection a filter runs on)."""


# -- value expressions -----------------------------------------------------------------------
# Every operand has ``kind`` (what its value is) and ``nullable`` (whether a row's value can
# be SQL NULL); the renderer, the semantics and the evaluator all read these two.
@dataclass(frozen=True)
class Ref:
    """A column of a FROM item. ``alias`` is :data:`BASE` or a join's alias; a non-empty
    ``json_path`` reads into a JSON column (keys and array indexes, as ``j.a.0``)."""

    alias: str
    column: str
    kind: Kind
    json_path: tuple[str | int, ...] = ()

    @property
    def nullable(self) -> bool:
        """Whether the value can be NULL: any column reached through a LEFT JOIN, JSON
        (NULL is its null), and unset dates on engines that store them as NULL (the
        dialect's ``UNSET_DATE_IS_NULL``; not known here, so dates count)."""
        return self.alias != BASE or self.kind in (Kind.JSON, Kind.DATETIME_MS)


@dataclass(frozen=True)
class Val:
    """A literal (``None`` only inside request bindings; the null literal folds away)."""

    value: Any
    kind: Kind

    @property
    def nullable(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class AuthRef:
    """``@request.auth.<field>``, a scalar of the authenticated record: bound per request
    (parameters mode) or read from the session settings (policy mode)."""

    field: str
    kind: Kind
    nullable = True  # a guest has none


@dataclass(frozen=True)
class RequestRef:
    """``@request.method``, ``@request.context``, ``@request.query.k``, ``@request.headers.k``
    (``path`` as written after ``@request.``), bound per request."""

    path: str
    kind: Kind
    nullable = True  # a request may not carry it


@dataclass(frozen=True)
class Macro:
    """``@now``, ``@todayStart``, ``@year``...: one clock reading per request (UTC)."""

    name: str
    kind: Kind
    nullable = False


@dataclass(frozen=True)
class Lower:
    """``:lower``: ASCII-only lower case (SQLite's ``lower()`` without ICU); text, NULL
    where its operand is."""

    operand: Operand
    kind = Kind.TEXT

    @property
    def nullable(self) -> bool:
        return self.operand.nullable


@dataclass(frozen=True)
class Length:
    """``:length`` of a multi-value column: its number of items (0 for '' and NULL)."""

    operand: Ref
    kind = Kind.NUMBER
    nullable = False


@dataclass(frozen=True)
class Func:
    """``strftime(fmt, value, modifiers...)`` or ``geoDistance(lonA, latA, lonB, latB)``;
    NULL where SQLite's function answers NULL (an unreadable time value, say)."""

    name: str
    args: tuple[Operand, ...]
    kind: Kind
    nullable = True


Operand = Ref | Val | AuthRef | RequestRef | Macro | Lower | Length | Func


# -- joins ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RelationJoin:
    """To-one: ``LEFT JOIN table alias ON alias.id = <key>`` (a single relation, or the
    auth record through ``@request.auth``)."""

    alias: str
    table: str
    key: Operand


@dataclass(frozen=True)
class EachJoin:
    """To-many: one row per item of a JSON array column (``value``: the item's text), one
    NULL row for an empty array (a LEFT JOIN over the array's items, as PocketBase's)."""

    alias: str
    array: Ref


@dataclass(frozen=True)
class BackJoin:
    """To-many: the rows of ``table`` whose relation ``column`` holds ``parent``'s id
    (``<coll>_via_<field>``); ``multiple`` when that column is a JSON array."""

    alias: str
    table: str
    column: str
    multiple: bool
    parent: str


@dataclass(frozen=True)
class CrossJoin:
    """To-many: every row of ``table`` (``@collection.<name>``, no ON clause)."""

    alias: str
    table: str


Join = RelationJoin | EachJoin | BackJoin | CrossJoin


# -- predicates ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Const:
    value: bool


# ``a op b`` is ``b FLIP[op] a``: how a comparison reads with its sides swapped.
FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class Cmp:
    """``left op right`` for ``= != < <= > >=``; ``!=`` is null-safe (PocketBase's ``IS NOT``)."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class JsonCmp:
    """``value op literal`` where ``value`` is a JSON field or path read as SQLite
    extracts it (PocketBase's JSON path): NULL (missing or JSON null), a number (true is 1, false
    0), text (strings; objects and arrays as their JSON text). Storage-class order applies
    (numbers before text) and ``=``/``!=`` are null-safe (PocketBase's ``IS``/``IS NOT``).
    ``literal`` None is the null literal."""

    op: str
    ref: Ref
    literal: Val | None


@dataclass(frozen=True)
class KnownIf:
    """``value`` when ``ref`` is not NULL, else NULL: a comparison whose answer is fixed for
    every stored value, on a column a LEFT JOIN may leave NULL (three-valued logic keeps
    ``NOT`` right inside multi-match checks)."""

    operand: Operand
    value: bool


@dataclass(frozen=True)
class IsEmpty:
    """PocketBase's "empty or NULL" (``= null`` / ``= ''``) on a text-like operand."""

    operand: Operand
    negate: bool = False


@dataclass(frozen=True)
class DateText:
    """A date column compared as PocketBase's stored text (for non-canonical literals)."""

    op: str
    ref: Ref
    text: str


@dataclass(frozen=True)
class Like:
    """``~`` / ``!~``: LIKE with backslash escapes and ASCII-only case folding."""

    operand: Operand
    pattern: Operand
    negate: bool


@dataclass(frozen=True)
class ArrayContains:
    """A multi-value (JSON array) column holds ``value`` (relation bookkeeping)."""

    ref: Ref
    value: str


@dataclass(frozen=True)
class Referenced:
    """Some row of ``table`` points at ``parent`` (its ``id``) through ``column`` (a multi
    relation when ``multiple``), whatever the caller may see: the client relation guard's
    "there are back-related rows" under row level security, where rows the caller may not
    list are not joined at all."""

    table: str
    column: str
    multiple: bool
    parent: Ref


@dataclass(frozen=True)
class In:
    operand: Operand
    values: tuple[Operand, ...]
    negate: bool = False


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Exists:
    """A correlated sub-query: rows of ``joins`` (in order, each may refer to the outer
    row's aliases or an earlier join) for which ``where`` holds; ``negate`` for NOT EXISTS.
    The source always has one row before its joins, so LEFT JOINs over empty arrays still
    give PocketBase's one NULL row."""

    joins: tuple[Join, ...]
    where: Node
    negate: bool = False


Node = (
    Const
    | Cmp
    | JsonCmp
    | KnownIf
    | IsEmpty
    | DateText
    | Like
    | ArrayContains
    | Referenced
    | In
    | BoolOp
    | Not
    | Exists
)


# -- compiled results ----------------------------------------------------------------------
@dataclass(frozen=True)
class Compiled:
    """A filter ready to render: ``where`` plus the to-one joins it reads through (outer
    LEFT JOINs of the statement; to-many paths are inside ``Exists`` nodes)."""

    where: Node
    joins: tuple[Join, ...] = ()


@dataclass(frozen=True)
class SortTerm:
    """One ``sort`` key: a value (``ref``) or ``special`` (``random`` / ``rowid``),
    through ``joins`` (to-one, outer LEFT JOINs). A multi-valued path reads ``ref`` over
    ``many`` (a correlated sub-query) and sorts by its first value in the key's own
    direction (PocketBase's DISTINCT keeps each record's first row of the sorted join:
    the smallest value ascending, the largest descending). ``guard``: the client relation
    guard the path brings (rows it drops leave the list and its total)."""

    descending: bool
    ref: Operand | None = None
    special: str = ""
    joins: tuple[Join, ...] = ()
    many: tuple[Join, ...] = ()
    guard: Compiled | None = None


RANDOM = "random"
ROWID = "rowid"
