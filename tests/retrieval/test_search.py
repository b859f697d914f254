import dataclasses
import itertools
import re

import pytest
from conftest import HANGZHOU

from rag.errors import InvalidQueryError
from rag.index.loading import Index
from rag.index.store import StoredPassage
from rag.retrieval.search import SearchFilters, search, without_overlaps

MAYOR_QUESTIONS = ["Qui est le maire de Hangzhou ?", "Who is the mayor of Hangzhou?"]


def with_settings(index: Index, **update: object) -> Index:
    """The same loaded index, searched with some settings changed."""
    return dataclasses.replace(index, settings=index.settings.model_copy(update=update))


@pytest.mark.parametrize("question", MAYOR_QUESTIONS)
def test_the_passage_naming_the_mayor_comes_first(default_index: Index, question: str) -> None:
    first = search(default_index, question).results[0]
    assert first.doc_id == HANGZHOU
    assert "Xu Liyi" in first.text or "XU Liyi" in first.text
    assert first.title.startswith("Hangzhou accueille") and first.date == "2017-12-09"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_results_are_typed_ranked_and_point_into_the_document(
    default_index: Index, mode: str
) -> None:
    response = search(default_index, "villes intelligentes et numérique", 8, mode)
    assert response.mode == mode and response.query == "villes intelligentes et numérique"
    results = response.results
    assert [r.rank for r in results] == list(range(1, len(results) + 1))
    assert len(results) == 8
    assert all(a.score >= b.score for a, b in itertools.pairwise(results))
    for r in results:
        doc = default_index.store.document(r.doc_id)
        assert doc is not None and doc.text[r.start : r.end] == r.text
        assert r.source.endswith(f"{r.doc_id}.txt")


def test_neighbours_share_the_top_k_but_never_repeat_each_other(default_index: Index) -> None:
    results = search(default_index, "Conseil mondial de CGLU à Hangzhou", 30).results
    pairs = [
        (a, b, min(a.end, b.end) - max(a.start, b.start))
        for i, a in enumerate(results)
        for b in results[i + 1 :]
        if a.doc_id == b.doc_id
    ]
    assert any(shared > 0 for _, _, shared in pairs)  # neighbours, sharing their overlap
    assert all(2 * shared <= min(a.end - a.start, b.end - b.start) for a, b, shared in pairs)


def test_neighbours_sharing_their_overlap_both_stay_but_repeats_go() -> None:
    def passage(pid: int, start: int, end: int, doc_id: str = "d") -> StoredPassage:
        return StoredPassage(pid, doc_id, start, end, "", "", None, "", "fr")

    passages = {
        1: passage(1, 0, 600),
        2: passage(2, 500, 1100),  # shares its first 100 characters with passage 1
        3: passage(3, 100, 500),  # inside passage 1
        4: passage(4, 0, 600, "e"),  # same span, other document
    }
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    assert [p.id for p, _ in without_overlaps(ranked, passages, 10)] == [1, 2, 4]
    assert [p.id for p, _ in without_overlaps(ranked, passages, 2)] == [1, 2]


def test_document_context_lifts_the_passages_of_the_best_document(default_index: Index) -> None:
    question = "Qui a participé à la réunion de l'ICESCO ?"
    without = search(with_settings(default_index, document_weight=0.0), question, 10)
    # At full weight a passage scores its document's best score, so documents come whole.
    full = search(with_settings(default_index, document_weight=1.0), question, 10)
    alone = [r.doc_id for r in without.results]
    grouped = [r.doc_id for r in full.results]
    assert grouped != alone
    firsts = list(dict.fromkeys(grouped))
    assert grouped == sorted(grouped, key=firsts.index)  # each document's passages together
    assert alone != sorted(alone, key=list(dict.fromkeys(alone)).index)


def test_k_larger_than_the_corpus_returns_every_passage_once(default_index: Index) -> None:
    results = search(default_index, "ville", 100, "dense").results
    assert 0 < len(results) <= default_index.manifest.passages


def test_filters_by_document_and_date(default_index: Index) -> None:
    only = search(default_index, "maire", 10, filters=SearchFilters(doc_ids=[HANGZHOU])).results
    assert only and {r.doc_id for r in only} == {HANGZHOU}
    recent = SearchFilters(date_from="2021-01-01", date_to="2021-12")
    dated = search(default_index, "ville numérique", 10, "dense", filters=recent).results
    assert dated and all(r.date and "2021-01-01" <= r.date <= "2021-12-31" for r in dated)
    nothing = SearchFilters(date_from="1990-01", date_to="1990-12")
    assert search(default_index, "ville", 5, filters=nothing).results == []


def test_filters_from_loose_values_are_the_same_filters_or_a_clear_error() -> None:
    assert SearchFilters.of(None) is None
    assert SearchFilters.of({}) is None
    assert SearchFilters.of({"doc_ids": None, "date_from": None, "date_to": None}) is None
    values = {"doc_ids": (HANGZHOU,), "date_from": "2021-01", "date_to": None}
    assert SearchFilters.of(values) == SearchFilters([HANGZHOU], "2021-01", None)
    assert SearchFilters.of({"doc_ids": []}) == SearchFilters(doc_ids=[])  # no document
    for bad, message in [
        ({"doc_id": [1]}, "unknown filter 'doc_id'; filters are doc_ids, date_from, date_to"),
        ({"doc_ids": HANGZHOU}, "must be a list of document ids"),
        ({"doc_ids": [HANGZHOU, 3]}, "must be a list of document ids"),
        ({"date_from": 2021}, "date_from is 2021; it must be a date"),
    ]:
        with pytest.raises(InvalidQueryError, match=re.escape(message)):
            SearchFilters.of(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "the question is empty"),
        ({"query": "   \n\t "}, "the question is empty"),
        ({"query": "x" * 1001}, "at most 1000"),
        ({"k": 0}, "from 1 to 100"),
        ({"k": -3}, "from 1 to 100"),
        ({"k": 10**9}, "from 1 to 100"),
        ({"mode": "sparse"}, "valid modes: dense, bm25, hybrid"),
        ({"filters": SearchFilters(doc_ids=["nope"])}, "unknown document ids"),
        ({"filters": SearchFilters(date_from="hier")}, "ISO 8601"),
        ({"filters": SearchFilters(date_from="2022-01", date_to="2021-01")}, "is after"),
    ],
)
def test_bad_queries_are_clear_errors(default_index: Index, kwargs: dict, message: str) -> None:
    args = {"query": "maire", "k": 5, "mode": "hybrid", **kwargs}
    with pytest.raises(InvalidQueryError, match=message):
        search(default_index, **args)


def test_language_aware_fusion_mutes_bm25_across_languages(default_index: Index) -> None:
    question = "Who opened the first city diplomacy training?"
    muted = with_settings(default_index, cross_language_bm25_factor=0.0)
    hybrid = search(muted, question, 5, "hybrid")
    dense = search(muted, question, 5, "dense")
    assert hybrid.lang == "en"
    assert [(r.doc_id, r.start) for r in hybrid.results] == [
        (r.doc_id, r.start) for r in dense.results
    ]
    # With BM25 at full weight across languages, its ranking shows through.
    full = with_settings(default_index, cross_language_bm25_factor=1.0)
    assert [r.score for r in search(full, question, 5).results] != [r.score for r in hybrid.results]


def test_rrf_fusion_is_still_available(default_index: Index) -> None:
    rrf = with_settings(default_index, fusion="rrf")
    first = search(rrf, "Qui est le maire de Hangzhou ?", 3).results[0]
    assert first.doc_id == HANGZHOU and first.score < 0.05  # an RRF score, 1/(60+1)+...


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_highlights_are_sentences_of_the_passage(default_index: Index, mode: str) -> None:
    results = search(default_index, "Who is the mayor of Hangzhou?", 5, mode).results
    for r in results:
        assert r.highlights
        doc = default_index.store.document(r.doc_id)
        assert doc is not None
        for h in r.highlights:
            assert r.start <= h.start < h.end <= r.end
            assert doc.text[h.start : h.end] == h.text
    top = search(default_index, "Who is the mayor of Hangzhou?").results[0]
    assert any("Liyi" in h.text for h in top.highlights)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
@pytest.mark.parametrize("question", [*MAYOR_QUESTIONS, "Hangzhou et les villes intelligentes"])
def test_a_title_is_never_a_highlight_beside_other_sentences(
    default_index: Index, question: str, mode: str
) -> None:
    # The title of HANGZHOU's article matches every question about Hangzhou and answers none;
    # it was the first highlight of "Who is the mayor of Hangzhou?".
    results = search(default_index, question, 5, mode).results
    assert any(r.text.startswith(r.title) for r in results)  # a passage that has it
    for r in results:
        assert r.highlights and all(h.text != r.title for h in r.highlights), (r.rank, r.title)


def test_highlights_can_be_turned_off(default_index: Index) -> None:
    results = search(default_index, "maire", 3, "bm25", highlight=False).results
    assert results and all(r.highlights == [] for r in results)


OFF_TOPIC = ["Quel est le meilleur fromage de Normandie ?", "Which planet is closest to the sun?"]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_a_question_the_corpus_answers_is_answerable_in_every_mode(
    default_index: Index, mode: str
) -> None:
    for question in MAYOR_QUESTIONS:
        response = search(default_index, question, 3, mode, highlight=False)
        assert response.answerable and response.confidence is not None, question
        assert 0.5 < response.confidence <= 1.0


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_an_off_topic_question_is_not_answerable(default_index: Index, question: str) -> None:
    response = search(default_index, question)
    assert not response.answerable
    assert response.confidence is not None and 0.0 <= response.confidence < 0.25
    assert response.results, "the closest passages are still given, for a person to judge"
    mayor = search(default_index, MAYOR_QUESTIONS[0])
    assert mayor.confidence is not None and mayor.confidence > response.confidence


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_a_question_probably_not_answered_has_passages_but_no_highlight(
    default_index: Index, question: str
) -> None:
    response = search(default_index, question, 5)
    assert not response.answerable and response.results
    assert all(r.highlights == [] for r in response.results)


def test_the_threshold_can_be_set_and_an_empty_answer_is_never_answerable(
    default_index: Index,
) -> None:
    assert search(with_settings(default_index, answer_threshold=0.0), OFF_TOPIC[0]).answerable
    strict = with_settings(default_index, answer_threshold=1.0)
    assert not search(strict, MAYOR_QUESTIONS[0]).answerable
    nothing = search(default_index, MAYOR_QUESTIONS[0], filters=SearchFilters(date_to="1900-01"))
    assert nothing.results == [] and not nothing.answerable and nothing.confidence == 0.0
