"""Text analysis for BM25: words, stop words, stems.

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

import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

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


def analyze_passages(texts: Sequence[str], languages: Sequence[str]) -> list[list[str]]:
    return [analyze_passage(t, lang) for t, lang in zip(texts, languages, strict=True)]
