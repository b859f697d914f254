"""What routes depend on: the collection a request names, loaded, and what its key may do."""

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers

from rag.config import (
    COLLECTION_NAME_PATTERN,
    COLLECTION_NAME_RULE,
    DEFAULT_COLLECTION,
)
from rag.errors import (
    AccessDeniedError,
    RagError,
    WritesDisabledError,
)
from rag.index.live import LiveIndex
from rag.index.loading import Index
from rag.service.collections import Collections
from rag.service.keys import OPEN, Access, KeyRing
from rag.service.problems import UNAVAILABLE

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)

KEY_REFUSED = "missing or wrong API key; send it as X-API-Key or Authorization: Bearer"


def presented_key(headers: Headers) -> str | None:
    """The API key a request carries, as `X-API-Key` or `Authorization: Bearer <key>`: the one
    reading of both, for the routes and the MCP mount (headers are read as Latin-1, so any
    bytes a client sends are a key that does not match, never an error)."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def _default_index(request: Request) -> LiveIndex:
    """The index the app loaded, kept at its latest generation; 503 until it is there, with
    the reason when it cannot be loaded."""
    live: LiveIndex | None = getattr(request.app.state, "index", None)
    if live is None:
        loading: asyncio.Task[None] | None = getattr(request.app.state, "loading", None)
        if loading is None or not loading.done() or loading.cancelled():
            raise HTTPException(503, UNAVAILABLE, headers={"Retry-After": "1"})
        exc = loading.exception()
        if isinstance(exc, RagError):
            raise HTTPException(503, f"the index cannot be served: {exc}")
        raise HTTPException(503, "the index cannot be served; the server's log says why")
    return live


def access_of(request: Request) -> Access:
    """What the request's key may do (set by `require_key`; everything when no key is set)."""
    return getattr(request.state, "access", OPEN)


def collection_of(request: Request) -> str:
    """The collection a request names (`/collections/{collection}/...`), `default` otherwise;
    404 if the caller's key may not read it, as if it did not exist."""
    return access_of(request).readable(request.path_params.get("collection", DEFAULT_COLLECTION))


def collection_path(
    request: Request,
    collection: Annotated[
        str,
        Path(
            pattern=COLLECTION_NAME_PATTERN,
            description=COLLECTION_NAME_RULE,
            examples=["villes"],
        ),
    ],
) -> None:
    """`/collections/{collection}` for the routes under it: declared (OpenAPI, and a 422 that
    states the rule), then a 404 before anything else if the key may not read it."""
    collection_of(request)


def collections_of(request: Request) -> Collections:
    """The collections the worker serves; 503 until the default is loaded."""
    _default_index(request)
    collections: Collections = request.app.state.collections
    return collections


async def live_index(request: Request) -> LiveIndex:
    """The collection the request names, kept at its latest generation: `default` is loaded
    at start (503 until then); another is loaded on its first request."""
    name = collection_of(request)
    default = _default_index(request)
    if name == DEFAULT_COLLECTION:
        return default
    collections: Collections = request.app.state.collections
    live = collections.loaded(name)
    if live is None:
        live = await run_in_threadpool(collections.open, name)
    return live


async def loaded_index(request: Request) -> Index:
    """The generation of the index that this request answers from, whole."""
    return (await live_index(request)).current


async def require_key(
    request: Request,
    # Declared for the OpenAPI security schemes; the key is read by `presented_key`.
    _key: Annotated[str | None, Depends(_key_header)],
    _auth: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse the request (401) unless it carries a key the server knows, when keys are set;
    keep what the key may do for the routes (`access_of`)."""
    keys: KeyRing = request.app.state.keys
    access = keys.access(presented_key(request.headers))
    if access is None:
        raise HTTPException(401, KEY_REFUSED)
    request.state.access = access


def require_writes(request: Request) -> None:
    """Refuse a write (403) unless the server has keys (and the request's key may write) or
    was started with --allow-writes. A collection the key may not read is a 404 first, as on
    its other routes."""
    collection_of(request)
    access = access_of(request)
    if access is OPEN:
        if not request.app.state.settings.allow_writes:
            raise WritesDisabledError(
                "this server does not accept changes to its index: set RAG_API_KEY (and send "
                "the key), or start it with `rag serve --allow-writes` (RAG_ALLOW_WRITES=true)"
            )
    elif not access.write:
        raise AccessDeniedError(
            f"the key {access.key!r} may read but not change its collections; use a key with "
            '"write": true (RAG_API_KEYS)'
        )


def metrics_enabled(request: Request) -> str | None:
    """The collection to count this request's search under in the metrics (`RAG_METRICS`),
    or None when they are off."""
    return collection_of(request) if request.app.state.metrics else None


IndexDep = Annotated[Index, Depends(loaded_index)]
LiveDep = Annotated[LiveIndex, Depends(live_index)]
RecordDep = Annotated[str | None, Depends(metrics_enabled)]
