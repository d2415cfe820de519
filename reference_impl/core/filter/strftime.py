"""SQLite's ``strftime(format, time value, modifiers...)`` in Python (the evaluator's).

The same subset as the PostgreSQL emulation (``db/_pg_functions.py``), which the
conformance table checks against PocketBase on SQLite: time values ``YYYY-MM-DD[ T]HH:MM
[:SS[.fff]]`` with ``Z``/``±HH:MM``, ``YYYY-MM-DD``, ``HH:MM[:SS[.fff]]``, ``now``, a
number (a Julian day; Unix seconds with ``unixepoch``); modifiers ``±N unit``, ``±HH:MM``,
``start of day|month|year``, ``weekday N``, ``unixepoch``, and the no-ops ``julianday
auto utc localtime subsec``; anything else is NULL (``None``). All UTC.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}:\d{2})?$"
)
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_SHIFT = re.compile(r"^([+-]?)(\d{2}):(\d{2})(?:[:](\d{2}(?:\.\d+)?))?$")
_AMOUNT = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)) +(day|hour|minute|second|month|year)s?$")
_EPOCH = datetime(1970, 1, 1)
_MIN, _MAX = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)


def strftime(fmt: str, value: str, modifiers: list[str]) -> str | None:
    parsed = _time_value(value.strip(), modifiers)
    if parsed is None:
        return None
    moment, number = parsed
    for raw in modifiers:
        result = _modify(moment, number, raw.strip().lower())
        if result is None:
            return None
        moment = result
    return None if moment is None else _format(fmt, moment)


def _time_value(text: str, modifiers: list[str]) -> tuple[datetime | None, float | None] | None:
    try:
        if text.lower() == "now":
            return datetime.now(UTC).replace(tzinfo=None), None
        if _NUMBER.match(text):
            number = float(text)
            if 0 <= number <= 5373484.499999:
                return _EPOCH + timedelta(days=number - 2440587.5), number
            if "unixepoch" in (m.strip().lower() for m in modifiers):
                return None, number
            return None
        if _DATE.match(text):
            return datetime.strptime(text, "%Y-%m-%d"), None
        match = _DATETIME.match(text)
        if match:
            day, hm, seconds, _, zone = match.groups()
            stamp = datetime.strptime(f"{day} {hm}", "%Y-%m-%d %H:%M")
            if seconds:
                stamp += timedelta(seconds=float(seconds[1:]))
            if zone and zone not in "Zz":
                sign = -1 if zone[0] == "+" else 1
                stamp += sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            return stamp, None
        if _TIME.match(text):
            hm, seconds = text[:5], text[5:]
            stamp = datetime.strptime(f"2000-01-01 {hm}", "%Y-%m-%d %H:%M")
            return stamp + timedelta(seconds=float(seconds[1:]) if seconds else 0), None
    except (ValueError, OverflowError):
        return None
    return None


def _modify(moment: datetime | None, number: float | None, mod: str) -> datetime | None:
    try:
        if mod == "unixepoch" and number is not None:
            return _EPOCH + timedelta(seconds=number)
        if moment is None:
            return None
        if mod in ("julianday", "auto", "utc", "localtime", "subsec", "subsecond"):
            return moment
        if mod == "start of day":
            return moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if mod == "start of month":
            return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if mod == "start of year":
            return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        if re.fullmatch(r"weekday [0-6]", mod):
            target = int(mod[-1])
            weekday = (moment.weekday() + 1) % 7  # 0 is Sunday
            return moment + timedelta(days=(target - weekday) % 7)
        shift = _SHIFT.match(mod)
        if shift:
            sign, hours, minutes, seconds = shift.groups()
            delta = timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds or 0))
            return moment - delta if sign == "-" else moment + delta
        amount = _AMOUNT.match(mod)
        if amount:
            n = float(amount.group(1))
            unit = amount.group(2)
            if abs(n) > 10_000_000:
                return None
            if unit in ("month", "year"):
                months = math.trunc(n) * (12 if unit == "year" else 1)
                index = moment.month - 1 + months
                year, month = moment.year + index // 12, index % 12 + 1
                # keep the day and let it overflow into the next month, as SQLite
                base = moment.replace(year=year, month=month, day=1)
                shifted = base + timedelta(days=moment.day - 1)
                fraction = n - math.trunc(n)
                if fraction:
                    shifted += timedelta(days=fraction * (365 if unit == "year" else 30))
                return shifted
            return moment + timedelta(**{unit + "s": n})
    except (ValueError, OverflowError):
        return None
    return None


def _format(fmt: str, t: datetime) -> str | None:
    if not _MIN <= t <= _MAX:
        return None
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        spec = fmt[i + 1 : i + 2]
        i += 2
        piece = _spec(spec, t)
        if piece is None:
            return None
        out.append(piece)
    return "".join(out)


def _spec(spec: str, t: datetime) -> str | None:
    epoch = (t - _EPOCH).total_seconds()
    simple = {
        "d": f"{t.day:02d}",
        "e": f"{t.day:2d}",
        "f": f"{t.second:02d}.{t.microsecond // 1000:03d}",
        "F": f"{t.year:04d}-{t.month:02d}-{t.day:02d}",
        "H": f"{t.hour:02d}",
        "I": f"{(t.hour + 11) % 12 + 1:02d}",
        "j": f"{t.timetuple().tm_yday:03d}",
        "J": _julian(epoch / 86400 + 2440587.5),
        "k": f"{t.hour:2d}",
        "l": f"{(t.hour + 11) % 12 + 1:2d}",
        "m": f"{t.month:02d}",
        "M": f"{t.minute:02d}",
        "p": "AM" if t.hour < 12 else "PM",
        "P": "am" if t.hour < 12 else "pm",
        "R": f"{t.hour:02d}:{t.minute:02d}",
        "s": str(math.floor(epoch)),
        "S": f"{t.second:02d}",
        "T": f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}",
        "u": str(t.isoweekday()),
        "w": str((t.weekday() + 1) % 7),
        "W": f"{(t.timetuple().tm_yday + 6 - t.weekday()) // 7:02d}",
        "Y": f"{t.year:04d}",
        "%": "%",
    }
    return simple.get(spec)


def _julian(day: float) -> str:
    text = f"{day:.9f}".rstrip("0").rstrip(".")
    return text
