"""Prometheus metrics, served at `GET /metrics` in the text format.

`rag serve` pre-forks workers, so each keeps its counters in files of a shared folder
(prometheus-client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, set by `rag serve` before
anything imports prometheus-client) and a scrape adds them up, whichever worker answers it.
In a single process (the library, tests) the counters live in memory.

- `rag_requests_total{route,method,status}` and `rag_request_duration_seconds{route}`: every
  request, by route template (`/documents/{doc_id}`), so the labels stay few.
- `rag_search_duration_seconds{mode}` and `rag_search_results{mode}`: each search.
- `rag_index_passages`, `rag_index_documents`, `rag_index_generation`,
  `rag_index_built_timestamp_seconds`.
- `rag_build_info{version,embedder}`: 1.
- `rag_worker_up`, `rag_worker_resident_memory_bytes`, `rag_worker_cpu_seconds`: per worker
  process (label `pid`), the process metrics of a multi-process server.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

REQUESTS = Counter(
    "rag_requests",
    "HTTP requests answered, by route, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "rag_request_duration_seconds",
    "Time to answer a request, by route",
    ["route"],
    buckets=_LATENCY,
)
SEARCH_SECONDS = Histogram(
    "rag_search_duration_seconds", "Time of a search, by mode and collection",
    ["mode", "collection"], buckets=_LATENCY,
)  # fmt: skip
SEARCH_RESULTS = Histogram(
    "rag_search_results",
    "Passages a search returned, by mode and collection",
    ["mode", "collection"],
    buckets=(0, 1, 2, 3, 5, 10, 20, 50, 100),
)
INDEX_PASSAGES = Gauge(
    "rag_index_passages", "Passages in a collection's index", ["collection"],
    multiprocess_mode="max",
)  # fmt: skip
INDEX_DOCUMENTS = Gauge(
    "rag_index_documents", "Documents in a collection's index", ["collection"],
    multiprocess_mode="max",
)  # fmt: skip
INDEX_GENERATION = Gauge(
    "rag_index_generation", "Generation of a collection's loaded index (one more each change)",
    ["collection"], multiprocess_mode="max",
)  # fmt: skip
INDEX_BUILT = Gauge(
    "rag_index_built_timestamp_seconds", "When a collection's index was built", ["collection"],
    multiprocess_mode="max",
)  # fmt: skip
BUILD_INFO = Gauge(
    "rag_build_info", "The service's version and embedder", ["version", "embedder"],
    multiprocess_mode="max",
)  # fmt: skip
WORKER_UP = Gauge("rag_worker_up", "1 for each live worker process", multiprocess_mode="liveall")
WORKER_RSS = Gauge(
    "rag_worker_resident_memory_bytes", "Resident memory of a worker process",
    multiprocess_mode="liveall",
)  # fmt: skip
WORKER_CPU = Gauge(
    "rag_worker_cpu_seconds", "CPU time a worker process used", multiprocess_mode="liveall"
)


def multiprocess_mode() -> bool:
    return MULTIPROCESS_DIR in os.environ


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    # Clients choose the method: any other than HTTP's own counts as one, so labels stay few.
    REQUESTS.labels(route, method if method in _METHODS else "other", str(status)).inc()
    REQUEST_SECONDS.labels(route).observe(seconds)


def observe_search(mode: str, seconds: float, results: int, collection: str) -> None:
    SEARCH_SECONDS.labels(mode, collection).observe(seconds)
    SEARCH_RESULTS.labels(mode, collection).observe(results)


def observe_index(manifest: Any, version: str, collection: str = "default") -> None:
    """A loaded collection's gauges (`manifest` is its `Manifest`), and this worker as up."""
    INDEX_PASSAGES.labels(collection).set(manifest.passages)
    INDEX_DOCUMENTS.labels(collection).set(manifest.documents)
    INDEX_GENERATION.labels(collection).set(manifest.generation)
    INDEX_BUILT.labels(collection).set(datetime.fromisoformat(manifest.built_at).timestamp())
    BUILD_INFO.labels(version, manifest.embedder.name).set(1)
    WORKER_UP.set(1)
    _update_worker()


def _update_worker() -> None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            WORKER_RSS.set(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except OSError:  # not Linux: leave the gauge as it is
        pass
    times = os.times()
    WORKER_CPU.set(times.user + times.system)


def exposition() -> tuple[bytes, str]:
    """The metrics of every worker, in the Prometheus text format, and its content type."""
    _update_worker()
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_last_worker_update = [0.0]


def maybe_update_worker(every: float = 1.0) -> None:
    """Refresh this worker's memory and CPU gauges, at most once per `every` seconds."""
    now = time.monotonic()
    if now - _last_worker_update[0] >= every:
        _last_worker_update[0] = now
        _update_worker()
