"""Reading a SQuAD v1.1 dataset as a corpus (one document per paragraph) and a gold set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluation.gold import Answer, GoldQuestion, quote_spans
from rag.ingest.cleaning import normalize_text
from rag.ingest.formats import Document
from rag.ingest.language import detect_language


class SquadError(RagError):
    """The file is not a SQuAD v1.1 dataset."""


def _normalized_offset(context: str, offset: int) -> int:
    """Where `context[offset]` lands once the context is normalised."""
    return len(normalize_text(context[:offset] + "\x00")) - 1


def load_squad(path: Path) -> tuple[list[Document], list[GoldQuestion]]:
    """Documents (paragraphs titled with their article's title) and questions of `path`."""
    if not path.is_file():
        raise SquadError(
            f"file not found: {path.resolve()}. A SQuAD v1.1 JSON file is expected there (the "
            "PIAF dev set lives outside this repository, at ../shared/data/piaf-dev.json beside "
            "its folder in our workspace; elsewhere, download it and pass its path)"
        )
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        articles = data["data"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SquadError(
            f"{path} is not a SQuAD v1.1 JSON file ({type(exc).__name__}: {exc}); "
            'expected {"data": [{"title", "paragraphs": [{"context", "qas"}]}]}'
        ) from exc
    documents: list[Document] = []
    questions: list[GoldQuestion] = []
    try:
        for a, article in enumerate(articles):
            title = normalize_text(str(article.get("title") or f"article {a}"))
            for p, paragraph in enumerate(article["paragraphs"]):
                context = paragraph["context"]
                text = normalize_text(context)
                doc = Document(
                    id=f"{a:04d}-{p:03d}",
                    title=title.replace("_", " "),
                    date=None,
                    language=detect_language(text),
                    source=f"{path}#data[{a}].paragraphs[{p}]",
                    text=text,
                )
                documents.append(doc)
                for qa in paragraph["qas"]:
                    answers = []
                    for ans in qa["answers"]:
                        near = _normalized_offset(context, int(ans["answer_start"]))
                        spans = quote_spans(ans["text"], text, near=near)
                        if spans:
                            answers.append(Answer(doc.id, ans["text"], tuple(spans)))
                    if answers and qa["question"].strip():
                        lang = detect_language(qa["question"])
                        questions.append(
                            GoldQuestion(
                                str(qa["id"]), qa["question"].strip(), lang, tuple(answers)
                            )
                        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SquadError(
            f"{path}: unexpected structure ({type(exc).__name__}: {exc}); every paragraph needs "
            '"context" and "qas", every question "id", "question" and "answers"'
        ) from exc
    if not questions:
        raise SquadError(f"{path} has no answerable questions")
    return documents, questions
