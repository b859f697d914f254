"""Collections: named indexes side by side, each a folder of its own.

`default` is the index at `Settings.index_dir`, as it always was; another collection `name`
is the index at `Settings.collections_dir / name` (`Settings.for_collection`). Creating one
writes an index of no document; deleting one takes its write lock (so a change in progress
ends first), moves the folder aside in one rename, then removes it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from rag.answers import CollectionSummary
from rag.config import DEFAULT_COLLECTION, DEFAULT_EMBEDDER, Settings, check_collection_name
from rag.embedders import Embedder, make_embedder
from rag.errors import CollectionConflictError, CollectionNotFoundError, IndexBusyError, RagError
from rag.index.folder import backup_of, recover, write_lock
from rag.index.loading import Index, load_index
from rag.index.manifest import MANIFEST, read_manifest
from rag.indexing.build import create_empty_index


def collection_dir(settings: Settings, name: str) -> Path:
    return settings.for_collection(name).index_dir


def exists(settings: Settings, name: str) -> bool:
    return (collection_dir(settings, name) / MANIFEST).exists()


def existing_collection(settings: Settings, name: str) -> Path:
    """The folder of the collection `name`, once an interrupted change to it is undone;
    CollectionNotFoundError if there is no such collection."""
    folder = collection_dir(settings, name)
    recover(folder)
    if not (folder / MANIFEST).exists():
        raise CollectionNotFoundError(no_collection(name))
    return folder


def collection_names(settings: Settings) -> list[str]:
    """The collections there are: `default` if its index exists, then the others by name."""
    names = [DEFAULT_COLLECTION] if exists(settings, DEFAULT_COLLECTION) else []
    if settings.collections_dir.is_dir():
        for folder in sorted(settings.collections_dir.iterdir()):
            try:
                check_collection_name(folder.name)
            except RagError:
                continue  # hidden siblings: locks, builds, deleted folders
            if folder.name != DEFAULT_COLLECTION and (folder / MANIFEST).exists():
                names.append(folder.name)
    return names


def summary(settings: Settings, name: str) -> CollectionSummary:
    """What the collection's manifest says of it (its latest change included)."""
    manifest = read_manifest(existing_collection(settings, name))
    return CollectionSummary(
        name=name,
        embedder=manifest.embedder.name,
        documents=manifest.documents,
        passages=manifest.passages,
        updated_at=manifest.updated_at or manifest.built_at,
    )


def create_collection(
    settings: Settings, name: str, embedder: str | Embedder | None = None
) -> bool:
    """Make the collection `name`, empty, unless it exists; whether it was made. `embedder`
    (a name or a loaded model) defaults to the settings' (then to the default embedder)."""
    folder = collection_dir(settings, name)
    if not isinstance(embedder, Embedder):
        embedder = make_embedder(embedder or settings.embedder or DEFAULT_EMBEDDER, settings)
    return create_empty_index(folder, settings, embedder)


def open_collection(
    name: str, settings: Settings | None = None, embedder: Embedder | None = None
) -> Index:
    """The collection `name`, loaded (`default`: the index at `settings.index_dir`)."""
    settings = settings or Settings()
    folder = existing_collection(settings, name)
    return load_index(folder, settings.for_collection(name), embedder)


def delete_collection(settings: Settings, name: str) -> None:
    """Remove the collection `name` and everything in it, once any change in progress ended
    (CollectionConflictError if that takes over `write_timeout`)."""
    if name == DEFAULT_COLLECTION:
        raise CollectionConflictError(DEFAULT_KEPT)
    folder = collection_dir(settings, name).absolute()
    try:
        with write_lock(folder, settings.write_timeout):
            recover(folder)
            if not (folder / MANIFEST).exists():
                raise CollectionNotFoundError(no_collection(name))
            deleted = folder.with_name(f".{name}.deleted-{uuid.uuid4().hex[:8]}")
            os.rename(folder, deleted)  # readers see it gone at once, whole or not at all
            shutil.rmtree(backup_of(folder), ignore_errors=True)
    except IndexBusyError as exc:
        raise CollectionConflictError(
            f"the collection {name!r} is being changed and was not deleted: {exc}"
        ) from None
    shutil.rmtree(deleted, ignore_errors=True)


DEFAULT_KEPT = (
    "the collection 'default' cannot be deleted (it is the index at RAG_INDEX_DIR); "
    "remove its documents instead"
)


def no_collection(name: str) -> str:
    return f"no collection named {name!r}; GET /collections (rag collections) lists them"
