"""The MCP server end to end with the official SDK's own client, over stdio and over HTTP."""

import sys
from pathlib import Path

import pytest
from conftest import CORPUS, HANGZHOU, Served
from mcp import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.slow


async def _exercise(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == ["search"]
    assert "question" in tools[0].input_schema["properties"]
    for question in ("Qui est le maire de Hangzhou ?", "Who is the mayor of Hangzhou?"):
        result = await client.call_tool("search", {"question": question, "k": 2})
        assert not result.is_error
        top = result.structured_content["results"][0]
        assert top["doc_id"] == HANGZHOU and any("Liyi" in h["text"] for h in top["highlights"])
        assert result.structured_content["answerable"] is True
    off_topic = await client.call_tool(
        "search", {"question": "Which planet is closest to the sun?"}
    )
    assert not off_topic.is_error
    content = off_topic.structured_content
    assert content["answerable"] is False and content["results"] == []
    assert content["message"].startswith("No relevant passage") and content["confidence"] < 0.25
    refused = await client.call_tool("search", {"question": "   "})
    assert refused.is_error and "the question is empty" in refused.content[0].text
    resources = (await client.list_resources()).resources
    assert len(resources) == 5
    uri = f"rag://documents/{HANGZHOU}"
    assert uri in {str(r.uri) for r in resources}
    contents = (await client.read_resource(uri)).contents
    assert contents[0].text.startswith("Hangzhou accueille le Conseil mondial")


async def test_mcp_over_stdio(built_index_dir: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rag.cli", "mcp", "--index", str(built_index_dir)]
    )
    async with Client(params) as client:
        await _exercise(client)


async def test_mcp_over_streamable_http(server: str) -> None:
    async with Client(f"{server}/mcp/") as client:
        await _exercise(client)


async def test_mcp_over_http_needs_the_api_key(built_index_dir: Path) -> None:
    import httpx

    served = Served(built_index_dir, corpus_dir=CORPUS, env={"RAG_API_KEY": "k3y"})
    url = served.url
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            refused = await http.post(f"{url}/mcp/", json={})
            assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
            # With the key, the request reaches the MCP server, which judges the message itself.
            passed = await http.post(f"{url}/mcp/", json={}, headers={"X-API-Key": "k3y"})
            assert passed.status_code != 401
            bearer = {"Authorization": "Bearer k3y"}
            assert (await http.post(f"{url}/mcp/", json={}, headers=bearer)).status_code != 401
            # A key that is not UTF-8 is a wrong key, on the MCP mount as on the routes (the
            # mount decoded headers as UTF-8 and answered 500).
            for path in ("/mcp/", "/search?q=maire"):
                odd = await http.request(
                    "POST" if path == "/mcp/" else "GET", url + path,
                    headers={"X-API-Key": b"k3y\xff\xfe"},
                )  # fmt: skip
                assert odd.status_code == 401, (path, odd.text)
    finally:
        served.close()
