"""What routes depend on: the loaded index, and the API key when one is set."""

import asyncio
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers

from rag.errors import RagError, WritesDisabledError
from rag.index.live import LiveIndex
from rag.index.loading import Index
from rag.service.problems import UNAVAILABLE

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)

KEY_REFUSED = "missing or wrong API key; send it as X-API-Key or Authorization: Bearer"


def key_matches(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def presented_key(headers: Headers) -> str | None:
    """The API key a request carries, as `X-API-Key` or `Authorization: Bearer <key>`: the one
    reading of both, for the routes and the MCP mount (headers are read as Latin-1, so any
    bytes a client sends are a key that does not match, never an error)."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def live_index(request: Request) -> LiveIndex:
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


async def loaded_index(request: Request) -> Index:
    """The generation of the index that this request answers from, whole."""
    return live_index(request).current


async def require_key(
    request: Request,
    # Declared for the OpenAPI security schemes; the key is read by `presented_key`.
    _key: Annotated[str | None, Depends(_key_header)],
    _auth: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse the request (401) unless it carries the API key, when one is set."""
    expected: str | None = request.app.state.api_key
    if expected is None:
        return
    if not key_matches(presented_key(request.headers), expected):
        raise HTTPException(401, KEY_REFUSED)


def require_writes(request: Request) -> None:
    """Refuse a write (403) unless the server has an API key (which the request then carries)
    or was started with --allow-writes."""
    if request.app.state.api_key is None and not request.app.state.settings.allow_writes:
        raise WritesDisabledError(
            "this server does not accept changes to its index: set RAG_API_KEY (and send the "
            "key), or start it with `rag serve --allow-writes` (RAG_ALLOW_WRITES=true)"
        )


def metrics_enabled(request: Request) -> bool:
    """Whether this app counts its searches in the metrics (`RAG_METRICS`)."""
    return bool(request.app.state.metrics)


IndexDep = Annotated[Index, Depends(loaded_index)]
LiveDep = Annotated[LiveIndex, Depends(live_index)]
RecordDep = Annotated[bool, Depends(metrics_enabled)]
