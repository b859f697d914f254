"""Fusing the rankings of several retrievers into one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence


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
