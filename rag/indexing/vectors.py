"""The dense index: FAISS, inner product over L2-normalised vectors (cosine similarity).

The index type follows the corpus size: exact search below `exact_threshold` passages, HNSW
above it, or whatever `faiss_index` asks for ("flat", "hnsw", "ivf").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.config import Settings

FILE_NAME = "vectors.faiss"


def choose_kind(n_vectors: int, settings: Settings) -> str:
    if settings.faiss_index != "auto":
        return settings.faiss_index
    return "flat" if n_vectors < settings.exact_threshold else "hnsw"


class FaissVectorIndex:
    """A FAISS index whose row numbers are passage ids."""

    def __init__(self, index: Any, kind: str, settings: Settings):
        self.index = index
        self.kind = kind
        self._ef_search = settings.hnsw_ef_search
        self._nprobe = settings.ivf_nprobe

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray, settings: Settings) -> FaissVectorIndex:
        n, dim = vectors.shape
        kind = choose_kind(n, settings)
        index: Any
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = max(40, 2 * settings.hnsw_m)
        else:
            nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
        index.add(vectors)
        return cls(index, kind, settings)

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / FILE_NAME))

    @classmethod
    def load(cls, folder: Path, kind: str, settings: Settings) -> FaissVectorIndex:
        index = faiss.read_index(str(folder / FILE_NAME), faiss.IO_FLAG_MMAP)
        return cls(index, kind, settings)

    def reconstruct(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids` (for reusing embeddings across rebuilds)."""
        if self.kind == "ivf":
            self.index.make_direct_map()
        return np.asarray(self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64)))

    def scores(self, query: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """Exact cosine of `query` with the stored vectors of `ids`."""
        if not len(ids):
            return np.empty(0, dtype=np.float32)
        return self.reconstruct(ids) @ query.astype(np.float32)

    def search(
        self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """The `k` nearest passages to one query vector, as (passage id, cosine), best first."""
        selector = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, "int64"))
        params: Any
        api: Any = faiss  # the SWIG classes take keyword arguments that faiss's stubs miss
        if self.kind == "hnsw":
            params = api.SearchParametersHNSW(sel=selector, efSearch=max(self._ef_search, k))
        elif self.kind == "ivf":
            params = api.SearchParametersIVF(sel=selector, nprobe=self._nprobe)
        else:
            params = api.SearchParameters(sel=selector) if selector else None
        k = min(k, len(self))
        scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
