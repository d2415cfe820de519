"""Field types: options, storage kind, lenient input casting, validation, zero values.

Casting follows PocketBase's ``spf13/cast``-style leniency (verified on 0.40.6): a number
field given ``"abc"`` stores 0, a bool given ``"yes"`` stores false, a single select given an
array keeps the last value, a garbage date becomes empty. Only the checks PocketBase makes
produce validation errors.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from reference_impl.core import jsonin, regex
from reference_impl.core.errors import REQUIRED, field_error
from reference_impl.core.jsonfmt import go_float
from reference_impl.ir.kinds import Kind

FIELD_NAME_RE = re.compile(r"^\w+$", re.ASCII)  # Go's \w: [0-9A-Za-z_]
RESERVED_FIELD_NAMES = {
    "null",
    "true",
    "false",
    "_rowid_",
    "collectionId",
    "collectionName",
    "expand",
}
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # RE2: linear on hostile input
TEXT_DEFAULT_MAX = 5000

_COMMON = {"hidden": False, "presentable": False, "system": False}
_WITH_HELP = {**_COMMON, "help": "", "required": False}

# Every option key PocketBase serialises per type, with its default (keys come out sorted).
# maxSelect 0 (not given) means single, like 1.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "text": {
        **_WITH_HELP,
        "autogeneratePattern": "",
        "max": 0,
        "min": 0,
        "pattern": "",
        "primaryKey": False,
    },
    "number": {**_WITH_HELP, "max": None, "min": None, "onlyInt": False},
    "bool": {**_WITH_HELP},
    "email": {**_WITH_HELP, "exceptDomains": [], "onlyDomains": []},
    "url": {**_WITH_HELP, "exceptDomains": [], "onlyDomains": []},
    "editor": {**_WITH_HELP, "convertURLs": False, "maxSize": 0},
    "date": {**_WITH_HELP, "max": "", "min": ""},
    "autodate": {**_COMMON, "onCreate": True, "onUpdate": False},
    "select": {**_WITH_HELP, "maxSelect": 0, "values": []},
    "json": {**_WITH_HELP, "maxSize": 0},
    "relation": {
        **_WITH_HELP,
        "cascadeDelete": False,
        "collectionId": "",
        "maxSelect": 0,
        "minSelect": 0,
    },
    "file": {
        **_WITH_HELP,
        "maxSelect": 0,
        "maxSize": 0,
        "mimeTypes": [],
        "protected": False,
        "thumbs": [],
    },
    "password": {**_WITH_HELP, "cost": 0, "max": 0, "min": 0, "pattern": ""},
    "geoPoint": {**_WITH_HELP},
}
FIELD_TYPES = frozenset(DEFAULT_OPTIONS)


def field_id(type_: str, name: str) -> str:
    """PocketBase's default field id: the type name plus crc32 of the field name."""
    return f"{type_}{zlib.crc32(name.encode())}"


def sorted_keys(value: Any) -> Any:
    """Objects with their keys sorted at every level, as Go marshals a map: PocketBase
    stores json fields so, and their JSON text (what ``~``, ``=`` and sorting read on
    SQLite) depends on it."""
    if isinstance(value, dict):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value


@dataclass
class Field:
    type: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, key: str, value: Any) -> None:
        # ``kind`` and ``hidden`` are read for every value of every record served, so they
        # are cached; options are replaced, never changed in place, and replacing any
        # attribute drops the cache.
        object.__setattr__(self, key, value)
        self.__dict__.pop("_derived", None)

    def _derive(self) -> tuple[Kind, bool]:
        derived: tuple[Kind, bool] | None = self.__dict__.get("_derived")
        if derived is None:
            derived = self.__dict__["_derived"] = (self._kind(), bool(self.opt("hidden")))
        return derived

    @property
    def id(self) -> str:
        return str(self.options.get("id") or field_id(self.type, self.name))

    def opt(self, key: str) -> Any:
        return self.options.get(key, DEFAULT_OPTIONS[self.type].get(key))

    @property
    def hidden(self) -> bool:
        return self._derive()[1]

    @property
    def multiple(self) -> bool:
        return self.type in {"select", "relation", "file"} and int(self.opt("maxSelect") or 1) > 1

    @property
    def kind(self) -> Kind:
        return self._derive()[0]

    def _kind(self) -> Kind:
        if self.type == "number":
            return Kind.NUMBER
        if self.type == "bool":
            return Kind.BOOL
        if self.type in {"json", "geoPoint"}:
            return Kind.JSON
        if self.type in {"date", "autodate"}:
            return Kind.DATETIME_MS
        if self.multiple:
            return Kind.JSON_ARRAY
        return Kind.TEXT

    def to_json(self) -> dict[str, Any]:
        out = {**DEFAULT_OPTIONS[self.type], **self.options}
        out.update(id=self.id, name=self.name, type=self.type)
        return dict(sorted(out.items()))

    def zero(self) -> Any:
        kind = self.kind
        if kind is Kind.NUMBER:
            return 0
        if kind is Kind.BOOL:
            return False
        if kind is Kind.JSON_ARRAY:
            return []
        if self.type == "geoPoint":
            return {"lon": 0, "lat": 0}
        if kind in (Kind.JSON, Kind.DATETIME_MS):
            return None
        return ""

    # -- input ---------------------------------------------------------------------------
    def cast(self, raw: Any) -> Any:
        """Lenient conversion of a request value to the field's domain value."""
        t = self.type
        if t == "number":
            return to_number(raw)
        if t == "bool":
            return to_bool(raw)
        if t in {"date", "autodate"}:
            return to_datetime(raw)
        if t == "json":
            # A string holding valid JSON is stored as that JSON ("123" -> 123), as PocketBase.
            if isinstance(raw, str):
                try:
                    return sorted_keys(jsonin.loads(raw))
                except jsonin.JsonInputError:
                    return raw
            return sorted_keys(raw)
        if t == "geoPoint":
            point = raw if isinstance(raw, dict) else {}
            return {"lon": to_number(point.get("lon", 0)), "lat": to_number(point.get("lat", 0))}
        if t in {"select", "relation", "file"}:
            values = to_string_list(raw)
            if self.multiple:
                return list(dict.fromkeys(v for v in values if v))
            return values[-1] if values else ""
        return to_text(raw)

    def validate(self, value: Any) -> dict[str, Any] | None:
        """PocketBase's checks for a cast value; ``None`` when valid."""
        t = self.type
        required = bool(self.opt("required"))
        if t == "autodate":
            return None
        if required and value in ("", None, [], 0, False) and t != "json":
            return REQUIRED
        if required and t == "json" and value in (None, "", [], {}):
            return REQUIRED
        if t in {"text", "password", "editor"} and isinstance(value, str) and value:
            return self._validate_text(value)
        if t == "number":
            return self._validate_number(value)
        if t == "geoPoint" and isinstance(value, dict):
            if not -90 <= value.get("lat", 0) <= 90:
                return field_error(
                    "validation_invalid_latitude", "Latitude must be between -90 and 90 degrees."
                )
            if not -180 <= value.get("lon", 0) <= 180:
                return field_error(
                    "validation_invalid_longitude",
                    "Longitude must be between -180 and 180 degrees.",
                )
        if t == "email" and value and not regex.matches(EMAIL_PATTERN, value):
            return field_error("validation_is_email", "Must be a valid email address.")
        if t == "url" and value and not _is_url(value):
            return field_error("validation_invalid_url", "Must be a valid url.")
        if t in {"email", "url"} and value:
            return self._validate_domain(value)
        if t == "select":
            allowed = self.opt("values") or []
            for item in value if isinstance(value, list) else [value] if value else []:
                if item not in allowed:
                    return field_error(
                        "validation_invalid_value", f"Invalid value {item}.", {"value": item}
                    )
            max_select = int(self.opt("maxSelect") or 1)
            if isinstance(value, list) and len(value) > max_select:
                return field_error(
                    "validation_too_many_values",
                    f"Select no more than {max_select}.",
                    {"maxSelect": max_select},
                )
        return None

    def _validate_domain(self, value: str) -> dict[str, Any] | None:
        if self.type == "email":
            domain = value.rsplit("@", 1)[-1]
        else:
            domain = urlparse(value).hostname or ""
        only, excluded = self.opt("onlyDomains") or [], self.opt("exceptDomains") or []
        what = "Email" if self.type == "email" else "Url"
        if (only and domain not in only) or domain in excluded:
            return field_error(
                f"validation_{what.lower()}_domain_not_allowed", f"{what} domain is not allowed."
            )
        return None

    def _validate_password(self, value: str) -> dict[str, Any] | None:
        """``PasswordField.ValidateValue``: bcrypt's 72-byte limit fails first (PocketBase
        hashes on set and reports bcrypt's error as "Invalid value."), then the length in
        runes (at most 71 when ``max`` is 0), then the pattern."""
        if len(value.encode("utf-8")) > 72:
            return BCRYPT_LIMIT
        minimum = int(self.opt("min") or 0)
        maximum = int(self.opt("max") or 0) or 71
        if len(value) < minimum:
            return field_error(
                "validation_min_text_constraint", f"Must be at least {minimum} character(s)."
            )
        if len(value) > maximum:
            return field_error(
                "validation_max_text_constraint", f"Must be less than {maximum} character(s)."
            )
        pattern = self.opt("pattern")
        if pattern and not regex.matches(pattern, value):
            return field_error("validation_invalid_format", "Invalid value format.")
        return None

    def _validate_text(self, value: str) -> dict[str, Any] | None:
        if self.type == "password":
            return self._validate_password(value)
        length = len(value)
        minimum = int(self.opt("min") or 0)
        maximum = int(self.opt("max") or 0)
        if self.type == "text" and maximum == 0:
            maximum = TEXT_DEFAULT_MAX
        if self.type == "editor":
            return None
        if minimum and length < minimum:
            return field_error(
                "validation_min_text_constraint",
                f"Must be at least {minimum} character(s).",
                {"min": minimum},
            )
        if maximum and length > maximum:
            return field_error(
                "validation_max_text_constraint",
                f"Must be no more than {maximum} character(s).",
                {"max": maximum},
            )
        pattern = self.opt("pattern")
        if pattern and not regex.matches(pattern, value):
            return field_error("validation_invalid_format", "Invalid value format.")
        return None

    def _validate_number(self, value: int | float) -> dict[str, Any] | None:
        if isinstance(value, float) and not math.isfinite(value):
            return field_error(
                "validation_not_a_number", "The submitted number is not properly formatted."
            )
        if self.opt("onlyInt") and not float(value).is_integer():
            return field_error("validation_only_int_constraint", "Decimal numbers are not allowed.")
        minimum, maximum = self.opt("min"), self.opt("max")
        if minimum is not None and value < minimum:
            return field_error(
                "validation_min_number_constraint",
                f"Must be greater or equal than {go_number(minimum)}.",
                {"min": minimum},
            )
        if maximum is not None and value > maximum:
            return field_error(
                "validation_max_number_constraint",
                f"Must be less or equal than {go_number(maximum)}.",
                {"max": maximum},
            )
        return None


# -- lenient casts (spf13/cast semantics) ---------------------------------------------------
def go_number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else go_float(value)


def to_text(raw: Any) -> str:
    if raw is None or isinstance(raw, list | dict):
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return fixed_float(raw)
    return str(raw)


def fixed_float(value: float) -> str:
    """``strconv.FormatFloat(f, 'f', -1, 64)`` (``cast.ToString``): the shortest digits, always
    in fixed notation: 1e21 -> ``1000000000000000000000``, 1e-7 -> ``0.0000001``."""
    if not math.isfinite(value):
        return "+Inf" if value > 0 else "-Inf" if value < 0 else "NaN"
    text = format(Decimal(repr(value)), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return "-0" if text == "0" and math.copysign(1.0, value) < 0 else text


_DIGITS = r"[0-9](?:_?[0-9])*"
_HEX = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
# strconv.ParseFloat's syntax (Go float literals: "_" between digits, hex with a p exponent,
# "Inf"/"Infinity" signed, "NaN" not), verified on 0.40.6 ("1_000" is 1000, "0x1p-2" 0.25).
_GO_FLOAT = re.compile(
    rf"^[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
    rf"|(?P<hex>0[xX](?:{_HEX}(?:\.(?:{_HEX})?)?|\.{_HEX})[pP][+-]?{_DIGITS})"
    r"|(?P<inf>(?i:inf(?:inity)?)))$|^(?i:nan)$"
)


def to_number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        return 1 if raw else 0
    if isinstance(raw, str):
        # strconv.ParseFloat via cast.ToFloat64: Go's syntax only (Python's float() also
        # takes spaces, "1_0" and other scripts' digits), and an error (1e400 is out of
        # range) is 0; "Inf"/"NaN" parse and fail validation later.
        match = _GO_FLOAT.match(raw)
        if match is None:
            return 0
        try:
            number = float.fromhex(raw.replace("_", "")) if match["hex"] else float(raw)
        except OverflowError:
            return 0
        if math.isinf(number) and not match["inf"]:
            return 0  # out of range (ParseFloat's ErrRange)
        raw = number
    if isinstance(raw, int):
        # Go holds every number in a float64: beyond int64 an integer is one (2^64 ->
        # 18446744073709552000); inside it stays exact (SPEC 1.1).
        return raw if -(2**63) <= raw < 2**63 else float(raw)
    if isinstance(raw, float):
        # Integral values are stored as integers (SQLite NUMERIC affinity does the same).
        if raw.is_integer() and abs(raw) < 2**63:
            return int(raw)
        return raw
    return 0


def to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return raw != 0
    if isinstance(raw, str):
        return raw in {"1", "t", "T", "TRUE", "true", "True"}
    return False


def to_string_list(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return [to_text(item) for item in raw]
    return [to_text(raw)]


_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
)


def to_datetime(raw: Any) -> datetime | None:
    """PocketBase's layout first, then RFC 3339 variants and a bare date; else empty.

    Unix integers become empty, as PocketBase 0.40.6 does for a JSON number.
    """
    if isinstance(raw, datetime):
        return raw.astimezone(UTC)
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
    try:
        only_date = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(only_date.year, only_date.month, only_date.day, tzinfo=UTC)


def _is_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in {"http", "https", "ftp", "ftps", "mailto", "ws", "wss"} and bool(
        parsed.netloc or parsed.scheme == "mailto"
    )


def field_from_input(data: Any) -> Field | None:
    """Build a field from a collection payload item; ``None`` when the type is unknown."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    if data["type"] not in FIELD_TYPES:
        return None
    type_ = str(data["type"])
    name = str(data.get("name", ""))
    allowed = DEFAULT_OPTIONS[type_]
    options = {k: v for k, v in data.items() if k in allowed or k == "id"}
    return Field(type_, name, options)


def validate_field_definition(f: Field) -> dict[str, Any] | None:
    r"""``ValidateSettings`` of one field: the name's rules (``DefaultFieldNameValidationRule``:
    required, 1-100 characters, ASCII ``\w``, not reserved, no ``_via_``), then the options'
    (``field_settings``). All keys checked; the first failing rule per key reported."""
    from reference_impl.core.field_settings import length_between, validate_settings

    errors: dict[str, Any] = {}
    name = f.name
    if not name:
        errors["name"] = REQUIRED
    elif problem := length_between(name, 1, 100):
        errors["name"] = problem
    elif not FIELD_NAME_RE.match(name):
        errors["name"] = field_error("validation_match_invalid", "Must be in a valid format.")
    elif name in RESERVED_FIELD_NAMES:
        errors["name"] = field_error("validation_not_in_invalid", "Must not be in list.")
    elif "_via_" in name.lower():
        errors["name"] = VIA_ERROR
    field_id = f.options.get("id")
    if isinstance(field_id, str) and (problem := length_between(field_id, 1, 100)):
        errors["id"] = problem  # DefaultFieldIdValidationRule
    for key, problem in validate_settings(f).items():
        errors.setdefault(key, problem)
    return errors or None


# bcrypt's "password length exceeds 72 bytes", which PocketBase shows as a plain error.
BCRYPT_LIMIT = field_error("validation_invalid_value", "Invalid value.")
VIA_ERROR = field_error("validation_found_via", 'The value cannot contain "_via_".')
