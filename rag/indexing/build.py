"""Building an index folder from documents: chunk, embed (reusing what is known), write, swap.

The folder holds the FAISS index, the SQLite chunk store, the BM25 index, the sentence vectors,
the vocabulary (for translating questions) and `manifest.json`, which says how it was built.
A build writes a temporary sibling folder and renames it into place, so a build that fails or
is interrupted leaves the previous index whole.
Vectors of passages, sentences and words whose text and embedder are unchanged are taken from
the previous index instead of being embedded again.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag import __version__
from rag.config import DEFAULT_EMBEDDER, Settings, TunedSettings
from rag.errors import CorpusError, RagError
from rag.indexing.distributed import ray_embedder
from rag.indexing.embedders import Embedder, make_embedder
from rag.indexing.folder import (
    check_target,
    clear_stale_builds,
    new_build_folder,
    recover,
    swap_into_place,
)
from rag.indexing.index import Index, load_index
from rag.indexing.lexical import BM25Index
from rag.indexing.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    SENTENCES,
    STORE,
    ChunkingInfo,
    EmbedderInfo,
    Manifest,
    format_version,
    next_generation,
)
from rag.indexing.store import write_store
from rag.indexing.translation import Lexicon, vocabulary
from rag.indexing.vectors import FaissVectorIndex
from rag.ingest.chunking import Passage, chunk_documents, sentence_spans
from rag.ingest.corpus import Document, Skipped, corpus_fingerprint, read_corpus

log = logging.getLogger(__name__)

# Called as progress(stage, done, total) while a build runs.
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildReport:
    manifest: Manifest
    embedded: int
    reused: int
    seconds: float
    embed_seconds: float = 0.0  # of `seconds`, the time spent embedding
    # What reading the corpus left out, and the files that were not UTF-8 (source -> encoding).
    skipped: list[Skipped] = field(default_factory=list)
    decoded: dict[str, str] = field(default_factory=dict)


def _embed_hash(embedder: Embedder, text: str) -> bytes:
    return hashlib.sha256(f"{embedder.cache_key}\0{text}".encode()).digest()


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
    groups: list[list[str]],
    embedder: Embedder,
    previous: Callable[[list[bytes]], dict[bytes, np.ndarray]],
    progress: ProgressCallback | None,
) -> tuple[list[tuple[np.ndarray, list[bytes]]], int]:
    """Each group's vectors and hashes, and how many texts were embedded: each distinct text
    of all groups once, only if `previous` lacks it, in one call to the embedder (one job,
    when it runs on a cluster)."""
    hashes = [[_embed_hash(embedder, t) for t in texts] for texts in groups]
    known = previous([h for hs in hashes for h in hs])
    todo: dict[bytes, str] = {}
    for texts, hs in zip(groups, hashes, strict=True):
        for h, text in zip(hs, texts, strict=True):
            if h not in known:
                todo.setdefault(h, text)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embedding", done, len(todo))

    if todo:
        advance(0)  # the stage's clock starts now, not at its first batch
        fresh = embedder.encode_passages(list(todo.values()), advance)
        known.update(zip(todo, fresh, strict=True))
    embedded = []
    for hs in hashes:
        vectors = np.empty((len(hs), embedder.dimension), dtype=np.float32)
        for i, h in enumerate(hs):
            vectors[i] = known[h]
        embedded.append((vectors, hs))
    return embedded, len(todo)


def _manifest(
    embedder: Embedder,
    settings: TunedSettings,
    documents: list[Document],
    vector_index: str,
    counts: dict[str, int],
) -> Manifest:
    return Manifest(
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
        vector_index=vector_index,
        **counts,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
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
    tuned = settings.tuned_for(embedder.name)
    index_dir = index_dir.absolute()
    recover(index_dir)
    check_target(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_builds(index_dir)
    passages: list[Passage] = list(
        chunk_documents(documents, tuned.chunk_size, tuned.chunk_overlap)
    )
    texts = [p.text for p in passages]
    sentences = [(pid, a, b) for pid, p in enumerate(passages) for a, b in sentence_spans(p)]
    sentence_texts = [passages[pid].text[a - passages[pid].start : b - passages[pid].start]
                      for pid, a, b in sentences]  # fmt: skip
    previous = _previous_vectors(index_dir, embedder, settings)
    language = {d.id: d.language for d in documents}
    passage_languages = [language[p.doc_id] for p in passages]
    words = vocabulary(texts, passage_languages, settings.vocabulary_size)
    flat_words = [w for ws in words.values() for w in ws]
    embedding_started = time.perf_counter()
    groups, embedded = _embed_texts(
        [texts, sentence_texts, flat_words], embedder, previous, progress
    )
    embed_seconds = time.perf_counter() - embedding_started
    (vectors, hashes), (sentence_vectors, sentence_hashes), (word_vectors, _) = groups
    lexicon = Lexicon.from_rows(words, word_vectors)

    building = new_build_folder(index_dir)
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
        counts = {
            "passages": len(passages),
            "sentences": len(sentences),
            "vocabulary": len(lexicon),
        }
        counts["generation"] = next_generation(index_dir)
        manifest = _manifest(embedder, tuned, documents, vector_index.kind, counts)
        # The manifest is written last: a folder without one is never taken for an index.
        (building / MANIFEST).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        swap_into_place(building, index_dir)
        if progress:
            progress("indexing", 1, 1)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    reused = len(passages) + len(sentences) + len(flat_words) - embedded
    return BuildReport(manifest, embedded, reused, time.perf_counter() - started, embed_seconds)


def build_index(
    settings: Settings,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    strict: bool = False,
) -> BuildReport:
    """Read the corpus and write the index of every readable document; the report lists what
    was skipped. With `strict`, any skipped file or line is an error and nothing is written.
    Settings give the folders unless passed."""
    corpus_dir = corpus_dir or settings.corpus_dir
    reading = read_corpus(corpus_dir)
    if strict and reading.skipped:
        listed = "; ".join(map(str, reading.skipped))
        raise CorpusError(
            f"{len(reading.skipped)} of the corpus's files or lines cannot be indexed, and "
            f"--strict allows none: {listed}. Fix them, or build without --strict to skip them"
        )
    embedder = make_embedder(settings.embedder or DEFAULT_EMBEDDER, settings)
    index_dir = index_dir or settings.index_dir
    embedding = ray_embedder(embedder, settings) if settings.ray else nullcontext(embedder)
    with embedding as embedder:
        report = write_index(reading.documents, index_dir, settings, embedder, progress)
    return replace(report, skipped=reading.skipped, decoded=reading.decoded)


def open_or_build_index(settings: Settings, progress: ProgressCallback | None = None) -> Index:
    """The index at `settings.index_dir`, built from `settings.corpus_dir` first if it is
    missing or of an older format (an index is derived data: the corpus rebuilds it)."""
    recover(settings.index_dir)
    version = format_version(settings.index_dir)
    outdated = version is not None and version < FORMAT_VERSION
    if outdated:
        log.info("index at %s has format %d; rebuilding it", settings.index_dir, version)
    if outdated or not (settings.index_dir / MANIFEST).exists():
        report = build_index(settings, progress=progress)
        for skipped in report.skipped:
            log.warning("skipped %s", skipped)
        log.info(
            "built index at %s: %d documents, %d passages in %.1f s",
            settings.index_dir,
            report.manifest.documents,
            report.manifest.passages,
            report.seconds,
        )
    return load_index(settings.index_dir, settings)
