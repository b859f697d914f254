import itertools

import pytest
from conftest import CORPUS

from rag.ingest.chunking import chunk_document, chunk_documents, make_splitter, sentence_spans
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


@pytest.mark.parametrize(
    "sentence",
    [
        "Regardez le message de Mme Amina J. Mohammed, Vice-secrétaire générale des Nations Unies.",
        "M. Dupont et MM. Martin et Durand ont reçu Mlle Roux et le Dr. Petit à St. Malo.",
        "Mr. Smith and Mrs. Jones met Prof. Brown at St. Louis, cf. p. 12 and n° 3.",
        "Jules César est né en 100 av. J.-C. à Rome.",
    ],
)
def test_no_sentence_is_cut_at_an_initial_or_an_abbreviation(sentence: str) -> None:
    text = f"{sentence} Puis une autre phrase. Élodie la lit !"
    doc = Document(id="d", title="t", date=None, language="fr", source="s", text=text)
    splitter = make_splitter(len(sentence) + 10, 0)
    passages = list(chunk_document(doc, splitter))
    assert passages[0].text == sentence  # the passage ends at the sentence's end, not before
    whole = chunk_document(doc, make_splitter(1000, 0))
    sentences = [text[a:b] for a, b in sentence_spans(next(whole))]
    assert sentences == [sentence, "Puis une autre phrase.", "Élodie la lit !"]


def test_the_corpus_has_no_passage_or_sentence_starting_after_an_initial() -> None:
    doc = next(d for d in load_corpus(CORPUS) if "Amina J. Mohammed" in d.text)
    passages = list(chunk_document(doc, make_splitter(300, 60)))
    starts = [doc.text[a:b] for p in passages for a, b in sentence_spans(p)]
    starts += [p.text for p in passages]
    assert not [s for s in starts if s.startswith("Mohammed, Vice-secrétaire")]
