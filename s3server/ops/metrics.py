"""Prometheus metrics, labelled by AWS operation name, for the /metrics endpoint on the S3 port.

With several worker processes each one counts its own requests; prometheus-client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by the parent before the workers start) sums them at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Callbacks(Collector):
    """Gauges read at scrape time (drive free space, blob counts), so requests never pay for them."""

    def __init__(self, sources: list[Callable[[], Iterable[GaugeMetricFamily]]]) -> None:
        self._sources = sources

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for source in self._sources:
            yield from source()


class Metrics:
    """The server's metric families and the exposition of them."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self.registry
        self.requests = Counter(
            "s3_requests_total",
            "S3 requests by operation and HTTP status",
            ["operation", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "s3_request_duration_seconds",
            "Time to answer, by operation",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.bytes_in = Counter("s3_received_bytes_total", "Request body bytes received", registry=registry)
        self.bytes_out = Counter("s3_sent_bytes_total", "Response body bytes sent", registry=registry)
        self.in_flight = Gauge(
            "s3_requests_in_flight",
            "Requests being handled",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._sources: list[Callable[[], Iterable[GaugeMetricFamily]]] = []
        self._callbacks = _Callbacks(self._sources)
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)
        self.registry.register(self._callbacks)

    def add_source(self, source: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
        """A function yielding gauge families at scrape time."""
        self._sources.append(source)

    def observe(self, operation: str, status: int, seconds: float, received: int, sent: int) -> None:
        self.requests.labels(operation, str(status)).inc()
        self.latency.labels(operation).observe(seconds)
        if received:
            self.bytes_in.inc(received)
        if sent:
            self.bytes_out.inc(sent)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
