"""The LangChain retriever, run through LangChain's own standard retriever tests as they are,
in process and over HTTP against the real service with the real default embedder."""

from typing import Any

import pytest
from conftest import HANGZHOU
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.clients.http import RequestRejected
from rag.clients.langchain import RagRetriever
from rag.errors import InvalidQueryError
from rag.index.loading import Index


class TestRagRetrieverInProcess(RetrieversIntegrationTests):
    index: Index | None = None

    @pytest.fixture(autouse=True)
    def _index(self, default_index: Index) -> None:
        type(self).index = default_index

    @property
    def retriever_constructor(self) -> type[RagRetriever]:
        return RagRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": self.index}

    @property
    def retriever_query_example(self) -> str:
        return "Qui est le maire de Hangzhou ?"


@pytest.mark.slow
class TestRagRetrieverOverHttp(RetrieversIntegrationTests):
    url: str = ""

    @pytest.fixture(autouse=True)
    def _server(self, server: str) -> None:
        type(self).url = server

    @property
    def retriever_constructor(self) -> type[RagRetriever]:
        return RagRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"base_url": self.url}

    @property
    def retriever_query_example(self) -> str:
        return "Who is the mayor of Hangzhou?"


def _check_sources(docs: list[Document]) -> None:
    assert docs and docs[0].metadata["doc_id"] == HANGZHOU
    meta = docs[0].metadata
    assert {
        "doc_id",
        "title",
        "date",
        "source",
        "start",
        "end",
        "score",
        "rank",
        "highlights",
    } <= set(meta)
    assert meta["end"] - meta["start"] == len(docs[0].page_content)
    assert any("Liyi" in h["text"] for h in meta["highlights"])


def test_documents_carry_their_sources(default_index: Index, server: str) -> None:
    _check_sources(RagRetriever(index=default_index, k=2).invoke("Who is the mayor of Hangzhou?"))
    _check_sources(RagRetriever(base_url=server, k=2).invoke("Qui est le maire de Hangzhou ?"))


async def test_async_and_filters(default_index: Index, server: str) -> None:
    filters = {"doc_ids": [HANGZHOU]}
    for retriever in (
        RagRetriever(index=default_index, k=3, filters=filters),
        RagRetriever(base_url=server, k=3, filters=filters),
    ):
        docs = await retriever.ainvoke("maire")
        assert len(docs) == 3 and {d.metadata["doc_id"] for d in docs} == {HANGZHOU}


def test_an_unknown_filter_is_refused_in_process_as_over_http(
    default_index: Index, server: str
) -> None:
    filters = {"doc_id": [HANGZHOU]}  # doc_ids, misspelt
    with pytest.raises(InvalidQueryError, match="unknown filter 'doc_id'"):
        RagRetriever(index=default_index, filters=filters).invoke("maire")
    with pytest.raises(RequestRejected, match="doc_id"):
        RagRetriever(base_url=server, filters=filters).invoke("maire")


def test_refused_questions_raise(default_index: Index, server: str) -> None:
    with pytest.raises(InvalidQueryError, match="empty"):
        RagRetriever(index=default_index).invoke("  ")
    with pytest.raises(RequestRejected, match="empty"):
        RagRetriever(base_url=server).invoke("  ")
