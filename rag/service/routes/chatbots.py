"""For chatbots: `/context` (passages as a prompt-ready block) and `/tool-schema`."""

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from rag.answers import ContextBlock
from rag.retrieval.context import build_context
from rag.service.dependencies import IndexDep, collection_of
from rag.service.routes.search import filters_of
from rag.service.schemas import ContextRequest, search_tool_definition

router = APIRouter(tags=["chatbots"])


@router.post("/context", response_model=ContextBlock)
async def context(index: IndexDep, body: ContextRequest) -> ContextBlock:
    """The top passages as one numbered, size-bounded text block, with its citations."""
    return await run_in_threadpool(
        build_context, index, body.query, body.k, body.mode, filters_of(body), body.max_chars
    )


# The same for every collection, but a key that may not read the collection gets a 404 here
# too, as on every route of a collection.
@router.get("/tool-schema", dependencies=[Depends(collection_of)])
async def tool_schema() -> dict[str, Any]:
    """An OpenAI-compatible tool definition of `search`, for function-calling assistants."""
    return search_tool_definition()
