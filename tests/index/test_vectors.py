from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.config import Settings
from rag.index.vectors import FaissVectorIndex, choose_kind


def _vectors(n: int = 400, dim: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_kind_follows_size_unless_configured() -> None:
    s = Settings(exact_threshold=1000)
    assert choose_kind(999, s) == "flat"
    assert choose_kind(1000, s) == "ivf"
    assert choose_kind(10, Settings(faiss_index="ivf")) == "ivf"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_each_kind_finds_a_vector_itself_and_filters(kind: str, tmp_path: Path) -> None:
    vectors = _vectors()
    settings = Settings(faiss_index=kind, ivf_nprobe=64)
    index = FaissVectorIndex.build(vectors, np.arange(len(vectors)), settings)
    index.save(tmp_path)
    loaded = FaissVectorIndex.load(tmp_path, settings)
    assert loaded.kind == kind
    assert len(loaded) == 400 and loaded.dimension == 32
    for i in (0, 17, 399):
        (best, score), *_ = loaded.search(vectors[i], 5)
        assert best == i and score == pytest.approx(1.0, abs=1e-4)
    allowed = list(range(100, 150))
    hits = loaded.search(vectors[3], 10, faiss.IDSelectorBatch(np.asarray(allowed)))
    assert hits and all(i in allowed for i, _ in hits)
    assert np.allclose(loaded.reconstruct([5, 6]), vectors[[5, 6]], atol=1e-6)


def test_k_larger_than_the_index() -> None:
    index = FaissVectorIndex.build(_vectors(3), np.arange(3), Settings())
    assert len(index.search(_vectors(3)[0], 10)) == 3
