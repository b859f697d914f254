"""Changing a built index in place: add, replace and remove documents.

`rag add`, `rag remove`, an incremental `rag index` and the HTTP write routes all come here. A
change never rebuilds what it does not touch:

1. under the index's write lock (one writer at a time, across processes; readers never wait),
   the documents are chunked and embedded (vectors of unchanged texts are reused);
2. a new small segment is written (the recent changes' live passages and the new ones), or,
   when that would grow past `MERGE_MIN` passages and a tenth of the main segment, or when a
   quarter of the main segment is removed passages, one new main segment of all the live
   passages (a merge);
3. one SQLite transaction removes the old rows, inserts the new ones, updates the word counts
   (embedding the words that enter the vocabulary) and names the new segments in the state,
   with the next generation number. That commit is the change: cut before it, the previous
   generation is whole, and the new segment files are removed by the next change;
4. the manifest repeats the new counts and generation, and replaced segments are deleted.

Serving processes see the new generation by polling the state (`rag.index.live`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embedders import Embedder, make_embedder
from rag.errors import (
    DiskFullError,
    DocumentExistsError,
    DocumentNotFoundError,
    InvalidQueryError,
    RagError,
)
from rag.index.folder import recover, write_lock
from rag.index.lexical import TermCounts
from rag.index.loading import Index, load_index
from rag.index.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    STORE,
    ChunkingInfo,
    Manifest,
    StagedManifest,
    format_version,
    read_manifest,
    repair_manifest,
    stage_manifest,
)
from rag.index.segments import Segment, remove_unused_segments, segment_name, write_segment
from rag.index.store import (
    ChunkStore,
    Removals,
    State,
    StoreWriter,
    disk_full,
    is_disk_full,
)
from rag.index.vectors import FaissVectorIndex, choose_kind
from rag.index.vocabulary import word_counts
from rag.indexing.build import BuildReport, build_index
from rag.indexing.prepare import (
    Prepared,
    WordVectors,
    embedding,
    manifest_for,
    origins_of,
    prepare,
    read_checked,
    vectors_of,
)
from rag.indexing.progress import ProgressCallback
from rag.ingest.chunking import SPLITTER_VERSION
from rag.ingest.corpus import document_fingerprint
from rag.ingest.formats import Document, Skipped

log = logging.getLogger(__name__)
MERGE_MIN = 2_000
MERGE_SHARE = 0.1
COMPACT_SHARE = 0.25


@dataclass(frozen=True)
class UpdateReport:
    """What a change did, and the generation that holds it."""

    generation: int
    manifest: Manifest
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    passages_added: int = 0
    passages_removed: int = 0
    embedded: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    merged: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed)


def update_index(
    index_dir: Path,
    settings: Settings,
    add: Sequence[Document] = (),
    remove: Sequence[str] = (),
    embedder: Embedder | None = None,
    origins: dict[str, str] | None = None,
    missing_ok: bool = False,
    progress: ProgressCallback | None = None,
    must_be_new: bool = False,
    previous: Index | None = None,
) -> UpdateReport:
    """Add the documents `add` (replacing any of the same id) and remove the ids `remove`,
    as one change. Raises DocumentNotFoundError, changing nothing, if an id to remove is not
    in the index (unless `missing_ok`), and DocumentExistsError if `must_be_new` and an id to
    add is. `origins` gives the file each added document was read
    from (`rag index` removes the documents whose file is gone). `previous`, a generation of
    this index already loaded (a server's), shares the segments it has."""
    started = time.perf_counter()
    ids = [d.id for d in add]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InvalidQueryError(f"documents {repeated} are given more than once; give each once")
    both = sorted(set(ids) & set(remove))
    if both:
        raise InvalidQueryError(f"documents {both} are both added and removed; do one or the other")
    with write_lock(index_dir, settings.write_timeout):
        index = load_index(index_dir, settings, embedder, previous=previous)
        with contextlib.suppress(OSError):  # left one generation behind by a crash: see there
            repair_manifest(index_dir, index.manifest)
        remove_unused_segments(index_dir, list(index.segments))
        current = index.store.fingerprints([*ids, *remove])
        unknown = sorted(set(remove) - set(current))
        if unknown and not missing_ok:
            raise DocumentNotFoundError(
                f"no document with id {', '.join(map(repr, unknown))} in the index at "
                f"{index_dir}; nothing was changed (rag documents lists the ids)"
            )
        existing = sorted(set(ids) & set(current))
        if must_be_new and existing:
            raise document_exists(existing)
        fresh = [d for d in add if current.get(d.id, ("",))[0] != document_fingerprint(d)]
        unchanged = [d.id for d in add if d not in fresh]
        replaced = [d.id for d in fresh if d.id in current]
        removed = sorted(set(remove) & set(current))
        if not fresh and not removed:
            return UpdateReport(index.generation, index.manifest, unchanged=unchanged)
        report = _apply(index, fresh, replaced, removed, origins or {}, progress)
    return UpdateReport(
        report.generation,
        report.manifest,
        added=[d.id for d in fresh if d.id not in current],
        replaced=replaced,
        removed=removed,
        unchanged=unchanged,
        passages_added=report.passages_added,
        passages_removed=report.passages_removed,
        embedded=report.embedded,
        embed_seconds=report.embed_seconds,
        seconds=time.perf_counter() - started,
        merged=report.merged,
    )


def document_exists(ids: Sequence[str]) -> DocumentExistsError:
    """The refusal of documents to create whose ids the index holds."""
    return DocumentExistsError(
        f"the index already has a document with id {', '.join(map(repr, ids))}; "
        "replace it with PUT /documents/{id}, or choose another id"
    )


@dataclass(frozen=True)
class CorpusUpdate:
    """What `index_corpus` did: a build from nothing (and why), or a change."""

    build: BuildReport | None
    update: UpdateReport | None
    rebuilt_because: str | None
    kept: list[str]  # documents that came from elsewhere than the corpus, left as they are
    skipped: list[Skipped]
    decoded: dict[str, str]

    @property
    def manifest(self) -> Manifest:
        report = self.build or self.update
        assert report is not None
        return report.manifest


def _rebuild_reason(index_dir: Path, settings: Settings) -> str | None:
    """Why the index at `index_dir` cannot be changed in place into one of `settings`."""
    recover(index_dir)
    if not (index_dir / MANIFEST).exists():
        return None if not index_dir.exists() else "it has no manifest"
    version = format_version(index_dir)
    if version != FORMAT_VERSION:
        return f"it has index format {version}, this version writes {FORMAT_VERSION}"
    try:
        manifest = read_manifest(index_dir)
    except RagError as exc:
        return str(exc)
    if settings.embedder and settings.embedder != manifest.embedder.name:
        return f"it was built with {manifest.embedder.name}, not {settings.embedder}"
    tuned = settings.tuned_for(manifest.embedder.name)
    chunking = ChunkingInfo(
        size=tuned.chunk_size, overlap=tuned.chunk_overlap, splitter=SPLITTER_VERSION
    )
    if (chunking.size, chunking.overlap) != (manifest.chunking.size, manifest.chunking.overlap):
        return (
            f"its chunks are {manifest.chunking.size}/{manifest.chunking.overlap}, "
            f"not {chunking.size}/{chunking.overlap}"
        )
    if chunking != manifest.chunking:
        return (
            f"its passages were cut by the rules of version {manifest.chunking.splitter}, "
            f"this version cuts by those of version {chunking.splitter}"
        )
    return None


def index_corpus(
    settings: Settings,
    progress: ProgressCallback | None = None,
    strict: bool = False,
    rebuild: bool = False,
) -> CorpusUpdate:
    """Bring the index at `settings.index_dir` up to date with `settings.corpus_dir`: add the
    new files' documents, replace the changed ones, remove those whose file is gone, and
    leave documents added from elsewhere as they are. Builds from nothing when there is no
    index, when `rebuild`, or when the index cannot be changed into one of these settings
    (another embedder, chunking or format)."""
    index_dir = settings.index_dir.absolute()
    reading = read_checked(settings.corpus_dir, strict, settings)
    reason = "--rebuild" if rebuild else _rebuild_reason(index_dir, settings)
    if reason is not None or not (index_dir / MANIFEST).exists():
        build = build_index(settings, progress=progress, strict=strict, reading=reading)
        return CorpusUpdate(build, None, reason, [], reading.skipped, reading.decoded)
    origins = origins_of(reading)
    corpus = settings.corpus_dir.resolve()
    stored = ChunkStore(index_dir / STORE).fingerprints()
    read = {d.id for d in reading.documents}
    gone = sorted(
        doc_id
        for doc_id, (_, origin) in stored.items()
        if doc_id not in read and origin and Path(origin).is_relative_to(corpus)
    )
    kept = sorted(doc_id for doc_id in stored if doc_id not in read and doc_id not in gone)
    manifest = read_manifest(index_dir)
    embedder = make_embedder(manifest.embedder.name, settings)
    with embedding(embedder, settings) as embedder:
        update = update_index(
            index_dir,
            settings,
            add=reading.documents,
            remove=gone,
            embedder=embedder,
            origins=origins,
            missing_ok=True,
            progress=progress,
        )
    return CorpusUpdate(None, update, None, kept, reading.skipped, reading.decoded)


def _apply(
    index: Index,
    fresh: list[Document],
    replaced: list[str],
    removed: list[str],
    origins: dict[str, str],
    progress: ProgressCallback | None,
) -> UpdateReport:
    store, settings = index.store, index.settings
    state = store.snapshot().state  # under the write lock: the generation `index` holds
    gone_docs = sorted(set(replaced) | set(removed))
    old = store.passages_of(gone_docs)
    dead = np.asarray([pid for pid, _, _ in old], dtype=np.int64)
    dead_sentences = np.asarray(
        [sid for ss in store.sentences_of(dead.tolist()).values() for sid, _, _ in ss], np.int64
    )
    words: Counter[tuple[str, str]] = Counter()
    words.subtract(word_counts((text, language) for _, text, language in old))
    previous = vectors_of(index, words=False)
    ready = prepare(
        fresh, settings, index.embedder, previous,
        state.next_passage, state.next_sentence, progress=progress,
    )  # fmt: skip
    words.update(ready.words)
    # New ids come after every id handed out: the arrays stay ascending.
    live = np.concatenate(
        [np.setdiff1d(index.live_passages, dead, assume_unique=True), ready.terms.ids]
    )
    live_sentences = np.concatenate(
        [np.setdiff1d(index.live_sentences, dead_sentences, assume_unique=True), ready.sentence_ids]
    )
    generation = state.generation + 1
    segments, merged = _segments(index, ready, live, live_sentences, generation)
    words_of = WordVectors(index.embedder, {}, previous, stored=store)
    state = State(
        generation=generation,
        segments=[s.name for s in segments],
        next_passage=state.next_passage + len(ready.passages),
        next_sentence=state.next_sentence + len(ready.sentence_ids),
        vocabulary_size=state.vocabulary_size,
    )
    manifest = _commit(
        index, segments, state,
        removed=gone_docs,
        documents=[(d, document_fingerprint(d), origins.get(d.id)) for d in fresh],
        passages=ready.passages,
        words=words,
        embed_words=words_of,
        removals=_removals(index, segments, dead, dead_sentences),
    )  # fmt: skip
    remove_unused_segments(index.path, [s.name for s in segments])
    return UpdateReport(
        generation,
        manifest,
        passages_added=len(ready.passages),
        passages_removed=len(dead),
        embedded=ready.embedded + words_of.embedded,
        embed_seconds=ready.embed_seconds + words_of.seconds,
        merged=merged,
    )


def _commit(index: Index, segments: list[Segment], state: State, **change: Any) -> Manifest:
    """Write the segments `index` lacks and commit `change` to the store as generation
    `state.generation`, then put its manifest in place. A failure leaves nothing behind: the
    segments and the manifest just written are removed, and a full disk is a DiskFullError."""
    staged: list[tuple[Manifest, StagedManifest]] = []

    def stage(changed: ChunkStore) -> None:  # the manifest, as the change leaves the store
        manifest = manifest_for(
            index.embedder, index.settings, changed, segments[0].vectors.kind,
            state.generation, built_at=index.manifest.built_at,
        )  # fmt: skip
        staged.append((manifest, stage_manifest(index.path, manifest)))

    try:
        for segment in segments:
            if segment.name not in index.segments:
                write_segment(index.path, segment)
        writer = StoreWriter(index.path / STORE)
        try:
            writer.commit(state, before_commit=stage, **change)
        finally:
            writer.close()
    except BaseException as exc:
        # Nothing is committed: the segments and the manifest just written are nobody's.
        for _, manifest_file in staged:
            manifest_file.discard()
        remove_unused_segments(index.path, list(index.segments))
        if is_disk_full(exc):
            raise DiskFullError(disk_full(index.path)) from exc
        raise
    manifest, manifest_file = staged[0]
    try:
        manifest_file.put()  # a rename: no room needed
    except OSError as exc:  # the change is committed whole; the manifest only repeats it
        manifest_file.discard()
        log.warning(
            "generation %d of %s is committed, but its manifest could not be put in place "
            "(%s); loads read the store's generation, and the next change repairs it",
            state.generation,
            index.path,
            exc.strerror or exc,
        )
    return manifest


def _removals(
    index: Index, segments: list[Segment], dead: np.ndarray, dead_sentences: np.ndarray
) -> Removals:
    """The ids just removed that the new segments still hold (searches leave them out), and
    the ids removed before that no new segment holds any more."""
    held = np.concatenate([s.passage_ids for s in segments])
    held_sentences = np.concatenate([s.sentence_ids for s in segments])
    return Removals(
        passages=np.intersect1d(dead, held, assume_unique=True),
        sentences=np.intersect1d(dead_sentences, held_sentences, assume_unique=True),
        dropped_passages=np.setdiff1d(index.removed_passages, held, assume_unique=True),
        dropped_sentences=np.setdiff1d(index.removed_sentences, held_sentences, assume_unique=True),
    )


def _segments(
    index: Index,
    ready: Prepared,
    live: np.ndarray,
    live_sentences: np.ndarray,
    generation: int,
) -> tuple[list[Segment], bool]:
    """The segments of the new generation: the main one as it was and a new small one, or
    one new main segment of everything (and whether it is that merge)."""
    parts = list(index.segments.values())
    main, recent = parts[0], parts[1:]
    main_live = int(np.isin(main.passage_ids, live).sum())
    recent_live = sum(int(np.isin(s.passage_ids, live).sum()) for s in recent)
    small = recent_live + len(ready.passages)
    merge = small > max(MERGE_MIN, MERGE_SHARE * main_live) or (
        len(main) - main_live > COMPACT_SHARE * max(len(main), 1)
    )
    if not merge and not small:  # removals only, and nothing left in the small segment
        return [main], False
    kept = parts if merge else recent
    terms = TermCounts.concat(
        [s.terms.select(np.isin(s.passage_ids, live)) for s in kept] + [ready.terms]
    )
    old_ids = terms.ids[: len(terms) - len(ready.passages)]
    vectors = np.concatenate([index.vectors.reconstruct(old_ids.tolist()), ready.vectors])
    sentence_ids, sentence_vectors = [], []
    for s in kept:
        keep = np.isin(s.sentence_ids, live_sentences)
        sentence_ids.append(s.sentence_ids[keep])
        sentence_vectors.append(np.asarray(s.sentence_vectors[keep], dtype=np.float16))
    sentence_ids.append(ready.sentence_ids)
    sentence_vectors.append(ready.sentence_vectors)
    kind = choose_kind(len(terms), index.settings) if merge else "flat"
    segment = Segment(
        segment_name(generation, "main" if merge else "recent"),
        FaissVectorIndex.build(vectors, terms.ids, index.settings, kind),
        terms,
        np.concatenate(sentence_ids),
        np.concatenate(sentence_vectors),
    )
    return ([segment] if merge else [main, segment]), merge
