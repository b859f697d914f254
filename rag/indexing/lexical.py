"""The lexical index: BM25 over words stemmed with PyStemmer, in segments.

An index's passages are in one or more segments (a large main one, and a small one of recent
changes), as in Lucene. A segment holds term counts, not scores: BM25's corpus statistics
(number of passages, document frequencies, mean length) are those of the live passages of all
segments, computed when the index is loaded, so a passage's score is the one a build from
nothing would give it (bm25s's Lucene variant: k1 1.5, b 0.75), and removed passages count for
nothing.

A passage is stemmed in its document's language. A question's language is not known for sure,
so each question word is stemmed both in French and in English: a stem that the index does not
hold simply adds nothing to the score. Stems are folded to ASCII (questions are often typed
without accents: "ou", "Etat"), and a question's interrogative words ("quand", "how many") are
dropped, since they say what kind of answer is wanted, not where it is.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH
from scipy import sparse

TERMS = "terms.json"
COUNTS = "term_counts.npz"
K1, B = 1.5, 0.75
_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMER_NAMES = {"fr": "french", "en": "english"}
_STOPWORDS = {"fr": frozenset(STOPWORDS_FRENCH), "en": frozenset(STOPWORDS_EN)}
# Interrogatives and question auxiliaries, dropped from questions only (Lucene's stop lists
# above keep them).
_QUESTION_WORDS = frozenset(
    {
        *("quand", "combien", "comment", "pourquoi", "où", "quel", "quelle", "quels", "quelles"),
        *("lequel", "laquelle", "lesquels", "lesquelles"),
        *("what", "when", "where", "which", "who", "whom", "whose", "why", "how", "many", "much"),
        *("did", "do", "does"),
    }
)
_QUERY_STOPWORDS = _STOPWORDS["fr"] | _STOPWORDS["en"] | _QUESTION_WORDS


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMER_NAMES.get(language, "french"))


def fold(word: str) -> str:
    """`word` without its accents: "été" -> "ete"."""
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def stopwords(language: str) -> frozenset[str]:
    return _STOPWORDS.get(language, _STOPWORDS["fr"])


def content_words(text: str, language: str | None = None) -> list[str]:
    """The lower-cased words of `text` without stop words: those of `language`, or for a
    question (`language` None) those of both languages and the interrogatives."""
    stop = _QUERY_STOPWORDS if language is None else stopwords(language)
    return [w for w in _WORD.findall(text.lower()) if w not in stop]


def stem(words: Iterable[str], language: str) -> list[str]:
    return [fold(s) for s in _stemmer(language).stemWords(list(words))]


def analyze_passage(text: str, language: str) -> list[str]:
    return stem(content_words(text, language), language)


def analyze_query(text: str) -> list[str]:
    words = content_words(text)
    return sorted({*stem(words, "fr"), *stem(words, "en")})


class TermCounts:
    """One segment's postings: how often each stem (column) is in each passage (row)."""

    def __init__(self, ids: np.ndarray, terms: list[str], counts: sparse.csr_matrix):
        self.ids = np.asarray(ids, dtype=np.int64)  # the passage id of each row, ascending
        self.terms = terms
        self.columns = {t: i for i, t in enumerate(terms)}
        self.counts = counts.tocsr()
        self._postings: tuple[sparse.csc_matrix, np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(cls, ids: np.ndarray, tokens: Sequence[Sequence[str]]) -> TermCounts:
        columns: dict[str, int] = {}
        indptr: list[int] = [0]
        indices: list[int] = []
        data: list[int] = []
        for stems in tokens:
            row: dict[int, int] = {}
            for stem_ in stems:
                column = columns.setdefault(stem_, len(columns))
                row[column] = row.get(column, 0) + 1
            indices.extend(row)
            data.extend(row.values())
            indptr.append(len(indices))
        counts = sparse.csr_matrix(
            (np.asarray(data, np.float32), np.asarray(indices, np.int32), indptr),
            shape=(len(tokens), len(columns)),
        )
        return cls(np.asarray(ids, np.int64), list(columns), counts)

    @classmethod
    def empty(cls) -> TermCounts:
        return cls(np.empty(0, np.int64), [], sparse.csr_matrix((0, 0), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def postings(self) -> tuple[sparse.csc_matrix, np.ndarray, np.ndarray]:
        """The counts by term (columns), each row's length, and each term's number of rows:
        computed once, as the segment never changes."""
        if self._postings is None:
            by_term = self.counts.tocsc()
            lengths = np.asarray(self.counts.sum(axis=1), dtype=np.float64).ravel()
            self._postings = (by_term, lengths, np.diff(by_term.indptr))
        return self._postings

    def select(self, keep: np.ndarray) -> TermCounts:
        """The rows where `keep` (a boolean mask) is true."""
        return TermCounts(self.ids[keep], self.terms, self.counts[np.flatnonzero(keep)])

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
        return TermCounts(ids, list(columns), counts)

    def save(self, folder: Path) -> None:
        (folder / TERMS).write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
        with (folder / COUNTS).open("wb") as f:
            np.savez(
                f,
                ids=self.ids,
                indptr=self.counts.indptr,
                indices=self.counts.indices,
                data=self.counts.data,
            )

    @classmethod
    def load(cls, folder: Path) -> TermCounts:
        terms = json.loads((folder / TERMS).read_text(encoding="utf-8"))
        with np.load(folder / COUNTS, allow_pickle=False) as f:
            ids = f["ids"]
            counts = sparse.csr_matrix(
                (f["data"], f["indices"], f["indptr"]), shape=(len(ids), len(terms))
            )
        return cls(ids, terms, counts)


class LexicalScores:
    """The BM25 score of each passage that shares a stem with a question (others score 0)."""

    def __init__(self, ids: np.ndarray, values: np.ndarray):
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        self.values = values[order]

    def of(self, ids: Sequence[int]) -> np.ndarray:
        """The scores of `ids`, 0 for a passage that matched nothing."""
        wanted = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(self.ids, wanted)
        at = np.minimum(at, max(len(self.ids) - 1, 0))
        found = (len(self.ids) > 0) & (self.ids[at] == wanted) if len(self.ids) else None
        out = np.zeros(len(wanted), dtype=np.float32)
        if found is not None:
            out[found] = self.values[at[found]]
        return out


class BM25Index:
    """BM25 over segments, with the statistics of their live passages.

    Loading a generation costs only its removed passages' postings (document frequencies are
    each segment's, less those of its removed rows); the term-frequency part of a posting is
    computed when a question reads it, with the mean length of the live passages."""

    def __init__(self, segments: Sequence[TermCounts], live: np.ndarray):
        """`live`: the ascending ids of the passages that are not removed."""
        self._segments: list[tuple[TermCounts, np.ndarray, np.ndarray]] = []
        self._n, total = 0, 0.0
        for seg in segments:
            alive = np.isin(seg.ids, live)
            _, lengths, df = seg.postings()
            dead = np.flatnonzero(~alive)
            if len(dead):
                gone = seg.counts[dead]
                df = df - np.bincount(gone.indices, minlength=len(seg.terms))
            self._n += int(alive.sum())
            total += float(lengths[alive].sum())
            self._segments.append((seg, alive, df))
        self._average = total / self._n if self._n else 1.0

    @classmethod
    def build(cls, texts: Sequence[str], languages: Sequence[str]) -> BM25Index:
        """The index of one segment of `texts`, numbered from 0 (for tests and experiments)."""
        ids = np.arange(len(texts), dtype=np.int64)
        counts = TermCounts.build(ids, analyze_passages(texts, languages))
        return cls([counts], ids)

    def __len__(self) -> int:
        return self._n

    def _idf(self, term: str) -> float:
        df = sum(int(df[seg.columns[term]]) for seg, _, df in self._segments if term in seg.columns)
        return math.log(1 + (self._n - df + 0.5) / (df + 0.5)) if df else 0.0

    def scores(self, query: str, extra_terms: Iterable[str] = ()) -> LexicalScores:
        """The BM25 scores of `query`, plus any `extra_terms` (stems, such as the question's
        words translated into the corpus's language)."""
        terms = sorted({*analyze_query(query), *extra_terms})
        ids, values = [], []
        for term in terms:
            idf = self._idf(term)
            if not idf:
                continue
            for seg, alive, _ in self._segments:
                column = seg.columns.get(term)
                if column is None:
                    continue
                postings, lengths, _ = seg.postings()
                start, end = postings.indptr[column], postings.indptr[column + 1]
                rows = postings.indices[start:end]
                keep = alive[rows]
                rows, tf = rows[keep], postings.data[start:end][keep]
                # Lucene's term-frequency part: tf / (tf + k1 (1 - b + b dl / avgdl)).
                norm = K1 * (1 - B + B * lengths[rows] / self._average)
                ids.append(seg.ids[rows])
                values.append(idf * tf / (tf + norm))
        if not ids:  # a question of stop words or symbols: no passage matches it
            return LexicalScores(np.empty(0, np.int64), np.empty(0, np.float32))
        unique, inverse = np.unique(np.concatenate(ids), return_inverse=True)
        summed = np.bincount(inverse, weights=np.concatenate(values)).astype(np.float32)
        return LexicalScores(unique, summed)

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
        ids, values = scored.ids, scored.values
        keep = values > 0
        if allowed is not None:
            keep &= np.isin(ids, np.asarray(allowed, dtype=np.int64))
        ids, values = ids[keep], values[keep]
        k = min(k, len(ids))
        if k == 0:
            return []
        top = np.argpartition(-values, k - 1)[:k]
        top = top[np.lexsort((ids[top], -values[top]))]
        return [(int(ids[i]), float(values[i])) for i in top]


def analyze_passages(texts: Sequence[str], languages: Sequence[str]) -> list[list[str]]:
    return [analyze_passage(t, lang) for t, lang in zip(texts, languages, strict=True)]
