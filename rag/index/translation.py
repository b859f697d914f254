"""Translating a question's words into the corpus's language, for BM25.

BM25 cannot match an English question to French text. The embedder puts French and English in
one vector space, so each question word that the corpus does not use is replaced by its nearest
words of the corpus's vocabulary ("seminar" -> "séminaire", "training" -> "formation"), kept
only when they are close enough. The index holds the vocabulary of each of its languages
(`rag.index.vocabulary`) with the words' vectors, in its store; a word is embedded when it
first enters the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.embedders import Embedder
from rag.index.analysis import content_words, stem


@dataclass
class Lexicon:
    """Each language's vocabulary and the words' vectors (rows of `vectors`, in order)."""

    words: dict[str, list[str]]
    vectors: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        self._known = {language: set(words) for language, words in self.words.items()}

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
            similarity = embedder.encode_words(words) @ self.vectors[target].T
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
