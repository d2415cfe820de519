"""Scenario files: loading, validation, templates and seeded generation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.runner import BOUNDARY, multipart_body, row_id
from harness.scenario import (
    FilePart,
    Scenario,
    ScenarioError,
    TemplateError,
    Topic,
    load_file,
    render,
    template_context,
)

EXAMPLE = """
[[scenario]]
name = "GET list posts (user)"
tags = ["list"]

[[scenario.collections]]
name = "members"
type = "auth"

[[scenario.collections]]
name = "posts"
type = "base"
fields = [{ name = "owner", type = "relation", collectionId = "{{ collid.members }}" }]

[[scenario.records]]
collection = "members"
data = { email = "u@example.com", password = "password-1", passwordConfirm = "password-1" }

[[scenario.records]]
collection = "posts"
data_json = '{"owner": "{{ records.members.0 }}", "j": null}'

[[scenario.generate]]
collection = "posts"
count = 3
fields = { n = "seq:10", w = "word:2:4", c = "choice:a|b", f = "fmt:p-{i:02d}" }

[[scenario.steps]]
id = "list"
actor = "user"
path = "/api/collections/{{ coll.posts }}/records"
query = { page = 2, fields = "id" }
"""


def write(tmp_path: Path, text: str, stem: str = "listing") -> Path:
    path = tmp_path / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_example(tmp_path: Path) -> None:
    [scenario] = load_file(write(tmp_path, EXAMPLE))
    assert scenario.suite == "listing"
    assert scenario.collection_name("posts") == scenario.prefix + "posts"
    assert scenario.prefix.startswith("p") and len(scenario.prefix) == 8
    assert scenario.records[1].data == {"owner": "{{ records.members.0 }}", "j": None}
    step = scenario.steps[0]
    assert step.query == {"page": "2", "fields": "id"}
    assert step.key_order == "none"  # `fields` randomises key order in PocketBase
    assert not step.has_body
    assert scenario.user_ref() == ("members", 0)


def test_generated_rows_depend_only_on_the_seed(tmp_path: Path) -> None:
    [scenario] = load_file(write(tmp_path, EXAMPLE))
    rows = scenario.all_records(seed=7)
    assert [r.collection for r in rows] == ["members", "posts", "posts", "posts", "posts"]
    generated = [r.data for r in rows[2:]]
    assert [g["n"] for g in generated] == [10, 11, 12]
    assert [g["f"] for g in generated] == ["p-00", "p-01", "p-02"]
    assert generated == [r.data for r in scenario.all_records(seed=7)[2:]]
    assert generated != [r.data for r in scenario.all_records(seed=8)[2:]]


def test_templates() -> None:
    [scenario] = load_file(
        Path(__file__).parents[1] / "conformance" / "scenarios" / "records.toml"
    )[:1]
    ctx = template_context(scenario, 3)
    ctx["records"]["posts"] = ["abc"]
    ctx["steps"]["create"] = {"status": 200, "body": {"id": "xyz", "n": 5, "ok": True}}
    assert (
        render("/c/{{ coll.posts }}/r/{{ records.posts.0 }}", ctx)
        == f"/c/{scenario.prefix}posts/r/abc"
    )
    assert render({"n": "{{ steps.create.body.n }}", "t": "n={{ steps.create.body.ok }}"}, ctx) == {
        "n": 5,
        "t": "n=true",
    }
    assert render(["{{ seed }}"], ctx) == [3]
    with pytest.raises(TemplateError, match="nothing at 'missing'"):
        render("{{ steps.missing.body.id }}", ctx)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[scenario]]\nname = "list things"\n', "name must look like"),
        ('[[scenario]]\nname = "GET x (guest)"\n', "no steps"),
        (
            '[[scenario]]\nname = "GET x (guest)"\nbogus = 1\n[[scenario.steps]]\npath = "/"\n',
            "unknown keys ['bogus']",
        ),
        (
            '[[scenario]]\nname = "GET x (guest)"\n[[scenario.steps]]\npath = "/"\n'
            'actor = "root"\n',
            "actor must be one of",
        ),
        (
            '[[scenario]]\nname = "GET x (user)"\n[[scenario.steps]]\npath = "/"\nactor = "user"\n',
            "needs an auth collection",
        ),
        (
            '[[scenario]]\nname = "GET x (guest)"\n[[scenario.generate]]\ncollection = "a"\n'
            'count = 1\nfields = { a = "dice" }\n[[scenario.steps]]\npath = "/"\n',
            "unknown generator 'dice'",
        ),
        (
            '[[scenario]]\nname = "GET x (guest)"\n[[scenario.steps]]\npath = "/"\nbody = {}\n'
            'raw_body = "{"\n',
            "give one of body, body_json, raw_body",
        ),
    ],
)
def test_invalid_scenarios_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_file(write(tmp_path, text))


def test_setup_row_ids_are_deterministic() -> None:
    [scenario] = load_file(
        Path(__file__).parents[1] / "conformance" / "scenarios" / "records.toml"
    )[:1]
    first = row_id(scenario, "posts", 0)
    assert first == row_id(scenario, "posts", 0) != row_id(scenario, "posts", 1)
    assert len(first) == 15 and first.isalnum() and first == first.lower()


MULTIPART = """
[[scenario]]
name = "POST upload (superuser)"

[[scenario.steps]]
method = "POST"
path = "/r"
form = { title = "a", tags = ["x", "y"] }
files = [{ field = "doc", name = "a.txt", content = "hi", type = "text/plain", repeat = 2 }]
capture_headers = ["Content-Type"]
"""


def test_multipart_steps_load_and_encode(tmp_path: Path) -> None:
    [scenario] = load_file(write(tmp_path, MULTIPART, stem="files"))
    step = scenario.steps[0]
    assert step.multipart and not step.has_body
    assert step.files == (FilePart("doc", "a.txt", "hi", "text/plain", 2),)
    assert step.capture_headers == ("content-type",)
    body = multipart_body([("title", "a"), ("tags", "x")], list(step.files)).decode()
    assert body == (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\na\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\nx\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="doc"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhihi\r\n--{BOUNDARY}--\r\n"
    )


@pytest.mark.parametrize(("files", "message"), [
    ('files = []\nbody = {}', "give one of body, body_json, raw_body, form/files"),
    ('files = [{ field = "doc" }]', "a file needs `field` and `name`"),
    ('files = [{ field = "d", name = "n", size = 3 }]', "unknown keys ['size']"),
])  # fmt: skip
def test_invalid_multipart_steps(tmp_path: Path, files: str, message: str) -> None:
    text = re.sub(r"(?m)^files = .*$", lambda _: files, MULTIPART)
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_file(write(tmp_path, text, stem="files"))


REALTIME = """
[[scenario]]
name = "POST events (guest)"

[[scenario.steps]]
id = "sub"
kind = "subscribe"
client = "a"
actor = "guest"
topics = ["docs/*", { topic = "docs/x", options = { query = { filter = "n > 1" } } }]

[[scenario.steps]]
id = "events"
kind = "await_events"
client = "a"
count = 2
"""


def test_realtime_steps_load(tmp_path: Path) -> None:
    [scenario] = load_file(write(tmp_path, REALTIME, stem="realtime"))
    sub, wait = scenario.steps
    assert (sub.kind, sub.client, sub.actor, sub.method, sub.path) == (
        "subscribe",
        "a",
        "guest",
        "POST",
        "/api/realtime",
    )
    assert sub.topics == (Topic("docs/*"), Topic("docs/x", {"query": {"filter": "n > 1"}}))
    assert (wait.kind, wait.count, wait.timeout, wait.settle, wait.key_order) == (
        "await_events",
        2,
        5.0,
        0.2,
        "all",
    )


@pytest.mark.parametrize(("change", "message"), [
    (('kind = "subscribe"', 'kind = "listen"'), "kind must be one of"),
    (('client = "a"\nactor', 'client = "a b"\nactor'), "`client` must be a name of 1-20"),
    (('topics = [', 'path = "/x"\ntopics = ['), "unknown keys ['path']"),
    (("count = 2", "count = -1"), "needs `count`, an integer >= 0"),
    (("count = 2", "count = true"), "needs `count`, an integer >= 0"),
    (("count = 2", "count = 1\ntimeout = 31"), "`timeout` must be 0-30 seconds"),
    (('client = "a"\ncount', 'client = "b"\ncount'), "awaits client 'b' before a subscribe"),
    (('"docs/*", {', '3, {'), "a topic is a string or"),
    (("options = {", "bogus = 1, options = {"), "unknown keys ['bogus']"),
])  # fmt: skip
def test_invalid_realtime_steps(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = REALTIME.replace(*change, 1)
    assert text != REALTIME
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_file(write(tmp_path, text, stem="realtime"))


def test_http_steps_need_a_path(tmp_path: Path) -> None:
    text = '[[scenario]]\nname = "GET x (guest)"\n[[scenario.steps]]\nmethod = "GET"\n'
    with pytest.raises(ScenarioError, match="an HTTP step needs `path`"):
        load_file(write(tmp_path, text))


def test_topic_options_are_encoded_as_the_js_sdk_does() -> None:
    from harness._realtime_steps import topic_text

    ctx = template_context(load_file_scenario(), 0)
    options = {"query": {"filter": "title ~ 'a b' && n != 1", "fields": "id,t:excerpt(5,true)"}}
    # encodeURIComponent(JSON.stringify(options)) in Node 20, the SDK's own encoding:
    assert topic_text(Topic("docs/*", options), ctx) == (
        "docs/*?options=%7B%22query%22%3A%7B%22filter%22%3A%22title%20~%20'a%20b'%20%26%26"
        "%20n%20!%3D%201%22%2C%22fields%22%3A%22id%2Ct%3Aexcerpt(5%2Ctrue)%22%7D%7D"
    )
    assert topic_text(Topic("docs/x?a=1", {"headers": {"x": "é"}}), ctx) == (
        "docs/x?a=1&options=%7B%22headers%22%3A%7B%22x%22%3A%22%C3%A9%22%7D%7D"
    )


def load_file_scenario() -> Scenario:
    path = Path(__file__).parents[1] / "conformance" / "scenarios" / "records.toml"
    return load_file(path)[0]


def test_an_await_on_a_client_that_picks_fields_ignores_key_order(tmp_path: Path) -> None:
    picked = REALTIME.replace('filter = "n > 1"', 'fields = "id,n"')
    [scenario] = load_file(write(tmp_path, picked, stem="realtime"))
    assert scenario.steps[1].key_order == "none"  # PocketBase's picked keys: random order
    explicit = picked.replace("count = 2", 'count = 2\nkey_order = "records"')
    [scenario] = load_file(write(tmp_path, explicit, stem="realtime"))
    assert scenario.steps[1].key_order == "records"
