"""The lexical index: BM25 (bm25s) over words stemmed with PyStemmer.

A passage is stemmed in its document's language. A question's language is not known for sure,
so each question word is stemmed both in French and in English: a stem that the index does not
hold simply adds nothing to the score. Stems are folded to ASCII (questions are often typed
without accents: "ou", "Etat"), and a question's interrogative words ("quand", "how many") are
dropped, since they say what kind of answer is wanted, not where it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
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
# Interrogatives and question auxiliaries, dropped from questions only (Lucene's stop lists
# above keep them).
_QUESTION_WORDS = frozenset(
    {
        *("quand", "combien", "comment", "pourquoi", "où", "quel", "quelle", "quels", "quelles"),
        *("lequel", "laquelle", "lesquels", "lesquelles"),
        *("what", "when", "where", "which", "who", "whom", "whose", "why", "how", "many", "much"),
        *("did", "do", "does"),
    }
)
_QUERY_STOPWORDS = _STOPWORDS["fr"] | _STOPWORDS["en"] | _QUESTION_WORDS


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMER_NAMES.get(language, "french"))


def fold(word: str) -> str:
    """`word` without its accents: "été" -> "ete"."""
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def stopwords(language: str) -> frozenset[str]:
    return _STOPWORDS.get(language, _STOPWORDS["fr"])


def content_words(text: str, language: str | None = None) -> list[str]:
    """The lower-cased words of `text` without stop words: those of `language`, or for a
    question (`language` None) those of both languages and the interrogatives."""
    stop = _QUERY_STOPWORDS if language is None else stopwords(language)
    return [w for w in _WORD.findall(text.lower()) if w not in stop]


def stem(words: Iterable[str], language: str) -> list[str]:
    return [fold(s) for s in _stemmer(language).stemWords(list(words))]


def analyze_passage(text: str, language: str) -> list[str]:
    return stem(content_words(text, language), language)


def analyze_query(text: str) -> list[str]:
    words = content_words(text)
    return sorted({*stem(words, "fr"), *stem(words, "en")})


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

    def scores(self, query: str, extra_terms: Iterable[str] = ()) -> np.ndarray:
        """The BM25 score of every passage for `query`, plus any `extra_terms` (stems, such as
        the question's words translated into the corpus's language)."""
        terms = sorted({*analyze_query(query), *extra_terms})
        if not terms:  # a question of stop words or symbols: no passage matches it
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)

    def __len__(self) -> int:
        return int(self._retriever.scores["num_docs"])

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
