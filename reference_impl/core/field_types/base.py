"""What every field type answers: its options, storage kind, zero value, cast, checks,
record JSON and body modifiers (PocketBase ``core/field_*.go``, one file per type).

A type is a stateless object (one instance per type name, see :mod:`.registry`); the
:class:`~reference_impl.core.fields.Field` it serves is passed in, because the answer of
most questions depends on the field's options (``maxSelect``, ``required``, ``onlyInt``).
The defaults here are the plain text-like behaviour; a type overrides what differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from reference_impl.core.casts import to_string_list, to_text
from reference_impl.core.errors import REQUIRED
from reference_impl.ir.kinds import Kind

if TYPE_CHECKING:
    from reference_impl.core.fields import Field
    from reference_impl.core.files import Upload

Problem = dict[str, Any]  # one validation error: {"code": ..., "message": ..., "params": ...}

# Option defaults PocketBase serialises for every type (keys come out sorted).
COMMON = {"hidden": False, "presentable": False, "system": False}
WITH_HELP = {**COMMON, "help": "", "required": False}

# Go type of each option, checked before the options' values (field_settings).
INT, FLOAT, BOOL, STR, STRS = "int", "float", "bool", "str", "strs"
COMMON_TYPES = {"id": STR, "name": STR, "hidden": BOOL, "presentable": BOOL, "system": BOOL}
WITH_HELP_TYPES = {**COMMON_TYPES, "help": STR, "required": BOOL}

# A body modifier: "+" (``f+``: add, append), "-" (``f-``: subtract, remove) or "prepend"
# (``+f``).
Modifier = str


class FieldType:
    """The text-like defaults; see the module docstring."""

    name: ClassVar[str]
    options: ClassVar[dict[str, Any]] = WITH_HELP
    option_types: ClassVar[dict[str, str]] = WITH_HELP_TYPES
    # select, relation, file: ``maxSelect`` > 1 makes the value a list (stored as JSON).
    can_be_multiple: ClassVar[bool] = False
    is_relation: ClassVar[bool] = False
    holds_files: ClassVar[bool] = False
    # autodate: set by the server only, a body key for it is ignored.
    client_settable: ClassVar[bool] = True
    # password: a client may set a hidden one (it is never served back).
    hidden_writable: ClassVar[bool] = False

    def kind(self, f: Field) -> Kind:
        return Kind.JSON_ARRAY if f.multiple else Kind.TEXT

    def zero(self, f: Field) -> Any:
        return [] if f.multiple else ""

    # -- input ---------------------------------------------------------------------------
    def cast(self, f: Field, raw: Any) -> Any:
        """Lenient conversion of a request value to the field's domain value."""
        return to_text(raw)

    def from_body(self, f: Field, raw: Any) -> Any:
        """The value a plain body key (``f``) sets; a cast unless the type keeps more."""
        return self.cast(f, raw)

    def modify(self, f: Field, current: Any, mod: Modifier, raw: Any) -> Any:
        """``f+`` / ``f-`` / ``+f``: types without modifiers keep the value as it was."""
        return current

    def merge_uploads(
        self, f: Field, body: dict[str, Any], uploads: dict[str, list[Upload]]
    ) -> None:
        """Put uploaded files into a multipart body's values (only a file field takes any)."""

    def stamp(self, f: Field, *, creating: bool) -> bool:
        """Whether the server sets the field to "now" on this write (autodate)."""
        return False

    # -- validation ----------------------------------------------------------------------
    def is_blank(self, value: Any) -> bool:
        """What ``required`` refuses (ozzo's ``Required``: the Go zero value)."""
        return value in ("", None, [], 0, False)

    def validate(self, f: Field, value: Any) -> Problem | None:
        """PocketBase's checks for a cast value; ``None`` when valid."""
        if f.opt("required") and self.is_blank(value):
            return REQUIRED
        return self.check(f, value)

    def check(self, f: Field, value: Any) -> Problem | None:
        """The type's own checks of a value that passed ``required``."""
        return None

    def validate_record(self, f: Field, value: Any, old: Any) -> Problem | None:
        """The check on a record write; ``old`` is the stored value (a file field may only
        keep names it had)."""
        return self.validate(f, value)

    def settings_errors(self, f: Field) -> dict[str, Problem]:
        """The type's own ``ValidateSettings`` rules, keyed by option (first error wins)."""
        return {}

    # -- output and limits ---------------------------------------------------------------
    def served(self, f: Field) -> bool:
        """Whether the value appears in record JSON at all (hidden fields aside)."""
        return True

    def export(self, f: Field, value: Any) -> Any:
        """The stored value as record JSON shows it."""
        return value

    def max_body_size(self, f: Field) -> int:
        """``MaxBodySizeCalculator``: what the field adds to a record body's byte limit."""
        return 0


def first_errors(*checks: tuple[str, Problem | None]) -> dict[str, Problem]:
    """ozzo's per-key reporting: the first failing rule of each option."""
    errors: dict[str, Problem] = {}
    for key, problem in checks:
        if problem is not None:
            errors.setdefault(key, problem)
    return errors


class ChoiceType(FieldType):
    """select and relation: one value, or a unique list when ``maxSelect`` > 1."""

    can_be_multiple = True

    def cast(self, f: Field, raw: Any) -> Any:
        return cast_choices(f, raw)

    def modify(self, f: Field, current: Any, mod: Modifier, raw: Any) -> Any:
        """``f+`` appends, ``+f`` prepends, ``f-`` removes; a single field keeps the last."""
        items = current if isinstance(current, list) else [current] if current else []
        given = f.cast(raw) if f.multiple else [v for v in ([f.cast(raw)] if f.cast(raw) else [])]
        given = given if isinstance(given, list) else [given]
        if mod == "-":
            items = [i for i in items if i not in given]
        elif mod == "prepend":
            items = given + [i for i in items if i not in given]
        else:
            items = items + [i for i in given if i not in items]
        if f.multiple:
            return list(dict.fromkeys(items))
        return items[-1] if items else ""


def cast_choices(f: Field, raw: Any) -> Any:
    """A list of unique non-empty texts for a multiple field, else the last one or ""."""
    values = to_string_list(raw)
    if f.multiple:
        return list(dict.fromkeys(v for v in values if v))
    return values[-1] if values else ""
