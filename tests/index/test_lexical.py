import math

import numpy as np
import pytest

from rag.index.analysis import analyze_passage, analyze_passages
from rag.index.lexical import BM25Index, TermCounts


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
    ids = np.arange(3)
    TermCounts.build(ids, analyze_passages(texts, ["fr"] * 3)).save(tmp_path)
    loaded = BM25Index([TermCounts.load(tmp_path)], ids)
    assert {i for i, _ in loaded.search("ville", 5)} == {0, 1}
    assert [i for i, _ in loaded.search("ville", 5, allowed=[1, 2])] == [1]
    assert loaded.search("inconnu", 5) == []


def test_accents_are_folded_so_unaccented_questions_match() -> None:
    index = BM25Index.build(["L'État fédéral et la région", "Le budget du sport"], ["fr"] * 2)
    assert [i for i, _ in index.search("Quel est le role de l'Etat ?", 2)] == [0]
    assert analyze_passage("le château de la forêt", "fr") == ["chateau", "foret"]


def test_extra_terms_add_to_the_question() -> None:
    index = BM25Index.build(["la ville de Tunis", "le séminaire de Rabat"], ["fr"] * 2)
    plain = index.scores("seminar in Rabat").of([0, 1])
    more = index.scores("seminar in Rabat", ["seminair"]).of([0, 1])
    assert more[1] > plain[1] > 0 and more[0] == plain[0] == 0


def test_the_best_passages_are_found_among_the_postings_as_among_all_scores() -> None:
    rng = np.random.default_rng(0)
    words = [f"lieu{a}{b}" for a in "abcdefgh" for b in "abcdefgh"]  # 64 stems
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(3000)]
    index = BM25Index.build(texts, ["fr"] * len(texts))
    for question in ("lieuaa et lieubc", "le lieuhh", "lieuab lieuac lieuad lieuae lieuaf"):
        scores = index.scores(question)
        ids, values = scores.matched()
        best = np.sort(values)[::-1][:10]
        found = index.search(scores, 10)
        assert [v for _, v in found] == pytest.approx(best.tolist())
        # Which of the passages tied with the tenth get in is arbitrary; those above are not.
        above = set(ids[values > best[-1]].tolist())
        assert above <= {i for i, _ in found}
