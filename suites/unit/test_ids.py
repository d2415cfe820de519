"""Record ids: PocketBase's 15 chars of [a-z0-9], and the opt-in UUID v7 (RFC 9562)."""

from __future__ import annotations

import re
import string
import time
import uuid
from collections import Counter

from reference_impl.core.auth import new_token_key, random_string
from reference_impl.core.records import new_record_id, uuid7


def test_record_ids_have_pocketbases_shape_and_do_not_repeat() -> None:
    ids = [new_record_id() for _ in range(2000)]
    assert all(re.fullmatch(r"[a-z0-9]{15}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_token_keys_are_50_alphanumerics() -> None:
    assert re.fullmatch(r"[A-Za-z0-9]{50}", new_token_key())


def test_random_string_uses_the_whole_alphabet_evenly() -> None:
    counts = Counter(random_string("abc", 30_000))
    assert set(counts) == {"a", "b", "c"}
    assert all(9_000 < n < 11_000 for n in counts.values())  # rejection sampling: no bias


def test_uuid7_has_version_7_the_rfc_variant_and_the_time() -> None:
    before = int(time.time() * 1000)
    value = uuid.UUID(uuid7())
    after = int(time.time() * 1000)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_uuid7_sorts_by_creation_time() -> None:
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert first < second


def test_uuid7_mode_shapes_the_id_field_and_validates_client_ids() -> None:
    from reference_impl.core.collection import id_field

    field = id_field("uuid7")
    assert (field.opt("min"), field.opt("max"), field.opt("autogeneratePattern")) == (36, 36, "")
    assert field.validate(uuid7()) is None
    assert field.validate(str(uuid.uuid4()))["code"] == "validation_invalid_format"  # type: ignore[index]
    assert id_field().opt("pattern") == "^[a-z0-9]+$"


def test_record_ids_in_a_batch_are_pocketbase_ids_and_all_different() -> None:
    from reference_impl.core.records.ids import new_record_ids

    ids = new_record_ids(5000)
    assert len(ids) == 5000 and len(set(ids)) == 5000
    assert all(re.fullmatch(r"[a-z0-9]{15}", i) for i in ids)
    counts = Counter("".join(ids))  # 75,000 characters over 36: each near 2,083
    assert set(counts) == set(string.ascii_lowercase + string.digits)
    assert max(counts.values()) < 2400 and min(counts.values()) > 1770
