"""The race checker on hand-made histories: each anomaly found and named, correct histories
pass; the level table; the failpoint schedule's ordering on real threads."""

from __future__ import annotations

import threading
import time

import pytest

from harness.race import checker, levels
from harness.race.history import Op
from harness.race.runner import schedule_for
from harness.race.workloads import Counter, Spec
from reference_impl import failpoints


def op(id: str, f: str, key: str, value: object, t0: int, t1: int, result: object,
       type: str = "ok", status: int = 200, error: str = "") -> Op:  # fmt: skip
    return Op(id, 0, f, key, value, t0, t1, type, status, result, error)


# -- counters ---------------------------------------------------------------------------------
def test_sequential_increments_and_reads_pass() -> None:
    h = [op("a", "incr", "k", 1, 0, 1, 1), op("b", "incr", "k", 2, 2, 3, 3),
         op("r", "read", "k", None, 4, 5, 3)]  # fmt: skip
    assert checker.check_counter(h, {"k": 3}) == []


def test_two_increments_reading_one_value_are_a_named_lost_update() -> None:
    h = [op("a", "incr", "k", 1, 0, 5, 1), op("b", "incr", "k", 1, 1, 6, 1)]
    found = checker.check_counter(h, {"k": 1})
    assert {a.name for a in found} == {"P4"}
    assert any(sorted(a.ops) == ["a", "b"] for a in found)
    assert any("1 lost" in a.detail for a in found)


def test_a_read_older_than_a_finished_increment_is_stale() -> None:
    h = [op("a", "incr", "k", 1, 0, 1, 1), op("r", "read", "k", None, 2, 3, 0)]
    assert [a.name for a in checker.check_counter(h, {"k": 1})] == ["G-single-realtime"]


def test_a_read_of_more_than_was_ever_begun_is_an_aborted_read() -> None:
    h = [op("a", "incr", "k", 1, 0, 1, 1, type="fail", status=400),
         op("r", "read", "k", None, 2, 3, 1)]  # fmt: skip
    assert [a.name for a in checker.check_counter(h, {"k": 0})] == ["G1a"]


def test_unknown_outcomes_widen_the_bounds_instead_of_failing() -> None:
    h = [op("a", "incr", "k", 2, 0, 9, None, type="info", status=0),
         op("r", "read", "k", None, 1, 3, 2)]  # fmt: skip
    assert checker.check_counter(h, {"k": 2}) == []
    assert [a.name for a in checker.server_errors(h)] == ["server-error"]


# -- registers --------------------------------------------------------------------------------
def test_register_reads_of_failed_or_overwritten_values() -> None:
    w1 = op("w1", "write", "k", "x", 0, 1, "x")
    w2 = op("w2", "write", "k", "y", 2, 3, "y")
    bad = op("w3", "write", "k", "z", 4, 5, None, type="fail", status=400)
    assert checker.check_register([w1, w2, op("r", "read", "k", None, 6, 7, "y")], {"k": "y"},
                                  "") == []  # fmt: skip
    stale = checker.check_register([w1, w2, op("r", "read", "k", None, 6, 7, "x")], {"k": "y"}, "")
    assert [a.name for a in stale] == ["G-single-realtime"]
    aborted = checker.check_register([w1, bad, op("r", "read", "k", None, 6, 7, "z")],
                                     {"k": "x"}, "")  # fmt: skip
    assert [a.name for a in aborted] == ["G1a"]
    lost = checker.check_register([w1, w2], {"k": "x"}, "")
    assert [a.name for a in lost] == ["lost-write"]


# -- lists ------------------------------------------------------------------------------------
def test_list_history_that_is_serial_passes() -> None:
    h = [op("a", "append", "k", "e1", 0, 1, ["e1"]), op("b", "append", "k", "e2", 2, 3,
         ["e1", "e2"]), op("r", "read", "k", None, 4, 5, ["e1", "e2"])]  # fmt: skip
    assert checker.check_list_append(h, {"k": ["e1", "e2"]}) == []


def test_list_lost_append_and_incompatible_orders_are_named() -> None:
    h = [op("a", "append", "k", "e1", 0, 5, ["e1"]), op("b", "append", "k", "e2", 1, 6, ["e2"])]
    names = {a.name for a in checker.check_list_append(h, {"k": ["e2"]})}
    assert {"P4", "incompatible-order"} <= names


def test_list_stale_read_is_a_realtime_cycle() -> None:
    """r began after e2's append finished, yet saw only [e1]: r -rw-> b -rt-> r."""
    h = [op("a", "append", "k", "e1", 0, 1, ["e1"]), op("b", "append", "k", "e2", 2, 3,
         ["e1", "e2"]), op("r", "read", "k", None, 4, 5, ["e1"])]  # fmt: skip
    found = checker.check_list_append(h, {"k": ["e1", "e2"]})
    assert [a.name for a in found] == ["G-single-realtime"]
    assert sorted(found[0].ops) == ["b", "r"]


def test_list_elements_of_failed_appends_are_aborted_reads() -> None:
    h = [op("a", "append", "k", "e1", 0, 1, None, type="fail", status=400),
         op("r", "read", "k", None, 2, 3, ["e1"])]  # fmt: skip
    assert "G1a" in {a.name for a in checker.check_list_append(h, {"k": ["e1"]})}


# -- creates, deletes, cascades ---------------------------------------------------------------
def test_unique_two_winners_and_wrong_errors() -> None:
    won = [op("a", "create", "x", None, 0, 1, "x"), op("b", "create", "x", None, 0, 1, "x")]
    assert {a.name for a in checker.check_unique(won, {"x": 2})} == {"G2"}
    wrong = [
        op("a", "create", "x", None, 0, 1, "x"),
        op("b", "create", "x", None, 0, 1, None, "fail", 400, "validation_required"),
    ]
    assert [a.name for a in checker.check_unique(wrong, {"x": 1})] == ["wrong-error"]
    right = [
        op("a", "create", "x", None, 0, 1, "x"),
        op("b", "create", "x", None, 0, 1, None, "fail", 400, "validation_not_unique"),
    ]
    assert checker.check_unique(right, {"x": 1}) == []


def test_update_vs_delete_anomalies() -> None:
    d = op("d", "delete", "k", None, 0, 1, None, status=204)
    late = op("u", "update", "k", 1, 2, 3, 1)
    assert [a.name for a in checker.check_update_delete([d, late], {"k": False})] == [
        "G-single-realtime"
    ]
    assert [a.name for a in checker.check_update_delete([d], {"k": True})] == ["lost-delete"]
    early = op("u", "update", "k", 1, 0, 1, 1)
    assert checker.check_update_delete([early, d], {"k": False}) == []


def test_cascade_dangling_children_are_write_skew() -> None:
    d = op("d", "delete", "p", None, 0, 2, None, status=204)
    c = op("c", "create", "p", None, 0, 1, "child1")
    found = checker.check_cascade([d, c], {"p": ["child1"]})
    assert [a.name for a in found] == ["dangling-reference"]
    assert sorted(found[0].ops) == ["c", "d"]
    assert checker.check_cascade([d, c], {"p": []}) == []


# -- levels -----------------------------------------------------------------------------------
def test_levels_follow_hermitage_with_lost_updates_forbidden_everywhere() -> None:
    assert levels.hermitage_allows("P4", "read-committed") is True
    assert levels.forbidden("P4", "postgres", "read-committed")  # the reference locks rows
    assert not levels.forbidden("G2-item", "postgres", "repeatable-read")
    assert levels.forbidden("G2-item", "postgres", "serializable")
    assert not levels.forbidden("G-single", "postgres", "read-committed")
    assert levels.forbidden("G-single", "postgres", "repeatable-read")
    assert levels.forbidden("G2-item", "sqlite", "read-committed")  # SQLite serialises
    assert levels.forbidden("G-single-realtime", "postgres", "read-committed")
    assert levels.forbidden("server-error", "postgres", "read-committed")
    # locks forbid it at read committed, SSI at serializable; one snapshot cannot see it
    assert levels.forbidden("dangling-reference", "postgres", "read-committed")
    assert not levels.forbidden("dangling-reference", "postgres", "repeatable-read")
    assert levels.forbidden("dangling-reference", "postgres", "serializable")
    assert levels.hermitage_allows("dangling-reference", "read-committed") is True


# -- the schedule -----------------------------------------------------------------------------
def test_schedule_for_keeps_each_operations_points_in_order_and_replays() -> None:
    w = Counter()
    specs = [[Spec(f"r0.c{c}", c, "incr", "k", 1) for c in range(4)]]
    one, two = schedule_for(w, specs, 9), schedule_for(w, specs, 9)
    assert one == two and one != schedule_for(w, specs, 10)
    for c in range(4):
        points = [p for o, p in one[0] if o == f"r0.c{c}"]
        assert points == ["records.update.begin", "records.update.read"]


def test_schedule_orders_threads_and_skips_what_never_comes() -> None:
    """Three threads reach points in an order the schedule reverses; a fourth operation in
    the schedule never arrives (its request ended first)."""
    order = [["c", "records.view.begin"], ["b", "records.view.begin"],
             ["gone", "records.view.begin"], ["a", "records.view.begin"]]  # fmt: skip
    failpoints.enable()
    try:
        failpoints.install({"rounds": [order], "step_ms": 50})
        passed: list[str] = []

        def run(name: str, delay: float) -> None:
            time.sleep(delay)
            with failpoints.operation(name):
                failpoints.failpoint("records.view.begin")
                passed.append(name)

        threads = [threading.Thread(target=run, args=(n, d))
                   for n, d in (("a", 0.0), ("b", 0.02), ("c", 0.04))]  # fmt: skip
        for t in threads:
            t.start()
        with failpoints.operation("gone"):
            pass  # finished without reaching the point
        for t in threads:
            t.join(10)
        assert passed == ["c", "b", "a"]
        trace = failpoints.current().trace  # type: ignore[union-attr]
        assert [e["how"] for e in trace if "how" in e].count("not reached") == 1
    finally:
        failpoints.enable(False)


def test_schedule_refuses_unknown_points_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="unknown point"):
        failpoints.Schedule.parse({"rounds": [[["a", "nowhere"]]]})
    with pytest.raises(ValueError, match="rounds must be a list"):
        failpoints.Schedule.parse({"rounds": {}})
    with pytest.raises(ValueError, match="step_ms"):
        failpoints.Schedule.parse({"rounds": [], "step_ms": -1})
