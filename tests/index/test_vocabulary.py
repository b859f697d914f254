import numpy as np

from rag.index.loading import Index
from rag.index.vocabulary import most_frequent, vocabulary, word_counts


def test_vocabulary_is_by_language_and_frequency_without_stop_words_or_numbers() -> None:
    texts = [
        "Les villes et les maires",
        "La ville de Tunis, ville de 2021",
        "The cities of the world",
    ]
    words = vocabulary(texts, ["fr", "fr", "en"], max_words=100)
    assert words == {"en": ["cities", "world"], "fr": ["ville", "maires", "tunis", "villes"]}
    assert vocabulary(texts, ["fr", "fr", "en"], max_words=1) == {"en": ["cities"], "fr": ["ville"]}


def test_the_stored_vocabulary_is_the_one_the_texts_give(default_index: Index) -> None:
    """The store keeps every word's count; its vocabulary is `vocabulary()` of the passages."""
    store = default_index.store
    passages = store.passages(store.passage_ids())
    ordered = [passages[i] for i in sorted(passages)]
    size = default_index.settings.vocabulary_size
    expected = vocabulary([p.text for p in ordered], [p.language for p in ordered], size)
    assert default_index.lexicon.words == expected
    some = expected["fr"][:5]
    fresh = default_index.embedder.encode_passages(some)
    assert np.allclose(default_index.lexicon.vectors["fr"][:5], fresh, atol=1e-2)  # float16


def test_counts_add_up_and_the_most_frequent_break_ties_by_word() -> None:
    first = word_counts([("la ville et la mer", "fr")])
    both = word_counts([("la ville et la mer", "fr"), ("ville ville", "fr")])
    assert both - first == word_counts([("ville ville", "fr")]) == {("fr", "ville"): 2}
    assert most_frequent(both, 2) == {"fr": ["ville", "mer"]}
    assert most_frequent(word_counts([("mer ciel", "fr")]), 5) == {"fr": ["ciel", "mer"]}
