"""Building an index folder from documents: chunk, embed (reusing what is known), write, swap.

The folder holds the SQLite chunk store (documents, offsets, vocabulary, state), one segment
(FAISS, BM25 term counts, sentence vectors: `rag.index.segments`) and `manifest.json`, which
says how it was built. Changes to a built index are `rag.indexing.updates`.
A build writes a temporary sibling folder and renames it into place, so a build that fails or
is interrupted leaves the previous index whole.
Vectors of passages, sentences and words whose text and embedder are unchanged are taken from
the previous index instead of being embedded again.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.config import DEFAULT_EMBEDDER, Settings
from rag.embedders import Embedder, make_embedder
from rag.index.folder import (
    check_target,
    clear_stale_builds,
    new_build_folder,
    recover,
    swap_into_place,
    write_lock,
)
from rag.index.loading import Index, load_index
from rag.index.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    STORE,
    Manifest,
    format_version,
    next_generation,
    write_manifest,
)
from rag.index.segments import Segment, segment_name, write_segment
from rag.index.store import (
    ChunkStore,
    State,
    StoreWriter,
    create_store,
)
from rag.index.vectors import FaissVectorIndex
from rag.indexing.prepare import (
    WordVectors,
    embedding,
    manifest_for,
    origins_of,
    prepare,
    previous_vectors,
    read_checked,
)
from rag.indexing.progress import ProgressCallback
from rag.ingest.corpus import CorpusReading, document_fingerprint
from rag.ingest.formats import Document, Skipped

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildReport:
    manifest: Manifest
    embedded: int
    reused: int
    seconds: float
    embed_seconds: float = 0.0  # of `seconds`, the time spent embedding
    # Of `seconds`, by stage: chunking, vocabulary, embedding, bm25, faiss, segment, store.
    stages: dict[str, float] = field(default_factory=dict)
    # What reading the corpus left out, and the files that were not UTF-8 (source -> encoding).
    skipped: list[Skipped] = field(default_factory=list)
    decoded: dict[str, str] = field(default_factory=dict)


def write_index(
    documents: list[Document],
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    progress: ProgressCallback | None = None,
    origins: dict[str, str] | None = None,
) -> BuildReport:
    """Chunk, embed and index `documents` into `index_dir`, atomically: a new folder that
    replaces the one there. `origins` gives the file each document was read from."""
    with write_lock(index_dir, settings.write_timeout):
        return _write_index(documents, index_dir, settings, embedder, progress, origins)


def create_empty_index(index_dir: Path, settings: Settings, embedder: Embedder) -> bool:
    """An index of no document at `index_dir`, unless one is there; whether it was made. Under
    the write lock, so that two processes creating it at once make one, and a document added
    to the first is never replaced by the second's empty index."""
    with write_lock(index_dir, settings.write_timeout):
        recover(index_dir)
        if (index_dir / MANIFEST).exists():
            return False
        _write_index([], index_dir, settings, embedder, None, None)
        return True


def _write_index(
    documents: list[Document],
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    progress: ProgressCallback | None,
    origins: dict[str, str] | None,
) -> BuildReport:
    started = time.perf_counter()
    tuned = settings.tuned_for(embedder.name)
    index_dir = index_dir.absolute()
    recover(index_dir)
    check_target(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_builds(index_dir)
    previous = previous_vectors(index_dir, embedder, settings)
    ready = prepare(
        documents, tuned, embedder, previous, vocabulary_size=tuned.vocabulary_size,
        progress=progress,
    )  # fmt: skip
    building = new_build_folder(index_dir)
    try:
        if progress:
            progress("indexing", 0, 1)
        generation = next_generation(index_dir)
        stages = ready.stages
        with stages.timing("faiss"):
            vectors = FaissVectorIndex.build(ready.vectors, ready.terms.ids, settings)
        segment = Segment(
            segment_name(generation, "main"),
            vectors,
            ready.terms,
            ready.sentence_ids,
            ready.sentence_vectors,
        )
        with stages.timing("segment"):
            write_segment(building, segment)
        with stages.timing("store"):
            create_store(building / STORE)
            writer = StoreWriter(building / STORE)
            try:
                state = State(
                    generation=generation,
                    segments=[segment.name],
                    next_passage=len(ready.passages),
                    next_sentence=len(ready.sentence_ids),
                    vocabulary_size=tuned.vocabulary_size,
                )
                writer.commit(
                    state,
                    removed=[],
                    documents=[(d, document_fingerprint(d), (origins or {}).get(d.id))
                               for d in documents],
                    passages=ready.passages,
                    words=ready.words,
                    embed_words=WordVectors(embedder, ready.word_vectors, previous),
                )  # fmt: skip
            finally:
                writer.close()
        store = ChunkStore(building / STORE)
        manifest = manifest_for(embedder, tuned, store, vectors.kind, generation)
        # The manifest is written last: a folder without one is never taken for an index.
        write_manifest(building, manifest)
        swap_into_place(building, index_dir)
        if progress:
            progress("indexing", 1, 1)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    total = len(ready.passages) + len(ready.sentence_ids) + len(ready.word_vectors)
    return BuildReport(
        manifest,
        ready.embedded,
        total - ready.embedded,
        time.perf_counter() - started,
        ready.embed_seconds,
        dict(ready.stages),
    )


def build_index(
    settings: Settings,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    strict: bool = False,
    reading: CorpusReading | None = None,
) -> BuildReport:
    """Read the corpus and write the index of every readable document; the report lists what
    was skipped. With `strict`, any skipped file or line is an error and nothing is written.
    Settings give the folders unless passed; `reading` is the corpus already read (so that a
    caller that has read it, OCR and all, does not have it read twice)."""
    if reading is None:
        reading = read_checked(corpus_dir or settings.corpus_dir, strict, settings)
    embedder = make_embedder(settings.embedder or DEFAULT_EMBEDDER, settings)
    index_dir = index_dir or settings.index_dir
    with embedding(embedder, settings) as embedder:
        report = write_index(
            reading.documents, index_dir, settings, embedder, progress, origins_of(reading)
        )
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
