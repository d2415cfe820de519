"""Passwords (bcrypt) and auth tokens (HS256 JWT), as PocketBase issues them.

A token's claims are ``collectionId, exp, id, refreshable, type`` and its key is the
record's ``tokenKey`` + the collection's token secret, so changing either revokes it.
An invalid or expired token is silently treated as a guest (PocketBase does the same).
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import bcrypt
import jwt

from reference_impl.bridge import offload

BCRYPT_COST = 10  # PocketBase: bcrypt.DefaultCost when the field's cost is 0
_TOKEN_KEY_ALPHABET = string.ascii_letters + string.digits


def hash_password(password: str, cost: int = 0) -> str:
    """A bcrypt hash; ~50 ms of CPU at cost 10, so off the event loop when serving."""
    salt = bcrypt.gensalt(rounds=cost or BCRYPT_COST)
    return offload(bcrypt.hashpw, password.encode(), salt).decode()


def check_password(password: str, hashed: str) -> bool:
    if not hashed:
        return False
    try:
        return offload(bcrypt.checkpw, password.encode(), hashed.encode())
    except ValueError:
        return False


def random_string(alphabet: str, length: int) -> str:
    """Uniform random characters from the OS CSPRNG, one ``urandom`` call per ~string.

    (``secrets.choice`` per character costs a syscall each: 12% of a create under load.)
    Bytes at or above the largest multiple of ``len(alphabet)`` are rejected, so no
    character is favoured.
    """
    size = len(alphabet)
    limit = 256 - 256 % size
    out: list[str] = []
    while len(out) < length:
        out += [alphabet[b % size] for b in secrets.token_bytes(length * 2) if b < limit]
    return "".join(out[:length])


def new_token_key() -> str:
    return random_string(_TOKEN_KEY_ALPHABET, 50)


# An auth record's fields that never leave the app (no session setting, no policy).
SECRET_FIELDS = ("password", "tokenKey")


@dataclass(frozen=True)
class AuthContext:
    """Who is calling: a record of an auth collection, or nobody."""

    record: dict[str, Any]
    collection_id: str
    collection_name: str

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def is_superuser(self) -> bool:
        return self.collection_name == "_superusers"

    def session_values(self) -> dict[str, Any]:
        """:meth:`rule_values` plus the record's other scalar fields (what a row level
        security policy may read as ``@request.auth.<field>``), never its secrets."""
        values = {
            k: v
            for k, v in self.record.items()
            if k not in SECRET_FIELDS and isinstance(v, str | bool | int | float)
        }
        return {**values, **self.rule_values()}

    def rule_values(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collectionId": self.collection_id,
            "collectionName": self.collection_name,
            "email": self.record.get("email", ""),
            "verified": bool(self.record.get("verified")),
            "emailVisibility": bool(self.record.get("emailVisibility")),
        }


def issue_token(
    record_id: str, collection_id: str, key: str, duration: int, *, kind: str = "auth"
) -> str:
    """``kind="auth"`` (refreshable) or ``"file"`` (PocketBase's ``NewFileToken``)."""
    claims: dict[str, Any] = {
        "collectionId": collection_id,
        "exp": int(time.time()) + duration,
        "id": record_id,
    }
    if kind == "auth":
        claims["refreshable"] = True
    claims["type"] = kind
    return jwt.encode(claims, key, algorithm="HS256")


def unverified_claims(token: str, *, kind: str = "auth") -> dict[str, Any] | None:
    """The claims of a token of ``kind``, before its signature is checked (the key depends
    on the record it names); ``None`` for anything else."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    if not isinstance(claims, dict) or claims.get("type") != kind:
        return None
    return claims


def verify_token(token: str, key: str) -> bool:
    try:
        jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return False
    return True


def strip_bearer(header: str) -> str:
    header = header.strip()
    return header[7:].strip() if header[:7].lower() == "bearer " else header
