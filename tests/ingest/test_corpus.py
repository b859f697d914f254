import json
from pathlib import Path

import pytest
from conftest import CORPUS, HANGZHOU

from rag.errors import CorpusError
from rag.ingest.corpus import corpus_fingerprint, load_corpus, read_corpus
from rag.ingest.formats import fallback_title


def test_default_corpus_loads_five_french_documents() -> None:
    docs = load_corpus(CORPUS)
    assert [d.id for d in docs] == sorted(p.stem for p in CORPUS.glob("*.txt"))
    assert {d.language for d in docs} == {"fr"}
    hangzhou = next(d for d in docs if d.id == HANGZHOU)
    assert hangzhou.title.startswith("Hangzhou accueille le Conseil mondial de CGLU")
    assert hangzhou.date == "2017-12-09"
    assert hangzhou.source.endswith(f"{HANGZHOU}.txt")


def test_title_falls_back_to_the_first_sentence() -> None:
    doc = next(d for d in load_corpus(CORPUS) if d.id.startswith("000"))
    assert doc.title.startswith("Le Secteur des Sciences et de la Technologie")
    assert doc.title.endswith("…") and len(doc.title) <= 91
    assert fallback_title("Court. Suite.") == "Court"


def test_metadata_file_overrides_guesses(corpus_copy: Path) -> None:
    meta = {HANGZHOU: {"title": "Conseil mondial de CGLU", "date": "2017-12-07", "url": "u"}}
    (corpus_copy / "metadata.json").write_text(json.dumps(meta))
    doc = next(d for d in load_corpus(corpus_copy) if d.id == HANGZHOU)
    assert (doc.title, doc.date, doc.url) == ("Conseil mondial de CGLU", "2017-12-07", "u")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"nope": {"title": "x"}}), "not in the corpus"),
        (json.dumps({HANGZHOU: {"author": "x"}}), "unknown fields"),
        (json.dumps({HANGZHOU: {"date": "7 déc"}}), "ISO 8601"),
        (json.dumps([1, 2]), "must map document ids"),
    ],
)
def test_bad_metadata_file_is_an_error(corpus_copy: Path, content: str, message: str) -> None:
    (corpus_copy / "metadata.json").write_text(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(corpus_copy)


def test_missing_corpus_folder(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nowhere")


def test_corpus_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(CorpusError, match="not a folder"):
        load_corpus(tmp_path / "f.txt")


def test_empty_corpus_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.rtf").write_bytes(b"{\\rtf1}")
    with pytest.raises(CorpusError, match=r"has no \.txt, \.md, \.html, \.htm, \.pdf, \.docx"):
        load_corpus(tmp_path)


def test_corpus_of_empty_files_is_an_error_that_says_why(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("   \n\n")
    (tmp_path / "b.txt").write_text("Skip to content\n")
    with pytest.raises(CorpusError, match=r"no readable document .*a\.txt: no text left"):
        load_corpus(tmp_path)


FRENCH = (
    "Le conseil municipal de Montréal a voté le budget de l'année. La maire a présenté les "
    "priorités : écoles, hôpitaux et transports publics, à l'écoute des élus."
)


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("cp1252", "cp1252"), ("latin-1", "cp1252"), ("utf-16", "utf_16"), ("utf-32", "utf_32")],
)
def test_files_in_other_encodings_are_read_and_reported(
    tmp_path: Path, encoding: str, expected: str
) -> None:
    (tmp_path / "ancien.txt").write_bytes((FRENCH + " Coût : 5 €.").encode(encoding, "replace"))
    reading = read_corpus(tmp_path)
    assert reading.documents[0].text.startswith("Le conseil municipal de Montréal")
    assert reading.decoded == {str(tmp_path / "ancien.txt"): expected}
    assert not reading.skipped


def test_bad_files_are_skipped_with_their_reason_and_good_ones_kept(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(FRENCH)
    (tmp_path / "nuls.txt").write_bytes(b"\0" * 100_000)  # valid UTF-8, yet not text
    (tmp_path / "noise.txt").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "controls.md").write_text("ok " + "\x01\x02\x03 " * 200)
    (tmp_path / "empty.txt").write_text("   ")
    (tmp_path / "d.jsonl").write_text(
        '{"id": "j1", "text": "Un texte."}\n{"text": "no id"}\n{broken\n'
        '{"id": "j2", "text": "Deux\\u0000trois"}\n{"id": "good", "text": "Même id."}\n'
    )
    reading = read_corpus(tmp_path)
    assert sorted(d.id for d in reading.documents) == ["good", "j1"]
    reasons = {s.source.removeprefix(f"{tmp_path}/"): s.reason for s in reading.skipped}
    assert reasons.keys() == {
        "nuls.txt", "noise.txt", "controls.md", "empty.txt", "d.jsonl:2", "d.jsonl:3", "d.jsonl:4",
        "good.txt",
    }  # fmt: skip
    assert reasons["nuls.txt"].startswith("binary content")
    assert reasons["noise.txt"].startswith("binary content")
    assert reasons["controls.md"].startswith("binary content")
    assert reasons["empty.txt"] == "no text left after cleaning"
    assert reasons["d.jsonl:2"].startswith('needs an object with "id" and "text"')
    assert reasons["d.jsonl:3"].startswith("not valid JSON")
    assert reasons["d.jsonl:4"].startswith("binary content")
    # Files are read in name order: the first document with an id keeps it.
    assert reasons["good.txt"] == f"its id 'good' is already used by {tmp_path / 'd.jsonl'}"


def test_load_corpus_logs_each_skipped_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "good.txt").write_text(FRENCH)
    (tmp_path / "bad.txt").write_bytes(b"\0" * 10)
    assert [d.id for d in load_corpus(tmp_path)] == ["good"]
    assert any("bad.txt: binary content" in r.getMessage() for r in caplog.records)


def test_fingerprint_changes_with_text_only() -> None:
    docs = load_corpus(CORPUS)
    assert corpus_fingerprint(docs) == corpus_fingerprint(list(reversed(docs)))
    changed = [*docs[:-1], type(docs[-1])(**{**docs[-1].__dict__, "text": "autre"})]
    assert corpus_fingerprint(changed) != corpus_fingerprint(docs)
