"""Prometheus metrics, labelled by AWS operation name, for the /metrics endpoint on the S3 port.

With several worker processes each one counts its own requests; prometheus-client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by the parent before the workers start) sums them at scrape time.
Gauges about shared state (drive free space, blob counts) are read by whichever worker is scraped,
from refreshers awaited just before the exposition is rendered.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("s3server.metrics")

SCRAPE_ATTEMPTS = 5
PASS_BUCKETS = (0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 4 * 3600)
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
        if self.multiprocess and values.ValueClass is values.MutexValue:
            # prometheus-client picks its value class at import, which may have happened before the
            # parent process set PROMETHEUS_MULTIPROC_DIR: pick again.
            values.ValueClass = values.get_value_class()
        # Describing the multiprocess collector would read the other workers' files while they
        # may still be creating them (at start-up): only a scrape reads them.
        self.registry = CollectorRegistry(auto_describe=not self.multiprocess)
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
        # The lifecycle worker's (s3server.lifecycle), labelled by the rule action that removed it.
        self.lifecycle_objects = Counter(
            "s3_lifecycle_expired_objects_total",
            "Versions and delete markers that lifecycle rules expired or removed, by action",
            ["action"],
            registry=registry,
        )
        self.lifecycle_bytes = Counter(
            "s3_lifecycle_expired_bytes_total",
            "Bytes of the versions that lifecycle rules expired or removed, by action",
            ["action"],
            registry=registry,
        )
        self.lifecycle_uploads = Counter(
            "s3_lifecycle_aborted_uploads_total",
            "Multipart uploads aborted by AbortIncompleteMultipartUpload rules",
            registry=registry,
        )
        self.lifecycle_pass = Histogram(
            "s3_lifecycle_pass_duration_seconds",
            "Time a complete lifecycle pass took",
            buckets=PASS_BUCKETS,
            registry=registry,
        )
        self._counters: dict[tuple[str, int], Any] = {}
        self._histograms: dict[str, Any] = {}
        self._sources: list[Callable[[], Iterable[GaugeMetricFamily]]] = []
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        self._callbacks = _Callbacks(self._sources)
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)
        self.registry.register(self._callbacks)

    def add_source(self, source: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
        """A function yielding gauge families at scrape time."""
        self._sources.append(source)

    def add_refresher(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """An async function awaited before each scrape (to read what sources then report)."""
        self._refreshers.append(refresh)

    async def scrape(self) -> tuple[bytes, str]:
        """Refresh the scrape-time gauges, then render the exposition."""
        for refresh in self._refreshers:
            try:
                await refresh()
            except Exception:  # a failing source must not take the request metrics down with it
                log.warning(
                    "metrics refresher %r failed; its gauges keep their last values", refresh, exc_info=True
                )
        return self.exposition()

    def observe(self, operation: str, status: int, seconds: float, received: int, sent: int) -> None:
        # The labelled children are kept here: looking them up through labels() takes a lock and
        # validates the labels on every request.
        counter = self._counters.get((operation, status))
        if counter is None:
            counter = self._counters[(operation, status)] = self.requests.labels(operation, str(status))
        counter.inc()
        histogram = self._histograms.get(operation)
        if histogram is None:
            histogram = self._histograms[operation] = self.latency.labels(operation)
        histogram.observe(seconds)
        if received:
            self.bytes_in.inc(received)
        if sent:
            self.bytes_out.inc(sent)

    def exposition(self) -> tuple[bytes, str]:
        for attempt in range(SCRAPE_ATTEMPTS):
            try:
                return generate_latest(self.registry), CONTENT_TYPE_LATEST
            except struct.error:
                # A worker's file caught between creation and its first write; read again.
                if attempt == SCRAPE_ATTEMPTS - 1:
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")
