import dataclasses
import itertools
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from rag.config import SEARCH_MODES
from rag.index.loading import Index
from rag.index.store import ChunkStore, StoredPassage
from rag.ingest.cleaning import normalize_text
from rag.retrieval.retrievers import Dense, Lexical, Question
from rag.retrieval.search import FUSIONS, search

QUESTIONS = ["Qui est le maire de Hangzhou ?", "Who is the mayor of Hangzhou?", "ICESCO CGLU"]


class CountingStore(ChunkStore):
    """The index's store, noting the passages each read asks for."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.passage_reads: list[list[int]] = []
        self.sentence_reads: list[int] = []

    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        if len(ids):
            self.passage_reads.append(list(ids))
        return super().passages(ids)

    def sentences_of(self, passage_ids: Sequence[int]) -> dict[int, list[tuple[int, int, int]]]:
        self.sentence_reads.extend(passage_ids)
        return super().sentences_of(passage_ids)


def question(index: Index, text: str, n: int = 10, allowed: list[int] | None = None) -> Question:
    text = normalize_text(text)
    vector = index.embedder.encode_queries([text])[0]
    return Question(index, text, vector, "fr", allowed, n)


def test_every_search_mode_has_a_fusion() -> None:
    assert set(FUSIONS) == set(SEARCH_MODES)


@pytest.mark.parametrize("fusion", ["convex", "rrf"])
@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_a_search_reads_each_passage_and_its_sentences_once(
    default_index: Index, mode: str, fusion: str
) -> None:
    for text in QUESTIONS:
        store = CountingStore(default_index.store.path)
        settings = default_index.settings.model_copy(update={"fusion": fusion})
        index = dataclasses.replace(default_index, store=store, settings=settings)
        response = search(index, text, k=5, mode=mode)
        assert response.results
        assert len(store.passage_reads) == 1, store.passage_reads  # one read of the store
        assert not [pid for pid, n in Counter(store.sentence_reads).items() if n > 1]
        read = store.passages(store.passage_reads[0])
        assert {(r.doc_id, r.start) for r in response.results} <= {
            (p.doc_id, p.start) for p in read.values()
        }


def test_dense_scores_any_passage_with_its_exact_cosine(default_index: Index) -> None:
    index = dataclasses.replace(
        default_index, settings=default_index.settings.model_copy(update={"sentence_weight": 0.0})
    )
    q = question(index, "Who is the mayor of Hangzhou?", n=3)
    dense, lexical = Dense(q), Lexical(q, translate=False)
    found = {pid for pid, _ in dense.candidates()}
    only_lexical = [pid for pid, _ in lexical.candidates() if pid not in found]
    assert only_lexical  # BM25 proposes passages the dense retriever did not
    assert q.vector is not None
    exact = index.vectors.reconstruct(only_lexical) @ q.vector
    scored = dict(dense.scores(only_lexical))
    assert [scored[pid] for pid in only_lexical] == pytest.approx(exact.tolist(), abs=1e-5)
    assert all(score != 0.0 for score in scored.values())


def test_dense_ranking_pools_the_best_sentence(default_index: Index) -> None:
    index = dataclasses.replace(
        default_index, settings=default_index.settings.model_copy(update={"sentence_weight": 0.5})
    )
    q = question(index, "Qui est le maire de Hangzhou ?")
    dense = Dense(q)
    raw = dict(dense.candidates())
    for pid, pooled in dense.ranking():
        best = max(s for _, _, s in q.sentences[pid])
        assert pooled == pytest.approx(0.5 * raw[pid] + 0.5 * best, abs=1e-6)


def test_translated_question_words_add_to_bm25(default_index: Index) -> None:
    q = question(default_index, "Who is the mayor of Hangzhou?")
    q = dataclasses.replace(q, language="en")
    plain, translated = Lexical(q, translate=False), Lexical(q, translate=True)
    ids = [pid for pid, _ in translated.candidates()]
    before, after = dict(plain.scores(ids)), dict(translated.scores(ids))
    assert all(after[pid] >= before[pid] for pid in ids)
    assert any(after[pid] > before[pid] for pid in ids)


def test_candidates_stay_within_the_filters(default_index: Index) -> None:
    allowed = sorted(default_index.live_passages.tolist())[::3]
    q = question(default_index, "villes intelligentes et numérique", n=20, allowed=allowed)
    for retriever in (Dense(q), Lexical(q, translate=True)):
        hits = retriever.candidates()
        assert hits and {pid for pid, _ in hits} <= set(allowed)
        assert all(a[1] >= b[1] for a, b in itertools.pairwise(hits))


def test_a_dense_retriever_needs_the_questions_vector(default_index: Index) -> None:
    q = Question(default_index, "maire", None, "fr", None, 5)
    with pytest.raises(ValueError, match="vector"):
        Dense(q)
    hits = Lexical(q, translate=False).candidates()  # BM25 alone needs no vector
    assert hits and all(score > 0 for _, score in hits)
