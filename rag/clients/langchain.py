"""A LangChain retriever over the service, in process or over HTTP (extra `langchain`).

    from rag.clients.langchain import RagRetriever
    retriever = RagRetriever(base_url="http://127.0.0.1:8000", k=4)      # over HTTP
    retriever = RagRetriever(index=load_index(Path("index"), Settings()))  # in process
    docs = retriever.invoke("Qui est le maire de Hangzhou ?")

Each `Document` carries its source in `metadata`: doc_id, title, date, source, start, end,
score, rank and highlights. A refused question raises (`InvalidQueryError` in process,
`RequestRejected` over HTTP); an unreachable server raises `ServiceUnreachable`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rag.errors import MissingExtraError

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingExtraError(
        "the LangChain retriever needs langchain-core; "
        "install it with: pip install 'rag[langchain]'"
    ) from exc
from pydantic import ConfigDict

from rag.answers import SearchResult
from rag.clients.http import AsyncRagClient, RagClient
from rag.retrieval.search import SearchFilters, search


def _document(result: SearchResult) -> Document:
    """A LangChain document from a search result."""
    fields = result.model_dump()
    text = fields.pop("text")
    return Document(page_content=text, metadata=fields)


class RagRetriever(BaseRetriever):
    """Retrieves ranked passages with their sources, from an `Index` or a running service."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = 5
    mode: str = "hybrid"
    filters: dict[str, Any] | None = None
    index: Any = None  # a loaded rag.index.loading.Index, for in-process search
    base_url: str | None = None  # or a running service, for search over HTTP
    api_key: str | None = None
    timeout: float = 10.0
    collection: str | None = None  # over HTTP: that collection's passages; none: the default

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        k = self.k if k is None else k
        if self.index is not None:
            filters = SearchFilters.of(self.filters)
            return [_document(r) for r in search(self.index, query, k, self.mode, filters).results]
        if self.base_url is None:
            raise ValueError("RagRetriever needs an index or a base_url")
        # A client per call: a retriever holds no open connection that nobody closes.
        with RagClient(self.base_url, self.api_key, self.timeout, self.collection) as client:
            answer = client.search(query, k, self.mode, self.filters)
        return [_document(r) for r in answer.results]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        if self.base_url is None or self.index is not None:  # in process: in a thread
            sync_manager = run_manager.get_sync()
            return await asyncio.to_thread(
                self._get_relevant_documents, query, run_manager=sync_manager, k=k
            )
        k = self.k if k is None else k
        async with AsyncRagClient(
            self.base_url, self.api_key, self.timeout, self.collection
        ) as client:
            answer = await client.search(query, k, self.mode, self.filters)
        return [_document(r) for r in answer.results]
