"""Content sniffing: a small subset of gabriel-vasile/mimetype, which PocketBase uses.

PocketBase detects a file's type from its first 3072 bytes (never from the client's
Content-Type header) in three places: the extension of an upload without a usable one, the
``mimeTypes`` option check, and the Content-Type it stores and later serves. This module
covers the common formats with the same answers (verified on PocketBase 0.40.6, e.g.
``hello`` -> ``text/plain; charset=utf-8`` and ``.txt``; an empty file -> ``text/plain``;
``{"a":1}`` -> ``application/json``; 256 arbitrary bytes -> ``application/octet-stream``
and no extension). Formats not listed here fall back to text or octet-stream, where
mimetype would name a more specific subtype (docx, mp4 brands, scripts by shebang, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

READ_LIMIT = 3072  # mimetype's default: only this prefix is inspected
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class MimeType:
    mime: str  # may carry a charset parameter, as served
    extension: str  # with the leading dot, "" when unknown
    aliases: tuple[str, ...] = ()

    def is_(self, expected: str) -> bool:
        """mimetype's ``MIME.Is``: the type or an alias equals ``expected``, params ignored."""
        wanted = expected.split(";")[0].strip().lower()
        return wanted == self.mime.split(";")[0].strip() or wanted in self.aliases


# (prefix offset, magic bytes, mime, extension, aliases): checked in order.
_MAGIC: tuple[tuple[int, bytes, str, str, tuple[str, ...]], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png", ".png", ()),
    (0, b"\xff\xd8\xff", "image/jpeg", ".jpg", ()),
    (0, b"GIF87a", "image/gif", ".gif", ()),
    (0, b"GIF89a", "image/gif", ".gif", ()),
    (0, b"%PDF-", "application/pdf", ".pdf", ("application/x-pdf",)),
    (0, b"PK\x03\x04", "application/zip", ".zip", ("application/x-zip-compressed",)),
    (0, b"\x1f\x8b", "application/gzip", ".gz", ("application/x-gzip",)),
    (0, b"BM", "image/bmp", ".bmp", ("image/x-bmp", "image/x-ms-bmp")),
    (0, b"\x00\x00\x01\x00", "image/x-icon", ".ico", ()),
    (0, b"\x1a\x45\xdf\xa3", "video/webm", ".webm", ("audio/webm",)),
    (0, b"ID3", "audio/mpeg", ".mp3", ("audio/x-mpeg", "audio/mp3")),
    (0, b"OggS", "application/ogg", ".ogg", ("application/x-ogg",)),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed", ".7z", ()),
    (4, b"ftyp", "video/mp4", ".mp4", ()),
)
_RIFF = {b"WEBP": ("image/webp", ".webp"), b"WAVE": ("audio/wav", ".wav")}

_HTML_TAGS = (
    b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1", b"<DIV", b"<FONT",
    b"<TABLE", b"<A", b"<STYLE", b"<TITLE", b"<B", b"<BODY", b"<BR", b"<P", b"<!--",
)  # fmt: skip
# WHATWG "binary data bytes": any of these makes the content non-text.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16be"),
    (b"\xff\xfe", "utf-16le"),
)


def detect(content: bytes) -> MimeType:
    raw = content[:READ_LIMIT]
    for offset, magic, mime, ext, aliases in _MAGIC:
        if raw[offset : offset + len(magic)] == magic:
            return MimeType(mime, ext, aliases)
    if raw[:4] == b"RIFF" and raw[8:12] in _RIFF:
        mime, ext = _RIFF[raw[8:12]]
        return MimeType(mime, ext)
    return _text(raw) or MimeType(OCTET_STREAM, "")


def _text(raw: bytes) -> MimeType | None:
    bom = next((cs for mark, cs in _BOMS if raw.startswith(mark)), None)
    if bom is None and _BINARY.search(raw):
        return None
    if not raw:
        return MimeType("text/plain", ".txt")  # nothing to guess a charset from
    charset = bom or _charset(raw)
    body = raw.lstrip(b" \t\r\n")
    upper = body[:20].upper()
    for tag in _HTML_TAGS:  # a tag followed by a space or '>' (WHATWG sniffing)
        if upper.startswith(tag) and body[len(tag) : len(tag) + 1] in (b" ", b">"):
            return MimeType(f"text/html; charset={charset}", ".html")
    if b"<svg" in raw:
        return MimeType("image/svg+xml", ".svg")
    if body.startswith(b"<?xml"):
        return MimeType(f"text/xml; charset={charset}", ".xml", ("application/xml",))
    if body[:1] in (b"{", b"[") and _is_json(raw):
        return MimeType("application/json", ".json")
    if _separated(raw, b","):
        return MimeType("text/csv", ".csv")
    if _separated(raw, b"\t"):
        return MimeType("text/tab-separated-values", ".tsv")
    return MimeType(f"text/plain; charset={charset}", ".txt")


def _charset(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut by the read limit is still UTF-8.
        if exc.start < len(raw) - 3:
            return "iso-8859-1"
    return "utf-8"


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _separated(raw: bytes, sep: bytes) -> bool:
    """At least two lines with the same number (>1) of ``sep``-separated fields."""
    lines = [line for line in raw.splitlines() if line and not line.startswith(b"#")]
    if len(lines) < 2:
        return False
    counts = {line.count(sep) for line in lines[:10]}
    return len(counts) == 1 and counts.pop() > 0
