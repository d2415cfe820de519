"""The ``file`` field: upload naming, values and modifiers, validation, file tokens.

A file field's value while a request is applied is a list of entries: a stored file name
(``str``) or a new :class:`Upload`. Uniqueness is by name, a single field keeps the last
entry, and only names the record already had may be submitted as strings (PocketBase
``core/field_file.go``). Before the row is written, uploads become their generated names
(:func:`finalize`); the bytes go to :class:`reference_impl.core.file_storage.FileStorage`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reference_impl.core import _mimetype
from reference_impl.core.auth import random_string
from reference_impl.core.casts import to_string_list
from reference_impl.core.errors import REQUIRED, field_error

if TYPE_CHECKING:  # the file type (core/field_types/file.py) calls in here
    from reference_impl.core.fields import Field

DEFAULT_MAX_SIZE = 5 << 20  # maxSize 0 means 5 MiB (verified: 5242880 in the error params)
FILE_TOKEN_DURATION = 180  # the collections' default fileToken.duration (seconds)
_RANDOM_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# Go's regexp \w and \W are ASCII-only, so every non-ASCII letter splits or is dropped.
_EXT_INVALID = re.compile(r"[^A-Za-z0-9_.*\-+=#]+")
_SNAKE_SPLIT = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request, with the name it will be stored under."""

    original_name: str
    name: str
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)

    @classmethod
    def from_part(cls, filename: str, content: bytes) -> Upload:
        original = go_base(filename)  # Go's multipart Part.FileName()
        return cls(original, normalize_name(original, content), content)


Entry = str | Upload


class FormBody(dict[str, Any]):
    """A multipart body: the form values, plus the uploaded files by form key."""

    def __init__(self, values: dict[str, Any], uploads: dict[str, list[Upload]]):
        super().__init__(values)
        self.uploads = uploads


# -- naming (tools/filesystem/file.go normalizeName) -------------------------------------
def go_base(name: str) -> str:
    """``filepath.Base`` on Unix: the last path element ("." for empty, "/" for slashes)."""
    if not name:
        return "."
    stripped = name.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def snakecase(text: str) -> str:
    """PocketBase's ``inflector.Snakecase``: split on non-word characters, ``myTestDB`` ->
    ``my_test_db`` (a capital after a non-capital starts a new word)."""
    words = []
    for word in _SNAKE_SPLIT.split(text):
        if not word:
            continue
        out = []
        for i, char in enumerate(word):
            if char.isupper() and i > 0 and not word[i - 1].isupper():
                out.append("_")
            out.append(char)
        words.append("".join(out))
    return "_".join(words).lower()


def extract_extension(name: str) -> str:
    """The extension with its dot, double extensions included (``.tar.gz``), or ""."""
    primary = name.rfind(".")
    if primary == -1:
        return ""
    secondary = name.rfind(".", 0, primary)
    return name[secondary:] if secondary >= 0 else name[primary:]


def normalize_name(original: str, content: bytes) -> str:
    """``<snakecased name>_<10 random [a-z0-9]><clean extension>``.

    Verified on 0.40.6: ``Hello World!.TXT`` -> ``hello_world_<r>.TXT``, ``ünïcode
    name.tar.gz`` -> ``n_code_name_<r>.tar.gz``, ``noext`` -> ``noext_<r>.txt`` (extension
    sniffed from the content), ``a`` -> ``a<r'>_<r>.txt`` (names under 3 characters get a
    second random part), ``.hidden`` -> ``<r'>_<r>.hidden``.
    """
    raw = original.encode("utf-8", "surrogateescape")
    if len(raw) > 300:  # cut by bytes like Go (not multibyte safe), keep the end
        original = raw[-300:].decode("utf-8", "replace")
    ext = extract_extension(original)
    clean_ext = "." + _EXT_INVALID.sub("", ext).strip(".")
    if clean_ext == ".":
        clean_ext = _mimetype.detect(content).extension
    if len(clean_ext) > 20:
        clean_ext = "." + clean_ext[-20:].strip(".")
    stem = original[: len(original) - len(ext)] if ext else original
    clean = snakecase(stem.strip("."))
    if len(clean) < 3:
        clean += random_string(_RANDOM_ALPHABET, 10)
    elif len(clean) > 100:
        clean = clean[:100]
    return f"{clean}_{random_string(_RANDOM_ALPHABET, 10)}{clean_ext}"


# -- values and modifiers ----------------------------------------------------------------
def name_of(entry: Entry) -> str:
    return entry.name if isinstance(entry, Upload) else entry


def entries(raw: Any) -> list[Entry]:
    """``FileField.toSliceValue``: uploads and names, unique by name, empty names dropped.

    A nested list counts only when it holds exactly one entry (as PocketBase).
    """
    out: list[Entry] = []
    if isinstance(raw, Upload):
        out = [raw]
    elif isinstance(raw, list):
        for item in raw:
            inner = entries(item)
            if len(inner) == 1:
                out.append(inner[0])
    elif isinstance(raw, str) and raw.startswith("["):
        try:  # list.ToUniqueStringSlice: a string holding a JSON array is that array
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        out = list(to_string_list(parsed if isinstance(parsed, list) else raw))
    else:  # numbers and bools become text: {"doc": 5} is the (invalid) new file "5"
        out = list(to_string_list(raw))
    seen: set[str] = set()
    unique: list[Entry] = []
    for entry in out:
        name = name_of(entry)
        if name and name not in seen:
            seen.add(name)
            unique.append(entry)
    return unique


def normalize(f: Field, raw: Any) -> Any:
    """The field value: a list for a multiple field, else the last entry or ""."""
    items = entries(raw)
    if f.multiple:
        return items
    return items[-1] if items else ""


def apply_modifier(f: Field, current: Any, mod: str, raw: Any) -> Any:
    """``f+`` appends, ``+f`` prepends, ``f-`` removes by name."""
    items, given = entries(current), entries(raw)
    if mod == "-":
        drop = {name_of(g) for g in given}
        return normalize(f, [i for i in items if name_of(i) not in drop])
    return normalize(f, given + items if mod == "prepend" else items + given)


def merge_uploads(f: Field, body: dict[str, Any], uploads: dict[str, list[Upload]]) -> None:
    """Put the field's uploaded files into ``body`` as PocketBase's request reader does.

    Only the keys ``f``, ``+f`` and ``f+`` take files. Under the plain key, submitted
    names come first; ``+f`` files go before the names sent under ``+f`` (PocketBase
    prepends them in a second pass), ``f+`` files after them.
    """
    for key in (f.name, "+" + f.name, f.name + "+"):
        files = uploads.get(key)
        if not files:
            continue
        sent: list[Entry] = list(entries(body[key])) if body.get(key) is not None else []
        body[key] = [*files, *sent] if key.startswith("+") else [*sent, *files]


def finalize(f: Field, value: Any) -> tuple[Any, list[Upload]]:
    """The value to store (names only) and the uploads it contains."""
    items = entries(value)
    uploads = [i for i in items if isinstance(i, Upload)]
    names = [name_of(i) for i in items]
    return (names if f.multiple else (names[-1] if names else "")), uploads


def stored_names(value: Any) -> list[str]:
    return [e for e in entries(value) if isinstance(e, str)]


def dropped_names(old_values: Iterable[Any], new_values: Iterable[Any]) -> list[str]:
    """Names the record had and no longer has: their files go after the commit."""
    kept = {n for value in new_values for n in stored_names(value)}
    return [n for value in old_values for n in stored_names(value) if n not in kept]


# -- validation (FileField.ValidateValue) ------------------------------------------------
def validate(f: Field, value: Any, old: Any) -> dict[str, Any] | None:
    items = entries(value)
    if not items:
        return REQUIRED if f.opt("required") else None
    known = set(stored_names(old))
    added = [e for e in stored_names(items) if e not in known]
    if added:
        # Go prints the []string with %v: "[a b]"; each name is cut at 250 bytes.
        cut = [a.encode()[:250].decode("utf-8", "ignore") for a in added]
        return field_error(
            "validation_invalid_file",
            f"Invalid new files: [{' '.join(cut)}].",
            {"invalidFiles": cut},
        )
    max_select = max(int(f.opt("maxSelect") or 0), 1)
    if len(items) > max_select:
        return field_error(
            "validation_too_many_files",
            f"The maximum allowed files is {max_select}.",
            {"maxSelect": max_select},
        )
    max_size = int(f.opt("maxSize") or 0) or DEFAULT_MAX_SIZE
    mime_types = [str(t) for t in f.opt("mimeTypes") or []]
    # PocketBase also checks the generated name's length (1-150) and shape; names made by
    # normalize_name always pass, so those checks are not repeated here.
    for upload in (i for i in items if isinstance(i, Upload)):
        if upload.size > max_size:
            return field_error(
                "validation_file_size_limit",
                f"Failed to upload {upload.original_name} - the maximum allowed file size "
                f"is {max_size} bytes.",
                {"file": upload.original_name, "maxSize": max_size},
            )
        detected = _mimetype.detect(upload.content)
        if mime_types and not any(detected.is_(t) for t in mime_types):
            return field_error(
                "validation_invalid_mime_type",
                f"{json.dumps(upload.name)} mime type must be one of: {', '.join(mime_types)}.",
            )
    return None


def field_holding(fields: Iterable[Field], record: dict[str, Any], filename: str) -> Field | None:
    """The file field whose value lists ``filename`` (``Record.FindFileFieldByFile``)."""
    for f in fields:
        if f.spec.holds_files and filename in stored_names(record.get(f.name)):
            return f
    return None
