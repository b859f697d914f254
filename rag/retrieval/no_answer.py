"""Whether the corpus answers a question at all, so that a chatbot can say it does not know.

A logistic model of the top result (`rag.config.NoAnswer`, one per embedder, fitted by
`eval/calibrate.py`) turns the question's cosine with the top passage, and whether that passage
is in another language, into a probability. The same top passage is judged in every mode.
"""

from __future__ import annotations

import math

import numpy as np

from rag.config import tuning_of
from rag.index.loading import Index
from rag.index.store import StoredPassage


def is_calibrated(index: Index) -> bool:
    return tuning_of(index.embedder.name).no_answer is not None


def features(
    index: Index, vector: np.ndarray, top: StoredPassage, language: str
) -> tuple[float, float]:
    """What the model reads: the question's cosine with `top`, and 1.0 when `top` is not in the
    question's language. `eval/calibrate.py` fits the model on these same features."""
    return float(index.vectors.scores(vector, [top.id])[0]), float(top.language != language)


def answerability(
    index: Index, vector: np.ndarray | None, top: StoredPassage | None, language: str
) -> tuple[bool, float | None]:
    """(answerable, confidence) of a question whose best passage is `top`."""
    model = tuning_of(index.embedder.name).no_answer
    if model is None or vector is None:
        return top is not None, None
    if top is None:
        return False, 0.0
    cosine, cross_language = features(index, vector, top, language)
    z = model.intercept + model.cosine * cosine + model.cross_language * cross_language
    confidence = 1.0 / (1.0 + math.exp(-z))
    threshold = index.settings.answer_threshold
    if threshold is None:
        threshold = model.threshold
    return confidence >= threshold, round(confidence, 4)
