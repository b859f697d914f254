"""Who a request is: the full-access key (`RAG_API_KEY`), a key scoped to collections (the
JSON file `RAG_API_KEYS`), or anyone when no key is set.

The key file is a list of `{"name", "key_sha256", "collections", "write"}`: keys are kept
only as the hex SHA-256 of the key, and a presented key's digest is compared with each in
constant time. The file is read again when it changes (its size, time or inode), at most once a
second: a key is revoked by editing the file. An edit that does not parse keeps the last good
keys, and the log says why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from rag.config import check_collection_name
from rag.errors import CollectionNotFoundError, RagError, SettingsError
from rag.indexing.collections import no_collection

log = logging.getLogger(__name__)

ANY = "*"


class ScopedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")
    collections: list[str] = Field(min_length=1, description="names, or ['*'] for all")
    write: bool = False

    @field_validator("collections")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if name != ANY:
                try:
                    check_collection_name(name)
                except RagError as exc:
                    raise ValueError(str(exc)) from None
        return names


_KEYS = TypeAdapter(list[ScopedKey])


@dataclass(frozen=True)
class Access:
    """What a request may do: read the collections `collections` (None: all of them), and
    change them if `write`. `key` names the key (None: no key is set on this server)."""

    key: str | None
    collections: frozenset[str] | None
    write: bool

    def reads(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def readable(self, collection: str) -> str:
        """`collection`, if it is a valid name this access may read; as if it did not exist
        otherwise (CollectionNotFoundError), so that a key learns no other collection's name."""
        check_collection_name(collection)
        if not self.reads(collection):
            raise CollectionNotFoundError(no_collection(collection))
        return collection


OPEN = Access(None, None, True)  # no key is set: writes are then up to RAG_ALLOW_WRITES
FULL = Access("RAG_API_KEY", None, True)


def read_keys(path: Path) -> list[ScopedKey]:
    """The keys of the file at `path`; SettingsError naming the file and its fault."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"RAG_API_KEYS={path}: cannot be read ({exc.strerror})") from None
    try:
        keys = _KEYS.validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise SettingsError(
            f"RAG_API_KEYS={path}: {where}: {first['msg']} (the file is a JSON list of "
            '{"name", "key_sha256", "collections", "write"})'
        ) from None
    names = [k.name for k in keys]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SettingsError(f"RAG_API_KEYS={path}: the names {repeated} are given more than once")
    return keys


class KeyRing:
    """The keys a server accepts, the key file's kept current."""

    def __init__(self, full_key: str | None, path: Path | None, recheck_seconds: float = 1.0):
        self._full = full_key
        self._path = path
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._seen = self._stat()
        self._keys = read_keys(path) if path is not None else []

    @property
    def scoped(self) -> bool:
        """Whether some keys may read only some collections (a key file is set)."""
        return self._path is not None

    @property
    def keyed(self) -> bool:
        """Whether any key is needed at all."""
        return self._full is not None or self._path is not None

    def access(self, presented: str | None) -> Access | None:
        """What the key `presented` may do; None if it opens nothing (or is missing)."""
        if not self.keyed:
            return OPEN
        if presented is None:
            return None
        given = presented.encode("utf-8", "surrogateescape")
        if self._full is not None and secrets.compare_digest(given, self._full.encode()):
            return FULL
        digest = hashlib.sha256(given).hexdigest().encode()
        found = None
        for key in self._current():  # every key compared, found or not
            if secrets.compare_digest(digest, key.key_sha256.encode()):
                found = key
        if found is None:
            return None
        names = None if ANY in found.collections else frozenset(found.collections)
        return Access(found.name, names, found.write)

    def _stat(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _current(self) -> list[ScopedKey]:
        if self._path is None:
            return []
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self._recheck:
                self._checked = now
                seen = self._stat()
                if seen != self._seen:
                    self._seen = seen
                    try:
                        self._keys = read_keys(self._path)
                        log.info(
                            "API keys read again from %s: %d keys", self._path, len(self._keys)
                        )
                    except SettingsError as exc:
                        log.error("%s; the last good keys are kept", exc)
            return self._keys
