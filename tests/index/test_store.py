"""The chunk store as it is read: passages with their sources and offsets, filters, sentences,
documents, counts, and the committed generation (`committed_generation`, `next_generation`)."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import HANGZHOU

from rag.index.manifest import MANIFEST, STORE, next_generation
from rag.index.store import ChunkStore, committed_generation


@pytest.fixture(scope="module")
def store(built_index_dir: Path) -> ChunkStore:
    return ChunkStore(built_index_dir / STORE)


def test_a_passage_is_the_slice_of_its_documents_stored_text(store: ChunkStore) -> None:
    ids = store.passage_ids()
    passages = store.passages(ids)
    assert sorted(passages) == sorted(ids) and len(ids) == store.count_passages()
    for p in passages.values():
        doc = store.document(p.doc_id)
        assert doc is not None and doc.text[p.start : p.end] == p.text
        assert (p.title, p.date, p.language) == (doc.title, doc.date, doc.language)
    assert store.passages([]) == {}
    assert store.passages([max(ids) + 1000]) == {}  # an id the store does not have


def test_filters_by_document_and_by_date_prefix(store: ChunkStore) -> None:
    everything = set(store.passage_ids())
    only = store.passage_ids(doc_ids=[HANGZHOU])
    assert only and {p.doc_id for p in store.passages(only).values()} == {HANGZHOU}
    assert store.passage_ids(doc_ids=[]) == []
    dates = {p.date for p in store.passages(list(everything)).values() if p.date}
    month = min(dates)[:7]  # "2017-12": every day of that month counts
    in_month = store.passages(store.passage_ids(date_from=month, date_to=month))
    assert in_month and all(p.date and p.date.startswith(month) for p in in_month.values())
    assert store.passage_ids(date_from="2999-01") == []


def test_sentences_lie_inside_their_passage_in_text_order(store: ChunkStore) -> None:
    passages = store.passages(store.passage_ids(doc_ids=[HANGZHOU]))
    sentences = store.sentences_of(list(passages))
    assert set(sentences) == set(passages)
    for pid, spans in sentences.items():
        p = passages[pid]
        starts = [start for _, start, _ in spans]
        assert starts == sorted(starts)
        assert all(p.start <= start < end <= p.end for _, start, end in spans)
    total = sum(len(s) for s in store.sentences_of(store.passage_ids()).values())
    assert total == store.count_sentences()


def test_counts_agree_with_the_snapshot(store: ChunkStore) -> None:
    snapshot = store.snapshot()
    assert snapshot.passages == store.count_passages()
    assert snapshot.sentences == store.count_sentences()
    assert store.count_documents() == len(store.documents()) == len(store.document_ids()) == 5
    assert committed_generation(store.path) == snapshot.state.generation >= 1


def test_the_committed_generation_of_a_missing_or_damaged_store_is_unknown(
    tmp_path: Path,
) -> None:
    assert committed_generation(tmp_path / STORE) is None
    (tmp_path / STORE).write_bytes(b"not a database" * 100)
    assert committed_generation(tmp_path / STORE) is None


@pytest.mark.parametrize(("manifest_says", "expected"), [(None, 0), (1, 0), (40, 40)])
def test_the_next_generation_is_past_both_the_store_and_the_manifest(
    built_index_dir: Path, tmp_path: Path, manifest_says: int | None, expected: int
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    committed = committed_generation(index_dir / STORE)
    assert committed is not None
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    if manifest_says is None:
        (index_dir / MANIFEST).unlink()
    else:
        manifest["generation"] = manifest_says  # a manifest left behind by a crash, or ahead
        (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert next_generation(index_dir) == max(committed, expected) + 1
    (index_dir / STORE).write_bytes(b"damaged")  # then only the manifest says
    assert next_generation(index_dir) == (manifest_says or 0) + 1
