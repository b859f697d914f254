"""Translating a question's words into the corpus's language, for BM25.

BM25 cannot match an English question to French text. The embedder puts French and English in
one vector space, so each question word that the corpus does not use is replaced by its nearest
words of the corpus's vocabulary ("seminar" -> "séminaire", "training" -> "formation"), kept
only when they are close enough. The index holds the vocabulary of each of its languages
(`rag.index.vocabulary`) with the words' vectors, in its store; a word is embedded when it
first enters the vocabulary.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from rag.embedders import Embedder
from rag.index.analysis import content_words, stem

CACHED_WORDS = 20_000  # question words whose vectors a loaded index keeps (about 40 MB)


@dataclass
class Lexicon:
    """Each language's vocabulary and the words' vectors (rows of `vectors`, in order)."""

    words: dict[str, list[str]]
    vectors: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        self._known = {language: set(words) for language, words in self.words.items()}
        # Questions reuse the same few words; embedding them again would double a query's cost.
        self._cache: dict[str, np.ndarray] = {}
        self._cache_lock = threading.Lock()  # an index is shared between threads

    def __len__(self) -> int:
        return sum(len(ws) for ws in self.words.values())

    @classmethod
    def from_store(cls, vocabulary: dict[str, tuple[list[str], np.ndarray]]) -> Lexicon:
        """The lexicon of a store's vocabulary (`ChunkStore.vocabulary`)."""
        return cls(
            {language: words for language, (words, _) in vocabulary.items()},
            {language: np.ascontiguousarray(v) for language, (_, v) in vocabulary.items()},
        )

    def translate(
        self,
        question: str,
        language: str,
        embedder: Embedder,
        min_similarity: float,
        neighbours: int,
    ) -> list[str]:
        """BM25 stems of the question's words translated into every other language of the
        vocabulary. Words that language already uses (names, numbers) are left as they are."""
        stems: list[str] = []
        candidates = list(
            dict.fromkeys(w for w in content_words(question) if w.isalpha() and len(w) >= 2)
        )
        for target, vocabulary in self.words.items():
            if target == language or not vocabulary:
                continue
            words = [w for w in candidates if w not in self._known[target]]
            if not words:
                continue
            similarity = self._word_vectors(words, embedder) @ self.vectors[target].T
            n = min(neighbours, similarity.shape[1])
            nearest = np.argpartition(-similarity, n - 1, axis=1)[:, :n]
            found = [
                vocabulary[j]
                for i, row in enumerate(nearest)
                for j in row
                if similarity[i, j] >= min_similarity
            ]
            stems += stem(found, target)
        return sorted(set(stems))

    def _word_vectors(self, words: list[str], embedder: Embedder) -> np.ndarray:
        with self._cache_lock:
            known = {w: self._cache[w] for w in words if w in self._cache}
        missing = [w for w in words if w not in known]
        if missing:
            fresh = dict(zip(missing, embedder.encode_passages(missing), strict=True))
            known.update(fresh)
            with self._cache_lock:
                for word, vector in fresh.items():
                    if len(self._cache) >= CACHED_WORDS:  # forget the oldest
                        del self._cache[next(iter(self._cache))]
                    self._cache[word] = vector
        return np.stack([known[w] for w in words])
