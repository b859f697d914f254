"""Answering a question with ranked passages and their sources: dense, BM25 or hybrid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answers import SearchResponse, SearchResult
from rag.config import SEARCH_MODES
from rag.errors import InvalidQueryError
from rag.index.loading import Index
from rag.index.store import StoredPassage
from rag.ingest.cleaning import normalize_text
from rag.ingest.dates import parse_date
from rag.ingest.language import detect_language
from rag.retrieval.fusion import convex_fusion, reciprocal_rank_fusion, with_document_context
from rag.retrieval.highlights import SentenceScores, highlights, pool, score_sentences
from rag.retrieval.no_answer import answerability, is_calibrated


@dataclass(frozen=True)
class SearchFilters:
    doc_ids: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None


def validate_query(index: Index, query: str, k: int, mode: str) -> str:
    """The question, normalised as documents are; raises InvalidQueryError saying what is
    allowed."""
    settings = index.settings
    if not isinstance(query, str) or not query.strip():
        raise InvalidQueryError(
            "the question is empty; ask something, e.g. 'Qui est le maire de Hangzhou ?'"
        )
    if len(query) > settings.max_query_chars:
        raise InvalidQueryError(
            f"the question has {len(query)} characters; at most {settings.max_query_chars} "
            "are allowed, so shorten it"
        )
    # As documents are at ingestion (NFKC, one space between words), before anything reads it.
    normalized = normalize_text(query)
    if len(normalized) > settings.max_query_chars:
        raise InvalidQueryError(
            f"the question has {len(normalized)} characters once normalised (NFKC expands "
            f"some characters, such as ligatures); at most {settings.max_query_chars} are "
            "allowed, so shorten it"
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= settings.max_k:
        raise InvalidQueryError(f"k is {k!r}; it must be a whole number from 1 to {settings.max_k}")
    if mode not in SEARCH_MODES:
        raise InvalidQueryError(f"unknown mode {mode!r}; valid modes: {', '.join(SEARCH_MODES)}")
    return normalized


def allowed_passages(index: Index, filters: SearchFilters | None) -> list[int] | None:
    """The passage ids the filters allow, or None when nothing is filtered."""
    if filters is None or (
        filters.doc_ids is None and filters.date_from is None and filters.date_to is None
    ):
        return None
    if filters.doc_ids is not None:
        unknown = sorted(set(filters.doc_ids) - index.store.document_ids())
        if unknown:
            raise InvalidQueryError(
                f"unknown document ids in the filter: {unknown}; list the documents to see ids"
            )
    try:
        date_from = parse_date(filters.date_from) if filters.date_from else None
        date_to = parse_date(filters.date_to) if filters.date_to else None
    except ValueError as exc:
        raise InvalidQueryError(f"bad date filter: {exc}") from exc
    if date_from and date_to and date_from > date_to:
        raise InvalidQueryError(f"date_from {date_from} is after date_to {date_to}")
    return index.store.passage_ids(filters.doc_ids, date_from, date_to)


def _rank(
    index: Index,
    query: str,
    vector: np.ndarray | None,
    mode: str,
    n: int,
    allowed: list[int] | None,
    language: str,
) -> tuple[list[tuple[int, float]], SentenceScores, dict[int, StoredPassage]]:
    """Ranked (passage id, score), with the sentence scores and stored passages read on the
    way (the caller reads the ones still missing)."""
    if allowed is not None and not allowed:
        return [], {}, {}
    settings = index.settings
    context = settings.document_weight
    if mode == "bm25" or vector is None:
        lexical = index.bm25.search(query, n, allowed)
        passages = index.store.passages([pid for pid, _ in lexical])
        lexical = _found(lexical, passages)
        return with_document_context(lexical, _documents(passages), context), {}, passages
    weight_of_sentences = settings.sentence_weight
    dense = index.vectors.search(vector, n, allowed)
    if mode == "dense":
        scored: SentenceScores = {}
        if weight_of_sentences:
            scored = score_sentences(index, vector, [pid for pid, _ in dense])
            dense = pool(dense, scored, weight_of_sentences)
        passages = index.store.passages([pid for pid, _ in dense])
        dense = _found(dense, passages)
        return with_document_context(dense, _documents(passages), context), scored, passages
    translated: list[str] = []
    if settings.translate_questions:
        translated = index.lexicon.translate(
            query,
            language,
            index.embedder,
            settings.translation_min_similarity,
            settings.translation_neighbours,
        )
    lexical_scores = index.bm25.scores(query, translated)
    lexical = index.bm25.search(lexical_scores, n, allowed)
    union = sorted({pid for pid, _ in dense} | {pid for pid, _ in lexical})
    passages = index.store.passages(union)
    union = [pid for pid in union if pid in passages]
    dense, lexical = _found(dense, passages), _found(lexical, passages)
    document_of = _documents(passages)
    if settings.fusion == "rrf":
        rankings = [
            with_document_context(dense, document_of, context),
            with_document_context(lexical, document_of, context),
        ]
        return reciprocal_rank_fusion(rankings, k=settings.rrf_k), {}, passages
    # Score every candidate of either list with both retrievers, so that a passage found by
    # one of them is not taken for a zero by the other.
    dense_all = list(zip(union, index.vectors.scores(vector, union).tolist(), strict=True))
    sentences: SentenceScores = {}
    if weight_of_sentences:
        sentences = score_sentences(index, vector, union)
        dense_all = pool(dense_all, sentences, weight_of_sentences)
    lexical_all = list(zip(union, lexical_scores.of(union).tolist(), strict=True))
    same = settings.bm25_weight
    other = same * settings.cross_language_bm25_factor

    def weight(pid: int) -> float:
        return same if passages[pid].language == language else other

    return (
        convex_fusion(
            with_document_context(dense_all, document_of, context),
            with_document_context(lexical_all, document_of, context),
            weight,
        ),
        sentences,
        passages,
    )


def _found(
    hits: list[tuple[int, float]], passages: dict[int, StoredPassage]
) -> list[tuple[int, float]]:
    """`hits` but those the store no longer has: the store sees changes committed after the
    segments were loaded, so a passage removed since is left out."""
    return [hit for hit in hits if hit[0] in passages]


def _documents(passages: dict[int, StoredPassage]) -> dict[int, str]:
    """The document id of each passage, for `document_weight`."""
    return {pid: p.doc_id for pid, p in passages.items()}


def in_text_order(
    ranked: Sequence[tuple[int, float]], passages: dict[int, StoredPassage]
) -> list[tuple[int, float]]:
    """`ranked` with ties (to 6 decimals, as answers show scores) in document and text order,
    not in the order the passages were added: an index changed in place ranks as one built
    from nothing."""

    def key(hit: tuple[int, float]) -> tuple[float, str, int]:
        p = passages[hit[0]]
        return -round(hit[1], 6), p.doc_id, p.start

    return sorted(ranked, key=key)


def without_overlaps(
    ranked: Sequence[tuple[int, float]], passages: dict[int, StoredPassage], k: int
) -> list[tuple[StoredPassage, float]]:
    """The first `k` passages of `ranked`, skipping any that repeats a better one: shares more
    than half of the shorter one's text with it. Neighbours that share only their overlap
    both stay, since the answer may be in either."""
    kept: list[tuple[StoredPassage, float]] = []
    for pid, score in ranked:
        p = passages[pid]
        if any(_repeats(p, q) for q, _ in kept):
            continue
        kept.append((p, score))
        if len(kept) == k:
            break
    return kept


def _repeats(a: StoredPassage, b: StoredPassage) -> bool:
    shared = min(a.end, b.end) - max(a.start, b.start)
    return a.doc_id == b.doc_id and 2 * shared > min(a.end - a.start, b.end - b.start)


def search(
    index: Index,
    query: str,
    k: int = 5,
    mode: str = "hybrid",
    filters: SearchFilters | None = None,
    highlight: bool = True,
) -> SearchResponse:
    """The `k` best passages for `query`, best first, with their sources and highlights."""
    query = validate_query(index, query, k, mode)
    allowed = allowed_passages(index, filters)
    n = max(index.settings.candidates, 3 * k)
    language = detect_language(query)
    needs_vector = mode != "bm25" or highlight or is_calibrated(index)
    vector = index.embedder.encode_queries([query])[0] if needs_vector else None
    ranked, sentences, passages = _rank(index, query, vector, mode, n, allowed, language)
    passages.update(index.store.passages([pid for pid, _ in ranked if pid not in passages]))
    ranked = in_text_order(_found(ranked, passages), passages)
    kept = without_overlaps(ranked, passages, k)
    if highlight and vector is not None:
        missing = [p.id for p, _ in kept if p.id not in sentences]
        sentences.update(score_sentences(index, vector, missing))
    margin = index.settings.highlight_margin
    results = [
        SearchResult(
            rank=rank,
            score=round(score, 6),
            doc_id=p.doc_id,
            title=p.title,
            date=p.date,
            source=p.source,
            start=p.start,
            end=p.end,
            text=p.text,
            highlights=highlights(sentences.get(p.id, []), p.start, p.text, margin)
            if highlight
            else [],
        )
        for rank, (p, score) in enumerate(kept, start=1)
    ]
    answerable, confidence = answerability(index, vector, kept[0][0] if kept else None, language)
    return SearchResponse(
        query=query,
        lang=language,
        mode=mode,
        answerable=answerable,
        confidence=confidence,
        results=results,
    )
