"""The HTTP API: FastAPI routes over the library, served by uvicorn (`rag serve`).

`create_app` assembles the routers (`rag.service.routes`), the error handlers
(`rag.service.problems`), the API-key check (`rag.service.dependencies`) and the MCP mount. The
index is loaded (or built, when missing) when the app starts, never at import, and in the
background: until it is there, every route that needs it answers 503 at once.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from rag.config import DEFAULT_COLLECTION, Settings
from rag.errors import RagError
from rag.index.live import LiveIndex
from rag.indexing.build import open_or_build_index
from rag.indexing.progress import ProgressLog
from rag.retrieval.search import search
from rag.service import metrics
from rag.service.collections import Collections
from rag.service.dependencies import collection_path, require_key
from rag.service.guard import RequestGuard
from rag.service.keys import KeyRing
from rag.service.mcp import MCPMount, create_mcp_server
from rag.service.problems import add_error_handlers
from rag.service.routes import chatbots, documents, pages, status
from rag.service.routes import collections as collections_routes
from rag.service.routes import metrics as metrics_route
from rag.service.routes import search as search_routes
from rag.service.schemas import EXAMPLES, problems
from rag.version import __version__

log = logging.getLogger("rag.service.app")


def _lifespan(
    settings: Settings,
    mcp_mount: MCPMount,
    on_loaded: Callable[[], None] | None,
    on_failed: Callable[[BaseException], None] | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start loading the index and return at once, so that the server answers while it loads:
    503 `unavailable` (and `/ready` says so) until the index is there, never a request left
    waiting. `on_loaded` is called once it is; `on_failed` with what stopped the load."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        task = asyncio.create_task(_load_and_keep(app, settings, mcp_mount, stopping, on_loaded))

        def settled(done: asyncio.Task[None]) -> None:
            if not done.cancelled() and done.exception() is not None and on_failed:
                on_failed(done.exception())  # type: ignore[arg-type]

        task.add_done_callback(settled)
        app.state.loading = task
        try:
            yield
        finally:
            stopping.set()
            if app.state.index is None:  # stopped while loading: do not wait for the load
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return lifespan


async def _load_and_keep(
    app: FastAPI,
    settings: Settings,
    mcp_mount: MCPMount,
    stopping: asyncio.Event,
    on_loaded: Callable[[], None] | None,
) -> None:
    """Load (or build, when missing) the index, serve it until `stopping`, then let it go."""
    try:
        progress = ProgressLog(lambda line: log.info("building the index: %s", line))
        index = await run_in_threadpool(open_or_build_index, settings, progress)
        # Load the model weights and the language detector now, not in the first request.
        await run_in_threadpool(search, index, EXAMPLES["fr"]["query"], 1)
    except RagError as exc:
        log.error("the index cannot be served: %s", exc)
        raise
    except Exception:
        log.exception("the index cannot be served")
        raise
    live = LiveIndex(
        index, settings, on_change=lambda new: metrics.observe_index(new.manifest, __version__)
    )
    collections = Collections(
        settings, on_change=lambda name, new: metrics.observe_index(new.manifest, __version__, name)
    )
    collections.add_resident(DEFAULT_COLLECTION, live)

    # Listed resources would show the default's titles to keys that may not read it.
    mcp = create_mcp_server(collections.readable, list_documents=not app.state.keys.scoped)
    # Stateless JSON: any worker process can answer any MCP request.
    mcp_app = mcp.streamable_http_app(
        streamable_http_path="/", stateless_http=True, json_response=True
    )
    live.start()
    collections.start()
    try:
        async with mcp.session_manager.run():  # MCP answers only from inside this
            mcp_mount.app = mcp_app
            app.state.collections = collections
            app.state.index = live
            metrics.observe_index(index.manifest, __version__)
            log.info("index loaded from %s (generation %d)", settings.index_dir, index.generation)
            if on_loaded:
                on_loaded()
            await stopping.wait()
    finally:
        mcp_mount.app = None
        app.state.index = None
        collections.close()
        live.stop()


async def wait_until_loaded(app: FastAPI) -> None:
    """Return once the app's index is loaded (its lifespan must be running); raise what stopped
    the load, if anything did. For a caller that runs the app in process."""
    while app.state.index is None:
        if app.state.loading.done():
            app.state.loading.result()  # raises what stopped it
            raise RuntimeError("the app stopped before its index was loaded")
        await asyncio.sleep(0.02)


def create_app(
    settings: Settings | None = None,
    on_loaded: Callable[[], None] | None = None,
    on_failed: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """The app of `settings`. Its lifespan loads the index in the background (see `_lifespan`):
    `on_loaded` is called once it answers searches, `on_failed` if the load fails."""
    settings = settings or Settings()
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    keys = KeyRing(api_key, settings.api_keys)
    mcp_mount = MCPMount(keys)
    # Swagger UI and ReDoc from files in the package, not from a CDN: /docs works offline.
    app = FastAPIOffline(
        title="rag",
        version=__version__,
        summary="Questions in French or English over news articles, answered with passages "
        "and their sources.",
        lifespan=_lifespan(settings, mcp_mount, on_loaded, on_failed),
    )
    app.state.keys = keys
    app.state.api_key = api_key  # the full-access key, for callers of the app in process
    app.state.settings = settings
    app.state.metrics = settings.metrics
    app.state.index = None
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["*"],
        )
    # Added last, so outermost: every answer, CORS refusals included, gets an id.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        max_document_bytes=settings.max_document_bytes,
        log_requests=settings.log_requests,
        metrics=settings.metrics,
        allowed_origins=frozenset(settings.cors_origins),
    )
    add_error_handlers(app)
    # The key check (and its OpenAPI security schemes) only when a key is set.
    keyed = [Depends(require_key)] if keys.keyed else []
    errors = problems(400, *([401] if keys.keyed else []), 404, 413, 422, 500, 503)
    # What a collection answers: the default's at today's paths, any other's under its name.
    scoped = APIRouter()
    for routes in (search_routes, chatbots, documents):
        scoped.include_router(routes.router)
    scoped.include_router(documents.writes)
    protected = APIRouter(dependencies=keyed, responses=errors)
    protected.include_router(scoped)
    protected.include_router(status.router)
    protected.include_router(collections_routes.router)
    protected.include_router(
        scoped, prefix="/collections/{collection}", dependencies=[Depends(collection_path)]
    )
    if settings.metrics and not settings.metrics_public:
        protected.include_router(metrics_route.router)
    app.include_router(protected)
    app.include_router(status.public, responses=problems(400, 500))
    if settings.metrics and settings.metrics_public:
        app.include_router(metrics_route.router, responses=problems(400, 500))
    app.include_router(pages.router)
    app.mount("/static", pages.assets)
    app.mount("/mcp", mcp_mount)
    return app
