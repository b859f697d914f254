from rag.config import Settings
from rag.embedders import make_embedder
from rag.index.loading import Index
from rag.index.translation import Lexicon
from rag.retrieval.search import search


def test_english_words_are_translated_into_the_corpus_french(default_index: Index) -> None:
    lexicon = default_index.lexicon
    assert set(lexicon.words) == {"fr"} and len(lexicon) == default_index.manifest.vocabulary
    stems = lexicon.translate(
        "When did the seminar on resilient cities take place?", "en", default_index.embedder, 0.6, 2
    )
    assert {"seminair", "resilient"} <= set(stems)  # séminaire, résilientes
    stems = lexicon.translate("Who is the mayor of the town?", "en", default_index.embedder, 0.6, 2)
    assert {"mair", "vill"} <= set(stems)  # maire, ville
    # A French question needs no translation into French, the only language of the corpus.
    assert lexicon.translate("Qui est le maire ?", "fr", default_index.embedder, 0.6, 2) == []


def test_words_the_corpus_uses_are_not_translated(default_index: Index) -> None:
    """Names and words shared by both languages already match as they are."""
    stems = default_index.lexicon.translate("Hangzhou", "en", default_index.embedder, 0.0, 2)
    assert stems == []


def test_a_higher_similarity_floor_keeps_fewer_translations(default_index: Index) -> None:
    question = "Why do the South-East Asian cities want to pool their training?"
    embedder = default_index.embedder
    loose = default_index.lexicon.translate(question, "en", embedder, 0.3, 3)
    strict = default_index.lexicon.translate(question, "en", embedder, 0.6, 3)
    assert set(strict) < set(loose)
    assert "format" in strict  # training -> formation(s)


def test_translation_lifts_an_english_question_over_french_text(default_index: Index) -> None:
    """q005 of the gold set: BM25 sees the French passage only through the translated words."""
    question = "When did the seminar on smart, sustainable and resilient cities take place?"

    def rank(translate: bool) -> int:
        index = Index(**{**default_index.__dict__})
        index.settings = Settings(translate_questions=translate).tuned_for(
            index.manifest.embedder.name
        )
        results = search(index, question, k=20).results
        return next(r.rank for r in results if "séminaire sur les villes" in r.text)

    assert rank(True) < rank(False)


def test_question_words_are_embedded_once_for_every_index_of_the_model(
    default_index: Index,
) -> None:
    """The word cache is the embedder's: collections of one model share it."""
    embedder = make_embedder(default_index.manifest.embedder.name, Settings(embed_threads=1))
    embedded: list[str] = []
    encode = embedder.encode_passages

    def counted(texts, progress=None):  # the real encoder, its inputs noted
        embedded.extend(texts)
        return encode(texts, progress)

    embedder.encode_passages = counted  # type: ignore[method-assign]
    words, vectors = default_index.lexicon.words, default_index.lexicon.vectors
    one, other = Lexicon(words, vectors), Lexicon(words, vectors)  # two indexes' lexicons
    first = one.translate("Who trains the mayors?", "en", embedder, 0.6, 2)
    assert sorted(embedded) == ["mayors", "trains"]
    again = other.translate("The mayors' training", "en", embedder, 0.6, 2)
    assert sorted(embedded) == ["mayors", "training", "trains"]  # only "training" is new
    assert first == one.translate("Who trains the mayors?", "en", default_index.embedder, 0.6, 2)
    assert again
