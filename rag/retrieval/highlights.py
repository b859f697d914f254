"""Sentence-level scoring: pooled passage scores and the highlights of a result.

Each passage's sentences have their own vectors (`sentences.npy` in the index). A passage's
dense score can take the best of its sentences into account, and a result's highlights are its
sentences that best match the question.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.answers import Highlight
from rag.index.loading import Index

# (start, end, cosine) of each sentence of a passage, in text order.
SentenceScores = dict[int, list[tuple[int, int, float]]]


def score_sentences(index: Index, query: np.ndarray, passage_ids: Sequence[int]) -> SentenceScores:
    """The cosine of `query` with every sentence of the given passages."""
    if not passage_ids:
        return {}
    spans = index.store.sentences_of(passage_ids)
    ids = [sid for sentences in spans.values() for sid, _, _ in sentences]
    if not ids:
        return {}
    sims = (index.sentence_vectors[ids].astype(np.float32) @ query).tolist()
    scores: SentenceScores = {}
    i = 0
    for pid, sentences in spans.items():
        scores[pid] = [(start, end, sims[i + j]) for j, (_, start, end) in enumerate(sentences)]
        i += len(sentences)
    return scores


def pool(
    passage_scores: Sequence[tuple[int, float]], sentences: SentenceScores, weight: float
) -> list[tuple[int, float]]:
    """(1 - weight) * passage cosine + weight * best sentence cosine, best first."""
    pooled = []
    for pid, score in passage_scores:
        best = max((s for _, _, s in sentences.get(pid, [])), default=score)
        pooled.append((pid, (1.0 - weight) * score + weight * best))
    return sorted(pooled, key=lambda pair: (-pair[1], pair[0]))


def highlights(
    sentences: list[tuple[int, int, float]],
    passage_start: int,
    passage_text: str,
    margin: float,
    title: str | None = None,
) -> list[Highlight]:
    """The best sentence, and any other within `margin` of it, in text order. The document's
    title is not one of them while the passage has another sentence: it names the article and
    matches every question about it ("the mayor of Hangzhou" in "Hangzhou hosts…") without
    answering any."""

    def text(a: int, b: int) -> str:
        return passage_text[a - passage_start : b - passage_start]

    if title and title.strip():
        named = " ".join(title.split()).casefold()
        others = [s for s in sentences if " ".join(text(s[0], s[1]).split()).casefold() != named]
        sentences = others or sentences
    if not sentences:
        return []
    best = max(s for _, _, s in sentences)
    kept = [(a, b) for a, b, s in sentences if s >= best - margin]
    return [Highlight(start=a, end=b, text=text(a, b)) for a, b in kept]
