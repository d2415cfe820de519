"""The known-divergence registry and the ``known_divergence`` marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import divergences
from harness.pytest_plugin import entry_point_installed

VALID = """
[pg-nulls]
title = "t"
kind = "engine-difference"
targets = ["postgres"]
explanation = "e"
evidence = ["verified"]
"""


def load_text(tmp_path: Path, text: str) -> divergences.Registry:
    path = tmp_path / "divergences.toml"
    path.write_text(text, encoding="utf-8")
    return divergences.load(path)


def test_the_shipped_registry_is_valid() -> None:
    registry = divergences.load()
    assert len(registry) >= 1
    for entry in registry:
        assert entry.evidence and entry.explanation


def test_valid_entry(tmp_path: Path) -> None:
    entry = load_text(tmp_path, VALID).get("pg-nulls")
    assert entry.deviates("postgres") and not entry.deviates("sqlite")
    assert entry.expects_mismatch("postgres", "pocketbase")
    assert not entry.expects_mismatch("sqlite", "pocketbase")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('evidence = ["verified"]', 'evidence = ["verified"]\nseverity = 1'), "unknown fields"),
        (('explanation = "e"\n', ""), "missing fields"),
        (("engine-difference", "bug"), "kind must be one of"),
        (('["postgres"]', '["mysql"]'), "targets must be"),
        (('["postgres"]', '["pocketbase"]'), "PocketBase is the oracle"),
        (('["verified"]', "[]"), "evidence must be"),
        (("[pg-nulls]", "[PG_Nulls]"), "lowercase slugs"),
    ],
)
def test_invalid_entries(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(divergences.RegistryError, match=message):
        load_text(tmp_path, VALID.replace(*change))


def test_unknown_key_lists_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(divergences.RegistryError, match="registered keys: pg-nulls"):
        load_text(tmp_path, VALID).get("nope")


def _plugin_args() -> list[str]:
    return [] if entry_point_installed() else ["-p", "harness.pytest_plugin"]


def test_marker_with_unknown_key_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.known_divergence("no-such-divergence")
        def test_it():
            pass
    """
    )
    result = pytester.runpytest_subprocess(*_plugin_args())
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR collecting test_x.py*", "*unknown known-divergence key 'no-such-divergence'*"]
    )


def test_marker_is_strict_xfail_for_the_deviating_targets(pytester: pytest.Pytester) -> None:
    key = next(iter(divergences.load())).key
    deviating = next(iter(divergences.load())).targets[0]
    pytester.makepyfile(
        test_y=f'''
        import pytest

        @pytest.mark.known_divergence("{key}")
        def test_still_diverges():
            assert False

        @pytest.mark.known_divergence("{key}")
        def test_fixed():
            pass

        @pytest.mark.known_divergence("{key}")
        @pytest.mark.parametrize("engine", ["{deviating}", "pocketbase"])
        def test_per_engine(engine):
            assert engine != "{deviating}"
    '''
    )
    result = pytester.runpytest_subprocess(*_plugin_args(), "-rxX")
    result.assert_outcomes(xfailed=2, failed=1, passed=1)
    result.stdout.fnmatch_lines(["*_ test_fixed _*", f"*XPASS(strict)*known divergence {key}*"])
