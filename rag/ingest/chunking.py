"""Splitting documents into overlapping, sentence-aware passages that know their offsets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.ingest.formats import Document

# A period after these is not a sentence's end: titles and common abbreviations of French and
# English ("M. Dupont", "Mr. Smith", "St. Louis", "p. 12", "n° 3"), and a capital initial
# ("Amina J. Mohammed", "av. J.-C."). A sentence that ends in a capital letter ("le plan B.")
# is joined to the next: the lesser harm. "etc." ends sentences as often as not, so it does.
ABBREVIATIONS = (
    "M", "MM", "Mme", "Mmes", "Mlle", "Mlles", "Me", "Mgr", "Dr", "Pr", "Prof", "St", "Ste",
    "Mr", "Mrs", "Ms", "Jr", "Sr", "Gen", "Gén", "Col", "Cdt", "Lt", "Capt", "Sgt", "Rev",
    "cf", "Cf", "p", "pp", "vol", "Vol", "n°", "No", "Nos", "art", "Art", "chap", "fig", "Fig",
    "éd", "ed", "av", "apr", "env", "ex", "vs", "approx", "dept", "Dept", "Inc", "Ltd", "Co",
)  # fmt: skip
_NOT_AFTER = "".join(rf"(?<!\b{re.escape(a)}\.)" for a in ABBREVIATIONS)
_INITIAL = r"(?<!\b[A-ZÀ-ÖØ-Þ]\.)"
SENTENCE_END = rf"(?<=[.!?…]){_NOT_AFTER}{_INITIAL}\s+|\n+"
# Bumped when the cuts change, so that an index knows which rules made its passages.
SPLITTER_VERSION = 2  # 2: no cut after an abbreviation or an initial

# Sentence and paragraph ends first, then clauses, then words. Sentences of neighbouring
# paragraphs may share a passage, so a heading is never a passage of its own.
SEPARATORS = [SENTENCE_END, r"(?<=[;:,])\s+", r"\s+", ""]

_SENTENCE_END = re.compile(SENTENCE_END)


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    end: int
    text: str
    page: int | None = None  # the 1-based page it starts on, for documents with pages


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    if chunk_overlap >= chunk_size:
        raise ValueError(
            f"chunk overlap ({chunk_overlap}) must be smaller than chunk size ({chunk_size})"
        )
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=SEPARATORS,
        keep_separator="end",
        is_separator_regex=True,
        add_start_index=True,
        strip_whitespace=True,
    )


def chunk_document(doc: Document, splitter: RecursiveCharacterTextSplitter) -> Iterator[Passage]:
    """The passages of `doc`; `doc.text[p.start:p.end] == p.text` holds for each."""
    search_from = 0
    for piece in splitter.create_documents([doc.text]):
        text = piece.page_content
        start = piece.metadata.get("start_index", -1)
        if start < 0 or doc.text[start : start + len(text)] != text:
            start = doc.text.find(text, search_from)
            if start < 0:  # cannot happen with strip_whitespace; guard the invariant anyway
                raise AssertionError(f"passage not found in document {doc.id!r}")
        search_from = start + 1
        yield Passage(doc.id, start, start + len(text), text, doc.page_at(start))


def chunk_documents(
    documents: Iterable[Document], chunk_size: int, chunk_overlap: int
) -> Iterator[Passage]:
    splitter = make_splitter(chunk_size, chunk_overlap)
    for doc in documents:
        yield from chunk_document(doc, splitter)


def sentence_spans(passage: Passage) -> list[tuple[int, int]]:
    """The `[start, end)` of each sentence of `passage`, in document coordinates."""
    spans = []
    local = 0
    for m in [*_SENTENCE_END.finditer(passage.text), None]:
        end = m.start() if m else len(passage.text)
        if passage.text[local:end].strip():
            spans.append((passage.start + local, passage.start + end))
        local = m.end() if m else local
    return spans
