import json
from pathlib import Path

import pytest
from conftest import CORPUS, HANGZHOU, ROOT

from rag.evaluation.gold import (
    Answer,
    GoldError,
    is_relevant,
    load_gold,
    load_unanswerable,
    quote_spans,
)
from rag.ingest.corpus import load_corpus

GOLD = ROOT / "eval" / "gold.jsonl"


@pytest.fixture(scope="module")
def documents():
    return load_corpus(CORPUS)


def test_the_gold_set_is_valid_and_balanced(documents) -> None:
    questions = load_gold(GOLD, documents)
    assert len(questions) >= 60
    langs = [q.lang for q in questions]
    assert abs(langs.count("fr") - langs.count("en")) <= 0.15 * len(questions)
    assert {a.doc_id for q in questions for a in q.answers} == {d.id for d in documents}
    assert len({q.id for q in questions}) == len(questions)


def test_quotes_match_across_whitespace_and_nfkc() -> None:
    text = "Le maire de Hangzhou,\n\nXU Liyi, a inauguré."
    assert quote_spans("Hangzhou, XU  Liyi", text) == [(12, 30)]
    assert quote_spans("ﬁn", "la fin") == [(3, 6)]
    assert quote_spans("absent", text) == []
    assert quote_spans("a", "a b a", near=3) == [(4, 5)]


def test_relevance_needs_half_of_the_quote() -> None:
    answer = Answer("d", "x" * 10, ((100, 110),))
    assert is_relevant(answer, "d", 90, 105)  # covers 5 of 10 characters
    assert not is_relevant(answer, "d", 90, 104)  # 4 of 10
    assert not is_relevant(answer, "other", 0, 1000)
    assert is_relevant(answer, "d", 0, 1000)


def _write(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records))
    return path


GOOD = {
    "id": "q1",
    "question": "Qui est le maire ?",
    "lang": "fr",
    "answers": [{"doc_id": HANGZHOU, "text": "du maire Xu Liyi"}],
}


def bad(**changes: object) -> dict:
    return {**GOOD, "id": "q2", **changes}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (bad(answers=[{"doc_id": HANGZHOU, "text": "le maire de Paris"}]),
         r"gold\.jsonl:2 \(question q2\): quote 'le maire de Paris' is not in document"),
        (bad(answers=[{"doc_id": "nope", "text": "x"}]),
         r"gold\.jsonl:2 \(question q2\): unknown doc_id 'nope'"),
        ("{broken", r"gold\.jsonl:2: not valid JSON"),
        (bad(lang="de"), r"\(question q2\): \"lang\" is 'de'"),
        (bad(answers=[]), r"\(question q2\): needs a non-empty list"),
        (bad(question=" "), r"\(question q2\): needs a non-empty string \"question\""),
        (bad(id="q1"), r"gold\.jsonl:2 \(question q1\): this id is used twice"),
        (bad(id=""), r"gold\.jsonl:2: needs a non-empty string \"id\""),
    ],
)  # fmt: skip
def test_bad_lines_name_the_line_and_question(
    tmp_path: Path, documents, record: object, message: str
) -> None:
    with pytest.raises(GoldError, match=message):
        load_gold(_write(tmp_path, GOOD, record), documents)


def test_empty_gold_set(tmp_path: Path, documents) -> None:
    with pytest.raises(GoldError, match="has no questions"):
        load_gold(_write(tmp_path, "", "  "), documents)


def test_missing_gold_file(tmp_path: Path, documents) -> None:
    with pytest.raises(GoldError, match="cannot read gold set"):
        load_gold(tmp_path / "none.jsonl", documents)


def test_the_unanswerable_set_is_big_enough_and_in_both_languages() -> None:
    questions = load_unanswerable(ROOT / "eval" / "unanswerable.jsonl")
    assert len(questions) >= 60
    for lang in ("fr", "en"):
        assert sum(q.lang == lang for q in questions) >= 30
    assert {q.kind for q in questions} == {"near", "off"}
    assert len({q.question for q in questions}) == len(questions)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "u1", "question": "Q ?", "lang": "de"}', "it must be one of"),
        ('{"id": "u1", "question": " ", "lang": "fr"}', 'non-empty string "question"'),
        (
            '{"id": "u1", "question": "Q ?", "lang": "fr", "answers": [{"doc_id": "x"}]}',
            'has no "answers"',
        ),
        ('{"id": "u1", "question": "Q ?", "lang": "fr", "kind": 3}', '"kind" must be a string'),
        (
            '{"id": "u1", "question": "Q ?", "lang": "fr"}\n{"id": "u1", "question": "R ?", '
            '"lang": "en"}',
            "used twice",
        ),
        ("", "has no questions"),
    ],
)
def test_a_bad_unanswerable_set_says_where_and_why(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(GoldError, match=message):
        load_unanswerable(path)
