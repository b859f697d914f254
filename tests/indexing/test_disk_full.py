"""A change on a full disk: whole and acknowledged, or refused with nothing changed (README,
"Reliability"). The index lives on a small tmpfs, swept through the free space a change needs;
the manifest always agrees with the store, and nothing is left behind."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import HANGZHOU, serve_in_thread

from rag.config import Settings
from rag.embedders import Embedder
from rag.errors import DiskFullError
from rag.index.loading import load_index
from rag.indexing.updates import update_index
from rag.ingest.formats import parse_document
from rag.service.app import create_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs, which needs root"),
]
PAGE = 4096
FREE_KB = range(0, 2049, 32)  # on this corpus a change needs about 1.1 MB
OUTCOMES: dict[int, str] = {}
# A document of about 20 passages, and the removal of one of the corpus.
TEXT = " ".join(
    f"La ville numéro {i} ouvre un guichet numérique de quartier, avec des ateliers pour "
    f"apprendre les démarches en ligne et un conseiller présent chaque {i % 7 + 1}e jour."
    for i in range(120)
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)  # files may still be mapped


def _pages(folder: Path) -> int:
    """The bytes `folder`'s files take on a tmpfs (whole pages)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(-(-p.stat().st_size // PAGE) * PAGE for p in files)


def _on_disk_of(mount: Path, index_dir: Path, free: int) -> Path:
    """A copy of `index_dir` on a tmpfs at `mount` that has about `free` bytes left."""
    size = _pages(index_dir) + 64 * PAGE + free  # folders and SQLite's -shm/-wal files
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    copy = mount / "index"
    shutil.copytree(index_dir, copy)
    return copy


def _store_generation(index_dir: Path) -> int:
    con = sqlite3.connect(f"file:{index_dir / 'chunks.sqlite'}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()[0])
    finally:
        con.close()


def _manifest_generation(index_dir: Path) -> int:
    return int(json.loads((index_dir / "manifest.json").read_text())["generation"])


@pytest.mark.parametrize("free_kb", FREE_KB)
def test_a_change_on_a_full_disk_is_whole_or_changes_nothing(
    built_index_dir: Path, use_embedder: Embedder, small_disk: Path, free_kb: int
) -> None:
    try:
        index_dir = _on_disk_of(small_disk, built_index_dir, free_kb * 1024)
    except OSError:
        pytest.skip("the index itself does not fit")  # not a change: nothing to test
    settings = Settings(index_dir=index_dir)
    before = _store_generation(index_dir)
    doc, _ = parse_document("guichets", TEXT)
    try:
        report = update_index(
            index_dir, settings, add=[doc], remove=[HANGZHOU], embedder=use_embedder
        )
    except DiskFullError as exc:
        assert "is full; nothing was changed" in str(exc)
        assert _store_generation(index_dir) == _manifest_generation(index_dir) == before
        index = load_index(index_dir, settings, use_embedder)
        assert index.store.document("guichets") is None and index.store.document(HANGZHOU)
        outcome = f"refused ({type(exc.__cause__).__name__}: {exc.__cause__})"
    else:
        assert report.generation == before + 1
        assert _store_generation(index_dir) == _manifest_generation(index_dir) == before + 1
        index = load_index(index_dir, settings, use_embedder)
        assert index.store.document("guichets") and index.store.document(HANGZHOU) is None
        outcome = "changed"
    leftovers = [p.name for p in index_dir.rglob(".*")]
    assert leftovers == [], leftovers  # no temporary manifest or segment
    assert sorted(p.name for p in (index_dir / "segments").iterdir()) == sorted(index.segments)
    assert index.manifest.passages == len(index.live_passages)
    OUTCOMES[free_kb] = outcome


def test_the_sweep_saw_changes_refused_at_each_step_and_changes_made() -> None:
    """The sweep is one that tests something: refusals from both the segment files (numpy's
    short write) and the store's commit (SQLite), and changes made whole."""
    seen = " ".join(OUTCOMES.values())
    kinds = {"numpy": "requested and", "sqlite": "disk is full", "changed": "changed"}
    for kind, mark in kinds.items():
        free = [kb for kb, outcome in OUTCOMES.items() if mark in outcome]
        print(f"{kind}: {len(free)} of {len(OUTCOMES)} steps, {min(free, default=None)}"
              f"–{max(free, default=None)} KB free")  # fmt: skip
    assert "requested and" in seen and "database or disk is full" in seen, OUTCOMES
    assert "changed" in OUTCOMES.values(), OUTCOMES


def test_a_write_route_on_a_full_disk_answers_507_and_changes_nothing(
    built_index_dir: Path, small_disk: Path
) -> None:
    index_dir = _on_disk_of(small_disk, built_index_dir, 64 * 1024)
    app = create_app(Settings(index_dir=index_dir, allow_writes=True))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        before = client.get("/ready").json()["generation"]
        r = client.post("/documents", json={"id": "guichets", "text": TEXT})
        assert r.status_code == 507, r.text
        assert r.json()["error"] == "insufficient_storage" and "is full" in r.json()["detail"]
        assert client.get("/ready").json()["generation"] == before
        assert client.get("/documents/guichets").status_code == 404
