"""Form bodies as PocketBase reads them (``tools/router/unmarshal_request_data.go``).

Multipart parsing needs the ``python-multipart`` package (Starlette's form parser).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from reference_impl.core import errors as e
from reference_impl.core import jsonin
from reference_impl.core.errors import ApiError
from reference_impl.core.fields import fixed_float
from reference_impl.core.files import FormBody, Upload

JSON_PAYLOAD = "@jsonPayload"
_NUMBER_CHARS = re.compile(r"^[\-.\d]+$")
# Starlette caps a non-file part at 1 MiB by default; PocketBase's body limit is 32 MiB and
# a large @jsonPayload is legitimate.
_MAX_PART_SIZE = 32 << 20


def infer_value(raw: str) -> Any:
    """``"true"``/``"false"`` become bools, numbers in their shortest form become numbers
    (``"12"``, ``"-1.5"``; not ``"012"``, ``"1e3"``, ``"1.0"``), anything else stays text."""
    if raw in ("true", "false"):
        return raw == "true"
    if raw and (raw[0] == "-" or raw[0].isdigit()) and _NUMBER_CHARS.match(raw):
        try:
            number = float(raw)
        except ValueError:
            return raw
        if fixed_float(number) == raw:  # Go: FormatFloat(v, 'f', -1, 64) == raw
            # Go keeps a float64; ints print the same and "-0" stays a (negative) float.
            return int(number) if number.is_integer() and raw != "-0" else number
    return raw


def form_values(pairs: Iterable[tuple[str, str]], malformed: str) -> dict[str, Any]:
    """Repeated keys become lists; ``@jsonPayload`` objects are merged on top, in order."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    payloads = grouped.pop(JSON_PAYLOAD, [])
    body: dict[str, Any] = {
        key: infer_value(values[0]) if len(values) == 1 else [infer_value(v) for v in values]
        for key, values in grouped.items()
    }
    for payload in payloads:
        try:
            extra = jsonin.loads(payload)
        except jsonin.JsonInputError as exc:
            raise e.bad_request(malformed) from exc
        if not isinstance(extra, dict):  # Go's json.Unmarshal into a map fails too
            raise e.bad_request(malformed)
        body.update(extra)
    return body


async def read_multipart(request: Request, malformed: str) -> FormBody:
    try:
        form = await request.form(max_files=10_000, max_fields=10_000, max_part_size=_MAX_PART_SIZE)
    except ApiError:  # the body limit (api/_limits.py)
        raise
    except Exception as exc:  # python-multipart's errors: a malformed body
        raise e.bad_request(malformed) from exc
    pairs: list[tuple[str, str]] = []
    uploads: dict[str, list[Upload]] = {}
    try:
        for key, value in form.multi_items():
            if not isinstance(value, UploadFile):
                pairs.append((key, value))
                continue
            content = await value.read()
            if not value.filename:  # Go reads a part without a file name as a plain value
                pairs.append((key, content.decode("utf-8", "replace")))
            else:
                uploads.setdefault(key, []).append(Upload.from_part(value.filename, content))
    finally:
        await form.close()
    return FormBody(form_values(pairs, malformed), uploads)
