"""The history checker: Elle's inference on our workloads, and the invariants of each.

Every HTTP request is one transaction. A write answers with the record after it, so a
modifier (``n+``, ``list+``) is a read-write transaction whose read is known: the record
minus its own change. That is what makes lost updates visible by name: two acknowledged
increments that read the same value (``P4``).

For lists (``list-append``), as Elle does (Kingsbury & Alvaro, VLDB 2020): the longest list
observed gives each key's version order; every other observation must be a prefix of it;
then a dependency graph over the operations, ``ww`` (consecutive appends), ``wr`` (the
append of an observation's last element -> the observer), ``rw`` (an observer -> the append
of the element after what it saw) and ``rt`` (real time: finished before the other began),
and its cycles, named by their edges: only ww is G0, ww/wr is G1c, one rw is G-single, more
is G2-item; a cycle needing an rt edge gets ``-realtime``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from harness.race.history import Anomaly, Op, ok


def server_errors(history: Sequence[Op]) -> list[Anomaly]:
    """A 5xx or no answer: never allowed (the API's promise, whatever the race)."""
    bad = [op for op in history if op.type == "info"]
    if not bad:
        return []
    kinds = sorted({f"{op.status or 'no answer'} {op.error}".strip() for op in bad})
    return [
        Anomaly("server-error", f"{len(bad)} operations had no definite answer: {kinds[:5]}",
                [op.id for op in bad[:20]])
    ]  # fmt: skip


# -- counters -------------------------------------------------------------------------------
def check_counter(history: Sequence[Op], finals: dict[str, int]) -> list[Anomaly]:
    """``incr`` ops answer the value after them; ``read`` ops the value seen."""
    found: list[Anomaly] = []
    for key, final in sorted(finals.items()):
        ops = [op for op in history if op.key == key]
        incrs = [op for op in ok(ops) if op.f == "incr"]
        maybe = [op for op in ops if op.f == "incr" and op.type == "info"]
        by_read: dict[int, list[Op]] = defaultdict(list)
        for op in incrs:
            by_read[int(op.result) - int(op.value)].append(op)
        for read, group in sorted(by_read.items()):
            if len(group) > 1:
                found.append(Anomaly(
                    "P4",
                    f"lost update on {key}: {len(group)} acknowledged increments all read "
                    f"{read} and wrote over each other",
                    [op.id for op in group],
                ))  # fmt: skip
        acked = sum(int(op.value) for op in incrs)
        possible = acked + sum(int(op.value) for op in maybe)
        if final < acked:
            found.append(Anomaly(
                "P4",
                f"lost update on {key}: final value {final}, but acknowledged increments "
                f"add up to {acked} ({acked - final} lost)",
            ))  # fmt: skip
        elif final > possible:
            found.append(Anomaly(
                "garbage-value",
                f"{key} ends at {final}, more than every increment could make ({possible})",
            ))  # fmt: skip
        found += _counter_reads(key, ops)
    return found


def _counter_reads(key: str, ops: Sequence[Op]) -> list[Anomaly]:
    """A read sees at least what completed before it began, at most what began before it
    ended (a linearizable counter)."""
    found = []
    incrs = [op for op in ops if op.f == "incr" and op.type != "fail"]
    for read in (op for op in ok(ops) if op.f == "read"):
        floor = sum(int(w.value) for w in incrs if w.type == "ok" and w.complete < read.invoke)
        ceiling = sum(int(w.value) for w in incrs if w.invoke < read.complete)
        if int(read.result) < floor:
            found.append(Anomaly(
                "G-single-realtime",
                f"stale read of {key}: {read.id} saw {read.result}, but increments that "
                f"finished before it began already made {floor}",
                [read.id],
            ))  # fmt: skip
        elif int(read.result) > ceiling:
            found.append(Anomaly(
                "G1a",
                f"{read.id} saw {key} = {read.result}, more than every increment begun "
                f"could make ({ceiling}): a failed or future write was read",
                [read.id],
            ))  # fmt: skip
    return found


# -- registers ------------------------------------------------------------------------------
def check_register(history: Sequence[Op], finals: dict[str, Any], initial: Any) -> list[Anomaly]:
    """Unique written values; a read must return the initial value or one written by an
    operation that may have happened, and not one overwritten before the read began."""
    found: list[Anomaly] = []
    writes = {op.value: op for op in history if op.f == "write"}
    for read in (op for op in ok(history) if op.f == "read"):
        value = read.result
        writer = writes.get(value)
        if value != initial and writer is None:
            found.append(Anomaly("garbage-read", f"{read.id} read {value!r}, never written",
                                 [read.id]))  # fmt: skip
            continue
        if writer is not None and writer.type == "fail":
            found.append(Anomaly("G1a", f"{read.id} read {value!r} from the failed write "
                                 f"{writer.id}", [read.id, writer.id]))  # fmt: skip
            continue
        if writer is not None and writer.invoke > read.complete:
            found.append(Anomaly("G1c-realtime", f"{read.id} read {value!r} before {writer.id} "
                                 "wrote it", [read.id, writer.id]))  # fmt: skip
            continue
        since = writer.complete if writer is not None else -1
        newer = [
            w for w in ok(history)
            if w.f == "write" and w.key == read.key and w is not writer
            and w.invoke > since and w.complete < read.invoke
        ]  # fmt: skip
        if newer:
            found.append(Anomaly(
                "G-single-realtime",
                f"stale read: {read.id} read {value!r} on {read.key}, overwritten by "
                f"{newer[0].id} before the read began",
                [read.id, newer[0].id],
            ))  # fmt: skip
    for key, final in sorted(finals.items()):
        last = [w for w in ok(history) if w.f == "write" and w.key == key]
        if last:
            latest = max(last, key=lambda w: w.complete)
            overlapping = {w.value for w in last if w.complete >= latest.invoke}
            if final not in overlapping:
                found.append(Anomaly("lost-write", f"{key} ends as {final!r}; the last "
                                     f"acknowledged writes were {sorted(map(str, overlapping))}",
                                     [latest.id]))  # fmt: skip
    return found


# -- lists (Elle's list-append) -------------------------------------------------------------
def check_list_append(history: Sequence[Op], finals: dict[str, list[str]]) -> list[Anomaly]:
    found: list[Anomaly] = []
    appended: dict[str, Op] = {str(op.value): op for op in history if op.f == "append"}
    for key in sorted({op.key for op in history} | set(finals)):
        ops = [op for op in history if op.key == key]
        seen = [(op, _observed(op)) for op in ok(ops)]
        observations = [lst for _, lst in seen] + [finals.get(key, [])]
        longest = max(observations, key=len)
        for op, lst in seen:
            if lst != longest[: len(lst)]:
                found.append(Anomaly(
                    "incompatible-order",
                    f"{op.id} saw {key} = {lst}, not a prefix of {longest}",
                    [op.id],
                ))  # fmt: skip
            if len(set(lst)) != len(lst):
                found.append(Anomaly("duplicate-element", f"{op.id} saw {lst}", [op.id]))
            for element in lst:
                writer = appended.get(element)
                if writer is None:
                    found.append(Anomaly("garbage-read", f"{op.id} saw {element!r}, never "
                                         "appended", [op.id]))  # fmt: skip
                elif writer.type == "fail":
                    found.append(Anomaly("G1a", f"{op.id} saw {element!r} of the failed "
                                         f"append {writer.id}", [op.id, writer.id]))  # fmt: skip
        final = finals.get(key, longest)
        by_read: dict[tuple[str, ...], list[Op]] = defaultdict(list)
        for op, lst in seen:
            if op.f == "append":
                by_read[tuple(lst[:-1])].append(op)
        for read, group in by_read.items():
            if len(group) > 1:
                found.append(Anomaly(
                    "P4",
                    f"lost update on {key}: {len(group)} acknowledged appends all read "
                    f"{list(read)[-3:]} (length {len(read)}) and wrote over each other",
                    [op.id for op in group],
                ))  # fmt: skip
        missing = [op for op in ok(ops) if op.f == "append" and str(op.value) not in final]
        if missing and not any(a.name == "P4" and a.ops and a.ops[0] in {o.id for g in
                               by_read.values() for o in g} for a in found):  # fmt: skip
            found.append(Anomaly(
                "P4",
                f"lost update on {key}: {len(missing)} acknowledged appends are not in the "
                "final list",
                [op.id for op in missing[:20]],
            ))  # fmt: skip
        found += _cycles(key, seen, longest)
    return found


def _observed(op: Op) -> list[str]:
    return [str(v) for v in (op.result or [])]


def _cycles(key: str, seen: list[tuple[Op, list[str]]], order: list[str]) -> list[Anomaly]:
    """The dependency graph of one key and the anomalies its cycles are."""
    position = {element: i for i, element in enumerate(order)}
    appender: dict[str, Op] = {}
    for op, lst in seen:
        if op.f == "append" and lst and str(op.value) == lst[-1]:
            appender[str(op.value)] = op
    edges: dict[str, dict[str, str]] = defaultdict(dict)

    def edge(a: Op | None, b: Op | None, kind: str) -> None:
        if a is not None and b is not None and a.id != b.id:
            edges[a.id].setdefault(b.id, kind)

    for prev, nxt in itertools.pairwise(order):
        edge(appender.get(prev), appender.get(nxt), "ww")
    for op, lst in seen:
        read = lst[:-1] if op.f == "append" else lst
        if read and read[-1] in position:
            edge(appender.get(read[-1]), op, "wr")
        if len(read) < len(order) and read == order[: len(read)]:
            edge(op, appender.get(order[len(read)]), "rw")
    ops = sorted((op for op, _ in seen), key=lambda o: o.invoke)
    for a in ops:  # real time, reduced: a -> the ops that began after a finished, earliest
        later = [b for b in ops if b.invoke > a.complete]
        if later:
            first_end = min(b.complete for b in later)
            for b in later:
                if b.invoke <= first_end:
                    edges[a.id].setdefault(b.id, "rt")
    found = []
    for cycle in _find_cycles(edges):
        kinds = [edges[a][b] for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)]
        rw = kinds.count("rw")
        name = "G0" if set(kinds) <= {"ww", "rt"} else "G1c" if rw == 0 else (
            "G-single" if rw == 1 else "G2-item")  # fmt: skip
        if "rt" in kinds:
            name += "-realtime"
        path = " -> ".join(f"{a} ({k})" for a, k in zip(cycle, kinds, strict=True))
        found.append(Anomaly(name, f"cycle on {key}: {path} -> {cycle[0]}", cycle))
    return found


def _find_cycles(edges: dict[str, dict[str, str]], limit: int = 10) -> list[list[str]]:
    """One short cycle per strongly connected component (iterative Tarjan, then BFS)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    nodes = set(edges) | {b for out in edges.values() for b in out}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return [_short_cycle(edges, set(c)) for c in components[:limit]]


def _short_cycle(edges: dict[str, dict[str, str]], members: set[str]) -> list[str]:
    start = min(members)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(edges.get(node, {})):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return path[::-1]
                if child not in parents:
                    parents[child] = node
                    nxt.append(child)
        frontier = nxt
    return sorted(members)


# -- creates, deletes, references -------------------------------------------------------------
def check_unique(history: Sequence[Op], survivors: dict[str, int]) -> list[Anomaly]:
    """Per contested value: exactly one create wins, the others get validation_not_unique;
    exactly one record holds it afterwards."""
    found = []
    for value in sorted({op.key for op in history}):
        creates = [op for op in history if op.key == value]
        winners = [op for op in creates if op.type == "ok"]
        wrong = [op for op in creates if op.type == "fail" and op.error != "validation_not_unique"]
        if len(winners) > 1:
            found.append(Anomaly("G2", f"{len(winners)} creates of {value} all succeeded: each "
                                 "missed the others' row", [op.id for op in winners]))  # fmt: skip
        if not winners and not any(op.type == "info" for op in creates):
            found.append(Anomaly("no-winner", f"no create of {value} succeeded",
                                 [op.id for op in creates]))  # fmt: skip
        if wrong:
            found.append(Anomaly("wrong-error", f"creates of {value} failed with "
                                 f"{sorted({op.error for op in wrong})}, not validation_not_unique",
                                 [op.id for op in wrong]))  # fmt: skip
        if survivors.get(value, 0) != 1 and winners:
            found.append(Anomaly("G2", f"{survivors.get(value, 0)} records hold {value} "
                                 "afterwards, not 1", [op.id for op in winners]))  # fmt: skip
    return found


def check_update_delete(history: Sequence[Op], present: dict[str, bool]) -> list[Anomaly]:
    """Per record: one delete wins (the rest 404); an update succeeds only if it can be
    ordered before that delete; the record is gone afterwards; updates lose nothing."""
    found: list[Anomaly] = []
    for key in sorted({op.key for op in history}):
        ops = [op for op in history if op.key == key]
        deletes = [op for op in ok(ops) if op.f == "delete"]
        if len(deletes) > 1:
            found.append(Anomaly("G0", f"{len(deletes)} deletes of {key} all succeeded",
                                 [op.id for op in deletes]))  # fmt: skip
        if deletes and present.get(key, False):
            found.append(Anomaly("lost-delete", f"{key} exists after {deletes[0].id} deleted it",
                                 [deletes[0].id]))  # fmt: skip
        if deletes:
            gone = min(d.complete for d in deletes)
            late = [op for op in ok(ops) if op.f == "update" and op.invoke > gone]
            if late:
                found.append(Anomaly(
                    "G-single-realtime",
                    f"updates of {key} succeeded after its delete had finished",
                    [deletes[0].id, *(op.id for op in late)],
                ))  # fmt: skip
        updates = [op for op in ok(ops) if op.f == "update"]
        by_read: dict[int, list[Op]] = defaultdict(list)
        for op in updates:
            by_read[int(op.result) - int(op.value)].append(op)
        for read, group in by_read.items():
            if len(group) > 1:
                found.append(Anomaly("P4", f"lost update on {key}: {len(group)} updates all "
                                     f"read {read}", [op.id for op in group]))  # fmt: skip
    return found


def check_cascade(history: Sequence[Op], dangling: dict[str, list[str]]) -> list[Anomaly]:
    """Children pointing at a deleted parent (cascadeDelete): none may be left, and no
    child create may succeed after the parent's delete finished."""
    found = []
    for parent, children in sorted(dangling.items()):
        if children:
            creators = [op.id for op in ok(history) if op.f == "create" and op.result in children]
            deleter = [op.id for op in ok(history) if op.f == "delete" and op.key == parent]
            found.append(Anomaly(
                "dangling-reference",
                f"parent {parent} was deleted, yet {len(children)} of its "
                "children remain (the create and the delete each missed the other: write skew)",
                deleter + creators,
            ))  # fmt: skip
    for parent in sorted({op.key for op in history}):
        deletes = [op for op in ok(history) if op.key == parent and op.f == "delete"]
        if not deletes:
            continue
        gone = min(d.complete for d in deletes)
        late = [op.id for op in ok(history) if op.key == parent and op.f == "create"
                and op.invoke > gone]  # fmt: skip
        if late:
            found.append(Anomaly("G-single-realtime", f"children of {parent} were created "
                                 "after its delete had finished", late))  # fmt: skip
    return found


def names(anomalies: Iterable[Anomaly]) -> list[str]:
    return sorted({a.name for a in anomalies})
