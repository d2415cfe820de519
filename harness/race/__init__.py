"""The race suite: concurrent workloads over HTTP, a recorded history, an Elle-style checker.

``workloads.py`` (what clients do and how each workload is checked), ``history.py`` (the
operations as they happened), ``checker.py`` (anomalies by name, with the operations
involved), ``levels.py`` (which anomalies each isolation level allows: Hermitage's
PostgreSQL table and the reference's promise), ``runner.py`` (servers, schedule, clients),
``command.py`` (``parity race``).
"""
