"""Filter stage 3: a name -> an operand (:class:`Ref`, a request value or a literal).

``FieldResolver`` is the counterpart of PocketBase's ``core/record_field_resolver*.go``:
it knows the collection's fields and who asks (hidden fields only for rules and
superusers). Paths that need other tables come back with the joins they read through.
It never folds a value: request values stay symbolic (``AuthRef``, ``RequestRef``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.core.fields import Field
from reference_impl.core.filter.parser import Ident, Num, Operand, Text
from reference_impl.ir import BASE, AuthRef, FilterError, Join, Kind, Ref, RequestRef, Val
from reference_impl.ir import Operand as IrOperand

# ``@request.auth.<key>`` values the request carries without a join.
AUTH_SCALARS: dict[str, Kind] = {
    "id": Kind.TEXT,
    "collectionId": Kind.TEXT,
    "collectionName": Kind.TEXT,
    "email": Kind.TEXT,
    "verified": Kind.BOOL,
    "emailVisibility": Kind.BOOL,
}


@dataclass
class Scope:
    """What names resolve to: the collection's fields and whether hidden ones are visible."""

    fields: dict[str, Field]
    allow_hidden: bool
    # relation field name -> (target table, target fields), for ``rel.field`` sorts
    relations: dict[str, tuple[str, dict[str, Field]]] | None = None


@dataclass
class Resolved:
    """An operand and the joins it reads through (``None`` operand: the null literal)."""

    operand: IrOperand | None
    joins: tuple[Join, ...] = ()


@dataclass
class FieldResolver:
    scope: Scope
    joins: dict[str, Join] = field(default_factory=dict)

    def resolve(self, op: Operand) -> IrOperand | None:
        if isinstance(op, Text):
            return Val(op.value, Kind.TEXT)
        if isinstance(op, Num):
            return Val(op.value, Kind.NUMBER)
        if not isinstance(op, Ident):
            raise FilterError(f"function {op.name}() is not supported in this build")
        name = op.name
        if name.startswith("@request."):
            return self._request(name[len("@request.") :])
        if name.startswith("@"):
            raise FilterError(f"{name} is not supported in this build")
        found = self.scope.fields.get(name)
        if found is None:
            lowered = name.lower()
            if lowered == "null":
                return None
            if lowered in ("true", "false"):
                return Val(lowered == "true", Kind.BOOL)
            if "." in name or ":" in name:
                raise FilterError(
                    f"{name}: relations, JSON paths and modifiers are not supported yet"
                )
            raise FilterError(f'invalid left operand "{name}" - unknown field "{name}"')
        if found.hidden and not self.scope.allow_hidden:
            raise FilterError(f"field {name} is hidden")
        if found.kind in (Kind.JSON, Kind.JSON_ARRAY):
            raise FilterError(f"{name}: comparing json and multi-value fields is not supported yet")
        return Ref(BASE, name, found.kind)

    def _request(self, path: str) -> IrOperand:
        if path == "method":
            return RequestRef("method", Kind.TEXT)
        if path == "context":
            return RequestRef("context", Kind.TEXT)
        if path.startswith("auth."):
            key = path[len("auth.") :]
            kind = AUTH_SCALARS.get(key)
            if kind is None:
                raise FilterError(f"@request.auth.{key} is not supported yet")
            return AuthRef(key, kind)
        raise FilterError(f"@request.{path} is not supported yet")
