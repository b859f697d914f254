"""Property tests of the query path: any question of 1 to 1,000 characters is answered or refused
with a reason, never an error, in every mode, from the library, HTTP, MCP and the command line."""

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp import Client

from rag.errors import InvalidQueryError
from rag.index.loading import Index
from rag.ingest.cleaning import normalize_text
from rag.retrieval.search import search

MODES = ("dense", "bm25", "hybrid")
# The crashing questions, and the edges: blank, symbols, emoji, control characters.
QUESTIONS = [
    "the",
    "le",
    "Qui ?",
    "!!!",
    "👍",
    " ",
    "\t\n",
    "\x00",
    "0\x1f0",
    "é" * 1000,
    "?" * 1000,
]
questions = st.text(min_size=1, max_size=1000)
modes = st.sampled_from(MODES)


def relaxed(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


def with_examples(test):  # type: ignore[no-untyped-def]
    for question in QUESTIONS:
        test = example(question=question, mode="hybrid")(test)
    return test


@relaxed(300)
@given(question=questions, mode=modes)
@with_examples
def test_the_library_answers_or_refuses_with_a_reason(
    default_index: Index, question: str, mode: str
) -> None:
    try:
        response = search(default_index, question, 5, mode)
    except InvalidQueryError as exc:
        assert not question.strip() and "the question is empty" in str(exc)
        return
    assert question.strip() and len(response.results) <= 5
    if mode != "bm25":
        assert len(response.results) == 5  # dense always finds its nearest passages


@pytest.mark.slow
@relaxed(150)
@given(question=questions, mode=modes)
@with_examples
def test_http_answers_200_or_422_with_a_reason(server: str, question: str, mode: str) -> None:
    for response in (
        httpx.get(f"{server}/search", params={"q": question, "mode": mode}, timeout=60),
        httpx.post(f"{server}/search", json={"query": question, "mode": mode}, timeout=60),
    ):
        assert response.status_code in (200, 422), response.text
        if response.status_code == 422:
            assert not question.strip() and response.json()["detail"]


@pytest.mark.slow
@relaxed(25)
@given(question=questions, mode=modes)
@with_examples
def test_mcp_answers_or_refuses_with_a_reason(server: str, question: str, mode: str) -> None:
    async def ask() -> None:
        async with Client(f"{server}/mcp/") as client:
            result = await client.call_tool("search", {"question": question, "mode": mode})
        if result.is_error:
            assert not question.strip()
            assert "the question is empty" in result.content[0].text
        else:
            # The question as it was searched: NFKC, one space between words.
            assert result.structured_content["query"] == normalize_text(question)

    asyncio.run(ask())


@pytest.mark.slow
@relaxed(6)
@given(question=questions.filter(lambda q: "\x00" not in q), mode=modes)  # argv cannot hold NUL
@example(question="!!!", mode="hybrid")
@example(question="the", mode="bm25")
@example(question="-0", mode="dense")  # CI drew it: an option, when it was not after `--`
def test_the_command_line_exits_0_or_2_with_one_message(
    built_index_dir: Path, question: str, mode: str
) -> None:
    proc = subprocess.run(
        # After `--`, as the README says: a question such as '-0' is not taken for an option.
        [sys.executable, "-m", "rag.cli", "search", "--mode", mode, "--json",
         "--index", str(built_index_dir), "--", question],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr
    if question.strip():
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2 and "the question is empty" in proc.stderr
