"""Fusing the rankings of several retrievers into one: the score arithmetic (RRF, convex
fusion, document context), and the fusions a search mode ranks with (`Alone`,
`ReciprocalRanks`, `Convex`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.retrieval.retrievers import Hits, Question, Retriever


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[int, float]]], k: int = 60
) -> list[tuple[int, float]]:
    """Cormack et al.'s RRF: each item scores the sum of 1 / (k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (item, _score) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def convex_fusion(
    dense: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    lexical_weight: Callable[[int], float],
) -> list[tuple[int, float]]:
    """A weighted sum of normalised scores: (1 - w) * dense + w * lexical, w per item.

    Dense scores are min-max normalised over the candidates; BM25 scores are divided by the
    best one (an unmatched passage scores 0, so 0 is their natural floor). An item missing from
    one ranking gets 0 there.
    """
    fused: dict[int, float] = {}
    if dense:
        values = [s for _, s in dense]
        lo, hi = min(values), max(values)
        for item, score in dense:
            fused[item] = (score - lo) / (hi - lo) if hi > lo else 1.0
    for item in fused:
        fused[item] *= 1.0 - lexical_weight(item)
    best = max((s for _, s in lexical), default=0.0)
    for item, score in lexical:
        w = lexical_weight(item)
        if item not in fused:
            fused[item] = 0.0
        fused[item] += w * (score / best if best > 0 else 0.0)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def with_document_context(
    scored: Sequence[tuple[int, float]], document_of: Mapping[int, str], weight: float
) -> list[tuple[int, float]]:
    """Each passage's score mixed with its document's, best first:
    (1 - weight) * its own + weight * the best score of a passage of its document in `scored`.

    A passage is judged with the evidence of the passages around it: the document that holds
    the best match lifts its other passages, which may hold the answer.
    """
    if not weight:
        return list(scored)
    best: dict[str, float] = {}
    for item, score in scored:
        doc = document_of[item]
        best[doc] = max(score, best.get(doc, score))
    mixed = [
        (item, (1.0 - weight) * score + weight * best[document_of[item]]) for item, score in scored
    ]
    return sorted(mixed, key=lambda pair: (-pair[1], pair[0]))


class Fusion(ABC):
    """How one question's retrievers make its ranking: (passage id, score), best first, of
    passages the store has."""

    @abstractmethod
    def rank(self, question: Question) -> Hits: ...


class Alone(Fusion):
    """One retriever's own ranking, with document context."""

    def __init__(self, retriever: Retriever):
        self.retriever = retriever

    def rank(self, question: Question) -> Hits:
        return question.in_context(question.found(self.retriever.ranking()))


class ReciprocalRanks(Fusion):
    """RRF of the retrievers' candidates, each list with document context first."""

    def __init__(self, retrievers: Sequence[Retriever], k: int):
        self.retrievers, self.k = retrievers, k

    def rank(self, question: Question) -> Hits:
        lists = [r.candidates() for r in self.retrievers]
        question.read(pid for hits in lists for pid, _ in hits)
        rankings = [question.in_context(question.found(hits)) for hits in lists]
        return reciprocal_rank_fusion(rankings, k=self.k)


class Convex(Fusion):
    """`convex_fusion` of a dense and a lexical retriever over the union of their candidates,
    each candidate scored by both (so that a passage found by one of them is not taken for a
    zero by the other). BM25's share is `bm25_weight` for a passage in the question's
    language and `bm25_weight * cross_language_factor` for one in the other."""

    def __init__(
        self,
        dense: Retriever,
        lexical: Retriever,
        bm25_weight: float,
        cross_language_factor: float,
    ):
        self.dense, self.lexical = dense, lexical
        self.same, self.other = bm25_weight, bm25_weight * cross_language_factor

    def rank(self, question: Question) -> Hits:
        proposed = {pid for pid, _ in self.dense.candidates()}
        proposed |= {pid for pid, _ in self.lexical.candidates()}
        question.read(proposed)
        union = [pid for pid in sorted(proposed) if pid in question.passages]

        def weight(pid: int) -> float:
            same = question.passages[pid].language == question.language
            return self.same if same else self.other

        return convex_fusion(
            question.in_context(self.dense.scores(union)),
            question.in_context(self.lexical.scores(union)),
            weight,
        )
