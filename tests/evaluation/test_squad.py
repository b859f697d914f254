import json
from pathlib import Path

import pytest

from rag.evaluation.squad import SquadError, load_squad

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Hangzhou",
            "paragraphs": [
                {
                    "context": "Hangzhou  est une ville de Chine.  Son maire est Xu Liyi, élu.",
                    "qas": [
                        {"id": "a", "question": "Qui est le maire ?",
                         "answers": [{"text": "Xu Liyi", "answer_start": 50}]},
                        {"id": "b", "question": "Which country is Hangzhou in?",
                         "answers": [{"text": "Chine", "answer_start": 28}]},
                    ],
                },
                {"context": "The mayor of Paris spoke. The mayor left.",
                 "qas": [{"id": "c", "question": "What did the mayor do?",
                          "answers": [{"text": "mayor", "answer_start": 30}]}]},
            ],
        }
    ],
}  # fmt: skip


def test_paragraphs_become_documents_and_questions_point_at_their_span(tmp_path: Path) -> None:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD))
    documents, questions = load_squad(path)
    assert [d.id for d in documents] == ["0000-000", "0000-001"]
    assert documents[0].title == "Hangzhou" and documents[0].language == "fr"
    assert documents[1].language == "en"
    assert documents[0].text == "Hangzhou est une ville de Chine. Son maire est Xu Liyi, élu."
    by_id = {q.id: q for q in questions}
    (a,) = by_id["a"].answers
    assert documents[0].text[a.spans[0][0] : a.spans[0][1]] == "Xu Liyi"
    assert by_id["b"].lang == "en"
    # "mayor" stands twice: the span is the occurrence the dataset points at, after normalisation.
    (c,) = by_id["c"].answers
    assert c.spans == ((30, 35),)


@pytest.mark.parametrize(
    ("content", "message"),
    [("[]", "not a SQuAD v1.1 JSON file"), ("{", "not a SQuAD v1.1 JSON file"),
     (json.dumps({"data": [{"paragraphs": [{"qas": []}]}]}), "unexpected structure"),
     (json.dumps({"data": []}), "no answerable questions")],
)  # fmt: skip
def test_bad_squad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SquadError, match=message):
        load_squad(path)


def test_a_missing_squad_file_says_file_not_found_and_where_piaf_is(tmp_path: Path) -> None:
    with pytest.raises(SquadError, match=r"file not found: .*nowhere\.json.*piaf-dev\.json"):
        load_squad(tmp_path / "nowhere.json")
