"""The collections a worker serves: `default` from the start, any other loaded on its first
request and unloaded once it stayed unused for `collection_idle_seconds`, so that many
collections do not each cost a resident index in every worker.

Each loaded collection is a `LiveIndex` (it follows the changes other processes make to it).
Collections of one embedder share one loaded model. A collection deleted by another process is
noticed by the next request for it (its folder is gone): it is unloaded and answers 404.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag.config import Settings
from rag.embedders import Embedder, make_embedder
from rag.index.live import LiveIndex
from rag.index.loading import Index, load_index
from rag.index.manifest import MANIFEST, Manifest, read_manifest
from rag.indexing.collections import existing_collection
from rag.service.keys import Access

log = logging.getLogger(__name__)


@dataclass
class _Served:
    live: LiveIndex
    used: float  # time.monotonic() of its last request
    resident: bool  # never unloaded (the default)


class Collections:
    def __init__(
        self,
        settings: Settings,
        on_change: Callable[[str, Index], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_change = on_change
        self._lock = threading.Lock()
        self._served: dict[str, _Served] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._embedders: dict[tuple[str, str, str], Embedder] = {}
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def add_resident(self, name: str, live: LiveIndex) -> None:
        """Serve `live` as `name` until `close`, never unloaded (its owner starts and stops
        it); its model is shared with the collections of the same embedder."""
        embedder = live.current.embedder
        self._embedders.setdefault(_model_key(live.current.manifest), embedder)
        with self._lock:
            self._served[name] = _Served(live, time.monotonic(), resident=True)

    def loaded(self, name: str) -> LiveIndex | None:
        """The collection, if this worker has it loaded and it still exists."""
        with self._lock:
            served = self._served.get(name)
            if served is not None:
                served.used = time.monotonic()
        if served is None:
            return None
        if not served.resident and not (served.live.current.path / MANIFEST).exists():
            self.forget(name)  # deleted by another process
            return None
        return served.live

    def open(self, name: str) -> LiveIndex:
        """The collection `name`, loaded now if it is not (this blocks: call it from a
        thread). CollectionNotFoundError if there is none."""
        live = self.loaded(name)
        if live is not None:
            return live
        with self._lock:
            opening = self._opening.setdefault(name, threading.Lock())
        with opening:  # one load of a collection at a time; the others wait for it
            live = self.loaded(name)
            if live is not None:
                return live
            settings = self._settings.for_collection(name)
            folder = existing_collection(self._settings, name)
            started = time.perf_counter()
            index = load_index(folder, settings, self._embedder(read_manifest(folder)))
            live = LiveIndex(index, settings, on_change=self._changed(name))
            live.start()
            with self._lock:
                self._served[name] = _Served(live, time.monotonic(), resident=False)
            if self._on_change:
                self._on_change(name, index)
            log.info(
                "collection %s loaded from %s in %.2f s (generation %d)",
                name, folder, time.perf_counter() - started, index.generation,
            )  # fmt: skip
            return live

    def readable(self, name: str, access: Access) -> Index:
        """The latest generation of the collection `name`, if `access` may read it; as if it
        did not exist otherwise (CollectionNotFoundError)."""
        return self.open(access.readable(name)).current

    def forget(self, name: str) -> None:
        """Unload the collection (a request that holds one of its generations finishes)."""
        with self._lock:
            served = self._served.get(name)
            if served is None or served.resident:
                return
            del self._served[name]
        served.live.stop()
        log.info("collection %s unloaded", name)

    def names_loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._served)

    def sweep(self, now: float | None = None) -> list[str]:
        """Unload every collection unused for `collection_idle_seconds`; their names."""
        idle = self._settings.collection_idle_seconds
        if idle <= 0:
            return []
        now = time.monotonic() if now is None else now
        with self._lock:
            stale = [n for n, s in self._served.items() if not s.resident and now - s.used >= idle]
        for name in stale:
            self.forget(name)
        if stale:
            return_freed_memory()
        return stale

    def start(self) -> None:
        idle = self._settings.collection_idle_seconds
        if idle > 0 and self._sweeper is None:
            self._sweeper = threading.Thread(
                target=self._sweep_until_stopped, args=(min(idle / 4, 30.0),),
                name="collections-idle", daemon=True,
            )  # fmt: skip
            self._sweeper.start()

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        for name in self.names_loaded():
            self.forget(name)

    def _sweep_until_stopped(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.sweep()
            except Exception:  # the thread must outlive any one failed unload
                log.exception("unloading idle collections failed")

    def embedder(
        self, name: str, query_prefix: str | None = None, passage_prefix: str | None = None
    ) -> Embedder:
        """The model `name` with those prefixes (the settings' by default), loaded once for
        all the collections of this worker."""
        query = self._settings.query_prefix if query_prefix is None else query_prefix
        passage = self._settings.passage_prefix if passage_prefix is None else passage_prefix
        key = (name, query, passage)
        with self._lock:
            embedder = self._embedders.get(key)
        if embedder is None:
            embedder = make_embedder(
                name,
                self._settings.model_copy(
                    update={"query_prefix": query, "passage_prefix": passage}
                ),
            )
            with self._lock:
                embedder = self._embedders.setdefault(key, embedder)
        return embedder

    def _embedder(self, manifest: Manifest) -> Embedder:
        e = manifest.embedder
        return self.embedder(e.name, e.query_prefix, e.passage_prefix)

    def _changed(self, name: str) -> Callable[[Index], None] | None:
        if self._on_change is None:
            return None
        on_change = self._on_change
        return lambda index: on_change(name, index)


def _model_key(manifest: Manifest) -> tuple[str, str, str]:
    e = manifest.embedder
    return (e.name, e.query_prefix, e.passage_prefix)


def return_freed_memory() -> None:
    """Free what unloaded collections held, and give the heap's free pages back to the
    system: glibc keeps them otherwise, and a worker that unloaded 20 collections stays at the
    size it had with all of them."""
    gc.collect()  # an index's objects may hold each other
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its allocator returns memory its own way
        return
    libc.malloc_trim(0)
