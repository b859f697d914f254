"""The chunk store: documents, passage and sentence offsets, word counts and the index's state,
in one SQLite file.

A passage's text is never stored twice: it is read as a slice of its document's text, so the
store is compact and `document.text[start:end] == passage.text` holds by construction.
Passage and sentence ids are handed out once and never reused: the segments (FAISS, BM25,
sentence vectors) are keyed by them.

The store is also where an index's changes commit: one SQLite transaction changes the rows and
the `state` (generation, live segments, next ids). Files a change needs are written before it
commits; a change cut before its commit leaves the previous generation as it was.
"""

from __future__ import annotations

import errno
import json
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answers import DocumentSummary
from rag.errors import DiskFullError
from rag.ingest.chunking import Passage
from rag.ingest.corpus import fingerprint_of
from rag.ingest.formats import Document

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, language TEXT NOT NULL,
    source TEXT NOT NULL, url TEXT, text TEXT NOT NULL,
    fingerprint TEXT NOT NULL, origin TEXT, pages TEXT
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, embed_hash BLOB NOT NULL, page INTEGER
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, passage_id INTEGER NOT NULL REFERENCES passages(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, embed_hash BLOB NOT NULL
);
CREATE TABLE words (
    language TEXT NOT NULL, word TEXT NOT NULL, count INTEGER NOT NULL, vector BLOB,
    PRIMARY KEY (language, word)
);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE removed (kind TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (kind, id));
CREATE INDEX passages_doc ON passages(doc_id);
CREATE INDEX sentences_passage ON sentences(passage_id);
CREATE INDEX sentences_hash ON sentences(embed_hash);
CREATE INDEX passages_hash ON passages(embed_hash);
CREATE INDEX documents_date ON documents(date);
CREATE INDEX words_rank ON words(language, count DESC, word);
"""
# Embeds (language, word) pairs, one vector each.
WordEmbedder = Callable[[list[tuple[str, str]]], np.ndarray]
_PASSAGE_COLUMNS = """p.id, p.doc_id, p.start, p."end",
    substr(d.text, p.start + 1, p."end" - p.start), d.title, d.date, d.source, d.language,
    p.page"""


@dataclass(frozen=True)
class StoredPassage:
    id: int
    doc_id: str
    start: int
    end: int
    text: str
    title: str
    date: str | None
    source: str
    language: str
    page: int | None = None


@dataclass(frozen=True)
class State:
    """What one generation of the index is: its number, its segments, the next free ids, and
    the vocabulary size it keeps for translation."""

    generation: int
    segments: list[str]
    next_passage: int
    next_sentence: int
    vocabulary_size: int

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("generation", str(self.generation)),
            ("segments", json.dumps(self.segments)),
            ("next_passage", str(self.next_passage)),
            ("next_sentence", str(self.next_sentence)),
            ("vocabulary_size", str(self.vocabulary_size)),
        ]

    @classmethod
    def of(cls, rows: Iterable[tuple[str, str]]) -> State:
        values = dict(rows)
        return cls(
            generation=int(values["generation"]),
            segments=list(json.loads(values["segments"])),
            next_passage=int(values["next_passage"]),
            next_sentence=int(values["next_sentence"]),
            vocabulary_size=int(values["vocabulary_size"]),
        )


@dataclass(frozen=True)
class Snapshot:
    """A generation as the store has it: its state, the ids its segments hold but that are
    removed (left out of searches until a merge drops them), and how many passages and
    sentences are live."""

    state: State
    removed_passages: np.ndarray
    removed_sentences: np.ndarray
    passages: int
    sentences: int


@dataclass(frozen=True)
class Removals:
    """The change to the `removed` table: ids removed that the new segments still hold, and
    ids no segment holds any more."""

    passages: np.ndarray
    sentences: np.ndarray
    dropped_passages: np.ndarray
    dropped_sentences: np.ndarray


@dataclass(frozen=True)
class NewPassage:
    """A passage to store: its id, offsets and embedding hash, and its sentences as
    (sentence id, start, end, embedding hash)."""

    id: int
    passage: Passage
    embed_hash: bytes
    sentences: list[tuple[int, int, int, bytes]]


def disk_full(index_dir: Path) -> str:
    """What a change refused for want of disk space says."""
    return (
        f"the disk holding the index at {index_dir} is full; nothing was changed. Free some "
        "space, then send the change again"
    )


_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full, as the OS, SQLite, numpy or
    FAISS say it. numpy's `save` reports a short write without the OS's errno: a file
    written short is a file the disk had no room for."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT) or (
            exc.errno is None and _SHORT_WRITE.fullmatch(str(exc)) is not None
        )
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(exc, RuntimeError) and "No space left on device" in str(exc)


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")  # a commit that returned survives a crash
    con.execute("PRAGMA busy_timeout=10000")
    return con


def committed_generation(path: Path) -> int | None:
    """The generation the store at `path` has committed, read on a connection of its own (so
    that a store a rebuild put in its place is the one read), or None if it cannot be read.
    The one reading of the generation outside a snapshot: `rag.index.manifest.next_generation`
    and `rag.index.live` poll it."""
    try:
        con = _connect(path, read_only=True)
    except sqlite3.Error:
        return None
    try:
        row = con.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
        return int(row[0])
    except (sqlite3.Error, TypeError, ValueError):
        return None
    finally:
        con.close()


def _vocabulary_rows(
    con: sqlite3.Connection, size: int, columns: str
) -> dict[str, list[tuple[Any, ...]]]:
    """Each language's `size` most frequent words (ties by word), as rows of `columns` of the
    words table; languages without a word in use are left out."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for (language,) in con.execute("SELECT DISTINCT language FROM words ORDER BY 1").fetchall():
        rows = con.execute(
            f"SELECT {columns} FROM words WHERE language = ? AND count > 0 "
            "ORDER BY count DESC, word LIMIT ?",
            (language, size),
        ).fetchall()
        if rows:
            found[language] = rows
    return found


def create_store(path: Path) -> None:
    """A new, empty store at `path` (which must not exist)."""
    con = _connect(path, read_only=False)
    try:
        con.executescript(SCHEMA)
    finally:
        con.close()


class ChunkStore:
    """Access to a store, safe to share between threads (one connection each). Reads see the
    latest committed change; writes go through `StoreWriter`."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._connect().execute("SELECT count(*) FROM state").fetchone()

    def _connect(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = _connect(self.path, read_only=True)
            self._local.con = con
        return con

    def snapshot(self) -> Snapshot:
        """The state, what its segments hold that is removed, and the counts of live
        passages and sentences, read in one transaction (so that they agree)."""
        con = self._connect()
        con.execute("BEGIN")
        try:
            state = State.of(con.execute("SELECT key, value FROM state"))
            removed: dict[str, list[int]] = {"passage": [], "sentence": []}
            for kind, i in con.execute("SELECT kind, id FROM removed"):
                removed[kind].append(i)
            passages = con.execute("SELECT count(*) FROM passages").fetchone()[0]
            sentences = con.execute("SELECT count(*) FROM sentences").fetchone()[0]
        finally:
            con.execute("COMMIT")
        return Snapshot(
            state,
            np.asarray(sorted(removed["passage"]), dtype=np.int64),
            np.asarray(sorted(removed["sentence"]), dtype=np.int64),
            int(passages),
            int(sentences),
        )

    def count_passages(self) -> int:
        return int(self._connect().execute("SELECT count(*) FROM passages").fetchone()[0])

    def count_sentences(self) -> int:
        return int(self._connect().execute("SELECT count(*) FROM sentences").fetchone()[0])

    def count_documents(self) -> int:
        return int(self._connect().execute("SELECT count(*) FROM documents").fetchone()[0])

    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        """The stored passages of `ids`; an id removed since the caller found it is left out."""
        if not len(ids):
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._connect().execute(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.doc_id "
            f"WHERE p.id IN ({marks})",
            [int(i) for i in ids],
        )
        return {row[0]: StoredPassage(*row) for row in rows}

    def passage_ids(
        self,
        doc_ids: Sequence[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> list[int]:
        """Ids of the passages whose document passes the filters (dates compare as ISO text)."""
        clauses: list[str] = []
        params: list[str] = []
        if doc_ids is not None:
            clauses.append(f"d.id IN ({','.join('?' * len(doc_ids))})")
            params.extend(doc_ids)
        if date_from is not None:
            clauses.append("d.date >= ?")
            params.append(date_from)
        if date_to is not None:
            # "2021-09" <= "2021-09-30" but a day of the last month counts too: pad with "~".
            clauses.append("d.date <= ?")
            params.append(date_to + "~")
        where = " AND ".join(clauses) or "1"
        rows = self._connect().execute(
            f"SELECT p.id FROM passages p JOIN documents d ON d.id = p.doc_id WHERE {where}",
            params,
        )
        return [row[0] for row in rows]

    def hashes(self, table: str, wanted: Sequence[bytes]) -> dict[bytes, int]:
        """Embedding-input hash -> a passage (or sentence) id that has it, of the `wanted`
        hashes the store knows (for reusing vectors)."""
        if table not in ("passages", "sentences"):
            raise ValueError(table)
        found: dict[bytes, int] = {}
        for at in range(0, len(wanted), 500):
            part = list(wanted[at : at + 500])
            rows = self._connect().execute(
                f"SELECT embed_hash, min(id) FROM {table} "
                f"WHERE embed_hash IN ({','.join('?' * len(part))}) GROUP BY 1",
                part,
            )
            found.update((bytes(h), i) for h, i in rows)
        return found

    def sentences_of(self, passage_ids: Sequence[int]) -> dict[int, list[tuple[int, int, int]]]:
        """Passage id -> its sentences as (sentence id, start, end), in text order."""
        marks = ",".join("?" * len(passage_ids))
        rows = self._connect().execute(
            f'SELECT passage_id, id, start, "end" FROM sentences WHERE passage_id IN ({marks}) '
            "ORDER BY id",
            [int(i) for i in passage_ids],
        )
        found: dict[int, list[tuple[int, int, int]]] = {}
        for pid, sid, start, end in rows:
            found.setdefault(pid, []).append((sid, start, end))
        return found

    def vocabulary_words(self, size: int) -> dict[str, list[str]]:
        """Each language's `size` most frequent words (ties by word)."""
        found = _vocabulary_rows(self._connect(), size, "word")
        return {language: [w for (w,) in rows] for language, rows in found.items()}

    def vocabulary(self, size: int) -> dict[str, tuple[list[str], np.ndarray]]:
        """Each language's `size` most frequent words (ties by word) and their vectors."""
        found = _vocabulary_rows(self._connect(), size, "word, vector")
        return {
            language: (
                [w for w, _ in rows],
                np.stack([np.frombuffer(v, np.float16) for _, v in rows]).astype(np.float32),
            )
            for language, rows in found.items()
        }

    def word_vectors(
        self, wanted: Sequence[tuple[str, str]] | None = None
    ) -> dict[tuple[str, str], np.ndarray]:
        """(language, word) -> vector, of the `wanted` words (or of all) the store has
        embedded; a word keeps its vector when no document uses it any more."""
        if wanted is None:
            rows = (
                self._connect()
                .execute("SELECT language, word, vector FROM words WHERE vector IS NOT NULL")
                .fetchall()
            )
        else:
            rows = []
            for language, word in wanted:
                rows += (
                    self._connect()
                    .execute(
                        "SELECT language, word, vector FROM words WHERE language = ? AND word = ? "
                        "AND vector IS NOT NULL",
                        (language, word),
                    )
                    .fetchall()
                )
        return {(lang, w): np.frombuffer(v, np.float16).astype(np.float32) for lang, w, v in rows}

    def documents(self) -> list[DocumentSummary]:
        rows = self._connect().execute(
            "SELECT d.id, d.title, d.date, d.language, d.source, d.url, count(p.id) "
            "FROM documents d LEFT JOIN passages p ON p.doc_id = d.id GROUP BY d.id ORDER BY d.id"
        )
        fields = DocumentSummary.model_fields
        return [DocumentSummary(**dict(zip(fields, row, strict=True))) for row in rows]

    def document(self, doc_id: str) -> Document | None:
        row = (
            self._connect()
            .execute(
                "SELECT id, title, date, language, source, text, url, pages FROM documents "
                "WHERE id = ?",
                (doc_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        doc_id, title, date, language, source, text, url, pages = row
        return Document(
            doc_id, title, date, language, source, text, url, tuple(json.loads(pages or "[]"))
        )

    def document_ids(self) -> set[str]:
        return {row[0] for row in self._connect().execute("SELECT id FROM documents")}

    def corpus_fingerprint(self) -> str:
        rows = self._connect().execute("SELECT id, fingerprint FROM documents")
        return fingerprint_of(rows)

    def vocabulary_count(self, size: int) -> int:
        """How many words the vocabulary keeps, all languages together."""
        rows = self._connect().execute(
            "SELECT count(*) FROM words WHERE count > 0 GROUP BY language"
        )
        return sum(min(n, size) for (n,) in rows)

    def fingerprints(
        self, doc_ids: Sequence[str] | None = None
    ) -> dict[str, tuple[str, str | None]]:
        """Document id -> (fingerprint of its content, the file it was read from or None), of
        `doc_ids` (those the store has) or of every document."""
        con = self._connect()
        if doc_ids is None:
            rows = con.execute("SELECT id, fingerprint, origin FROM documents").fetchall()
        else:
            rows = []
            for at in range(0, len(doc_ids), 500):
                part = list(doc_ids[at : at + 500])
                rows += con.execute(
                    "SELECT id, fingerprint, origin FROM documents "
                    f"WHERE id IN ({','.join('?' * len(part))})",
                    part,
                ).fetchall()
        return {doc_id: (fp, origin) for doc_id, fp, origin in rows}

    def passages_of(self, doc_ids: Sequence[str]) -> list[tuple[int, str, str]]:
        """(passage id, text, language) of every passage of these documents."""
        if not doc_ids:
            return []
        marks = ",".join("?" * len(doc_ids))
        rows = self._connect().execute(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.doc_id "
            f"WHERE d.id IN ({marks}) ORDER BY p.id",
            list(doc_ids),
        )
        return [(row[0], row[4], row[8]) for row in rows]


class StoreWriter:
    """The one connection that changes a store; `commit` applies a whole change or nothing."""

    def __init__(self, path: Path):
        self.path = path
        self._con = _connect(path, read_only=False)

    def close(self) -> None:
        self._con.close()

    def commit(
        self,
        state: State,
        removed: Sequence[str],
        documents: Sequence[tuple[Document, str, str | None]],
        passages: Sequence[NewPassage],
        words: Counter[tuple[str, str]],
        embed_words: WordEmbedder,
        removals: Removals | None = None,
        before_commit: Callable[[ChunkStore], None] | None = None,
    ) -> None:
        """In one transaction: remove the documents `removed` (and their passages and
        sentences), insert `documents` (document, fingerprint, origin) and their `passages`,
        add `words` (negative counts remove), embed with `embed_words` the words of the kept
        vocabulary that have no vector yet, apply `removals`, and write `state`. Last,
        `before_commit` is given a view of the store as the change leaves it (to write what
        must be on disk before the change is: if it raises, nothing is changed)."""
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            if removed:
                marks = ",".join("?" * len(removed))
                con.execute(
                    "DELETE FROM sentences WHERE passage_id IN "
                    f"(SELECT id FROM passages WHERE doc_id IN ({marks}))",
                    list(removed),
                )
                con.execute(f"DELETE FROM passages WHERE doc_id IN ({marks})", list(removed))
                con.execute(f"DELETE FROM documents WHERE id IN ({marks})", list(removed))
            con.executemany(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (d.id, d.title, d.date, d.language, d.source, d.url, d.text, fp, origin,
                     json.dumps(d.pages) if d.pages else None)
                    for d, fp, origin in documents
                ),
            )  # fmt: skip
            con.executemany(
                "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)",
                ((p.id, p.passage.doc_id, p.passage.start, p.passage.end, p.embed_hash,
                  p.passage.page)
                 for p in passages),
            )  # fmt: skip
            con.executemany(
                "INSERT INTO sentences VALUES (?, ?, ?, ?, ?)",
                ((sid, p.id, a, b, h) for p in passages for sid, a, b, h in p.sentences),
            )
            con.executemany(
                "INSERT INTO words (language, word, count) VALUES (?, ?, ?) "
                "ON CONFLICT DO UPDATE SET count = count + excluded.count",
                ((lang, w, n) for (lang, w), n in sorted(words.items()) if n),
            )
            if removals is not None:
                for kind, marked, dropped in (
                    ("passage", removals.passages, removals.dropped_passages),
                    ("sentence", removals.sentences, removals.dropped_sentences),
                ):
                    con.executemany(
                        "INSERT OR IGNORE INTO removed VALUES (?, ?)",
                        ((kind, int(i)) for i in marked),
                    )
                    con.executemany(
                        "DELETE FROM removed WHERE kind = ? AND id = ?",
                        ((kind, int(i)) for i in dropped),
                    )
            self._embed_vocabulary(state.vocabulary_size, embed_words)
            con.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", state.rows())
            if before_commit is not None:
                before_commit(_Uncommitted(self.path, con))
            con.execute("COMMIT")
        except BaseException as exc:
            # SQLite rolls back by itself on some errors (a full disk among them): a ROLLBACK
            # then would fail and hide why.
            if con.in_transaction:
                con.execute("ROLLBACK")
            if is_disk_full(exc):
                raise DiskFullError(disk_full(self.path.parent)) from exc
            raise

    def _embed_vocabulary(
        self,
        size: int,
        embed_words: WordEmbedder,
    ) -> None:
        missing = [
            (language, word)
            for language, rows in _vocabulary_rows(self._con, size, "word, vector").items()
            for word, vector in rows
            if vector is None
        ]
        if missing:
            vectors = np.asarray(embed_words(missing), dtype=np.float16)
            self._con.executemany(
                "UPDATE words SET vector = ? WHERE language = ? AND word = ?",
                ((v.tobytes(), lang, w) for (lang, w), v in zip(missing, vectors, strict=True)),
            )


class _Uncommitted(ChunkStore):
    """A store read through the writer's connection, in its transaction: as the change under
    way leaves it."""

    def __init__(self, path: Path, con: sqlite3.Connection):
        self.path = path
        self._con = con

    def _connect(self) -> sqlite3.Connection:
        return self._con
