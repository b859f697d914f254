"""The Python client against a real server on loopback."""

import asyncio
import socket
from pathlib import Path

import pytest
from conftest import CORPUS, HANGZHOU, Served

from rag.clients.http import AsyncRagClient, RagClient, RequestRejected, ServiceUnreachable

pytestmark = pytest.mark.slow


def test_sync_client_searches_and_reads_documents(server: str) -> None:
    with RagClient(server) as client:
        answer = client.search("Who is the mayor of Hangzhou?", k=3)
        assert answer.lang == "en" and answer.results[0].doc_id == HANGZHOU
        assert any("Liyi" in h.text for h in answer.results[0].highlights)
        doc = client.document(HANGZHOU)
        first = answer.results[0]
        assert doc.text[first.start : first.end] == first.text
        assert len(client.documents()) == 5
        filtered = client.search("maire", k=2, filters={"doc_ids": [HANGZHOU]})
        assert {r.doc_id for r in filtered.results} == {HANGZHOU}
        context = client.context("Qui est le maire de Hangzhou ?", k=2, max_chars=800)
        assert len(context.text) <= 800 and context.citations[0].number == 1


def test_async_client(server: str) -> None:
    async def run() -> list[str]:
        async with AsyncRagClient(server) as client:
            answers = await asyncio.gather(
                client.search("Qui est le maire de Hangzhou ?"),
                client.search("Who opened the city diplomacy training?"),
                client.documents(),
            )
            return [answers[0].results[0].doc_id, answers[1].results[0].doc_id]

    assert asyncio.run(run()) == [HANGZHOU, "003_c18db2fcc2ae3497"]


def test_refused_requests_raise_with_the_reason(server: str) -> None:
    with RagClient(server) as client:
        with pytest.raises(RequestRejected) as rejected:
            client.search("   ")
        assert rejected.value.status == 422 and "question is empty" in rejected.value.detail
        with pytest.raises(RequestRejected, match="k"):
            client.search("maire", k=0)
        with pytest.raises(RequestRejected) as missing:
            client.document("nope")
        assert missing.value.status == 404 and missing.value.error == "not_found"


def test_unreachable_server_is_a_clear_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # a port nobody listens on once the socket is closed
    with (
        RagClient(f"http://127.0.0.1:{port}", timeout=2) as client,
        pytest.raises(ServiceUnreachable, match="is unreachable"),
    ):
        client.search("maire")


def test_silent_server_times_out_instead_of_hanging() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with (
            RagClient(url, timeout=0.5) as client,
            pytest.raises(ServiceUnreachable, match="did not answer in time"),
        ):
            client.search("maire")


def test_api_key(built_index_dir: Path) -> None:
    with Served(built_index_dir, corpus_dir=CORPUS, env={"RAG_API_KEY": "k3y"}) as served:
        with RagClient(served.url) as anonymous, pytest.raises(RequestRejected) as refused:
            anonymous.search("maire")
        assert refused.value.status == 401
        with RagClient(served.url, api_key="k3y") as client:
            assert client.search("maire", k=1).results
