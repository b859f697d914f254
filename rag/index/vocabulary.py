"""The vocabulary of an index: the words each language of the corpus uses, counted.

The store keeps every word's count, so that the vocabulary after any sequence of changes is the
one a build from nothing would pick (`most_frequent` of the counts); `rag.index.translation`
translates questions into it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from rag.index.analysis import content_words

MIN_WORD_LENGTH = 3


def vocabulary_words(text: str, language: str) -> list[str]:
    """The words of `text` that the vocabulary counts: no stop words, numbers or words shorter
    than three letters."""
    return [w for w in content_words(text, language) if w.isalpha() and len(w) >= MIN_WORD_LENGTH]


def vocabulary(
    texts: Sequence[str], languages: Sequence[str], max_words: int
) -> dict[str, list[str]]:
    """The words of `texts` by language, most frequent first (ties by word), at most
    `max_words` each."""
    return most_frequent(word_counts(zip(texts, languages, strict=True)), max_words)


def word_counts(texts: Iterable[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """(language, word) -> how many times the vocabulary counts it in these (text, language)."""
    counts: Counter[tuple[str, str]] = Counter()
    for text, language in texts:
        counts.update((language, w) for w in vocabulary_words(text, language))
    return counts


def most_frequent(counts: Counter[tuple[str, str]], max_words: int) -> dict[str, list[str]]:
    """The `max_words` most frequent words of each language of `counts` ((language, word) ->
    count), most frequent first (ties by word)."""
    by_language: dict[str, list[tuple[int, str]]] = {}
    for (language, word), n in counts.items():
        by_language.setdefault(language, []).append((-n, word))
    return {
        language: [w for _, w in sorted(pairs)[:max_words]]
        for language, pairs in sorted(by_language.items())
    }
