"""A loaded index: the embedder, the chunk store, FAISS, BM25, sentence vectors and vocabulary."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import Settings, TunedSettings
from rag.errors import EmbedderMismatchError, IndexCorruptError, IndexNotFoundError
from rag.indexing.embedders import Embedder, make_embedder
from rag.indexing.folder import recover
from rag.indexing.lexical import BM25Index
from rag.indexing.manifest import SENTENCES, STORE, Manifest, read_manifest
from rag.indexing.store import ChunkStore
from rag.indexing.translation import Lexicon
from rag.indexing.vectors import FaissVectorIndex


@dataclass
class Index:
    """A loaded, read-only index, safe to share between threads."""

    path: Path
    manifest: Manifest
    settings: TunedSettings
    embedder: Embedder
    store: ChunkStore
    vectors: FaissVectorIndex
    bm25: BM25Index
    sentence_vectors: np.ndarray
    lexicon: Lexicon


def load_index(index_dir: Path, settings: Settings, embedder: Embedder | None = None) -> Index:
    """Open the index at `index_dir`. Raises if it is missing, corrupt, or of another embedder."""
    recover(index_dir)
    if not index_dir.is_dir():
        raise IndexNotFoundError(
            f"no index at {index_dir}; build one with: rag index --index {index_dir}"
        )
    manifest = read_manifest(index_dir)
    wanted = embedder.name if embedder else settings.embedder
    if wanted is not None and wanted != manifest.embedder.name:
        raise EmbedderMismatchError(
            f"the index at {index_dir} was built with embedder {manifest.embedder.name!r}, "
            f"not {wanted!r}; use --embedder {manifest.embedder.name} or rebuild it with: "
            f"rag index --index {index_dir} --embedder {wanted}"
        )
    if embedder is None:
        embedder = make_embedder(
            manifest.embedder.name,
            settings.model_copy(
                update={
                    "query_prefix": manifest.embedder.query_prefix,
                    "passage_prefix": manifest.embedder.passage_prefix,
                }
            ),
        )
    tuned = settings.tuned_for(manifest.embedder.name)
    if embedder.dimension != manifest.embedder.dimension:
        raise EmbedderMismatchError(
            f"embedder {embedder.name!r} gives {embedder.dimension} dimensions, the index at "
            f"{index_dir} holds {manifest.embedder.dimension}; rebuild it"
        )
    try:
        store = ChunkStore(index_dir / STORE)
        vectors = FaissVectorIndex.load(index_dir, manifest.vector_index, settings)
        bm25 = BM25Index.load(index_dir)
        sentence_vectors = np.load(index_dir / SENTENCES, mmap_mode="r", allow_pickle=False)
        lexicon = Lexicon.load(index_dir)
        counts = {len(vectors), store.count_passages(), manifest.passages}
        sentence_counts = {len(sentence_vectors), store.count_sentences(), manifest.sentences}
    except (RuntimeError, OSError, sqlite3.Error, ValueError, KeyError) as exc:
        raise IndexCorruptError(
            f"the index at {index_dir} is damaged ({type(exc).__name__}: {exc}); "
            f"rebuild it with: rag index --index {index_dir}"
        ) from exc
    if (
        len(counts) != 1
        or len(sentence_counts) != 1
        or vectors.dimension != manifest.embedder.dimension
        or sentence_vectors.shape[1:] != (manifest.embedder.dimension,)
        or len(lexicon) != manifest.vocabulary
        or any(
            len(v) and v.shape[1:] != (manifest.embedder.dimension,)
            for v in lexicon.vectors.values()
        )
    ):
        raise IndexCorruptError(
            f"the index at {index_dir} is inconsistent (passage counts {sorted(counts)}, "
            f"sentence counts {sorted(sentence_counts)}, vocabulary {len(lexicon)} words "
            f"for {manifest.vocabulary}); "
            f"rebuild it with: rag index --index {index_dir}"
        )
    return Index(
        index_dir, manifest, tuned, embedder, store, vectors, bm25, sentence_vectors, lexicon
    )
