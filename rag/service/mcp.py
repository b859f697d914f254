"""The service as an MCP server (official `mcp` SDK): a `search` tool and a resource per document.

`rag mcp` serves it over stdio; `rag serve` also mounts it over streamable HTTP at `/mcp/`.
A question the service refuses comes back as a tool error that says why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource
from starlette.datastructures import Headers

from rag.errors import RagError
from rag.index.loading import Index
from rag.retrieval.context import NO_PASSAGE
from rag.retrieval.search import SearchFilters, search
from rag.service.dependencies import KEY_REFUSED, key_matches, presented_key
from rag.service.problems import UNAVAILABLE, problem

DOCUMENT_URI = "rag://documents/{doc_id}"


def create_mcp_server(current: Callable[[], Index]) -> MCPServer:
    """The MCP server over the index `current()` gives (its latest generation)."""
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
            "results and `message` says so."
        ),
    )
    def search_tool(
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        doc_ids: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> dict[str, Any]:
        try:
            filters = SearchFilters.of(
                {"doc_ids": doc_ids, "date_from": date_from, "date_to": date_to}
            )
            response = search(current(), question, k, mode, filters)
        except RagError as exc:
            raise ToolError(str(exc)) from exc
        if not response.answerable:  # weak passages would only mislead the model
            return {
                **response.model_dump(exclude={"results"}),
                "results": [],
                "message": NO_PASSAGE[response.lang],
            }
        return response.model_dump()

    @server.resource(
        DOCUMENT_URI,
        name="document",
        description="A document's full stored text, by id (also those added since the start)",
        mime_type="text/plain",
    )
    def document(doc_id: str) -> str:
        doc = current().store.document(doc_id)
        if doc is None:
            raise ToolError(f"no document with id {doc_id!r}")
        return doc.text

    # Listed one by one too, as they were when the server started.
    for summary in current().store.documents():

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
    return server


class MCPMount:
    """The MCP server's ASGI app, mounted before it exists (it needs the loaded index, which
    the lifespan sets), behind the same API key as the routes."""

    def __init__(self, api_key: str | None) -> None:
        self.app: Callable[..., Awaitable[None]] | None = None
        self._api_key = api_key

    def _authorized(self, scope: MutableMapping[str, Any]) -> bool:
        if self._api_key is None:
            return True
        return key_matches(presented_key(Headers(scope=scope)), self._api_key)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            response = problem(401, "unauthorized", KEY_REFUSED)
            await response(scope, receive, send)
            return
        if self.app is None:
            await problem(503, "unavailable", UNAVAILABLE)(scope, receive, send)
            return
        await self.app(scope, receive, send)
