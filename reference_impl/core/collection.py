"""The collection model: PocketBase's JSON shape, defaults, and input validation."""

from __future__ import annotations

import copy
import json
import re
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from reference_impl.core.errors import REQUIRED, ValidationFailed, field_error
from reference_impl.core.fields import Field, field_from_input, validate_field_definition
from reference_impl.db.dialect import format_pb_datetime

RULES = ("listRule", "viewRule", "createRule", "updateRule", "deleteRule")
AUTH_RULES = ("authRule", "manageRule")
COLLECTION_NAME_RE = re.compile(r"^\w+$")
TYPES = ("base", "auth", "view")
USERS_ID = "_pb_users_auth_"
SUPERUSERS = "_superusers"

_AUTH_DEFAULTS: dict[str, Any] = json.loads(
    resources.files("reference_impl.core").joinpath("auth_defaults.json").read_text("utf-8")
)


def collection_id(type_: str, name: str) -> str:
    """PocketBase's default: ``pbc_`` + crc32(type + name)."""
    return f"pbc_{zlib.crc32((type_ + name).encode())}"


def id_field() -> Field:
    return Field(
        "text",
        "id",
        {
            "autogeneratePattern": "[a-z0-9]{15}",
            "max": 15,
            "min": 15,
            "pattern": "^[a-z0-9]+$",
            "primaryKey": True,
            "required": True,
            "system": True,
        },
    )


def auth_system_fields() -> list[Field]:
    return [
        Field("password", "password", {"hidden": True, "min": 8, "required": True, "system": True}),
        Field(
            "text",
            "tokenKey",
            {
                "autogeneratePattern": "[a-zA-Z0-9]{50}",
                "hidden": True,
                "max": 60,
                "min": 30,
                "required": True,
                "system": True,
            },
        ),
        Field("email", "email", {"required": True, "system": True}),
        Field("bool", "emailVisibility", {"system": True}),
        Field("bool", "verified", {"system": True}),
    ]


@dataclass
class Collection:
    id: str
    name: str
    type: str = "base"
    system: bool = False
    fields: list[Field] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    rules: dict[str, str | None] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)  # authAlert, oauth2, passwordAuth...
    token_secret: str = ""
    created: datetime | None = None
    updated: datetime | None = None

    @property
    def is_auth(self) -> bool:
        return self.type == "auth"

    def rule(self, name: str) -> str | None:
        return self.rules.get(name)

    def get_field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def token_duration(self) -> int:
        return int(self.auth.get("authToken", {}).get("duration", 432000))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        out.update({r: self.rules.get(r) for r in RULES})
        out.update(
            name=self.name,
            type=self.type,
            fields=[f.to_json() for f in self.fields],
            indexes=list(self.indexes),
            created=format_pb_datetime(self.created) if self.created else "",
            updated=format_pb_datetime(self.updated) if self.updated else "",
            system=self.system,
        )
        if self.is_auth:
            out.update({r: self.rules.get(r) for r in AUTH_RULES})
            out.update(copy.deepcopy(self.auth))
        return out

    def to_storage(self) -> dict[str, Any]:
        """Everything needed to rebuild the collection, including the hidden token secret."""
        data = self.to_json()
        data["authTokenSecret"] = self.token_secret
        return data

    @classmethod
    def from_storage(cls, data: dict[str, Any]) -> Collection:
        fields = [f for f in (field_from_input(item) for item in data["fields"]) if f]
        auth = {k: v for k, v in data.items() if k in _AUTH_DEFAULTS and k not in AUTH_RULES}
        rules = {r: data.get(r) for r in RULES + AUTH_RULES if r in data}
        from reference_impl.core.fields import to_datetime

        return cls(
            id=data["id"],
            name=data["name"],
            type=data["type"],
            system=bool(data["system"]),
            fields=fields,
            indexes=list(data.get("indexes", [])),
            rules=rules,
            auth=auth,
            token_secret=data.get("authTokenSecret", ""),
            created=to_datetime(data.get("created")),
            updated=to_datetime(data.get("updated")),
        )


def default_auth_indexes(coll_id: str, name: str) -> list[str]:
    return [
        f"CREATE UNIQUE INDEX `idx_tokenKey_{coll_id}` ON `{name}` (`tokenKey`)",
        f"CREATE UNIQUE INDEX `idx_email_{coll_id}` ON `{name}` (`email`) WHERE `email` != ''",
    ]


def new_auth_options(*, superusers: bool = False) -> dict[str, Any]:
    auth = {k: copy.deepcopy(v) for k, v in _AUTH_DEFAULTS.items() if k not in AUTH_RULES}
    # The stored defaults are the users collection's; a new auth collection maps nothing.
    auth["oauth2"]["mappedFields"] = {"id": "", "name": "", "username": "", "avatarURL": ""}
    if superusers:
        auth["authToken"] = {"duration": 86400}
    return auth


def from_input(
    payload: Any, *, existing: Collection | None, validate_rule: Any, now: datetime
) -> Collection:
    """Apply a create/update payload; raises ValidationFailed with PocketBase's field errors.

    ``validate_rule(collection, rule_text)`` returns an error message or None.
    """
    if not isinstance(payload, dict):
        raise ValidationFailed({})
    errors: dict[str, Any] = {}
    if existing is None:
        type_ = payload.get("type") or "base"
        name = payload.get("name", "")
        coll = Collection(id="", name="", type=str(type_), created=now)
        if type_ not in TYPES:
            errors["type"] = field_error("validation_in_invalid", "Must be a valid value.")
        if type_ == "view":
            errors["type"] = field_error("validation_in_invalid", "Must be a valid value.")
    else:
        coll = copy.deepcopy(existing)
        name = payload.get("name", existing.name)
    if not isinstance(name, str) or not name:
        errors["name"] = REQUIRED
    elif not COLLECTION_NAME_RE.match(name) or len(name) > 255:
        errors["name"] = field_error("validation_match_invalid", "Must be in a valid format.")
    coll.name = name if isinstance(name, str) else ""
    if existing is None:
        coll.id = str(payload.get("id") or collection_id(coll.type, coll.name))
        if coll.is_auth:
            coll.auth = new_auth_options()
            coll.rules.update(authRule="", manageRule=None)
            coll.token_secret = secrets.token_urlsafe(36)

    if "fields" in payload:
        fields_errors: dict[str, Any] = {}
        new_fields: list[Field] = []
        raw_fields = payload["fields"]
        if not isinstance(raw_fields, list):
            raise ValidationFailed(
                {"fields": field_error("validation_invalid_value", "Invalid value.")}
            )
        by_name: dict[str, Field] = {}
        for item in raw_fields:
            f = field_from_input(item)
            if f is None:
                raise _FormatError()
            by_name[f.name] = f  # a repeated name: the later definition wins (as PocketBase)
        # Given fields keep their order; a missing ``id`` goes first and missing auth system
        # fields go last (verified on PocketBase 0.40.6).
        system = {
            sf.name: sf for sf in [id_field()] + (auth_system_fields() if coll.is_auth else [])
        }
        for f in by_name.values():
            sf = system.pop(f.name, None)
            if sf is not None and sf.type == f.type:
                sf.options = {
                    **sf.options,
                    **{k: v for k, v in f.options.items() if k not in {"system", "primaryKey"}},
                }
                f = sf
            new_fields.append(f)
        if "id" in system:
            new_fields.insert(0, system.pop("id"))
        new_fields += list(system.values())
        for index, f in enumerate(new_fields):
            problem = validate_field_definition(f)
            if problem:
                fields_errors[str(index)] = problem
        if fields_errors:
            errors["fields"] = fields_errors
        coll.fields = new_fields
    elif existing is None:
        coll.fields = [id_field()] + (auth_system_fields() if coll.is_auth else [])

    if existing is None and coll.is_auth and "indexes" not in payload:
        coll.indexes = default_auth_indexes(coll.id, coll.name)
    if "indexes" in payload and isinstance(payload["indexes"], list):
        coll.indexes = [str(i) for i in payload["indexes"]]

    for rule in RULES + (AUTH_RULES if coll.is_auth else ()):
        if rule in payload:
            value = payload[rule]
            coll.rules[rule] = None if value is None else str(value)
    for rule in RULES + (AUTH_RULES if coll.is_auth else ()):
        text = coll.rules.get(rule)
        if text and "fields" not in errors:
            problem = validate_rule(coll, text)
            if problem:
                errors[rule] = field_error(
                    "validation_invalid_rule", f"Invalid rule. Raw error: {problem}."
                )
    for key in _AUTH_DEFAULTS:
        if (
            coll.is_auth
            and key in payload
            and key not in AUTH_RULES
            and isinstance(payload[key], dict)
        ):
            coll.auth[key] = {**coll.auth.get(key, {}), **payload[key]}
    if errors:
        raise ValidationFailed(errors)
    coll.updated = now
    return coll


class _FormatError(Exception):
    """An unknown or missing field type: PocketBase answers with a formatting error."""


FormatError = _FormatError
