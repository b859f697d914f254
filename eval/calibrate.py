"""Fit an embedder's "no answer" model (`rag.config.NoAnswer`) and check it (issue #13).

Positives are the gold questions (the corpus answers each), negatives the questions of
`eval/unanswerable.jsonl`. Each is searched in the default mode; the features are those of its
top result, as `rag.retrieval.no_answer` computes them: the question's cosine with the top
passage, and whether that passage is in another language. A logistic regression (scikit-learn)
gives the confidence; the threshold is the highest that keeps `--keep` of the gold questions.

What it prints, to judge the model on questions it was not fitted on:
- 5-fold cross-validation on the calibration set: answerable kept, unanswerable refused, Brier;
- with `--piaf-index` (an index of PIAF dev's paragraphs): the share of PIAF questions kept
  there, and refused on the news index (PIAF is Wikipedia, which the news corpus does not cover).

    python eval/calibrate.py --index /tmp/rag-tune/gold-e5-small-600-100 \\
        --piaf-index /tmp/rag-tune/piaf-e5-small-600-100
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from tune import MemoEmbedder  # eval/tune.py: each question embedded once

from rag.config import Settings
from rag.evaluation.gold import load_gold, load_unanswerable
from rag.evaluation.squad import load_squad
from rag.index.loading import Index, load_index
from rag.ingest.corpus import load_corpus
from rag.retrieval import no_answer
from rag.retrieval.search import search


def _open(path: Path) -> Index:
    index = load_index(path, Settings())
    return dataclasses.replace(index, embedder=MemoEmbedder(index.embedder))


def features(index: Index, questions: list[str], mode: str = "hybrid") -> np.ndarray:
    """`rag.retrieval.no_answer.features` of each question's top result in `mode`."""
    rows = []
    for question in questions:
        response = search(index, question, 1, mode, highlight=False)
        if not response.results:
            rows.append((0.0, 0.0))
            continue
        top = response.results[0]
        ids = index.store.passage_ids(doc_ids=[top.doc_id])
        passage = next(
            p
            for p in index.store.passages(ids).values()
            if (p.start, p.end) == (top.start, top.end)
        )
        vector = index.embedder.encode_queries([question])[0]
        rows.append(no_answer.features(index, vector, passage, response.lang))
    return np.array(rows)


def _rates(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    return float(np.mean(p[y == 1] >= threshold)), float(np.mean(p[y == 0] < threshold))


def choose_threshold(p: np.ndarray, y: np.ndarray, keep: float) -> float:
    """The highest threshold that keeps at least `keep` of the positives."""
    positives = np.sort(p[y == 1])
    allowed = int(np.floor((1 - keep) * len(positives)))  # positives it may refuse
    return float(positives[allowed])


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index of corpus/")
    parser.add_argument("--piaf-index", type=Path, help="index of PIAF dev's paragraphs")
    parser.add_argument("--keep", type=float, default=0.96, help="share of gold to keep")
    args = parser.parse_args()

    index = _open(args.index)
    gold = load_gold(Path("eval/gold.jsonl"), load_corpus(Path("corpus")))
    unanswerable = load_unanswerable(Path("eval/unanswerable.jsonl"))
    kinds = np.array(["gold"] * len(gold) + [q.kind for q in unanswerable])
    x = features(index, [q.question for q in gold] + [q.question for q in unanswerable])
    y = np.r_[np.ones(len(gold)), np.zeros(len(unanswerable))]

    def fit(x: np.ndarray, y: np.ndarray):
        return LogisticRegression(C=100.0, max_iter=1000).fit(x, y)

    cv = np.zeros(len(y))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for train, test in folds.split(x, y):
        model = fit(x[train], y[train])
        threshold = choose_threshold(model.predict_proba(x[train])[:, 1], y[train], args.keep)
        # Each held-out question against its fold's threshold, as a 0/1 decision:
        cv[test] = model.predict_proba(x[test])[:, 1] >= threshold
    kept, refused = float(np.mean(cv[y == 1])), float(np.mean(cv[y == 0] == 0))
    near = float(np.mean(cv[kinds == "near"] == 0)) if "near" in kinds else float("nan")
    off = float(np.mean(cv[kinds == "off"] == 0)) if "off" in kinds else float("nan")
    print(f"5-fold CV: gold kept {kept:.3f}, unanswerable refused {refused:.3f} "
          f"(near {near:.3f}, off {off:.3f})")  # fmt: skip

    model = fit(x, y)
    p = model.predict_proba(x)[:, 1]
    threshold = choose_threshold(p, y, args.keep)
    kept, refused = _rates(p, y, threshold)
    brier = float(np.mean((p - y) ** 2))
    print(f"fitted on all {len(y)}: gold kept {kept:.3f}, refused {refused:.3f}, Brier {brier:.3f}")
    (cosine, cross), intercept = model.coef_[0], model.intercept_[0]
    print(f"NoAnswer(intercept={intercept:.4f}, cosine={cosine:.4f}, "
          f"cross_language={cross:.4f}, threshold={threshold:.4f})")  # fmt: skip

    if args.piaf_index:
        _, piaf = load_squad(Path("../shared/data/piaf-dev.json"))
        questions = [q.question for q in piaf]
        on_piaf = model.predict_proba(features(_open(args.piaf_index), questions))
        on_news = model.predict_proba(features(index, questions))
        print(f"PIAF dev ({len(questions)} questions): kept on its own index "
              f"{np.mean(on_piaf[:, 1] >= threshold):.3f}, refused on the news index "
              f"{np.mean(on_news[:, 1] < threshold):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
