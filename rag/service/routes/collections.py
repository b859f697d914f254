"""`/collections`: the collections the caller's key may read; create and delete one."""

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from rag.answers import CollectionSummary
from rag.config import DEFAULT_COLLECTION, DEFAULT_EMBEDDER
from rag.errors import CollectionConflictError, CollectionNotFoundError
from rag.indexing.collections import (
    DEFAULT_KEPT,
    collection_names,
    create_collection,
    delete_collection,
    summary,
)
from rag.service.dependencies import (
    access_of,
    collection_of,
    collection_path,
    collections_of,
    require_writes,
)
from rag.service.schemas import problems

router = APIRouter(tags=["collections"])


class NewCollection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedder: Literal["use-m3", "e5-small"] | None = Field(
        None, description="the encoder of its passages; none: the server's (RAG_EMBEDDER)"
    )


@router.get("/collections", response_model=list[CollectionSummary])
def list_collections(request: Request) -> list[CollectionSummary]:
    """The collections the request's key may read, with their sizes and embedders."""
    access = access_of(request)
    settings = request.app.state.settings
    listed = []
    for name in collection_names(settings):
        if access.reads(name):
            try:
                listed.append(summary(settings, name))
            except CollectionNotFoundError:
                continue  # deleted since it was listed
    return listed


@router.put(
    "/collections/{collection}",
    response_model=CollectionSummary,
    status_code=201,
    dependencies=[Depends(collection_path), Depends(require_writes)],
    responses={
        **problems(403, 404, 409, 422),
        200: {"description": "It exists", "model": CollectionSummary},
    },
)
async def put_collection(
    request: Request,
    response: Response,
    body: Annotated[NewCollection | None, Body()] = None,
) -> CollectionSummary:
    """Create the collection, empty (201), or answer 200 if it exists with that embedder."""
    name = collection_of(request)
    settings = request.app.state.settings
    collections = collections_of(request)
    wanted = body.embedder if body else None
    if name == DEFAULT_COLLECTION:
        created = False
    else:
        model = wanted or settings.embedder or DEFAULT_EMBEDDER
        embedder = await run_in_threadpool(collections.embedder, model)  # loaded once
        created = await run_in_threadpool(create_collection, settings, name, embedder)
    found = await run_in_threadpool(summary, settings, name)
    if wanted and found.embedder != wanted:
        raise CollectionConflictError(
            f"the collection {name!r} exists with embedder {found.embedder!r}, not {wanted!r}; "
            "delete it first, or give another name"
        )
    if not created:
        response.status_code = 200
    return found


@router.delete(
    "/collections/{collection}",
    response_model=CollectionSummary,
    dependencies=[Depends(collection_path), Depends(require_writes)],
    responses=problems(403, 404, 409, 422),
)
async def remove_collection(request: Request) -> CollectionSummary:
    """Delete the collection and its documents, once the changes in progress ended (409 if
    they last over RAG_WRITE_TIMEOUT). `default` cannot be deleted."""
    name = collection_of(request)
    settings = request.app.state.settings
    collections = collections_of(request)
    if name == DEFAULT_COLLECTION:
        raise CollectionConflictError(DEFAULT_KEPT)
    gone = await run_in_threadpool(summary, settings, name)
    await run_in_threadpool(delete_collection, settings, name)
    collections.forget(name)
    return gone
