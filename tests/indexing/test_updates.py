"""Changing an index in place: the result is the index a build from nothing would give."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, HANGZHOU, ROOT

import rag.index.manifest
import rag.indexing.updates
from rag.config import Settings
from rag.embedders import Embedder
from rag.errors import DocumentNotFoundError, IndexBusyError, InvalidQueryError
from rag.evaluation.gold import load_gold
from rag.evaluation.metrics import score_modes
from rag.index.folder import write_lock
from rag.index.live import LiveIndex
from rag.index.loading import Index, load_index
from rag.indexing.build import write_index
from rag.indexing.updates import update_index
from rag.ingest.corpus import load_corpus
from rag.ingest.formats import Document, parse_document
from rag.retrieval.context import build_context
from rag.retrieval.search import SearchFilters, search

GOLD_PATH = ROOT / "eval" / "gold.jsonl"
QUESTIONS = [
    "Qui est le maire de Hangzhou ?",
    "Who is the mayor of Hangzhou?",
    "formation des villes d'Asie du Sud-Est",
    "vélos électriques à Lyon",
]
LYON = parse_document(
    "lyon-velos",
    "# Lyon lance des vélos partagés\n\nLa ville de Lyon lance un programme de vélos "
    "électriques partagés pour ses habitants. Le maire a présenté le projet au conseil "
    "municipal, avec des stations près des gares.",
    ".md",
    fields={"date": "2024-05-02"},
)[0]


@pytest.fixture
def index_dir(tmp_path: Path, built_index_dir: Path) -> Path:
    """A copy of the default index, to change."""
    copy = tmp_path / "index"
    shutil.copytree(built_index_dir, copy)
    return copy


def _passages(index: Index) -> dict[tuple[str, int, int], int]:
    """(document, start, end) -> passage id, of every live passage."""
    found = index.store.passages(index.store.passage_ids())
    return {(p.doc_id, p.start, p.end): pid for pid, p in found.items()}


def _bm25(index: Index, question: str) -> dict[tuple[str, int, int], float]:
    by_id = {pid: key for key, pid in _passages(index).items()}
    ids, values = index.bm25.scores(question).matched()
    return {by_id[int(i)]: float(s) for i, s in zip(ids, values, strict=True)}


def _same_index(a: Index, b: Index) -> None:
    """`a` and `b` hold the same documents, passages, vectors, BM25 scores and vocabulary."""
    assert a.store.documents() == b.store.documents()
    pa, pb = _passages(a), _passages(b)
    assert pa.keys() == pb.keys()
    keys = sorted(pa)
    va = a.vectors.reconstruct([pa[k] for k in keys])
    vb = b.vectors.reconstruct([pb[k] for k in keys])
    assert np.allclose(va, vb, atol=1e-5)
    for question in QUESTIONS:
        sa, sb = _bm25(a, question), _bm25(b, question)
        assert sa.keys() == sb.keys()
        assert all(sa[k] == pytest.approx(sb[k], rel=1e-5) for k in sa), question
    assert a.lexicon.words == b.lexicon.words
    assert len(a.bm25) == len(b.bm25) == len(pa)


def test_adding_one_by_one_then_removing_and_re_adding_gives_the_one_go_index(
    tmp_path: Path, default_index: Index, use_embedder: Embedder
) -> None:
    docs = load_corpus(CORPUS)
    settings = Settings()
    index_dir = tmp_path / "index"
    write_index(docs[:1], index_dir, settings, use_embedder)
    for doc in docs[1:]:
        report = update_index(index_dir, settings, add=[doc], embedder=use_embedder)
        assert report.added == [doc.id] and report.passages_added > 0
    first, second = docs[0].id, docs[3].id
    removed = update_index(index_dir, settings, remove=[first, second], embedder=use_embedder)
    assert removed.removed == sorted([first, second]) and removed.passages_removed > 0
    update_index(index_dir, settings, add=[docs[3], docs[0]], embedder=use_embedder)
    grown = load_index(index_dir, settings, use_embedder)
    assert grown.generation == 1 + 4 + 2
    _same_index(grown, default_index)

    questions = load_gold(GOLD_PATH, docs)
    modes = ["dense", "bm25", "hybrid"]
    built = score_modes(default_index, questions, modes).runs
    changed = score_modes(grown, questions, modes).runs
    for mode, groups in built.items():
        for group, metrics in groups.items():
            for metric, value in metrics.items():
                assert round(changed[mode][group][metric], 3) == round(value, 3), (mode, metric)


def test_a_replaced_document_is_searched_filtered_and_shown_as_it_is_now(
    index_dir: Path, use_embedder: Embedder
) -> None:
    settings = Settings()
    update_index(index_dir, settings, add=[LYON], embedder=use_embedder)
    index = load_index(index_dir, settings, use_embedder)
    summary = {d.id: d for d in index.store.documents()}["lyon-velos"]
    assert (summary.title, summary.date, summary.passages) == (
        "Lyon lance des vélos partagés", "2024-05-02", 1
    )  # fmt: skip
    may = SearchFilters(date_from="2024-05", date_to="2024-05")
    (hit,) = search(index, "vélos électriques à Lyon", 5, filters=may).results
    assert hit.doc_id == "lyon-velos" and hit.highlights
    text = index.store.document("lyon-velos").text
    assert text[hit.start : hit.end] == hit.text
    assert all(text[h.start : h.end] == h.text for h in hit.highlights)
    only = SearchFilters(doc_ids=["lyon-velos"])
    assert {r.doc_id for r in search(index, "le maire", 5, filters=only).results} == {"lyon-velos"}
    context = build_context(index, "Quel programme lance Lyon ?", 3)
    assert "lyon-velos" in context.text

    nantes = replace(LYON, text=LYON.text.replace("Lyon", "Nantes"), title="Nantes aussi")
    report = update_index(index_dir, settings, add=[nantes], embedder=use_embedder)
    assert report.replaced == ["lyon-velos"] and report.added == []
    index = load_index(index_dir, settings, use_embedder)
    (hit,) = search(index, "vélos électriques", 5, filters=only).results
    assert "Nantes" in hit.text and "Lyon" not in hit.text
    assert not any("Lyon" in r.text for r in search(index, "Lyon vélos", 10).results)

    update_index(index_dir, settings, remove=["lyon-velos"], embedder=use_embedder)
    index = load_index(index_dir, settings, use_embedder)
    assert "lyon-velos" not in index.store.document_ids()
    with pytest.raises(InvalidQueryError, match="unknown document ids"):
        search(index, "vélos", 5, filters=only)
    assert search(index, "vélos électriques", 5, filters=may).results == []


def test_the_vocabulary_follows_the_documents(index_dir: Path, use_embedder: Embedder) -> None:
    settings = Settings()
    before = load_index(index_dir, settings, use_embedder).lexicon
    assert "vélos" not in before.words["fr"]
    update_index(index_dir, settings, add=[LYON], embedder=use_embedder)
    after = load_index(index_dir, settings, use_embedder).lexicon
    assert "vélos" in after.words["fr"]
    row = after.vectors["fr"][after.words["fr"].index("vélos")]
    assert np.allclose(row, use_embedder.encode_passages(["vélos"])[0], atol=1e-2)
    update_index(index_dir, settings, remove=[LYON.id], embedder=use_embedder)
    assert load_index(index_dir, settings, use_embedder).lexicon.words == before.words


def test_bad_changes_change_nothing(index_dir: Path, use_embedder: Embedder) -> None:
    settings = Settings()
    with pytest.raises(DocumentNotFoundError, match=r"'nope'.*nothing was changed"):
        update_index(index_dir, settings, remove=[HANGZHOU, "nope"], embedder=use_embedder)
    with pytest.raises(InvalidQueryError, match="more than once"):
        update_index(index_dir, settings, add=[LYON, LYON], embedder=use_embedder)
    with pytest.raises(InvalidQueryError, match="both added and removed"):
        update_index(index_dir, settings, add=[LYON], remove=[LYON.id], embedder=use_embedder)
    index = load_index(index_dir, settings, use_embedder)
    assert index.generation == 1 and HANGZHOU in index.store.document_ids()
    same = update_index(index_dir, settings, add=load_corpus(CORPUS), embedder=use_embedder)
    assert not same.changed and len(same.unchanged) == 5 and same.generation == 1


def test_the_recent_segment_is_merged_into_a_new_main_one_when_it_grows(
    tmp_path: Path, index_dir: Path, use_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings()
    update_index(index_dir, settings, add=[LYON], embedder=use_embedder)
    assert sorted(p.name for p in (index_dir / "segments").iterdir()) == [
        "00000001-main", "00000002-recent"
    ]  # fmt: skip
    monkeypatch.setattr(rag.indexing.updates, "MERGE_MIN", 1)
    monkeypatch.setattr(rag.indexing.updates, "MERGE_SHARE", 0.0)
    nantes = replace(LYON, id="nantes-velos", text=LYON.text.replace("Lyon", "Nantes"))
    report = update_index(index_dir, settings, add=[nantes], embedder=use_embedder)
    assert report.merged
    assert [p.name for p in (index_dir / "segments").iterdir()] == ["00000003-main"]
    merged = load_index(index_dir, settings, use_embedder)
    from_nothing = tmp_path / "from-nothing"
    write_index([*load_corpus(CORPUS), LYON, nantes], from_nothing, settings, use_embedder)
    _same_index(merged, load_index(from_nothing, settings, use_embedder))


def test_a_change_killed_before_it_commits_leaves_the_previous_generation(
    index_dir: Path, use_embedder: Embedder
) -> None:
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import rag.indexing.updates
        from rag.config import Settings
        from rag.ingest.formats import parse_document
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        rag.indexing.updates.StoreWriter.commit = killed  # die with the segment written
        doc, _ = parse_document("killed", "Un article qui ne sera jamais indexé.")
        rag.indexing.updates.update_index(Path({str(index_dir)!r}), Settings(), add=[doc])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    assert len(list((index_dir / "segments").iterdir())) == 2  # the orphan of the cut change
    index = load_index(index_dir, Settings(), use_embedder)
    assert index.generation == 1 and "killed" not in index.store.document_ids()
    assert list(index.segments) == ["00000001-main"]
    update_index(index_dir, Settings(), add=[LYON], embedder=use_embedder)
    assert sorted(p.name for p in (index_dir / "segments").iterdir()) == [
        "00000001-main", "00000002-recent"
    ]  # fmt: skip


def test_one_writer_at_a_time(index_dir: Path, use_embedder: Embedder) -> None:
    with write_lock(index_dir, 1.0), pytest.raises(IndexBusyError, match="try again"):
        update_index(index_dir, Settings(write_timeout=0.2), add=[LYON], embedder=use_embedder)
    assert update_index(index_dir, Settings(), add=[LYON], embedder=use_embedder).added


def test_a_live_index_moves_to_the_new_generation_and_the_old_one_still_answers(
    index_dir: Path, use_embedder: Embedder
) -> None:
    settings = Settings()
    old = load_index(index_dir, settings, use_embedder)
    assert not LiveIndex(old, settings).refresh()
    update_index(index_dir, settings, add=[LYON], embedder=use_embedder)
    # Made after the change, from a generation loaded before it (a worker starting while a
    # write commits): it still moves to the new one.
    live = LiveIndex(old, settings)
    assert live.refresh() and live.current.generation == 2
    assert not live.refresh()
    assert live.current.segments["00000001-main"] is old.segments["00000001-main"]  # shared
    second = live.current
    assert search(second, "vélos électriques à Lyon", 1).results[0].doc_id == "lyon-velos"
    # A generation keeps answering after the next change removed its recent segment's files,
    # and leaves out the passages removed since it was loaded.
    update_index(index_dir, settings, remove=[HANGZHOU], embedder=use_embedder)
    assert not (index_dir / "segments" / "00000002-recent").exists()
    assert search(second, "vélos électriques à Lyon", 1).results[0].doc_id == "lyon-velos"
    assert all(r.doc_id != HANGZHOU for r in search(second, "maire de Hangzhou", 10).results)
    assert live.refresh() and HANGZHOU not in live.current.store.document_ids()
    # A build from nothing is a new folder, with its own store: the live index follows it too.
    write_index(load_corpus(CORPUS), index_dir, settings, use_embedder)
    assert live.refresh() and live.current.generation == 4
    assert HANGZHOU in live.current.store.document_ids()
    assert list(live.current.segments) == ["00000004-main"]


def test_documents_parse_like_corpus_files() -> None:
    html = "<html><head><title>Titre</title></head><body><article><p>Texte de l'article " \
        "sur la ville.</p></article></body></html>"  # fmt: skip
    doc, encoding = parse_document("page", html.encode("cp1252"), ".html")
    assert (doc.title, doc.text, encoding) == ("Titre", "Texte de l'article sur la ville.", "utf_8")
    assert isinstance(doc, Document) and doc.source == "api"
    with pytest.raises(Exception, match="cannot be indexed: binary content"):
        parse_document("bin", b"\0\0\0binary", ".txt")
    with pytest.raises(Exception, match="cannot be a document"):
        parse_document("rtf", b"{\\rtf1}", ".rtf")
    with pytest.raises(Exception, match="date"):
        parse_document("d", "Un texte.", fields={"date": "hier"})


def test_a_manifest_left_a_generation_behind_is_repaired(
    index_dir: Path, use_embedder: Embedder
) -> None:
    """A writer killed between its commit and its manifest's rename leaves the manifest one
    generation behind and its staged copy beside it: a load reads the store's generation and
    counts, and the next change puts the manifest right and removes the copy."""
    settings = Settings(index_dir=index_dir)
    stale = (index_dir / "manifest.json").read_text()
    update_index(index_dir, settings, add=[LYON], embedder=use_embedder)
    (index_dir / "manifest.json").write_text(stale)
    (index_dir / ".manifest.json.99999").write_text(stale)
    index = load_index(index_dir, settings, use_embedder)
    assert index.manifest.generation == index.generation == 2
    assert index.manifest.passages == len(index.live_passages)
    assert index.manifest.documents == len(index.store.documents())
    assert '"generation": 1' in (index_dir / "manifest.json").read_text()  # loads only read
    update_index(index_dir, settings, remove=[HANGZHOU], embedder=use_embedder)
    written = load_index(index_dir, settings, use_embedder).manifest
    assert rag.index.manifest.read_manifest(index_dir) == written
    assert written.generation == 3 and not list(index_dir.glob(".manifest.json.*"))
