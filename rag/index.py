"""Building, saving and loading the index folder.

The folder holds the FAISS index, the SQLite chunk store, the BM25 index, the sentence vectors,
the vocabulary (for translating questions) and `manifest.json`, which says how it was built.
A build writes a temporary sibling folder and renames it into place, so a build that fails or
is interrupted leaves the previous index whole.
Vectors of passages, sentences and words whose text and embedder are unchanged are taken from
the previous index instead of being embedded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ValidationError

from rag import __version__
from rag.chunking import Passage, chunk_documents, sentence_spans
from rag.config import DEFAULT_EMBEDDER, Settings
from rag.corpus import Document, corpus_fingerprint, load_corpus
from rag.embedders import Embedder, make_embedder
from rag.errors import (
    EmbedderMismatchError,
    IndexCorruptError,
    IndexNotFoundError,
    RagError,
)
from rag.lexical import BM25Index
from rag.store import ChunkStore, write_store
from rag.translation import Lexicon, vocabulary
from rag.vector_index import FaissVectorIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
STORE = "chunks.sqlite"
SENTENCES = "sentences.npy"  # float16 vectors of each passage's sentences, by sentence id
# Called as progress(stage, done, total) while a build runs.
ProgressCallback = Callable[[str, int, int], None]


class EmbedderInfo(BaseModel):
    name: str
    dimension: int
    query_prefix: str = ""
    passage_prefix: str = ""


class ChunkingInfo(BaseModel):
    size: int
    overlap: int


class Manifest(BaseModel):
    format_version: int
    rag_version: str
    embedder: EmbedderInfo
    chunking: ChunkingInfo
    corpus_fingerprint: str
    documents: int
    passages: int
    sentences: int
    vocabulary: int
    vector_index: str
    built_at: str


@dataclass(frozen=True)
class BuildReport:
    manifest: Manifest
    embedded: int
    reused: int
    seconds: float


@dataclass
class Index:
    """A loaded, read-only index, safe to share between threads."""

    path: Path
    manifest: Manifest
    settings: Settings
    embedder: Embedder
    store: ChunkStore
    vectors: FaissVectorIndex
    bm25: BM25Index
    sentence_vectors: np.ndarray
    lexicon: Lexicon


def _embed_hash(embedder: Embedder, text: str) -> bytes:
    return hashlib.sha256(f"{embedder.cache_key}\0{text}".encode()).digest()


def _read_manifest(index_dir: Path) -> Manifest:
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexCorruptError(
            f"{index_dir} has no {MANIFEST}, so it is not an index (or its build never finished); "
            f"rebuild it with: rag index --index {index_dir}"
        )
    try:
        manifest = Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(
            f"{path} cannot be read ({type(exc).__name__}); "
            f"rebuild the index with: rag index --index {index_dir}"
        ) from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorruptError(
            f"{index_dir} has index format {manifest.format_version}, this version reads "
            f"format {FORMAT_VERSION}; rebuild it with: rag index --index {index_dir}"
        )
    return manifest


def _backup_of(index_dir: Path) -> Path:
    return index_dir.with_name(f".{index_dir.name}.previous")


def _recover(index_dir: Path) -> None:
    """Finish a swap that was cut between its two renames."""
    backup = _backup_of(index_dir)
    if not index_dir.exists() and (backup / MANIFEST).exists():
        os.rename(backup, index_dir)


def load_index(index_dir: Path, settings: Settings, embedder: Embedder | None = None) -> Index:
    """Open the index at `index_dir`. Raises if it is missing, corrupt, or of another embedder."""
    _recover(index_dir)
    if not index_dir.is_dir():
        raise IndexNotFoundError(
            f"no index at {index_dir}; build one with: rag index --index {index_dir}"
        )
    manifest = _read_manifest(index_dir)
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
        index_dir, manifest, settings, embedder, store, vectors, bm25, sentence_vectors, lexicon
    )


def _previous_vectors(
    index_dir: Path, embedder: Embedder, settings: Settings
) -> Callable[[list[bytes]], dict[bytes, np.ndarray]]:
    """A lookup of vectors already embedded in the index at `index_dir`, by embedding hash."""
    try:
        old = load_index(index_dir, settings, embedder)
        passages = old.store.hashes("passages")
        sentences = old.store.hashes("sentences")
        words = [w for ws in old.lexicon.words.values() for w in ws]
        word_rows = old.lexicon.rows()
    except RagError:
        return lambda wanted: {}
    known_words = {_embed_hash(embedder, w): i for i, w in enumerate(words)}

    def lookup(wanted: list[bytes]) -> dict[bytes, np.ndarray]:
        known: dict[bytes, np.ndarray] = {}
        in_passages = [h for h in wanted if h in passages]
        if in_passages:
            vectors = old.vectors.reconstruct([passages[h] for h in in_passages])
            known.update(zip(in_passages, vectors, strict=True))
        in_sentences = [h for h in wanted if h in sentences and h not in known]
        if in_sentences:
            rows = old.sentence_vectors[[sentences[h] for h in in_sentences]]
            known.update(zip(in_sentences, rows.astype(np.float32), strict=True))
        for h in wanted:
            if h in known_words and h not in known:
                known[h] = word_rows[known_words[h]]
        return known

    return lookup


def _embed_texts(
    texts: list[str],
    embedder: Embedder,
    previous: Callable[[list[bytes]], dict[bytes, np.ndarray]],
    stage: str,
    progress: ProgressCallback | None,
) -> tuple[np.ndarray, list[bytes], int]:
    """Vectors of `texts`, each distinct text embedded once and only if `previous` lacks it."""
    hashes = [_embed_hash(embedder, t) for t in texts]
    known = previous(hashes)
    todo: dict[bytes, str] = {}
    for h, text in zip(hashes, texts, strict=True):
        if h not in known:
            todo.setdefault(h, text)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(stage, done, len(todo))

    if todo:
        fresh = embedder.encode_passages(list(todo.values()), advance)
        known.update(zip(todo, fresh, strict=True))
    vectors = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    for i, h in enumerate(hashes):
        vectors[i] = known[h]
    return vectors, hashes, len(todo)


def _clear_stale_builds(index_dir: Path) -> None:
    for stale in index_dir.parent.glob(f".{index_dir.name}.build-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            pass


def _swap_into_place(built: Path, index_dir: Path) -> None:
    backup = _backup_of(index_dir)
    shutil.rmtree(backup, ignore_errors=True)
    if index_dir.exists():
        os.rename(index_dir, backup)
    os.rename(built, index_dir)
    shutil.rmtree(backup, ignore_errors=True)


def _check_target(index_dir: Path) -> None:
    """Refuse to replace a folder that holds something other than an index."""
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexCorruptError(f"{index_dir} is a file, not an index folder; pass another --index")
    if index_dir.is_dir() and any(index_dir.iterdir()) and not (index_dir / MANIFEST).exists():
        raise IndexCorruptError(
            f"{index_dir} is a folder with files but no {MANIFEST}; it is not an index, and "
            "building would replace its contents. Pass an empty or new --index folder"
        )


def write_index(
    documents: list[Document],
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    progress: ProgressCallback | None = None,
) -> BuildReport:
    """Chunk, embed and index `documents` into `index_dir`, atomically."""
    started = time.perf_counter()
    index_dir = index_dir.absolute()
    _recover(index_dir)
    _check_target(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale_builds(index_dir)
    passages: list[Passage] = list(
        chunk_documents(documents, settings.chunk_size, settings.chunk_overlap)
    )
    texts = [p.text for p in passages]
    sentences = [(pid, a, b) for pid, p in enumerate(passages) for a, b in sentence_spans(p)]
    sentence_texts = [passages[pid].text[a - passages[pid].start : b - passages[pid].start]
                      for pid, a, b in sentences]  # fmt: skip
    previous = _previous_vectors(index_dir, embedder, settings)
    language = {d.id: d.language for d in documents}
    passage_languages = [language[p.doc_id] for p in passages]
    vectors, hashes, embedded = _embed_texts(texts, embedder, previous, "passages", progress)
    sentence_vectors, sentence_hashes, embedded_sentences = _embed_texts(
        sentence_texts, embedder, previous, "sentences", progress
    )
    words = vocabulary(texts, passage_languages, settings.vocabulary_size)
    flat_words = [w for ws in words.values() for w in ws]
    word_vectors, _, embedded_words = _embed_texts(
        flat_words, embedder, previous, "vocabulary", progress
    )
    lexicon = Lexicon.from_rows(words, word_vectors)

    building = index_dir.with_name(f".{index_dir.name}.build-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    building.mkdir()
    try:
        if progress:
            progress("indexing", 0, 1)
        vector_index = FaissVectorIndex.build(vectors, settings)
        vector_index.save(building)
        BM25Index.build(texts, passage_languages).save(building)
        np.save(building / SENTENCES, sentence_vectors.astype(np.float16), allow_pickle=False)
        lexicon.save(building)
        write_store(
            building / STORE,
            documents,
            zip(passages, hashes, strict=True),
            ((pid, a, b, h) for (pid, a, b), h in zip(sentences, sentence_hashes, strict=True)),
        )
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            rag_version=__version__,
            embedder=EmbedderInfo(
                name=embedder.name,
                dimension=embedder.dimension,
                query_prefix=embedder.query_prefix,
                passage_prefix=embedder.passage_prefix,
            ),
            chunking=ChunkingInfo(size=settings.chunk_size, overlap=settings.chunk_overlap),
            corpus_fingerprint=corpus_fingerprint(documents),
            documents=len(documents),
            passages=len(passages),
            sentences=len(sentences),
            vocabulary=len(lexicon),
            vector_index=vector_index.kind,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        # The manifest is written last: a folder without one is never taken for an index.
        (building / MANIFEST).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        _swap_into_place(building, index_dir)
        if progress:
            progress("indexing", 1, 1)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    embedded_total = embedded + embedded_sentences + embedded_words
    reused = len(passages) + len(sentences) + len(flat_words) - embedded_total
    return BuildReport(manifest, embedded_total, reused, time.perf_counter() - started)


def build_index(
    settings: Settings,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> BuildReport:
    """Load the corpus and write its index. Settings give the folders unless passed."""
    documents = load_corpus(corpus_dir or settings.corpus_dir)
    embedder = make_embedder(settings.embedder or DEFAULT_EMBEDDER, settings)
    return write_index(documents, index_dir or settings.index_dir, settings, embedder, progress)


def _format_version(index_dir: Path) -> int | None:
    """The format version the index at `index_dir` says it has, or None if it says none."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        version = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8")).get(
            "format_version"
        )
        return version if isinstance(version, int) else None
    return None


def open_or_build_index(settings: Settings, progress: ProgressCallback | None = None) -> Index:
    """The index at `settings.index_dir`, built from `settings.corpus_dir` first if it is
    missing or of an older format (an index is derived data: the corpus rebuilds it)."""
    _recover(settings.index_dir)
    version = _format_version(settings.index_dir)
    outdated = version is not None and version < FORMAT_VERSION
    if outdated:
        log.info("index at %s has format %d; rebuilding it", settings.index_dir, version)
    if outdated or not (settings.index_dir / MANIFEST).exists():
        report = build_index(settings, progress=progress)
        log.info(
            "built index at %s: %d documents, %d passages in %.1f s",
            settings.index_dir,
            report.manifest.documents,
            report.manifest.passages,
            report.seconds,
        )
    return load_index(settings.index_dir, settings)


def index_matches(index_dir: Path, documents: list[Document], settings: Settings) -> bool:
    """Whether the index at `index_dir` was built from these documents with these settings."""
    with contextlib.suppress(RagError, OSError):
        manifest = _read_manifest(index_dir)
        return (
            manifest.corpus_fingerprint == corpus_fingerprint(documents)
            and manifest.embedder.name == (settings.embedder or DEFAULT_EMBEDDER)
            and manifest.chunking
            == ChunkingInfo(size=settings.chunk_size, overlap=settings.chunk_overlap)
        )
    return False
