"""The service as an MCP server (official `mcp` SDK): a `search` tool and a resource per document.

`rag mcp` serves it over stdio; `rag serve` also mounts it over streamable HTTP at `/mcp/`.
A question the service refuses comes back as a tool error that says why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource
from starlette.datastructures import Headers

from rag.config import DEFAULT_COLLECTION
from rag.errors import RagError
from rag.index.loading import Index
from rag.retrieval.context import NO_PASSAGE
from rag.retrieval.search import SearchFilters, search
from rag.service.dependencies import KEY_REFUSED, presented_key
from rag.service.keys import OPEN, Access, KeyRing
from rag.service.problems import UNAVAILABLE, problem

DOCUMENT_URI = "rag://documents/{doc_id}"
COLLECTION_DOCUMENT_URI = "rag://collections/{collection}/documents/{doc_id}"

# What the key of the MCP request being answered may do: set by `MCPMount`, read by the tools.
ACCESS: ContextVar[Access] = ContextVar("mcp_access", default=OPEN)


def create_mcp_server(
    open_collection: Callable[[str, Access], Index], list_documents: bool = True
) -> MCPServer:
    """The MCP server over the collections `open_collection(name, access)` gives (each at its
    latest generation; CollectionNotFoundError for one the access may not read). With
    `list_documents`, the default collection's documents are listed as resources too."""

    def current(collection: str = DEFAULT_COLLECTION) -> Index:
        return open_collection(collection, ACCESS.get())

    server: MCPServer = MCPServer(
        name="rag",
        instructions=(
            "Search news articles about cities, digital transition and city diplomacy, mostly "
            "in French, with questions in French or English. Cite passages by doc_id and offsets."
        ),
    )

    @server.tool(
        name="search",
        description=(
            "Ranked passages that answer a question (French or English), each with its source: "
            "doc_id, title, date, start/end offsets in the document text, the page (for PDFs) "
            "and highlights. "
            "When `answerable` is false the corpus does not hold the answer: there are no "
            "results and `message` says so. `collection` names the knowledge base searched "
            "('default' unless told otherwise)."
        ),
    )
    def search_tool(
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        doc_ids: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        collection: str = DEFAULT_COLLECTION,
    ) -> dict[str, Any]:
        try:
            filters = SearchFilters.of(
                {"doc_ids": doc_ids, "date_from": date_from, "date_to": date_to}
            )
            response = search(current(collection), question, k, mode, filters)
        except RagError as exc:
            raise ToolError(str(exc)) from exc
        if not response.answerable:  # weak passages would only mislead the model
            return {
                **response.model_dump(exclude={"results"}),
                "results": [],
                "message": NO_PASSAGE[response.lang],
            }
        return response.model_dump()

    _add_resources(server, current, list_documents)
    return server


def _add_resources(server: MCPServer, current: Callable[..., Index], list_documents: bool) -> None:
    """A resource per document: by template, and (with `list_documents`) listed too."""

    @server.resource(
        DOCUMENT_URI,
        name="document",
        description="A document's full stored text, by id (also those added since the start)",
        mime_type="text/plain",
    )
    def document(doc_id: str) -> str:
        return _text(current(), doc_id)

    @server.resource(
        COLLECTION_DOCUMENT_URI,
        name="collection document",
        description="A document's full stored text, by collection and id",
        mime_type="text/plain",
    )
    def collection_document(collection: str, doc_id: str) -> str:
        try:
            index = current(collection)
        except RagError as exc:
            raise ToolError(str(exc)) from exc
        return _text(index, doc_id)

    # Listed one by one too, as they were when the server started.
    for summary in current().store.documents() if list_documents else ():

        def read(doc_id: str = summary.id) -> str:
            doc = current().store.document(doc_id)
            return doc.text if doc else ""

        server.add_resource(
            FunctionResource(
                uri=DOCUMENT_URI.format(doc_id=summary.id),
                name=summary.id,
                title=summary.title,
                description=f"{summary.title} ({summary.date or 'no date'}), full stored text",
                mime_type="text/plain",
                fn=read,
            )
        )


def _text(index: Index, doc_id: str) -> str:
    doc = index.store.document(doc_id)
    if doc is None:
        raise ToolError(f"no document with id {doc_id!r}")
    return doc.text


class MCPMount:
    """The MCP server's ASGI app, mounted before it exists (it needs the loaded index, which
    the lifespan sets), behind the same API key as the routes."""

    def __init__(self, keys: KeyRing) -> None:
        self.app: Callable[..., Awaitable[None]] | None = None
        self._keys = keys

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        access = OPEN
        if scope["type"] == "http":
            found = self._keys.access(presented_key(Headers(scope=scope)))
            if found is None:
                response = problem(401, "unauthorized", KEY_REFUSED)
                await response(scope, receive, send)
                return
            access = found
        if self.app is None:
            await problem(503, "unavailable", UNAVAILABLE)(scope, receive, send)
            return
        token = ACCESS.set(access)  # the tasks this request starts copy it
        try:
            await self.app(scope, receive, send)
        finally:
            ACCESS.reset(token)
