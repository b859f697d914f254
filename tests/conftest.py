from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embedders import Embedder, make_embedder
from rag.index import Index, build_index, load_index

# sentence-transformers must load the packaged model from disk, never from a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
HANGZHOU = "002_4fe2696a3ac29a64"


@pytest.fixture(scope="session")
def use_embedder() -> Embedder:
    return make_embedder("use-m3", Settings(embed_threads=1))


@pytest.fixture(scope="session")
def built_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default corpus indexed once with the default settings; tests must not change it."""
    index_dir = tmp_path_factory.mktemp("default") / "index"
    build_index(Settings(corpus_dir=CORPUS, index_dir=index_dir))
    return index_dir


@pytest.fixture(scope="session")
def default_index(built_index_dir: Path, use_embedder: Embedder) -> Index:
    return load_index(built_index_dir, Settings(index_dir=built_index_dir), use_embedder)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target
