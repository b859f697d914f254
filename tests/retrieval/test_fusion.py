import pytest

from rag.retrieval.fusion import convex_fusion, reciprocal_rank_fusion, with_document_context


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([[(1, 9.0), (2, 8.0)], [(2, 0.5), (3, 0.4)]], k=60))
    assert fused[2] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1] == pytest.approx(1 / 61) and fused[3] == pytest.approx(1 / 62)
    assert list(dict(reciprocal_rank_fusion([[(1, 1.0)], [(2, 1.0)]]))) == [1, 2]  # ties by id


def test_convex_fusion_normalises_and_weights() -> None:
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]  # min-max: 1.0, 0.5, 0.0
    lexical = [(3, 8.0), (4, 2.0)]  # divided by the best: 1.0, 0.25
    fused = dict(convex_fusion(dense, lexical, lambda item: 0.4))
    assert fused[1] == pytest.approx(0.6 * 1.0)
    assert fused[2] == pytest.approx(0.6 * 0.5)
    assert fused[3] == pytest.approx(0.6 * 0.0 + 0.4 * 1.0)
    assert fused[4] == pytest.approx(0.4 * 0.25)
    assert [i for i, _ in convex_fusion(dense, lexical, lambda item: 0.4)] == [1, 3, 2, 4]


def test_convex_fusion_weight_per_item_and_empty_lists() -> None:
    dense = [(1, 0.8), (2, 0.8)]
    lexical = [(2, 3.0)]
    fused = dict(convex_fusion(dense, lexical, lambda item: 0.5 if item == 2 else 0.1))
    assert fused[1] == pytest.approx(0.9) and fused[2] == pytest.approx(0.5 + 0.5)
    assert convex_fusion([], [], lambda item: 0.4) == []
    assert dict(convex_fusion([], [(5, 0.0)], lambda item: 0.4)) == {5: 0.0}


def test_document_context_mixes_in_the_best_passage_of_the_same_document() -> None:
    scored = [(1, 0.9), (2, 0.5), (3, 0.6), (4, 0.2)]
    document_of = {1: "a", 2: "a", 3: "b", 4: "b"}
    mixed = with_document_context(scored, document_of, 0.5)
    assert dict(mixed) == pytest.approx({1: 0.9, 2: 0.7, 3: 0.6, 4: 0.4})
    # Passage 2 overtakes passage 3: its document holds the best match.
    assert [item for item, _ in mixed] == [1, 2, 3, 4]
    assert with_document_context(scored, document_of, 0.0) == scored
    assert with_document_context([], {}, 0.5) == []
