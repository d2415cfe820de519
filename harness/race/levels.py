"""Which anomalies each isolation level allows: PostgreSQL's (Hermitage) and the reference's.

Hermitage (Martin Kleppmann, github.com/ept/hermitage, PostgreSQL column) tests plain
read/write transactions on the database alone. The reference promises more for its own
operations: a field modifier (``n+``, ``tags+``) reads the row ``FOR UPDATE`` in the write
transaction, and a relation's target is read ``FOR KEY SHARE``, so a lost update (P4) is
forbidden at every level, not only from REPEATABLE READ up. Everything else is the level's.
SQLite serialises every transaction whatever level is asked
(``Dialect.SERIALIZES_EVERYTHING``), so there the reference forbids everything.

Anomaly names are Adya's (G0, G1a, G1b, G1c, G-single, G2-item, G2) plus Hermitage's P4 (lost
update); ``-realtime`` cycles need a real-time edge (an operation that finished before
another began): a single PostgreSQL primary answers every committed write to later
statements at every level, so the reference forbids them everywhere. Checks that are not
cycles (a read of a value never written, a record surviving its acknowledged delete, an
error the API must not give) are ``invariant`` anomalies: never allowed.
"""

from __future__ import annotations

LEVELS = ("read-committed", "repeatable-read", "serializable")

ANOMALIES = (
    "G0",  # write cycle (dirty write)
    "G1a",  # aborted read
    "G1b",  # intermediate read
    "G1c",  # circular information flow
    "P4",  # lost update
    "G-single",  # read skew (one anti-dependency in a cycle)
    "G2-item",  # write skew (item anti-dependency cycle)
    "G2",  # anti-dependency cycle over predicates (phantoms)
)

# Hermitage, PostgreSQL (9.x-17, unchanged): True = the level prevents it.
HERMITAGE_POSTGRES: dict[str, dict[str, bool]] = {
    "read-committed": {
        "G0": True, "G1a": True, "G1b": True, "G1c": True,
        "P4": False, "G-single": False, "G2-item": False, "G2": False,
    },
    "repeatable-read": {
        "G0": True, "G1a": True, "G1b": True, "G1c": True,
        "P4": True, "G-single": True, "G2-item": False, "G2": False,
    },
    "serializable": dict.fromkeys(ANOMALIES, True),
}  # fmt: skip

# What the reference's operations add to the level (see the module docstring).
STRENGTHENED = {"P4": "modifiers read the row FOR UPDATE in the write transaction"}

# Anomalies with a name of their own: the class Hermitage files them under, and the levels
# at which the reference forbids them. A dangling reference (a child created while its
# parent is deleted, each missing the other) is write skew; the relation check reads the
# parent FOR KEY SHARE, which forbids it at READ COMMITTED (the delete waits, then its next
# statement sees the child), and SSI forbids it at SERIALIZABLE; REPEATABLE READ's one
# snapshot cannot see the child, so there it stays possible, as PostgreSQL's own snapshot
# isolation allows write skew.
SPECIFIC: dict[str, tuple[str, dict[str, bool]]] = {
    "dangling-reference": (
        "G2-item",
        {"read-committed": True, "repeatable-read": False, "serializable": True},
    ),
}


def base(anomaly: str) -> str:
    """``G-single-realtime`` -> ``G-single``; ``dangling-reference`` -> ``G2-item``."""
    name = anomaly.removesuffix("-realtime")
    return SPECIFIC[name][0] if name in SPECIFIC else name


def forbidden(anomaly: str, engine: str, level: str) -> bool:
    """Whether the reference on ``engine`` at ``level`` promises that ``anomaly`` never
    happens (True also for every invariant and real-time anomaly)."""
    if engine != "postgres" or anomaly.endswith("-realtime"):
        return True
    if anomaly in SPECIFIC:
        return SPECIFIC[anomaly][1][level]
    prevented = HERMITAGE_POSTGRES[level].get(base(anomaly))
    if prevented is None:  # an invariant
        return True
    return prevented or anomaly in STRENGTHENED


def hermitage_allows(anomaly: str, level: str) -> bool | None:
    """PostgreSQL alone at ``level`` (Hermitage); None for what Hermitage does not test."""
    prevented = HERMITAGE_POSTGRES[level].get(base(anomaly))
    return None if prevented is None else not prevented


def effective_level(engine: str, level: str) -> str:
    """What runs: PostgreSQL the level asked, SQLite always serializable; PocketBase has no
    such setting (its modifiers read the record before the write transaction)."""
    return {"postgres": level, "sqlite": "serializable"}.get(engine, "n/a")
