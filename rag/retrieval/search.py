"""Answering a question with ranked passages and their sources: dense, BM25 or hybrid.

A search checks the question, reads the filters, embeds the question once, lets the mode's
fusion rank it (`FUSIONS`: the retrievers of `rag.retrieval.retrievers`, combined as
`rag.retrieval.fusion` says), then drops repeats and adds highlights and the "no answer"
verdict."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

from rag.answers import SearchResponse, SearchResult
from rag.config import SEARCH_MODES
from rag.errors import InvalidQueryError
from rag.index.loading import Index
from rag.index.store import StoredPassage
from rag.ingest.cleaning import normalize_text
from rag.ingest.dates import parse_date
from rag.ingest.language import detect_language
from rag.retrieval.fusion import Alone, Convex, Fusion, ReciprocalRanks
from rag.retrieval.highlights import highlights
from rag.retrieval.no_answer import answerability, is_calibrated
from rag.retrieval.retrievers import Dense, Lexical, Question


@dataclass(frozen=True)
class SearchFilters:
    doc_ids: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, object] | None) -> SearchFilters | None:
        """The filters that loose values give (a JSON object, a tool's arguments, command-line
        options), None when they set none; InvalidQueryError for a key or a value that is not
        one of these."""
        if not values:
            return None
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in values if key not in allowed)
        if unknown:
            raise InvalidQueryError(
                f"unknown filter {', '.join(map(repr, unknown))}; filters are {', '.join(allowed)}"
            )
        doc_ids = values.get("doc_ids")
        if doc_ids is not None and (
            isinstance(doc_ids, str)
            or not isinstance(doc_ids, Sequence)
            or not all(isinstance(d, str) for d in doc_ids)
        ):
            raise InvalidQueryError(f"doc_ids is {doc_ids!r}; it must be a list of document ids")
        dates: dict[str, str | None] = {}
        for key in ("date_from", "date_to"):
            value = values.get(key)
            if not (value is None or isinstance(value, str)):
                raise InvalidQueryError(f"{key} is {value!r}; it must be a date such as 2021-09-09")
            dates[key] = value
        ids = list(doc_ids) if doc_ids is not None else None
        filters = cls(ids, dates["date_from"], dates["date_to"])
        return None if filters.is_empty else filters

    @property
    def is_empty(self) -> bool:
        return self.doc_ids is None and self.date_from is None and self.date_to is None


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
    if filters is None or filters.is_empty:
        return None
    if filters.doc_ids is not None:
        unknown = sorted(set(filters.doc_ids) - index.store.document_ids())
        if unknown:
            raise InvalidQueryError(
                f"unknown document ids in the filter: {unknown}; `rag documents` or GET /documents "
                "lists the ids"
            )
    try:
        date_from = parse_date(filters.date_from) if filters.date_from else None
        date_to = parse_date(filters.date_to) if filters.date_to else None
    except ValueError as exc:
        raise InvalidQueryError(f"bad date filter: {exc}") from exc
    if date_from and date_to and date_from > date_to:
        raise InvalidQueryError(f"date_from {date_from} is after date_to {date_to}")
    return index.store.passage_ids(filters.doc_ids, date_from, date_to)


def _hybrid(question: Question) -> Fusion:
    settings = question.index.settings
    dense = Dense(question)
    lexical = Lexical(question, translate=settings.translate_questions)
    if settings.fusion == "rrf":
        return ReciprocalRanks([dense, lexical], k=settings.rrf_k)
    return Convex(dense, lexical, settings.bm25_weight, settings.cross_language_bm25_factor)


# How each search mode (`SEARCH_MODES`) ranks a question.
FUSIONS: dict[str, Callable[[Question], Fusion]] = {
    "dense": lambda question: Alone(Dense(question)),
    "bm25": lambda question: Alone(Lexical(question, translate=False)),
    "hybrid": _hybrid,
}


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
    question = Question(index, query, vector, language, allowed, n)
    ranked = FUSIONS[mode](question).rank(question) if allowed != [] else []
    passages = question.passages
    kept = without_overlaps(in_text_order(ranked, passages), passages, k)
    answerable, confidence = answerability(index, vector, kept[0][0] if kept else None, language)
    # No sentence is shown as the answer to a question the index probably does not answer.
    highlight = highlight and answerable
    sentences = question.sentence_scores([p.id for p, _ in kept]) if highlight else {}
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
            page=p.page,
            text=p.text,
            highlights=highlights(sentences.get(p.id, []), p.start, p.text, margin, p.title)
            if highlight
            else [],
        )
        for rank, (p, score) in enumerate(kept, start=1)
    ]
    return SearchResponse(
        query=query,
        lang=language,
        mode=mode,
        answerable=answerable,
        confidence=confidence,
        results=results,
    )
