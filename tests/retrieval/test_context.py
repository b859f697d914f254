import re

import httpx
import pytest
from conftest import HANGZHOU

from rag.errors import InvalidQueryError
from rag.index.loading import Index
from rag.retrieval.context import NO_PASSAGE, build_context
from rag.service.schemas import search_tool_definition

HEADER = re.compile(r"^\[(\d+)\] (.+) \((.+), (\S+)\)$", re.MULTILINE)


def test_passages_are_numbered_with_matching_citations(default_index: Index) -> None:
    block = build_context(default_index, "Qui est le maire de Hangzhou ?", k=3, max_chars=5000)
    headers = HEADER.findall(block.text)
    assert [int(n) for n, *_ in headers] == [1, 2, 3]
    assert [c.number for c in block.citations] == [1, 2, 3]
    for (_, title, date, doc_id), citation in zip(headers, block.citations, strict=True):
        assert (title, date, doc_id) == (citation.title, citation.date, citation.doc_id)
        doc = default_index.store.document(citation.doc_id)
        assert doc is not None
        assert doc.text[citation.start : citation.end] in block.text
    assert block.citations[0].doc_id == HANGZHOU and not block.truncated
    assert block.lang == "fr"


@pytest.mark.parametrize("max_chars", [200, 500, 1200, 3000])
def test_the_block_never_exceeds_its_size_bound(default_index: Index, max_chars: int) -> None:
    block = build_context(default_index, "villes intelligentes", k=10, max_chars=max_chars)
    assert 0 < len(block.text) <= max_chars
    assert block.truncated
    assert len(HEADER.findall(block.text)) == len(block.citations) >= 1


def test_bad_size_bound(default_index: Index) -> None:
    for bad in (0, 199, 100_001, True):
        with pytest.raises(InvalidQueryError, match="max_chars"):
            build_context(default_index, "maire", max_chars=bad)


def test_no_relevant_passage_is_said_in_the_questions_language(default_index: Index) -> None:
    for question, lang in [("Quel est le meilleur fromage de Normandie ?", "fr"),
                           ("Which planet is closest to the sun?", "en")]:  # fmt: skip
        block = build_context(default_index, question)
        assert not block.answerable and block.confidence is not None and block.confidence < 0.25
        assert block.text == NO_PASSAGE[lang] and block.citations == [] and not block.truncated
    answered = build_context(default_index, "Qui est le maire de Hangzhou ?", k=2)
    assert answered.answerable and answered.citations


def test_context_and_tool_schema_over_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as c:
        r = c.post("/context", json={"query": "Who is the mayor of Hangzhou?", "k": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["text"].startswith("[1] ") and [x["number"] for x in body["citations"]] == [
            1,
            2,
        ]
        assert body["answerable"] is True and 0.5 < body["confidence"] <= 1
        none = c.post("/context", json={"query": "Which planet is closest to the sun?"}).json()
        assert none["answerable"] is False and none["citations"] == []
        assert none["text"] == NO_PASSAGE["en"]
        searched = c.get("/search", params={"q": "Which planet is closest to the sun?"}).json()
        assert searched["answerable"] is False and searched["results"]
        bad = c.post("/context", json={"query": "maire", "max_chars": 10})
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
        tool = c.get("/tool-schema").json()
    assert tool == search_tool_definition()
    fn = tool["function"]
    assert tool["type"] == "function" and fn["name"] == "search"
    params = fn["parameters"]
    assert params["type"] == "object" and params["required"] == ["query"]
    assert params["properties"]["k"]["maximum"] == 100
    assert params["properties"]["mode"]["enum"] == ["dense", "bm25", "hybrid"]
    assert "$ref" not in str(params) and "$defs" not in str(params)
