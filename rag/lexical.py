"""The lexical index: BM25 (bm25s) over words stemmed with PyStemmer.

A passage is stemmed in its document's language. A question's language is not known for sure,
so each question word is stemmed both in French and in English: a stem that the index does not
hold simply adds nothing to the score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

FOLDER_NAME = "bm25"
_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMER_NAMES = {"fr": "french", "en": "english"}
_STOPWORDS = {"fr": frozenset(STOPWORDS_FRENCH), "en": frozenset(STOPWORDS_EN)}


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMER_NAMES.get(language, "french"))


def _words(text: str, language: str) -> list[str]:
    stop = _STOPWORDS.get(language, _STOPWORDS["fr"])
    return [w for w in _WORD.findall(text.lower()) if w not in stop]


def analyze_passage(text: str, language: str) -> list[str]:
    return list(_stemmer(language).stemWords(_words(text, language)))


def analyze_query(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS["fr"]]
    words = [w for w in words if w not in _STOPWORDS["en"]]
    stems = {*_stemmer("fr").stemWords(words), *_stemmer("en").stemWords(words)}
    return sorted(stems)


class BM25Index:
    def __init__(self, retriever: bm25s.BM25):
        self._retriever = retriever

    @classmethod
    def build(cls, texts: Sequence[str], languages: Sequence[str]) -> BM25Index:
        tokens = [analyze_passage(t, lang) for t, lang in zip(texts, languages, strict=True)]
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever)

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder / FOLDER_NAME), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        retriever = bm25s.BM25.load(str(folder / FOLDER_NAME), mmap=True, show_progress=False)
        return cls(retriever)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every passage for `query`."""
        return np.asarray(self._retriever.get_scores(analyze_query(query)), dtype=np.float32)

    def search(
        self,
        query: str | np.ndarray,
        k: int,
        allowed: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The `k` best passages for `query` (or for precomputed `scores(query)`), as
        (passage id, BM25 score), best first. Passages that share no stem with it are left out.
        """
        scores = self.scores(query) if isinstance(query, str) else query
        if allowed is not None:
            mask = np.zeros_like(scores)
            mask[np.asarray(allowed, dtype=np.int64)] = 1.0
            scores = scores * mask
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top]
