"""A loaded index: the embedder, the chunk store, and the segments' FAISS, BM25 and sentence
vectors, with the vocabulary, as of one generation."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.answers import DocumentSummary
from rag.config import Settings, TunedSettings
from rag.embedders import Embedder, make_embedder
from rag.errors import EmbedderMismatchError, IndexCorruptError, IndexNotFoundError
from rag.index.folder import recover
from rag.index.lexical import BM25Index
from rag.index.manifest import STORE, Manifest, of_generation, read_manifest
from rag.index.segments import Segment, SentenceVectors, load_segment
from rag.index.store import ChunkStore
from rag.index.translation import Lexicon
from rag.index.vectors import VectorIndex, limit_threads

# A change removes the segments it replaces once it has committed; a reader that read the
# state just before may find one gone, and reads the state again.
_ATTEMPTS = 5


@dataclass
class Index:
    """A loaded index, read-only and safe to share between threads. Its segments are those of
    one generation; its store answers with the latest committed rows (a passage removed since
    is simply not found)."""

    path: Path
    manifest: Manifest
    settings: TunedSettings
    embedder: Embedder
    store: ChunkStore
    vectors: VectorIndex
    bm25: BM25Index
    sentence_vectors: SentenceVectors
    lexicon: Lexicon
    generation: int = 1
    segments: dict[str, Segment] = field(default_factory=dict)
    # The ids of the live passages and sentences, and those the segments hold but are removed.
    live_passages: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    live_sentences: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    removed_passages: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    removed_sentences: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    # The inode of the store it was read from: a rebuild is a new folder, with a new store.
    store_inode: int = 0


def _embedder_for(
    index_dir: Path, manifest: Manifest, settings: Settings, embedder: Embedder | None
) -> Embedder:
    wanted = embedder.name if embedder else settings.embedder
    if wanted is not None and wanted != manifest.embedder.name:
        raise EmbedderMismatchError(
            f"the index at {index_dir} was built with embedder {manifest.embedder.name!r}, "
            f"not {wanted!r}; use --embedder {manifest.embedder.name} or rebuild it with: "
            f"rag index --index {index_dir} --embedder {wanted} --rebuild"
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
    if embedder.dimension != manifest.embedder.dimension:
        raise EmbedderMismatchError(
            f"embedder {embedder.name!r} gives {embedder.dimension} dimensions, the index at "
            f"{index_dir} holds {manifest.embedder.dimension}; rebuild it"
        )
    return embedder


def _open_folder(index_dir: Path) -> Manifest:
    """The manifest of the index at `index_dir`, once a change cut short there is recovered;
    raises if there is none."""
    recover(index_dir)
    if not index_dir.is_dir():
        raise IndexNotFoundError(
            f"no index at {index_dir.absolute()}; build one with: rag index --index {index_dir}"
        )
    return read_manifest(index_dir)


def list_documents(index_dir: Path) -> list[DocumentSummary]:
    """The documents of the index at `index_dir` with their passage counts, read from its
    store alone (no model is loaded). Raises as `load_index` does when it is missing."""
    _open_folder(index_dir)
    try:
        return ChunkStore(index_dir / STORE).documents()
    except (OSError, sqlite3.Error) as exc:
        raise _corrupt(index_dir, f"{type(exc).__name__}: {exc}") from exc


def load_index(
    index_dir: Path | str,
    settings: Settings,
    embedder: Embedder | None = None,
    previous: Index | None = None,
) -> Index:
    """Open the current generation of the index at `index_dir`. Raises if it is missing,
    corrupt, or of another embedder. Segments that `previous` (an earlier load of the same
    folder) has already loaded are shared, not read again."""
    index_dir = Path(index_dir)
    manifest = _open_folder(index_dir)
    embedder = _embedder_for(index_dir, manifest, settings, embedder)
    limit_threads(settings.embed_threads)
    tuned = settings.tuned_for(manifest.embedder.name)
    known = previous.segments if previous is not None and previous.path == index_dir else {}
    for attempt in range(_ATTEMPTS):
        try:
            inode = (index_dir / STORE).stat().st_ino  # before it is opened: never newer
            store = ChunkStore(index_dir / STORE)
            snapshot = store.snapshot()
            segments = {
                name: known.get(name) or load_segment(index_dir, name, settings)
                for name in snapshot.state.segments
            }
            break
        except FileNotFoundError:
            if attempt == _ATTEMPTS - 1:
                raise _corrupt(index_dir, "a segment its state names is missing") from None
        except (RuntimeError, OSError, sqlite3.Error, ValueError, KeyError) as exc:
            raise _corrupt(index_dir, f"{type(exc).__name__}: {exc}") from exc
    parts = list(segments.values())
    held = np.concatenate([s.passage_ids for s in parts]) if parts else np.empty(0, np.int64)
    held_sentences = (
        np.concatenate([s.sentence_ids for s in parts]) if parts else np.empty(0, np.int64)
    )
    live = np.setdiff1d(held, snapshot.removed_passages, assume_unique=True)
    live_sentences = np.setdiff1d(held_sentences, snapshot.removed_sentences, assume_unique=True)
    dimension = manifest.embedder.dimension
    if (
        len(live) != snapshot.passages
        or len(live_sentences) != snapshot.sentences
        or any(s.vectors.dimension != dimension for s in parts)
        or any(len(s.sentence_ids) and s.sentence_vectors.shape[1:] != (dimension,) for s in parts)
    ):
        raise _corrupt(
            index_dir,
            f"its store has {snapshot.passages} passages and {snapshot.sentences} sentences, "
            f"its segments {len(live)} and {len(live_sentences)}",
        )
    try:
        lexicon = _lexicon(store, snapshot.state.vocabulary_size, previous)
    except (sqlite3.Error, ValueError) as exc:
        raise _corrupt(index_dir, f"{type(exc).__name__}: {exc}") from exc
    if any(len(v) and v.shape[1:] != (dimension,) for v in lexicon.vectors.values()):
        raise _corrupt(index_dir, "its vocabulary's vectors have the wrong dimension")
    main = parts[0].vectors.kind if parts else "flat"
    return Index(
        path=index_dir,
        manifest=of_generation(manifest, store, snapshot.state),
        settings=tuned,
        embedder=embedder,
        store=store,
        vectors=VectorIndex([s.vectors for s in parts], live, main),
        bm25=BM25Index([s.terms for s in parts], live),
        sentence_vectors=SentenceVectors(parts),
        lexicon=lexicon,
        generation=snapshot.state.generation,
        segments=segments,
        live_passages=live,
        live_sentences=live_sentences,
        removed_passages=snapshot.removed_passages,
        removed_sentences=snapshot.removed_sentences,
        store_inode=inode,
    )


def _lexicon(store: ChunkStore, size: int, previous: Index | None) -> Lexicon:
    """The store's vocabulary, with the vectors `previous` already has read from it, not from
    the store again."""
    if previous is None:
        return Lexicon.from_store(store.vocabulary(size))
    old = previous.lexicon
    words = store.vocabulary_words(size)
    vectors: dict[str, np.ndarray] = {}
    for language, ws in words.items():
        if old.words.get(language) == ws:  # most changes leave a language's vocabulary as it was
            vectors[language] = old.vectors[language]
            continue
        row = {w: i for i, w in enumerate(old.words.get(language, []))}
        fresh = store.word_vectors([(language, w) for w in ws if w not in row])
        vectors[language] = np.stack(
            [old.vectors[language][row[w]] if w in row else fresh[(language, w)] for w in ws]
        ).astype(np.float32)
    return Lexicon(words, vectors)


def _corrupt(index_dir: Path, why: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"the index at {index_dir} is damaged or inconsistent ({why}); "
        f"rebuild it with: rag index --index {index_dir} --rebuild"
    )
