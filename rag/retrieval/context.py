"""A ready-to-paste, size-bounded context block for chatbots that put passages in a prompt.

Each passage is numbered [1], [2], … with its title, date and document id, and a citation list
maps each number to its source and offsets, so that the assistant can cite what it was given.
"""

from __future__ import annotations

from rag.answers import Citation, ContextBlock
from rag.config import MAX_CONTEXT_CHARS as MAX_CHARS
from rag.config import MIN_CONTEXT_CHARS as MIN_CHARS
from rag.errors import InvalidQueryError
from rag.index.loading import Index
from rag.retrieval.search import SearchFilters, search

# What a chatbot is given instead of weak passages, in the question's language.
NO_PASSAGE = {
    "fr": "Aucun passage pertinent : le corpus ne semble pas contenir la réponse à cette question.",
    "en": "No relevant passage: the corpus does not seem to hold the answer to this question.",
}
_ELLIPSIS = "…"
_TITLE_CHARS = 80
_FIRST_PIECE = 20


def _cut(text: str, budget: int) -> str:
    """`text` cut at a word boundary to fit `budget` characters, ellipsis included."""
    if len(text) <= budget:
        return text
    head = text[: max(0, budget - len(_ELLIPSIS))]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip() + _ELLIPSIS


def build_context(
    index: Index,
    query: str,
    k: int = 5,
    mode: str = "hybrid",
    filters: SearchFilters | None = None,
    max_chars: int = 4000,
) -> ContextBlock:
    """The top `k` passages as one numbered text block of at most `max_chars` characters."""
    if isinstance(max_chars, bool) or not MIN_CHARS <= max_chars <= MAX_CHARS:
        raise InvalidQueryError(
            f"max_chars is {max_chars!r}; it must be from {MIN_CHARS} to {MAX_CHARS}"
        )
    response = search(index, query, k, mode, filters, highlight=False)
    if not response.answerable:
        return ContextBlock(
            query=response.query,
            lang=response.lang,
            answerable=False,
            confidence=response.confidence,
            text=NO_PASSAGE[response.lang],
        )
    blocks: list[str] = []
    citations: list[Citation] = []
    used = 0
    truncated = False
    for r in response.results:
        number = len(citations) + 1
        title = _cut(r.title, _TITLE_CHARS)
        header = f"[{number}] {title} ({r.date or 'no date'}, {r.doc_id})\n"
        separator = "\n\n" if blocks else ""
        budget = max_chars - used - len(separator) - len(header)
        # The first passage goes in however little fits; a later one only if a useful piece does.
        if budget < (_FIRST_PIECE if not blocks else min(len(r.text), MIN_CHARS // 2)):
            truncated = True
            break
        body = _cut(r.text, budget)
        truncated = truncated or body != r.text
        blocks.append(separator + header + body)
        used += len(blocks[-1])
        citation = Citation(
            number=number,
            doc_id=r.doc_id,
            title=title,
            date=r.date,
            source=r.source,
            start=r.start,
            end=r.end,
            page=r.page,
        )
        citations.append(citation)
    return ContextBlock(
        query=response.query,
        lang=response.lang,
        confidence=response.confidence,
        text="".join(blocks),
        citations=citations,
        truncated=truncated,
    )
