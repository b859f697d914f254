"""The service as an MCP server (official `mcp` SDK): a `search` tool and a resource per document.

`rag mcp` serves it over stdio; `rag serve` also mounts it over streamable HTTP at `/mcp/`.
A question the service refuses comes back as a tool error that says why.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource

from rag.errors import RagError
from rag.index import Index
from rag.search import SearchFilters, search

DOCUMENT_URI = "rag://documents/{doc_id}"


def create_mcp_server(index: Index) -> MCPServer:
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
            "doc_id, title, date, start/end offsets in the document text, and highlights."
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
            response = search(index, question, k, mode, SearchFilters(doc_ids, date_from, date_to))
        except RagError as exc:
            raise ToolError(str(exc)) from exc
        return asdict(response)

    for summary in index.store.documents():

        def read(doc_id: str = summary.id) -> str:
            doc = index.store.document(doc_id)
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
