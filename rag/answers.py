"""The shapes the library answers with, shared as they are by the HTTP API, its clients and
the MCP server: adding a field here adds it everywhere.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rag.config import Language, SearchMode


class Highlight(BaseModel):
    """A sentence of a result that answers the question."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(description="offset in the document's stored text, like the passage's")
    end: int
    text: str


class SearchResult(BaseModel):
    """A passage that answers the question, with its source."""

    model_config = ConfigDict(frozen=True)

    rank: int
    score: float
    doc_id: str
    title: str
    date: str | None
    source: str
    start: int = Field(description="offset of the passage in the document's stored text")
    end: int = Field(description="end offset (exclusive): text == document.text[start:end]")
    page: int | None = Field(
        None, description="the 1-based page the passage starts on; null for formats without pages"
    )
    text: str
    highlights: list[Highlight] = Field(
        default_factory=list,
        description="the sentences of the passage that best answer the question; none when "
        "the search calls the question not answerable",
    )


class SearchResponse(BaseModel):
    """The ranked passages for a question, best first."""

    model_config = ConfigDict(frozen=True)

    query: str
    lang: Language = Field("fr", description="detected language of the question")
    mode: SearchMode
    answerable: bool = Field(
        True,
        description="whether the corpus likely answers the question: confidence is at least "
        "the embedder's calibrated threshold (true when the embedder is not calibrated and "
        "there are results)",
    )
    confidence: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="calibrated probability that the corpus answers the question, from its top "
        "result; null when the index's embedder has no calibration",
    )
    results: list[SearchResult] = Field(default_factory=list)


class Citation(BaseModel):
    """The source of the passage numbered `number` in a context block."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(description="the [n] that marks the passage in the text block")
    doc_id: str
    title: str
    date: str | None
    source: str
    start: int
    end: int
    page: int | None = Field(None, description="the page the passage starts on, if paged")


class ContextBlock(BaseModel):
    """The top passages as one numbered text block, with what each number cites."""

    model_config = ConfigDict(frozen=True)

    query: str
    lang: Language
    answerable: bool = Field(
        True, description="false: no passage is relevant enough, and `text` says so"
    )
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    text: str = Field(description="numbered passages, ready to paste into a prompt")
    citations: list[Citation] = Field(default_factory=list)
    truncated: bool = Field(
        False, description="whether a passage was cut or left out to fit max_chars"
    )


class CollectionSummary(BaseModel):
    """A collection as listed: its name, embedder and size."""

    model_config = ConfigDict(frozen=True)

    name: str
    embedder: str
    documents: int
    passages: int
    updated_at: str


class DocumentSummary(BaseModel):
    """A document as listed: its metadata and how many passages it was cut into."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    date: str | None
    language: str
    source: str
    url: str | None
    passages: int
