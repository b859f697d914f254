"""The retrievers of one question: dense (FAISS, with sentence pooling) and lexical (BM25,
with translated question words), behind one interface.

A `Question` holds what every retriever and the fusion read: the question's text, vector and
language, the passages the filters allow, and the reads of the store and of sentence vectors,
each done once for the question whoever asks first. A retriever is made for one question.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from rag.index.lexical import LexicalScores
from rag.index.loading import Index
from rag.index.store import StoredPassage
from rag.retrieval.fusion import with_document_context
from rag.retrieval.highlights import SentenceScores, pool, score_sentences

# (passage id, score), best first unless said otherwise.
Hits = list[tuple[int, float]]


@dataclass
class Question:
    index: Index
    text: str  # normalised as documents are
    vector: np.ndarray | None  # None when nothing needs it (BM25 alone, no highlights)
    language: str
    allowed: list[int] | None  # the passage ids the filters allow; None: all
    n: int  # how many candidates each retriever proposes
    passages: dict[int, StoredPassage] = field(default_factory=dict)  # read so far
    sentences: SentenceScores = field(default_factory=dict)  # scored so far

    def read(self, ids: Iterable[int]) -> None:
        """Read from the store the passages of `ids` not read yet."""
        missing = sorted(set(ids) - self.passages.keys())
        if missing:
            self.passages.update(self.index.store.passages(missing))

    def found(self, hits: Sequence[tuple[int, float]]) -> Hits:
        """`hits` but those the store no longer has: the store sees changes committed after the
        segments were loaded, so a passage removed since is left out."""
        self.read(pid for pid, _ in hits)
        return [hit for hit in hits if hit[0] in self.passages]

    def in_context(self, hits: Sequence[tuple[int, float]]) -> Hits:
        """`hits` (all read) with each score mixed with its document's best
        (`document_weight`), best first."""
        document_of = {pid: self.passages[pid].doc_id for pid, _ in hits}
        return with_document_context(hits, document_of, self.index.settings.document_weight)

    def sentence_scores(self, ids: Sequence[int]) -> SentenceScores:
        """The cosine of the question with every sentence of the passages of `ids`."""
        missing = [pid for pid in ids if pid not in self.sentences]
        if missing and self.vector is not None:
            self.sentences.update(score_sentences(self.index, self.vector, missing))
        return self.sentences


class Retriever(ABC):
    """One way of scoring passages for a question."""

    def __init__(self, question: Question):
        self.question = question

    @abstractmethod
    def candidates(self) -> Hits:
        """The `n` best passages the filters allow, by the retriever's first-stage score."""

    def ranking(self) -> Hits:
        """The candidates as this retriever ranks them when it answers alone."""
        return self.candidates()

    @abstractmethod
    def scores(self, ids: Sequence[int]) -> Hits:
        """The score of each passage of `ids`, in that order, however it ranks."""


class Dense(Retriever):
    """Cosine of the question's vector with the passages' (FAISS), pooled with the best of
    each passage's sentences (`sentence_weight`)."""

    def __init__(self, question: Question):
        super().__init__(question)
        if question.vector is None:
            raise ValueError("a dense retriever needs the question's vector")
        self.vector: np.ndarray = question.vector

    def candidates(self) -> Hits:
        q = self.question
        return q.index.vectors.search(self.vector, q.n, q.allowed)

    def ranking(self) -> Hits:
        return self._pooled(self.candidates())

    def scores(self, ids: Sequence[int]) -> Hits:
        cosines = self.question.index.vectors.scores(self.vector, ids).tolist()
        return self._pooled(list(zip(ids, cosines, strict=True)))

    def _pooled(self, hits: Hits) -> Hits:
        weight = self.question.index.settings.sentence_weight
        if not weight:
            return hits
        return pool(hits, self.question.sentence_scores([pid for pid, _ in hits]), weight)


class Lexical(Retriever):
    """BM25 over the passages' stems; with `translate`, the question's words translated into
    the corpus's other language count too (`translate_questions`)."""

    def __init__(self, question: Question, translate: bool):
        super().__init__(question)
        self.translate = translate

    @cached_property
    def _scores(self) -> LexicalScores:
        q = self.question
        settings = q.index.settings
        translated: list[str] = []
        if self.translate:
            translated = q.index.lexicon.translate(
                q.text,
                q.language,
                q.index.embedder,
                settings.translation_min_similarity,
                settings.translation_neighbours,
            )
        return q.index.bm25.scores(q.text, translated)

    def candidates(self) -> Hits:
        q = self.question
        return q.index.bm25.search(self._scores, q.n, q.allowed)

    def scores(self, ids: Sequence[int]) -> Hits:
        return list(zip(ids, self._scores.of(ids).tolist(), strict=True))
