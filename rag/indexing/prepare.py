"""What a build and a change of the index share: reading the corpus, chunking and embedding
documents (`prepare`), reusing the vectors an index already has, embedding the words of a
vocabulary (`WordVectors`), and the manifest that describes the result.

`rag.indexing.build` writes a whole new index with these; `rag.indexing.updates` a segment and
a commit of a built one.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.config import Settings, TunedSettings
from rag.embedders import Embedder
from rag.errors import CorpusError, RagError
from rag.index.analysis import analyze_passage
from rag.index.lexical import TermCounts
from rag.index.loading import Index, load_index
from rag.index.manifest import (
    FORMAT_VERSION,
    ChunkingInfo,
    EmbedderInfo,
    Manifest,
    store_counts,
)
from rag.index.store import (
    ChunkStore,
    NewPassage,
)
from rag.index.vocabulary import most_frequent, word_counts
from rag.indexing.distributed import ray_embedder
from rag.indexing.progress import ProgressCallback, Stages
from rag.ingest.chunking import SPLITTER_VERSION, chunk_documents, sentence_spans
from rag.ingest.corpus import CorpusReading, read_corpus
from rag.ingest.formats import Document, FormatLimits
from rag.version import __version__


def _embed_hash(embedder: Embedder, text: str) -> bytes:
    return hashlib.sha256(f"{embedder.cache_key}\0{text}".encode()).digest()


# Embedding hash -> vector, for the hashes it knows of those asked.
VectorLookup = Callable[[list[bytes]], dict[bytes, np.ndarray]]


def vectors_of(old: Index, words: bool = True) -> VectorLookup:
    """A lookup of the vectors already embedded in `old`, by embedding hash: of its passages
    and sentences, and with `words`, of every word it embedded (a full read of them, which a
    rebuild needs; a change looks its words up by name, in `WordVectors`)."""
    word_rows = (
        {_embed_hash(old.embedder, w): v for (_, w), v in old.store.word_vectors().items()}
        if words
        else {}
    )

    def lookup(wanted: list[bytes]) -> dict[bytes, np.ndarray]:
        known: dict[bytes, np.ndarray] = {}
        in_passages = old.store.hashes("passages", wanted)
        if in_passages:
            vectors = old.vectors.reconstruct(list(in_passages.values()))
            known.update(zip(in_passages, vectors, strict=True))
        rest = [h for h in wanted if h not in known]
        in_sentences = old.store.hashes("sentences", rest)
        if in_sentences:
            rows = old.sentence_vectors[list(in_sentences.values())]
            known.update(zip(in_sentences, rows.astype(np.float32), strict=True))
        for h in wanted:
            if h in word_rows and h not in known:
                known[h] = word_rows[h]
        return known

    return lookup


def previous_vectors(index_dir: Path, embedder: Embedder, settings: Settings) -> VectorLookup:
    """The vectors of the index at `index_dir`, if there is a readable one of `embedder`."""
    try:
        return vectors_of(load_index(index_dir, settings, embedder))
    except RagError:
        return lambda wanted: {}


def _embed_texts(
    groups: list[list[str]],
    embedder: Embedder,
    previous: VectorLookup,
    progress: ProgressCallback | None,
    dtypes: Sequence[type[np.floating]] = (),
) -> tuple[list[tuple[np.ndarray, list[bytes]]], int]:
    """Each group's vectors and hashes, and how many texts were embedded: each distinct text
    of all groups once, only if `previous` lacks it, in one call to the embedder (one job,
    when it runs on a cluster). A group's vectors are float32 unless `dtypes` says."""
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
    for n, hs in enumerate(hashes):
        dtype = dtypes[n] if n < len(dtypes) else np.float32
        vectors = np.empty((len(hs), embedder.dimension), dtype=dtype)
        for i, h in enumerate(hs):
            vectors[i] = known[h]
        embedded.append((vectors, hs))
    return embedded, len(todo)


@dataclass
class Prepared:
    """Documents chunked and embedded, with ids, ready to be stored and segmented."""

    passages: list[NewPassage]
    vectors: np.ndarray
    sentence_ids: np.ndarray
    sentence_vectors: np.ndarray
    terms: TermCounts
    words: Counter[tuple[str, str]]
    word_vectors: dict[tuple[str, str], np.ndarray]
    embedded: int
    embed_seconds: float
    stages: Stages


def prepare(
    documents: Sequence[Document],
    settings: TunedSettings,
    embedder: Embedder,
    previous: VectorLookup,
    first_passage: int = 0,
    first_sentence: int = 0,
    vocabulary_size: int = 0,
    progress: ProgressCallback | None = None,
) -> Prepared:
    """Chunk `documents`, number their passages and sentences from the given ids, and embed
    what `previous` lacks: passages, sentences, and the `vocabulary_size` most frequent words
    of each language (which a build from nothing keeps; a change embeds the words its new
    vocabulary lacks when it commits)."""
    stages = Stages()
    with stages.timing("chunking"):
        chunks = chunk_documents(documents, settings.chunk_size, settings.chunk_overlap)
        passages = list(chunks)
        texts = [p.text for p in passages]
        language = {d.id: d.language for d in documents}
        languages = [language[p.doc_id] for p in passages]
        spans = [[(a, b) for a, b in sentence_spans(p)] for p in passages]
        sentence_texts = [
            p.text[a - p.start : b - p.start]
            for p, ss in zip(passages, spans, strict=True)
            for a, b in ss
        ]
    with stages.timing("vocabulary"):
        counted = word_counts(zip(texts, languages, strict=True))
        words = most_frequent(counted, vocabulary_size) if vocabulary_size else {}
        flat_words = [(lang, w) for lang, ws in words.items() for w in ws]
    with stages.timing("embedding"):
        groups, embedded = _embed_texts(
            [texts, sentence_texts, [w for _, w in flat_words]],
            embedder,
            previous,
            progress,
            # Sentence vectors are stored in float16: a million passages have millions.
            dtypes=(np.float32, np.float16),
        )
    (vectors, hashes), (sentence_vectors, sentence_hashes), (word_rows, _) = groups
    new: list[NewPassage] = []
    sentence = first_sentence
    at = 0
    for n, (p, ss) in enumerate(zip(passages, spans, strict=True)):
        rows = []
        for a, b in ss:
            rows.append((sentence, a, b, sentence_hashes[at]))
            sentence += 1
            at += 1
        new.append(NewPassage(first_passage + n, p, hashes[n], rows))
    ids = np.arange(first_passage, first_passage + len(passages), dtype=np.int64)
    with stages.timing("bm25"):
        stems = (analyze_passage(t, lang) for t, lang in zip(texts, languages, strict=True))
        terms = TermCounts.build(ids, stems)
    return Prepared(
        passages=new,
        vectors=vectors,
        sentence_ids=np.arange(first_sentence, sentence, dtype=np.int64),
        sentence_vectors=sentence_vectors,
        terms=terms,
        words=counted,
        word_vectors=dict(zip(flat_words, word_rows, strict=True)),
        embedded=embedded,
        embed_seconds=stages["embedding"],
        stages=stages,
    )


class WordVectors:
    """What a commit embeds the words of its vocabulary with (a `WordEmbedder`): `known`
    vectors first, then those `stored` kept, then those `previous` has, then the embedder.
    `embedded` counts those it embedded, and `seconds` the time that took."""

    def __init__(
        self,
        embedder: Embedder,
        known: dict[tuple[str, str], np.ndarray],
        previous: VectorLookup,
        stored: ChunkStore | None = None,
    ):
        self._embedder, self._known, self._previous = embedder, known, previous
        self._stored = stored
        self.embedded = 0
        self.seconds = 0.0

    def __call__(self, words: list[tuple[str, str]]) -> np.ndarray:
        missing = [w for w in words if w not in self._known]
        if missing and self._stored is not None:
            self._known.update(self._stored.word_vectors(missing))
            missing = [w for w in words if w not in self._known]
        if missing:
            started = time.perf_counter()
            texts = [w for _, w in missing]
            [(rows, _)], embedded = _embed_texts([texts], self._embedder, self._previous, None)
            self._known.update(zip(missing, rows, strict=True))
            self.embedded += embedded
            self.seconds += time.perf_counter() - started
        return np.stack([self._known[w] for w in words])


def manifest_for(
    embedder: Embedder,
    settings: TunedSettings,
    store: ChunkStore,
    vector_index: str,
    generation: int,
    built_at: str | None = None,
) -> Manifest:
    """The manifest of the index whose store is `store` (its counts mirror the store's, as
    `store` reads them)."""
    return Manifest(
        format_version=FORMAT_VERSION,
        rag_version=__version__,
        embedder=EmbedderInfo(
            name=embedder.name,
            dimension=embedder.dimension,
            query_prefix=embedder.query_prefix,
            passage_prefix=embedder.passage_prefix,
        ),
        chunking=ChunkingInfo(
            size=settings.chunk_size, overlap=settings.chunk_overlap, splitter=SPLITTER_VERSION
        ),
        **store_counts(store, settings.vocabulary_size),
        vector_index=vector_index,
        built_at=built_at or datetime.now(UTC).isoformat(timespec="seconds"),
        updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        generation=generation,
    )


def read_checked(corpus_dir: Path, strict: bool, settings: Settings) -> CorpusReading:
    """The corpus; with `strict`, an error if any file or line of it cannot be indexed."""
    reading = read_corpus(corpus_dir, FormatLimits.of(settings))
    if strict and reading.skipped:
        listed = "; ".join(map(str, reading.skipped))
        raise CorpusError(
            f"{len(reading.skipped)} of the corpus's files or lines cannot be indexed, and "
            f"--strict allows none: {listed}. Fix them, or build without --strict to skip them"
        )
    return reading


def embedding(embedder: Embedder, settings: Settings) -> AbstractContextManager[Embedder]:
    """`embedder`, or with `settings.ray`, the same embedder run on a Ray cluster."""
    return ray_embedder(embedder, settings) if settings.ray else nullcontext(embedder)


def origins_of(reading: CorpusReading) -> dict[str, str]:
    """The absolute path of the file each document was read from."""
    return {d.id: str(Path(d.source).resolve()) for d in reading.documents}
