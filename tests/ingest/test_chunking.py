import itertools

import pytest
from conftest import CORPUS

from rag.ingest.chunking import chunk_document, chunk_documents, make_splitter
from rag.ingest.corpus import load_corpus
from rag.ingest.formats import Document


@pytest.mark.parametrize(("size", "overlap"), [(600, 100), (200, 80), (1000, 0), (80, 40)])
def test_offsets_always_point_at_the_passage_text(size: int, overlap: int) -> None:
    docs = {d.id: d for d in load_corpus(CORPUS)}
    passages = list(chunk_documents(docs.values(), size, overlap))
    assert passages
    for p in passages:
        assert docs[p.doc_id].text[p.start : p.end] == p.text
        assert len(p.text) <= size
        assert p.text == p.text.strip()


def test_every_character_of_the_text_is_in_some_passage() -> None:
    for doc in load_corpus(CORPUS):
        covered = [False] * len(doc.text)
        for p in chunk_document(doc, make_splitter(300, 60)):
            covered[p.start : p.end] = [True] * (p.end - p.start)
        missing = "".join(c for c, ok in zip(doc.text, covered, strict=True) if not ok)
        assert not missing.strip()


def test_passages_end_at_sentence_ends_and_overlap() -> None:
    text = " ".join(f"Phrase numéro {i} du texte." for i in range(40))
    doc = Document(id="d", title="t", date=None, language="fr", source="s", text=text)
    passages = list(chunk_document(doc, make_splitter(120, 50)))
    assert len(passages) > 5
    assert all(p.text.endswith(".") for p in passages)
    assert all(b.start < a.end for a, b in itertools.pairwise(passages))


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError, match="smaller than chunk size"):
        make_splitter(100, 100)
