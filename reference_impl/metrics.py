"""``parity serve --metrics HOST:PORT``: engine state in Prometheus' text format (EPIC-1.5).

A separate listener (``prometheus_client``'s own HTTP server in a thread), off by default,
so scraping never competes with the API's port or its middleware. Everything is read when
scraped (a custom collector), nothing is sampled in the request path:

- the pool: ``parity_pool_connections`` (size, idle, in use), ``parity_pool_max``,
  ``parity_pool_waiting``, and the counters ``parity_pool_requests_total``,
  ``parity_pool_timeouts_total`` (requests that waited past the acquire timeout or failed),
  ``parity_pool_connection_errors_total``, ``parity_pool_leaks_total`` (holds reported by
  the leak watch);
- ``parity_transaction_retries_total{reason}`` and
  ``parity_transaction_retries_exhausted_total{reason}`` (``db/engine.RETRIES``);
- SQLite's own: ``parity_sqlite_writer_queue`` (writers waiting for the one write lock) and
  the busy retries, which are the ``LockTimeout`` retries above;
- the request logs (``core/logs.py``): ``parity_request_logs_total{outcome}`` for entries
  ``accepted`` into the buffer, ``dropped`` (the buffer was full: the circuit breaker),
  ``written`` to ``_logs`` and ``failed`` (could not be written), and the gauge
  ``parity_request_logs_pending`` (accepted, not yet written).

With ``--workers N`` the supervisor serves the one listener: each scrape reads every
worker's families over its Unix socket (``GET /api/parity/worker-metrics``, answered there
only) and serves them merged, each sample labelled ``worker="<i>"`` (:class:`WorkersCollector`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from reference_impl.core.logs import RequestLogs
from reference_impl.db.engine import RETRIES, Engine


class EngineCollector(Collector):
    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        stats: dict[str, Any] = self.engine.pool_stats()
        engine = self.engine.name
        size, idle = int(stats.get("pool_size", 0)), int(stats.get("pool_available", 0))
        connections = GaugeMetricFamily(
            "parity_pool_connections", "Pooled connections by state", labels=["engine", "state"]
        )
        connections.add_metric([engine, "open"], size)
        connections.add_metric([engine, "idle"], idle)
        connections.add_metric([engine, "in_use"], max(size - idle, 0))
        yield connections
        yield _gauge(
            "parity_pool_max", "Most connections the pool opens", engine, stats, "pool_max"
        )
        yield _gauge(
            "parity_pool_waiting",
            "Requests waiting for a connection",
            engine,
            stats,
            "requests_waiting",
        )
        yield _counter(
            "parity_pool_requests", "Connections asked of the pool", engine, stats, "requests_num"
        )
        yield _counter(
            "parity_pool_timeouts",
            "Connection requests that timed out or failed",
            engine,
            stats,
            "requests_errors",
        )
        yield _counter(
            "parity_pool_connection_errors",
            "Connections the pool failed to open",
            engine,
            stats,
            "connections_errors",
        )
        yield _counter(
            "parity_pool_leaks",
            "Connections held past the leak threshold",
            engine,
            stats,
            "leaks",
        )
        if "writer_queue" in stats:
            yield _gauge(
                "parity_sqlite_writer_queue",
                "SQLite writers waiting for the write lock",
                engine,
                stats,
                "writer_queue",
            )
        retries, exhausted = RETRIES.snapshot()
        for name, help_text, counts in (
            (
                "parity_transaction_retries",
                "Transactions retried after a transient failure",
                retries,
            ),
            (
                "parity_transaction_retries_exhausted",
                "Transactions that failed after their last attempt",
                exhausted,
            ),
        ):
            family = CounterMetricFamily(name, help_text, labels=["reason"])
            for reason, count in sorted(counts.items()):
                family.add_metric([reason], count)
            yield family


class LogsCollector(Collector):
    def __init__(self, logs: RequestLogs):
        self.logs = logs

    def collect(self) -> Iterator[Metric]:
        counts = self.logs.counts()
        total = CounterMetricFamily(
            "parity_request_logs", "Request log entries by outcome", labels=["outcome"]
        )
        for outcome in ("accepted", "dropped", "written", "failed"):
            total.add_metric([outcome], counts[outcome])
        yield total
        pending = GaugeMetricFamily(
            "parity_request_logs_pending", "Request log entries accepted, not yet written"
        )
        pending.add_metric([], counts["pending"])
        yield pending


def _gauge(name: str, text: str, engine: str, stats: dict[str, Any], key: str) -> Metric:
    family = GaugeMetricFamily(name, text, labels=["engine"])
    family.add_metric([engine], float(stats.get(key, 0)))
    return family


def _counter(name: str, text: str, engine: str, stats: dict[str, Any], key: str) -> Metric:
    family = CounterMetricFamily(name, text, labels=["engine"])
    family.add_metric([engine], float(stats.get(key, 0)))
    return family


def _engine_registry(engine: Engine, logs: RequestLogs | None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(EngineCollector(engine))
    if logs is not None:
        registry.register(LogsCollector(logs))
    return registry


def _listen(registry: CollectorRegistry, address: str) -> Any:
    """``registry`` served on ``HOST:PORT``; returns the server (``shutdown()`` stops it)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"--metrics needs HOST:PORT, not {address!r}")
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    return server


def serve_metrics(engine: Engine, address: str, logs: RequestLogs | None = None) -> Any:
    """Start the listener on ``HOST:PORT``; returns the server (``shutdown()`` stops it)."""
    return _listen(_engine_registry(engine, logs), address)


def engine_metrics_text(engine: Engine, logs: RequestLogs | None = None) -> bytes:
    """This process's families in the text format (a worker's answer to its supervisor)."""
    return bytes(generate_latest(_engine_registry(engine, logs)))


class WorkersCollector(Collector):
    """The families of every worker of a ``--workers`` group, merged, ``worker`` added to
    each sample's labels; a worker that does not answer (restarting) is left out."""

    def __init__(self, sockets: list[tuple[int, str]]):
        self.sockets = sockets  # (worker index, its Unix socket path)

    def collect(self) -> Iterator[Metric]:
        import httpx

        merged: dict[str, Metric] = {}
        for index, path in self.sockets:
            try:
                with httpx.Client(
                    transport=httpx.HTTPTransport(uds=path), base_url="http://worker", timeout=5
                ) as client:
                    text = client.get("/api/parity/worker-metrics").text
            except httpx.HTTPError:
                continue
            for family in text_string_to_metric_families(text):
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(
                        family.name, family.documentation, family.type
                    )
                for sample in family.samples:
                    labels = {**sample.labels, "worker": str(index)}
                    into.add_sample(sample.name, labels, sample.value)
        yield from merged.values()


def serve_workers_metrics(sockets: list[tuple[int, str]], address: str) -> Any:
    """The supervisor's listener on ``HOST:PORT`` (:class:`WorkersCollector`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkersCollector(sockets))
    return _listen(registry, address)
