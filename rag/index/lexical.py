"""The lexical index: BM25 over words stemmed with PyStemmer, in segments.

An index's passages are in one or more segments (a large main one, and a small one of recent
changes), as in Lucene. A segment holds term counts, not scores: BM25's corpus statistics
(number of passages, document frequencies, mean length) are those of the live passages of all
segments, computed when the index is loaded, so a passage's score is the one a build from
nothing would give it (bm25s's Lucene variant: k1 1.5, b 0.75), and removed passages count for
nothing.

Words are cut, stopped and stemmed by `rag.index.analysis`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from rag.index.analysis import analyze_passages, analyze_query
from rag.index.ids import positions

TERMS = "terms.json"
K1, B = 1.5, 0.75
_BLOCK = 1 << 20  # postings gathered in Python lists before they are packed into an array


class TermCounts:
    """One segment's postings: how often each stem is in each passage, by passage (rows, for
    merges) and by stem (the postings a question reads), with each passage's length and each
    stem's number of passages. Loaded memory-mapped: serving workers share the pages, and a
    question touches only its stems' postings."""

    def __init__(
        self,
        ids: np.ndarray,
        terms: list[str],
        by_row: Csr,
        by_term: Csr,
        lengths: np.ndarray,
    ):
        self.ids = ids  # the passage id of each row, ascending
        self.terms = terms
        self.columns = {t: i for i, t in enumerate(terms)}
        self.by_row = by_row
        self.by_term = by_term
        self.lengths = lengths
        self.df = np.diff(by_term.indptr).astype(np.int64)

    @property
    def counts(self) -> sparse.csr_matrix:
        """The rows as a SciPy matrix (a copy: for merges, not for questions)."""
        b = self.by_row
        return sparse.csr_matrix(
            (np.asarray(b.values, np.float32), np.asarray(b.indices), np.asarray(b.indptr)),
            shape=(len(self.ids), len(self.terms)),
        )

    @classmethod
    def from_matrix(cls, ids: np.ndarray, terms: list[str], counts: sparse.spmatrix) -> TermCounts:
        rows = counts.tocsr()
        lengths = np.asarray(rows.sum(axis=1), dtype=np.float32).ravel()
        ids = np.asarray(ids, dtype=np.int64)
        return cls(ids, terms, Csr.of(rows), Csr.of(rows.tocsc()), lengths)

    @classmethod
    def build(cls, ids: np.ndarray, tokens: Iterable[Sequence[str]]) -> TermCounts:
        """The counts of each passage's stems, `tokens` (read once, as they come: the stems
        of a million passages are not all held at once, only their counts, in arrays)."""
        columns: dict[str, int] = {}
        sizes: list[int] = []
        indices: list[int] = []
        data: list[int] = []
        blocks: list[tuple[np.ndarray, np.ndarray]] = []
        for stems in tokens:
            row = Counter(columns.setdefault(s, len(columns)) for s in stems)
            indices.extend(row)
            data.extend(row.values())
            sizes.append(len(row))
            if len(indices) >= _BLOCK:
                blocks.append((np.asarray(indices, np.int32), np.asarray(data, np.float32)))
                indices, data = [], []
        blocks.append((np.asarray(indices, np.int32), np.asarray(data, np.float32)))
        indptr = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        values = np.concatenate([b[1] for b in blocks])
        counts = sparse.csr_matrix(
            (values, np.concatenate([b[0] for b in blocks]), indptr),
            shape=(len(sizes), len(columns)),
        )
        return cls.from_matrix(ids, list(columns), counts)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: np.ndarray) -> TermCounts:
        """The rows where `keep` (a boolean mask) is true."""
        return TermCounts.from_matrix(self.ids[keep], self.terms, self.counts[np.flatnonzero(keep)])

    @staticmethod
    def concat(parts: Sequence[TermCounts]) -> TermCounts:
        """One segment of the rows of `parts`, in their order (ids must stay ascending)."""
        columns: dict[str, int] = {}
        blocks = []
        for part in parts:
            remap = np.asarray([columns.setdefault(t, len(columns)) for t in part.terms], np.int32)
            coo = part.counts.tocoo()
            blocks.append((coo.row, remap[coo.col] if len(remap) else coo.col, coo.data))
        rows, at = [], 0
        for part, (row, _, _) in zip(parts, blocks, strict=True):
            rows.append(row + at)
            at += len(part)
        counts = sparse.csr_matrix(
            (
                np.concatenate([b[2] for b in blocks] or [np.empty(0, np.float32)]),
                (
                    np.concatenate(rows or [np.empty(0, np.int32)]),
                    np.concatenate([b[1] for b in blocks] or [np.empty(0, np.int32)]),
                ),
            ),
            shape=(at, len(columns)),
            dtype=np.float32,
        )
        ids = np.concatenate([p.ids for p in parts] or [np.empty(0, np.int64)])
        return TermCounts.from_matrix(ids, list(columns), counts)

    def save(self, folder: Path) -> None:
        (folder / TERMS).write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
        arrays = {
            "ids": self.ids,
            "lengths": self.lengths,
            **self.by_row.arrays("rows"),
            **self.by_term.arrays("terms"),
        }
        for name, array in arrays.items():
            np.save(folder / f"bm25_{name}.npy", np.ascontiguousarray(array), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> TermCounts:
        def array(name: str) -> np.ndarray:
            return np.load(folder / f"bm25_{name}.npy", mmap_mode="r", allow_pickle=False)

        terms = json.loads((folder / TERMS).read_text(encoding="utf-8"))
        ids, lengths = np.asarray(array("ids")), array("lengths")
        by_row, by_term = Csr.load("rows", array), Csr.load("terms", array)
        if not (
            len(ids) == len(lengths) == len(by_row)
            and len(by_term) == len(terms)
            and by_row.size == by_term.size >= 0
        ):
            raise ValueError(f"the BM25 files of {folder} do not agree in size")
        return cls(ids, terms, by_row, by_term, lengths)


@dataclass(frozen=True)
class Csr:
    """Compressed sparse rows as three arrays, which may be memory-mapped: row r's entries are
    `indices` and `values` at `indptr[r]:indptr[r+1]`. A row is a passage (its stems), or in
    postings a stem (its passages: a CSC matrix's arrays). Counts are whole numbers below
    65,536 (a passage has at most 20,000 characters)."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, matrix: sparse.csr_matrix | sparse.csc_matrix) -> Csr:
        return cls(
            matrix.indptr.astype(np.int64),
            matrix.indices.astype(np.int32),
            matrix.data.astype(np.uint16),
        )

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_indptr": self.indptr,
            f"{prefix}_indices": self.indices,
            f"{prefix}_values": self.values,
        }

    @classmethod
    def load(cls, prefix: str, array: Callable[[str], np.ndarray]) -> Csr:
        return cls(array(f"{prefix}_indptr"), array(f"{prefix}_indices"), array(f"{prefix}_values"))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def size(self) -> int:
        """The number of entries: checked against the arrays' lengths when loaded."""
        ok = len(self.indptr) and len(self.indices) == len(self.values) == self.indptr[-1]
        return int(self.indptr[-1]) if ok else -1

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.indptr[r]), int(self.indptr[r + 1])
        return self.indices[start:end], self.values[start:end]

    def indices_of(self, rows: np.ndarray) -> np.ndarray:
        """The indices of all the entries of `rows`, concatenated."""
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        sizes = ends - starts
        offsets = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
        return np.asarray(self.indices[np.arange(int(sizes.sum())) + offsets])


class LexicalScores:
    """The BM25 score of every passage for one question, per segment (0 for a passage that
    shares no stem with it)."""

    def __init__(self, parts: Sequence[tuple[np.ndarray, np.ndarray, list[np.ndarray]]]):
        # Per segment: its ascending passage ids, their scores, and the rows of each posting
        # that was added (the rows that can score above 0).
        self._parts = list(parts)

    def of(self, ids: Sequence[int]) -> np.ndarray:
        """The scores of `ids`, 0 for a passage that matched nothing."""
        wanted = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(wanted), dtype=np.float32)
        for seg_ids, values, _ in self._parts:
            at, found = positions(seg_ids, wanted)
            out[found] = values[at[found]]
        return out

    def matched(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the passages with a score above 0 (ascending), and their scores."""
        ids, values = [np.empty(0, np.int64)], [np.empty(0, np.float32)]
        for seg_ids, scores, _ in self._parts:
            nonzero = np.flatnonzero(scores)
            ids.append(seg_ids[nonzero])
            values.append(scores[nonzero])
        all_ids = np.concatenate(ids)
        order = np.argsort(all_ids, kind="stable")
        return all_ids[order], np.concatenate(values)[order]

    def top(self, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The `k` best passages with a score above 0, of `allowed` only if given."""
        ids, values = [], []
        for seg_ids, scores, postings in self._parts:
            if allowed is None:
                rows = _best_rows(scores, postings, k)
            else:
                at, found = positions(seg_ids, allowed)
                rows = at[found]
                rows = rows[scores[rows] > 0]
            if len(rows) > k:
                rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
            ids.append(seg_ids[rows])
            values.append(scores[rows])
        if not ids:
            return []
        all_ids, all_values = np.concatenate(ids), np.concatenate(values)
        order = np.lexsort((all_ids, -all_values))[:k]
        return [(int(all_ids[i]), float(all_values[i])) for i in order]


class BM25Index:
    """BM25 over segments, with the statistics of their live passages.

    Loading a generation costs only its removed passages' postings (document frequencies are
    each segment's, less those of its removed rows) and one pass over the passages' lengths; a
    question reads only its stems' postings, and adds their scores into one array per segment
    (no sorting of the passages it matched)."""

    def __init__(self, segments: Sequence[TermCounts], live: np.ndarray):
        """`live`: the ascending ids of the passages that are not removed."""
        # (postings, document frequencies of the live rows, removed rows) per segment
        self._segments: list[tuple[TermCounts, np.ndarray, np.ndarray]] = []
        self._n, total = 0, 0.0
        for seg in segments:
            _, alive = positions(live, seg.ids)
            dead = np.flatnonzero(~alive)
            df = seg.df
            if len(dead):
                gone = seg.by_row.indices_of(dead)
                df = df - np.bincount(gone, minlength=len(seg.terms))
            self._n += int(alive.sum())
            total += float(np.sum(seg.lengths[alive], dtype=np.float64))
            self._segments.append((seg, df, dead))
        self._average = total / self._n if self._n else 1.0
        # Lucene's term-frequency part is tf / (tf + k1 (1 - b + b dl / avgdl)): the norm of
        # each row, for this generation's mean length.
        average = np.float32(self._average)
        self._norms = [K1 * (1 - B + B * seg.lengths / average) for seg, _, _ in self._segments]

    @classmethod
    def build(cls, texts: Sequence[str], languages: Sequence[str]) -> BM25Index:
        """The index of one segment of `texts`, numbered from 0 (for tests and experiments)."""
        ids = np.arange(len(texts), dtype=np.int64)
        counts = TermCounts.build(ids, analyze_passages(texts, languages))
        return cls([counts], ids)

    def __len__(self) -> int:
        return self._n

    def _idf(self, term: str) -> float:
        df = sum(int(df[seg.columns[term]]) for seg, df, _ in self._segments if term in seg.columns)
        return math.log(1 + (self._n - df + 0.5) / (df + 0.5)) if df else 0.0

    def scores(self, query: str, extra_terms: Iterable[str] = ()) -> LexicalScores:
        """The BM25 scores of `query`, plus any `extra_terms` (stems, such as the question's
        words translated into the corpus's language)."""
        terms = sorted({*analyze_query(query), *extra_terms})
        idfs = {t: self._idf(t) for t in terms}
        parts = []
        for (seg, _, dead), norms in zip(self._segments, self._norms, strict=True):
            summed = np.zeros(len(seg), dtype=np.float32)
            touched: list[np.ndarray] = []
            for term, idf in idfs.items():
                column = seg.columns.get(term)
                if not idf or column is None:
                    continue
                rows, tf = seg.by_term.row(column)
                touched.append(rows)
                tf = tf.astype(np.float32)
                summed[rows] += np.float32(idf) * tf / (tf + norms[rows])  # rows are distinct
            summed[dead] = 0.0
            parts.append((seg.ids, summed, touched))
        return LexicalScores(parts)

    def search(
        self,
        query: str | LexicalScores,
        k: int,
        allowed: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The `k` best passages for `query` (or for precomputed `scores(query)`), as
        (passage id, BM25 score), best first. Passages that share no stem with it are left out.
        """
        scored = self.scores(query) if isinstance(query, str) else query
        wanted = None if allowed is None else np.asarray(allowed, dtype=np.int64)
        return scored.top(k, wanted) if k > 0 else []


def _best_rows(scores: np.ndarray, postings: list[np.ndarray], k: int) -> np.ndarray:
    """Rows that hold the `k` best scores above 0 (or all such rows, if fewer), found among
    the rows of the question's postings rather than by a scan of every passage's score."""
    if not postings:
        return np.empty(0, np.int64)
    rows = np.concatenate(postings)
    if len(rows) > len(scores) // 2:  # as cheap to scan them all
        return np.flatnonzero(scores)
    # A row is in at most one posting per stem, so the best k x (number of postings) entries
    # hold k distinct rows, the best ones.
    entries = k * len(postings)
    if len(rows) > entries:
        rows = rows[np.argpartition(-scores[rows], entries - 1)[:entries]]
    rows = np.unique(rows)
    return rows[scores[rows] > 0]
