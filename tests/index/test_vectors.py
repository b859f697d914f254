import json
import os
import subprocess
import sys
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


THREADS = """
import json, sys
import faiss
from threadpoolctl import threadpool_info
from rag.config import Settings
from rag.index.loading import load_index

def threads():
    blas = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
    return {"faiss": faiss.omp_get_max_threads(), "blas": blas}

before = threads()
load_index(sys.argv[1], Settings())  # a str, as a library user may pass it
print(json.dumps({"before": before, "after": threads()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("index", "threads"), [("e5_index_dir", 1), ("e5_index_dir", 2), ("built_index_dir", 1)]
)
def test_a_loaded_index_holds_faiss_and_blas_to_the_embed_threads(
    request: pytest.FixtureRequest, index: str, threads: int
) -> None:
    """At their defaults (one a core) FAISS's and BLAS's idle threads spin beside the encoder;
    a process that loads an index holds them to `embed_threads`, with no variable set, whatever
    its embedder (use-m3 limited BLAS, and with it FAISS's OpenMP, itself; e5-small did not)."""
    index_dir: Path = request.getfixturevalue(index)
    env = {k: v for k, v in os.environ.items() if "THREAD" not in k and k != "RAG_EMBEDDER"}
    env["RAG_EMBED_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", THREADS, str(index_dir)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    cores = os.cpu_count()
    assert seen["before"] == {"faiss": cores, "blas": [cores]}, seen  # what rag changes
    assert seen["after"] == {"faiss": threads, "blas": [threads]}, seen
