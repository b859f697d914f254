"""Gold sets: questions with verbatim answer quotes, validated against the corpus on load.

A retrieved passage is relevant to a question when it comes from an answer's document and its
`[start, end)` span covers at least half of the quote's characters. The rule does not depend on
how the corpus is chunked, so the gold set stays valid when chunking changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rag.errors import RagError
from rag.ingest.cleaning import normalize_text
from rag.ingest.formats import Document

LANGUAGES = ("fr", "en")


class GoldError(RagError):
    """The gold set is malformed or does not match the corpus."""


@dataclass(frozen=True)
class Answer:
    doc_id: str
    text: str
    spans: tuple[tuple[int, int], ...] = ()  # where the quote stands in the document text


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    lang: str
    answers: tuple[Answer, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class UnanswerableQuestion:
    """A question the corpus does not answer; `kind` groups them (e.g. "near", "off")."""

    id: str
    question: str
    lang: str
    kind: str = ""


def quote_spans(quote: str, text: str, near: int | None = None) -> list[tuple[int, int]]:
    """Every place `quote` stands in `text`, whatever the whitespace between its words.

    With `near`, only the occurrence closest to that offset.
    """
    words = normalize_text(quote).split()
    if not words:
        return []
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
    spans = [(m.start(), m.end()) for m in pattern.finditer(text)]
    if near is not None and spans:
        return [min(spans, key=lambda s: abs(s[0] - near))]
    return spans


def is_relevant(answer: Answer, doc_id: str, start: int, end: int) -> bool:
    if doc_id != answer.doc_id:
        return False
    return any(2 * (min(end, b) - max(start, a)) >= b - a for a, b in answer.spans)


def _fail(path: Path, number: int, qid: str | None, message: str) -> GoldError:
    where = f"{path}:{number}" + (f" (question {qid})" if qid else "")
    return GoldError(f"{where}: {message}")


def _parse_head(path: Path, number: int, line: str) -> tuple[dict, str, str, str]:
    """The JSON object of a line, with its id, question and language checked."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _fail(path, number, None, f"not valid JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise _fail(path, number, None, "each line must be a JSON object")
    qid = record.get("id")
    if not isinstance(qid, str) or not qid:
        raise _fail(path, number, None, 'needs a non-empty string "id"')
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _fail(path, number, qid, 'needs a non-empty string "question"')
    lang = record.get("lang")
    if lang not in LANGUAGES:
        raise _fail(path, number, qid, f'"lang" is {lang!r}; it must be one of {LANGUAGES}')
    return record, qid, question.strip(), lang


def _parse_line(
    path: Path, number: int, line: str, documents: Mapping[str, Document]
) -> GoldQuestion:
    record, qid, question, lang = _parse_head(path, number, line)
    raw_answers = record.get("answers")
    if not isinstance(raw_answers, list) or not raw_answers:
        raise _fail(path, number, qid, 'needs a non-empty list "answers"')
    answers = []
    for raw in raw_answers:
        if not isinstance(raw, dict) or not raw.get("doc_id") or not raw.get("text"):
            raise _fail(path, number, qid, 'each answer needs "doc_id" and "text"')
        doc = documents.get(raw["doc_id"])
        if doc is None:
            raise _fail(path, number, qid, f"unknown doc_id {raw['doc_id']!r}")
        spans = quote_spans(raw["text"], doc.text)
        if not spans:
            raise _fail(
                path, number, qid, f"quote {raw['text'][:60]!r} is not in document {doc.id}"
            )
        answers.append(Answer(doc.id, raw["text"], tuple(spans)))
    return GoldQuestion(qid, question, lang, tuple(answers))


def _lines(path: Path, what: str) -> list[tuple[int, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldError(f"cannot read {what} {path}: {exc}") from exc
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


Q = TypeVar("Q", "GoldQuestion", "UnanswerableQuestion")


def _load(path: Path, what: str, parse: Callable[[int, str], Q]) -> list[Q]:
    """Every question of a JSON-lines file, parsed by `parse(number, line)`; ids are unique."""
    questions: list[Q] = []
    seen: set[str] = set()
    for number, line in _lines(path, what):
        question = parse(number, line)
        if question.id in seen:
            raise _fail(path, number, question.id, "this id is used twice")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise GoldError(f"{what} {path} has no questions; write one JSON object per line")
    return questions


def _parse_unanswerable(path: Path, number: int, line: str) -> UnanswerableQuestion:
    record, qid, question, lang = _parse_head(path, number, line)
    if record.get("answers"):
        raise _fail(path, number, qid, 'a question the corpus cannot answer has no "answers"')
    kind = record.get("kind", "")
    if not isinstance(kind, str):
        raise _fail(path, number, qid, '"kind" must be a string')
    return UnanswerableQuestion(qid, question, lang, kind)


def load_unanswerable(path: Path) -> list[UnanswerableQuestion]:
    """Questions the corpus does not answer: `{"id", "question", "lang", "kind"?}` per line."""
    return _load(path, "question set", lambda n, line: _parse_unanswerable(path, n, line))


def load_gold(path: Path, documents: list[Document]) -> list[GoldQuestion]:
    """The questions of a gold set, each quote located in its document. Raises GoldError."""
    by_id = {d.id: d for d in documents}
    return _load(path, "gold set", lambda n, line: _parse_line(path, n, line, by_id))
