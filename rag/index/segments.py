"""Segments: the files of an index's passages, written once and never changed.

An index is a store (`chunks.sqlite`) and one or more segments under `segments/`. A segment
holds, for its passages, the FAISS index, the BM25 term counts and the sentence vectors. A
build writes one segment; a change writes a new small segment of the recent changes (the
previous small one's live passages and the new ones), and when that grows, one new main segment
of all the live passages (a merge, which also drops what removals left behind). The store's
state names the live segments: a segment folder is written under a temporary name, synced and
renamed before the change that names it commits.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.index.lexical import TermCounts
from rag.index.vectors import FaissVectorIndex

SEGMENTS = "segments"
SENTENCE_VECTORS = "sentences.npy"  # float16, one row per sentence
SENTENCE_IDS = "sentence_ids.npy"  # the sentence id of each row, ascending


@dataclass
class Segment:
    name: str
    vectors: FaissVectorIndex
    terms: TermCounts
    sentence_ids: np.ndarray
    sentence_vectors: np.ndarray

    @property
    def passage_ids(self) -> np.ndarray:
        return self.terms.ids

    def __len__(self) -> int:
        return len(self.terms)


def segment_name(generation: int, role: str) -> str:
    return f"{generation:08d}-{role}"


def write_segment(index_dir: Path, segment: Segment) -> None:
    """Write `segment` into `index_dir/segments/`, whole or not at all."""
    root = index_dir / SEGMENTS
    root.mkdir(exist_ok=True)
    temporary = root / f".{segment.name}.{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    try:
        segment.vectors.save(temporary)
        segment.terms.save(temporary)
        np.save(temporary / SENTENCE_IDS, segment.sentence_ids, allow_pickle=False)
        np.save(
            temporary / SENTENCE_VECTORS,
            np.asarray(segment.sentence_vectors, dtype=np.float16),
            allow_pickle=False,
        )
        for path in temporary.iterdir():
            _fsync(path)
        _fsync(temporary)
        os.rename(temporary, root / segment.name)
        _fsync(root)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_segment(index_dir: Path, name: str, settings: Settings) -> Segment:
    folder = index_dir / SEGMENTS / name
    if not folder.is_dir():  # removed by a change that committed since the state was read
        raise FileNotFoundError(folder)
    return Segment(
        name,
        FaissVectorIndex.load(folder, settings),
        TermCounts.load(folder),
        np.load(folder / SENTENCE_IDS, allow_pickle=False),
        np.load(folder / SENTENCE_VECTORS, mmap_mode="r", allow_pickle=False),
    )


def remove_unused_segments(index_dir: Path, live: Sequence[str]) -> None:
    """Delete the segment folders `live` does not name (replaced ones, and the leftovers of a
    change cut before it committed). Readers that still map their files keep them open."""
    root = index_dir / SEGMENTS
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.name not in live:
            shutil.rmtree(folder, ignore_errors=True)


class SentenceVectors:
    """The vectors of the sentences of all segments, looked up by sentence id."""

    def __init__(self, segments: Sequence[Segment]):
        self._segments = [(s.sentence_ids, s.sentence_vectors) for s in segments]
        self.dimension = next((v.shape[1] for _, v in self._segments if v.ndim == 2), 0)

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self._segments)

    def __getitem__(self, ids: Sequence[int]) -> np.ndarray:
        wanted = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(wanted), self.dimension), dtype=np.float32)
        for seg_ids, vectors in self._segments:
            if not len(seg_ids):
                continue
            at = np.minimum(np.searchsorted(seg_ids, wanted), len(seg_ids) - 1)
            mine = np.flatnonzero(seg_ids[at] == wanted)
            if len(mine):
                out[mine] = vectors[at[mine]]
        return out
