"""Looking passage and sentence ids up in the ascending id arrays of segments: a binary search
per id, where `np.isin` would sort the segment's million ids on every question."""

from __future__ import annotations

import numpy as np


def positions(sorted_ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `wanted` is in `sorted_ids` (ascending), and whether it is there at all."""
    wanted = np.asarray(wanted, dtype=np.int64)
    if not len(sorted_ids):
        return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), bool)
    at = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
    return at, sorted_ids[at] == wanted


def contains(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Whether each of `wanted` is in `sorted_ids` (ascending)."""
    return positions(sorted_ids, wanted)[1]
