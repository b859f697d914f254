"""The HTTP API: FastAPI routes over the library, served by uvicorn (`rag serve`).

Each route parses its input, calls one library function and shapes the answer. Domain errors
become 4xx answers with a JSON body `{"error": ..., "detail": ...}`; the index is loaded (or
built, when missing) in the app's lifespan, never at import.
"""

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag import __version__
from rag.config import Settings
from rag.context import build_context
from rag.errors import DocumentNotFoundError, InvalidQueryError, RagError
from rag.index import Index, open_or_build_index
from rag.mcp_server import create_mcp_server
from rag.schemas import (
    EXAMPLES,
    MAX_K,
    MAX_QUERY_CHARS,
    ContextAnswer,
    ContextRequest,
    DocumentInfo,
    DocumentText,
    Filters,
    Mode,
    Problem,
    Result,
    SearchAnswer,
    SearchRequest,
    search_tool_definition,
)
from rag.search import SearchFilters, search

log = logging.getLogger("rag.api")
access_log = logging.getLogger("rag.access")


def _problem(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


class AccessLog:
    """Pure ASGI middleware: one JSON log line per request, with its `took_ms`."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "took_ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    )
                )


async def _index(request: Request) -> Index:
    index: Index | None = getattr(request.app.state, "index", None)
    if index is None:
        raise HTTPException(503, "the index is still loading; try again shortly")
    return index


def _key_matches(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def _filters(body: SearchRequest) -> SearchFilters | None:
    f = body.filters
    return SearchFilters(f.doc_ids, f.date_from, f.date_to) if f else None


class LateASGIApp:
    """An ASGI app that is set after start-up (the MCP server needs the loaded index), behind
    the same API key as the routes."""

    def __init__(self, api_key: str | None) -> None:
        self.app: Callable[..., Awaitable[None]] | None = None
        self._api_key = api_key

    def _authorized(self, scope: MutableMapping[str, Any]) -> bool:
        if self._api_key is None:
            return True
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        return _key_matches(given, self._api_key)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            response = _problem(
                401, "unauthorized", "missing or wrong API key; send it as X-API-Key"
            )
            await response(scope, receive, send)
            return
        if self.app is None:
            response = _problem(503, "unavailable", "the index is still loading; try again shortly")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    expected_key = settings.api_key.get_secret_value() if settings.api_key else None
    mcp_app = LateASGIApp(expected_key)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    async def require_key(
        key: Annotated[str | None, Depends(key_header)],
        auth: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if expected_key is None:
            return
        if not _key_matches(key or (auth.credentials if auth else None), expected_key):
            raise HTTPException(
                401, "missing or wrong API key; send it as X-API-Key or Authorization: Bearer"
            )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def progress(stage: str, done: int, total: int) -> None:
            if total and (done == total or done % max(1, total // 10) == 0):
                log.info("building the index: %s %d/%d", stage, done, total)

        index = await run_in_threadpool(open_or_build_index, settings, progress)
        # Load the model weights and the language detector now, not in the first request.
        await run_in_threadpool(search, index, EXAMPLES["fr"]["query"], 1)
        mcp = create_mcp_server(index)
        # Stateless JSON: any worker process can answer any MCP request.
        mcp_app.app = mcp.streamable_http_app(
            streamable_http_path="/", stateless_http=True, json_response=True
        )
        app.state.index = index
        log.info("index loaded from %s", settings.index_dir)
        async with mcp.session_manager.run():
            yield
        app.state.index = None

    app = FastAPI(
        title="rag",
        version=__version__,
        summary="Questions in French or English over news articles, answered with passages "
        "and their sources.",
        lifespan=lifespan,
    )
    api = APIRouter(dependencies=[Depends(require_key)])
    if settings.log_requests:
        app.add_middleware(AccessLog)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )

    @app.exception_handler(InvalidQueryError)
    async def invalid_query(request: Request, exc: InvalidQueryError) -> JSONResponse:
        return _problem(422, "invalid_query", str(exc))

    @app.exception_handler(DocumentNotFoundError)
    async def not_found(request: Request, exc: DocumentNotFoundError) -> JSONResponse:
        return _problem(404, "not_found", str(exc))

    @app.exception_handler(RagError)
    async def service_error(request: Request, exc: RagError) -> JSONResponse:
        return _problem(503, "unavailable", str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return _problem(422, "invalid_request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
        response = _problem(exc.status_code, kind.get(exc.status_code, "error"), str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    def answer(index: Index, body: SearchRequest) -> SearchAnswer:
        started = time.perf_counter()
        response = search(index, body.query, body.k, body.mode, _filters(body))
        return SearchAnswer(
            query=response.query,
            lang="en" if response.lang == "en" else "fr",
            mode=body.mode,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
            results=[Result.model_validate(r, from_attributes=True) for r in response.results],
        )

    # Search routes run on the event loop: a search is a few milliseconds of CPU, and a thread
    # hop per request costs more than it gives. `rag serve` runs one worker process per core.
    @api.get("/search", response_model=SearchAnswer, tags=["search"])
    async def search_get(
        index: Annotated[Index, Depends(_index)],
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
        mode: Mode = "hybrid",
        doc_id: Annotated[list[str] | None, Query(description="repeatable")] = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> SearchAnswer:
        """Ranked passages for the question `q`, with their sources."""
        filters = Filters(doc_ids=doc_id, date_from=date_from, date_to=date_to)
        return answer(index, SearchRequest(query=q, k=k, mode=mode, filters=filters))

    @api.post("/search", response_model=SearchAnswer, tags=["search"])
    async def search_post(
        index: Annotated[Index, Depends(_index)], body: SearchRequest
    ) -> SearchAnswer:
        """Ranked passages for `query`, with their sources, optionally filtered."""
        return answer(index, body)

    @api.post("/context", response_model=ContextAnswer, tags=["chatbots"])
    async def context(
        index: Annotated[Index, Depends(_index)], body: ContextRequest
    ) -> ContextAnswer:
        """The top passages as one numbered, size-bounded text block, with its citations."""
        block = build_context(index, body.query, body.k, body.mode, _filters(body), body.max_chars)
        return ContextAnswer.model_validate(block, from_attributes=True)

    @api.get("/tool-schema", tags=["chatbots"])
    async def tool_schema() -> dict[str, Any]:
        """An OpenAI-compatible tool definition of `search`, for function-calling assistants."""
        return search_tool_definition()

    @api.get("/documents", response_model=list[DocumentInfo], tags=["documents"])
    def documents(index: Annotated[Index, Depends(_index)]) -> list[DocumentInfo]:
        """Every document: id, title, date and number of passages."""
        summaries = index.store.documents()
        return [DocumentInfo.model_validate(d, from_attributes=True) for d in summaries]

    @api.get(
        "/documents/{doc_id}",
        response_model=DocumentText,
        responses={404: {"model": Problem}},
        tags=["documents"],
    )
    def document(doc_id: str, index: Annotated[Index, Depends(_index)]) -> DocumentText:
        """A document's metadata and full stored text, to show a passage in context."""
        doc = index.store.document(doc_id)
        if doc is None:
            raise DocumentNotFoundError(
                f"no document with id {doc_id!r}; GET /documents lists them"
            )
        passages = len(index.store.passage_ids(doc_ids=[doc_id]))
        return DocumentText(**doc.__dict__, passages=passages)

    @app.get("/health", tags=["status"])
    async def health() -> dict[str, str]:
        """Whether the server is alive."""
        return {"status": "ok"}

    @api.get("/ready", tags=["status"], responses={503: {"model": Problem}})
    async def ready(request: Request) -> dict[str, Any]:
        """Whether the index is loaded, with its manifest."""
        index = await _index(request)
        m = index.manifest
        return {
            "status": "ready",
            "embedder": m.embedder.name,
            "passages": m.passages,
            "documents": m.documents,
            "built_at": m.built_at,
            "manifest": m.model_dump(),
        }

    app.include_router(api)
    app.mount("/mcp", mcp_app)
    return app
