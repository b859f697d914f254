"""The current generation of an index, for a process that serves it while others change it.

A `LiveIndex` holds one loaded generation. A thread polls the store's state (a fresh read-only
connection, so that a rebuild's new folder is seen too) every `poll_seconds`; when the
generation changed, it loads the new one beside the old, sharing the segments they have in
common, and swaps it in. A request takes `current` once and answers from that generation
whole: nothing it reads is removed under it (a removed segment's files stay mapped while
used), so a switch fails no request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rag.config import Settings
from rag.errors import RagError
from rag.index.loading import Index, load_index
from rag.index.manifest import STORE
from rag.index.store import committed_generation

log = logging.getLogger(__name__)


def generation_at(index: Index) -> tuple[int, int] | None:
    """The committed generation of the folder `index` was loaded from, with its store's
    inode (a rebuild is a new folder, with a new store), or None if it cannot be read now."""
    try:
        inode = (index.path / STORE).stat().st_ino
    except OSError:
        return None
    generation = committed_generation(index.path / STORE)
    return None if generation is None else (generation, inode)


class LiveIndex:
    def __init__(
        self,
        index: Index,
        settings: Settings,
        poll_seconds: float = 0.2,
        on_change: Callable[[Index], None] | None = None,
    ):
        self._index = index
        self._settings = settings
        self._poll = poll_seconds
        self._on_change = on_change
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Index:
        return self._index

    def refresh(self) -> bool:
        """Load the folder's generation if it is not the one held; whether it was."""
        with self._lock:
            old = self._index
            # Against what the index held was read from, not against the folder when this
            # object was made: a change may have committed in between.
            seen = generation_at(old)
            if seen is None or seen == (old.generation, old.store_inode):
                return False
            try:
                new = load_index(old.path, self._settings, old.embedder, previous=old)
            except RagError as exc:  # a rebuild between its renames, say: try again later
                log.warning("index at %s not reloaded: %s", old.path, exc)
                return False
            self._index = new
        log.info("index at %s: generation %d -> %d", new.path, old.generation, new.generation)
        if self._on_change:
            self._on_change(new)
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="index-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.refresh()
            except Exception:  # the thread must outlive any one failed reload
                log.exception("reloading the index at %s failed", self._index.path)
