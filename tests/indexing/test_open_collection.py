"""The library's collections: `open_collection` opens one by name, `default` included, and
answers a name that is absent, or deleted, with the error that lists where to look."""

import shutil
from pathlib import Path

import pytest

from rag import collection_names, create_collection, delete_collection, open_collection
from rag.config import Settings
from rag.embedders import Embedder
from rag.errors import CollectionConflictError, CollectionNotFoundError


def test_a_collection_is_opened_by_name_until_it_is_deleted(
    tmp_path: Path, built_index_dir: Path, use_embedder: Embedder
) -> None:
    shutil.copytree(built_index_dir, tmp_path / "index")
    settings = Settings(index_dir=tmp_path / "index", collections_dir=tmp_path / "collections")
    default = open_collection("default", settings, use_embedder)
    assert default.manifest.documents == 5 and default.path == tmp_path / "index"
    with pytest.raises(CollectionNotFoundError, match="no collection named 'villes'"):
        open_collection("villes", settings, use_embedder)

    assert create_collection(settings, "villes", use_embedder)
    assert not create_collection(settings, "villes", use_embedder)  # it exists: kept
    villes = open_collection("villes", settings, use_embedder)
    assert villes.manifest.documents == 0 and villes.path == tmp_path / "collections" / "villes"
    assert collection_names(settings) == ["default", "villes"]

    delete_collection(settings, "villes")
    with pytest.raises(CollectionNotFoundError):
        open_collection("villes", settings, use_embedder)
    with pytest.raises(CollectionConflictError, match="'default' cannot be deleted"):
        delete_collection(settings, "default")
    assert collection_names(settings) == ["default"]
