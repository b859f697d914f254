"""`/search`: ranked passages for a question, by query string or JSON body."""

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from rag.config import MAX_K, MAX_QUERY_CHARS, SearchMode
from rag.index.loading import Index
from rag.retrieval.search import SearchFilters, search
from rag.service import metrics
from rag.service.dependencies import IndexDep, RecordDep
from rag.service.schemas import (
    EXAMPLES,
    DateBound,
    DocId,
    Filters,
    SearchAnswer,
    SearchRequest,
)

router = APIRouter(tags=["search"])


def filters_of(body: SearchRequest) -> SearchFilters | None:
    return SearchFilters.of(body.filters.model_dump() if body.filters else None)


def answer(index: Index, body: SearchRequest, record: str | None) -> SearchAnswer:
    started = time.perf_counter()
    response = search(index, body.query, body.k, body.mode, filters_of(body))
    seconds = time.perf_counter() - started
    if record is not None:  # the collection's name
        metrics.observe_search(body.mode, seconds, len(response.results), record)
    return SearchAnswer(**dict(response), took_ms=round(seconds * 1000, 3))


SEARCH_PARAMETERS = ("q", "k", "mode", "doc_id", "date_from", "date_to")


def known_parameters(request: Request) -> None:
    """Refuse a query parameter `GET /search` does not take, as `POST /search` refuses an
    unknown field: a misspelt filter (`date_form`) would otherwise widen the search unseen."""
    unknown = sorted(set(request.query_params) - set(SEARCH_PARAMETERS))
    if unknown:
        allowed = ", ".join(SEARCH_PARAMETERS)
        raise RequestValidationError(
            [
                {"loc": ("query", name), "type": "extra_forbidden",
                 "msg": f"unknown parameter; /search takes {allowed}"}
                for name in unknown
            ]
        )  # fmt: skip


# A search runs in the thread pool, never on the event loop: a long question costs the encoder
# seconds (README, "Reliability"), and `/health` and every other request of the worker must go
# on meanwhile. The encoders release the GIL while they compute.
@router.get("/search", response_model=SearchAnswer, dependencies=[Depends(known_parameters)])
async def search_get(
    index: IndexDep,
    record: RecordDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description="the question, in French or English",
            openapi_examples={
                "fr": {"value": EXAMPLES["fr"]["query"]},
                "en": {"value": EXAMPLES["en"]["query"]},
            },
        ),
    ],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    mode: SearchMode = "hybrid",
    # At most 20 ids, so that the longest URL stays under the server's 64 KB: POST takes more.
    doc_id: Annotated[
        list[DocId] | None,
        Query(max_length=20, description="only these documents (repeatable, at most 20)"),
    ] = None,
    date_from: Annotated[DateBound | None, Query()] = None,
    date_to: Annotated[DateBound | None, Query()] = None,
) -> SearchAnswer:
    """Ranked passages for the question `q`, with their sources."""
    filters = Filters(doc_ids=doc_id, date_from=date_from, date_to=date_to)
    body = SearchRequest(query=q, k=k, mode=mode, filters=filters)
    return await run_in_threadpool(answer, index, body, record)


@router.post("/search", response_model=SearchAnswer)
async def search_post(index: IndexDep, body: SearchRequest, record: RecordDep) -> SearchAnswer:
    """Ranked passages for `query`, with their sources, optionally filtered."""
    return await run_in_threadpool(answer, index, body, record)
