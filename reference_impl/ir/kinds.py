"""Logical column kinds and PocketBase's date layouts: the vocabulary every layer shares.

Below both ``core`` (the domain) and ``db`` (the engine layer): importing it loads neither.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime


class Kind(enum.Enum):
    """Logical column kinds. Domain code speaks these; each dialect maps them to a type."""

    TEXT = "text"  # NOT NULL DEFAULT ''
    NUMBER = "number"  # NOT NULL DEFAULT 0; ints exact in int64, other values float64
    BOOL = "bool"  # NOT NULL DEFAULT FALSE
    JSON = "json"  # nullable; SQL NULL is PocketBase's "null"
    JSON_ARRAY = "json_array"  # NOT NULL DEFAULT '[]'; multi select/relation/file
    DATETIME_MS = "datetime_ms"  # record dates: PocketBase's millisecond layout; empty = ''
    TIMESTAMP_US = "timestamp_us"  # system timestamps, microseconds kept
    INT64 = "int64"  # system counters
    ANY = "any"  # a value whose type is known only per row: a JSON path, json_each's value


PB_DATETIME_LAYOUT = "%Y-%m-%d %H:%M:%S"  # + ".mmmZ"; PocketBase's storage and API layout


def _seconds(value: datetime) -> str:
    # The year zero-padded to 4 digits: glibc's strftime("%Y") prints 766, not 0766, and
    # strptime would not read that back.
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value:%H:%M:%S}"


def format_pb_datetime(value: datetime) -> str:
    """``2024-01-02 03:04:05.678Z``: UTC, milliseconds, a space, ``Z`` (PocketBase's layout)."""
    value = value.astimezone(UTC)
    return f"{_seconds(value)}.{value.microsecond // 1000:03d}Z"


def format_us_datetime(value: datetime) -> str:
    """Fixed-width microsecond layout, so text order equals time order."""
    value = value.astimezone(UTC)
    return f"{_seconds(value)}.{value.microsecond:06d}Z"


def parse_stored_datetime(text: str) -> datetime | None:
    """Parse either stored layout back; ``''`` is the zero value."""
    if not text:
        return None
    return datetime.strptime(text.replace("Z", "+0000"), PB_DATETIME_LAYOUT + ".%f%z")
