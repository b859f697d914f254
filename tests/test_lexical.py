import math

import pytest

from rag.lexical import BM25Index, analyze_passage, analyze_query


def test_passages_are_stemmed_in_their_language() -> None:
    assert analyze_passage("Les maires des villes", "fr") == ["mair", "vill"]
    assert analyze_passage("The mayors of the cities", "en") == ["mayor", "citi"]


def test_questions_are_stemmed_in_both_languages() -> None:
    stems = analyze_query("Qui sont les maires des cities ?")
    assert {"mair", "citi"} <= set(stems)
    assert "les" not in stems and "qui" not in stems


def test_scores_match_the_bm25_formula() -> None:
    texts = ["le maire de la ville", "la ville verte", "le budget du sport"]
    index = BM25Index.build(texts, ["fr"] * 3)
    hits = index.search("maire", 3)
    assert [i for i, _ in hits] == [0]  # passages without the stem are left out
    # Lucene's BM25 (k1=1.5, b=0.75), which drops the constant (k1 + 1) factor of Robertson's:
    # idf = ln(1 + (N - df + 0.5) / (df + 0.5)).
    n, df, tf, k1, b = 3, 1, 1, 1.5, 0.75
    avg_len, length = (2 + 2 + 2) / 3, 2  # maire, vill / vill, vert / budget, sport
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    expected = idf * tf / (tf + k1 * (1 - b + b * length / avg_len))
    assert hits[0][1] == pytest.approx(expected, rel=1e-4)


def test_allowed_mask_and_save_load(tmp_path) -> None:
    texts = ["la ville de Tunis", "la ville de Rabat", "le sport"]
    index = BM25Index.build(texts, ["fr"] * 3)
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    assert {i for i, _ in loaded.search("ville", 5)} == {0, 1}
    assert [i for i, _ in loaded.search("ville", 5, allowed=[1, 2])] == [1]
    assert loaded.search("inconnu", 5) == []
