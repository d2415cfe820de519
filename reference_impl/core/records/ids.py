"""Record ids: PocketBase's 15 random ``[a-z0-9]`` or, in uuid7 mode, RFC 9562 UUIDv7."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import UTC, datetime
from typing import Any

from reference_impl.core.auth import random_string
from reference_impl.core.collection import Collection

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_record_id() -> str:
    return random_string(_ID_ALPHABET, 15)


_LIMIT = 256 - 256 % len(_ID_ALPHABET)  # bytes at or above are rejected: no character favoured
_TO_ALPHABET = bytes(
    ord(_ID_ALPHABET[b % len(_ID_ALPHABET)]) if b < _LIMIT else 0 for b in range(256)
)
_REJECTED = bytes(range(_LIMIT, 256))


def new_record_ids(count: int) -> list[str]:
    """``count`` ids like :func:`new_record_id`, from one CSPRNG read and one C-level
    translate for all of them (a batch of request logs takes thousands at once)."""
    need = 15 * count
    chars = b""
    while len(chars) < need:
        chars += secrets.token_bytes(need - len(chars) + 16).translate(_TO_ALPHABET, _REJECTED)
    text = chars.decode("ascii")
    return [text[i : i + 15] for i in range(0, need, 15)]


def uuid7() -> str:
    """RFC 9562 UUIDv7: 48-bit ms timestamp, then random bits (time-ordered ids)."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    rand = secrets.randbits(74)
    value = (
        (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def generate_id(id_mode: str) -> str:
    """A new id for a record created without one."""
    return uuid7() if id_mode == "uuid7" else new_record_id()


def client_id(body: dict[str, Any]) -> str:
    """The id a create body sends ("" for none); a non-text value is its ``str``."""
    raw_id = body.get("id")
    return "" if raw_id in (None, "") else (raw_id if isinstance(raw_id, str) else str(raw_id))


def validate_id(coll: Collection, record_id: str) -> dict[str, Any] | None:
    """Against the collection's own ``id`` field (its pattern is the v7 one in uuid7 mode)."""
    id_field = coll.get_field("id")
    assert id_field is not None
    return id_field.validate(record_id) if record_id else None
