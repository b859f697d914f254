"""The chunk store: documents and passage offsets in one SQLite file.

A passage's text is never stored twice: it is read as a slice of its document's text, so the
store is compact and `document.text[start:end] == passage.text` holds by construction.
Passage ids are the row numbers of the vector and BM25 indexes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.answers import DocumentSummary
from rag.ingest.chunking import Passage
from rag.ingest.corpus import Document

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, language TEXT NOT NULL,
    source TEXT NOT NULL, url TEXT, text TEXT NOT NULL
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, embed_hash BLOB NOT NULL
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, passage_id INTEGER NOT NULL REFERENCES passages(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, embed_hash BLOB NOT NULL
);
CREATE INDEX passages_doc ON passages(doc_id);
CREATE INDEX sentences_passage ON sentences(passage_id);
CREATE INDEX sentences_hash ON sentences(embed_hash);
CREATE INDEX passages_hash ON passages(embed_hash);
CREATE INDEX documents_date ON documents(date);
"""
_PASSAGE_COLUMNS = """p.id, p.doc_id, p.start, p."end",
    substr(d.text, p.start + 1, p."end" - p.start), d.title, d.date, d.source, d.language"""


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


def write_store(
    path: Path,
    documents: Iterable[Document],
    passages: Iterable[tuple[Passage, bytes]],
    sentences: Iterable[tuple[int, int, int, bytes]] = (),
) -> None:
    """Write a new store at `path` (which must not exist) with passages numbered from 0.

    `sentences` are (passage id, start, end, embedding hash), numbered from 0 in that order.
    """
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        con.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((d.id, d.title, d.date, d.language, d.source, d.url, d.text) for d in documents),
        )
        con.executemany(
            "INSERT INTO passages VALUES (?, ?, ?, ?, ?)",
            ((i, p.doc_id, p.start, p.end, h) for i, (p, h) in enumerate(passages)),
        )
        con.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?)",
            ((i, *sentence) for i, sentence in enumerate(sentences)),
        )
        con.commit()
    finally:
        con.close()


class ChunkStore:
    """Read-only access to a store, safe to share between threads (one connection each)."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._connect().execute("SELECT count(*) FROM passages").fetchone()

    def _connect(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.con = con
        return con

    def count_passages(self) -> int:
        return int(self._connect().execute("SELECT count(*) FROM passages").fetchone()[0])

    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        if not ids:
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

    def hashes(self, table: str = "passages") -> dict[bytes, int]:
        """Embedding-input hash -> a passage (or sentence) id that has it, for reusing vectors."""
        if table not in ("passages", "sentences"):
            raise ValueError(table)
        rows = self._connect().execute(f"SELECT embed_hash, min(id) FROM {table} GROUP BY 1")
        return {bytes(h): i for h, i in rows}

    def count_sentences(self) -> int:
        return int(self._connect().execute("SELECT count(*) FROM sentences").fetchone()[0])

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
                "SELECT id, title, date, language, source, text, url FROM documents WHERE id = ?",
                (doc_id,),
            )
            .fetchone()
        )
        return Document(*row) if row else None

    def document_ids(self) -> set[str]:
        return {row[0] for row in self._connect().execute("SELECT id FROM documents")}
