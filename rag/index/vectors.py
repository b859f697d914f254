"""The dense index: FAISS, inner product over L2-normalised vectors (cosine similarity).

Each segment has its own FAISS index, whose ids (`IndexIDMap2`) are passage ids. The main
segment's type follows the corpus size: exact search below `exact_threshold` passages, IVF
(inverted lists over 4 sqrt(n) k-means cells, `ivf_nprobe` of them searched) above it, or
whatever `faiss_index` asks for ("flat", "hnsw", "ivf"); the segment of recent changes is always
exact. IVF rather than HNSW: at a million passages it found .98 of the exact top 10 (nprobe
128), where HNSW (M 32) found .47 at efSearch 128 and .87 at 2048 (eval/README.md, "Scale").
A removed passage's vector stays in its segment until the next merge, and searches leave it
out (an id selector).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from rag.config import Settings
from rag.index.ids import contains

FILE_NAME = "vectors.faiss"
_TRAINING_PER_CELL = 64
_threads: int | None = None  # what limit_threads last set


def limit_threads(n: int) -> None:
    """At most `n` threads in FAISS (its OpenMP) and in BLAS (numpy's and FAISS's OpenBLAS) for
    this process. At their defaults, one a core, a search's few small products wake them and
    they spin while the encoder works."""
    global _threads
    if n != _threads:
        faiss.omp_set_num_threads(n)
        threadpool_limits(limits=n, user_api="blas")
        _threads = n


def choose_kind(n_vectors: int, settings: Settings) -> str:
    if settings.faiss_index != "auto":
        return settings.faiss_index
    return "flat" if n_vectors < settings.exact_threshold else "ivf"


class FaissVectorIndex:
    """One segment's FAISS index, keyed by passage id."""

    def __init__(self, index: Any, kind: str, settings: Settings):
        self.index = index
        self.kind = kind
        self._ef_search = settings.hnsw_ef_search
        self._nprobe = settings.ivf_nprobe
        self.ids = np.sort(faiss.vector_to_array(index.id_map)).astype(np.int64)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls, vectors: np.ndarray, ids: np.ndarray, settings: Settings, kind: str | None = None
    ) -> FaissVectorIndex:
        n, dim = vectors.shape
        kind = kind or choose_kind(n, settings)
        inner: Any
        if kind == "flat":
            inner = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = max(40, 2 * settings.hnsw_m)
        else:
            nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
            quantizer = faiss.IndexFlatIP(dim)
            inner = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            # k-means on a sample of 64 vectors a cell: all of a million would take an hour.
            sample = np.random.default_rng(0).permutation(n)[: _TRAINING_PER_CELL * nlist]
            inner.train(np.ascontiguousarray(vectors[np.sort(sample)], np.float32))
        index = faiss.IndexIDMap2(inner)
        if n:
            index.add_with_ids(
                np.ascontiguousarray(vectors, np.float32), np.asarray(ids, dtype=np.int64)
            )
        if kind == "ivf":
            inner.make_direct_map()
        return cls(index, kind, settings)

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / FILE_NAME))

    @classmethod
    def load(cls, folder: Path, settings: Settings) -> FaissVectorIndex:
        # Memory-mapped, so that the vectors stay in the page cache, shared by every worker
        # that serves the index: a flat or HNSW index's (IndexFlatCodes), an IVF index's lists.
        # faiss maps one or the other in one read, so an IVF index is read again.
        path = str(folder / FILE_NAME)
        try:
            index = faiss.read_index(path, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:
            index = faiss.read_index(path, faiss.IO_FLAG_MMAP)
        wrapper: Any = faiss.downcast_index(index)
        inner = faiss.downcast_index(wrapper.index)
        if isinstance(inner, faiss.IndexIVF):
            inner.make_direct_map()  # for reconstruct
            return cls(index, "ivf", settings)
        return cls(index, "hnsw" if isinstance(inner, faiss.IndexHNSW) else "flat", settings)

    def reconstruct(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids`, which this segment must hold."""
        if not len(ids):
            return np.empty((0, self.dimension), dtype=np.float32)
        return np.stack([self.index.reconstruct(int(i)) for i in ids])

    def search(self, query: np.ndarray, k: int, selector: Any = None) -> list[tuple[int, float]]:
        params: Any
        api: Any = faiss  # the SWIG classes take keyword arguments that faiss's stubs miss
        if self.kind == "hnsw":
            params = api.SearchParametersHNSW(sel=selector, efSearch=max(self._ef_search, k))
        elif self.kind == "ivf":
            params = api.SearchParametersIVF(sel=selector, nprobe=self._nprobe)
        else:
            params = api.SearchParameters(sel=selector) if selector else None
        k = min(k, len(self))
        if k == 0:
            return []
        scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


class VectorIndex:
    """The dense index over all segments: a search asks each segment for its best live
    passages and keeps the best of all."""

    def __init__(self, segments: Sequence[FaissVectorIndex], live: np.ndarray, kind: str):
        self.segments = list(segments)
        self.kind = kind  # the main segment's
        self._live = live
        # The ids each segment holds that are removed: left out of every search.
        self._dead = [seg.ids[~contains(live, seg.ids)] for seg in self.segments]

    @property
    def dimension(self) -> int:
        return self.segments[0].dimension if self.segments else 0

    def __len__(self) -> int:
        return len(self._live)

    def _holder(self, ids: np.ndarray) -> np.ndarray:
        """The number of the segment that holds each of `ids` (-1 for none)."""
        where = np.full(len(ids), -1)
        for n, seg in enumerate(self.segments):
            where[contains(seg.ids, ids)] = n
        return where

    def reconstruct(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids` (for reusing embeddings, and for exact scores)."""
        wanted = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(wanted), self.dimension), dtype=np.float32)
        where = self._holder(wanted)
        for n, seg in enumerate(self.segments):
            mine = np.flatnonzero(where == n)
            if len(mine):
                out[mine] = seg.reconstruct(wanted[mine].tolist())
        return out

    def scores(self, query: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """Exact cosine of `query` with the stored vectors of `ids`."""
        if not len(ids):
            return np.empty(0, dtype=np.float32)
        return self.reconstruct(ids) @ query.astype(np.float32)

    def search(
        self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """The `k` nearest live passages to one query vector, as (passage id, cosine), best
        first; only passages of `allowed`, when given."""
        found: list[tuple[int, float]] = []
        wanted = None if allowed is None else np.asarray(allowed, dtype=np.int64)
        for seg, dead in zip(self.segments, self._dead, strict=True):
            selector: Any = None
            if wanted is not None:
                mine = wanted[contains(seg.ids, wanted) & ~contains(dead, wanted)]
                if not len(mine):
                    continue
                selector = faiss.IDSelectorBatch(mine)
            elif len(dead):
                removed = faiss.IDSelectorBatch(dead)  # kept alive while the search runs
                selector = faiss.IDSelectorNot(removed)
            found += seg.search(query, k, selector)
        found.sort(key=lambda hit: (-hit[1], hit[0]))
        return found[:k]
