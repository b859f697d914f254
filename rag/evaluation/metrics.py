"""Scoring retrieval against a gold set or a SQuAD dataset, in every search mode.

Metrics come from ranx. Each retrieved passage is named by its span (`doc:start-end`) and judged
by the gold rule (`rag.evaluation.gold.is_relevant`), so the scores do not depend on chunk ids.
Recall@k is the share of questions with a relevant passage in the top k (ranx's hit rate): any
one answer passage answers the question.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.answers import SearchResult
from rag.config import DEFAULT_EMBEDDER, Settings
from rag.embedders import make_embedder
from rag.evaluation.gold import (
    GoldQuestion,
    UnanswerableQuestion,
    is_relevant,
    load_gold,
    load_unanswerable,
)
from rag.evaluation.squad import load_squad
from rag.index.loading import Index, load_index
from rag.index.manifest import index_matches
from rag.indexing.build import write_index
from rag.indexing.progress import ProgressCallback
from rag.ingest.corpus import corpus_fingerprint, load_corpus
from rag.ingest.formats import Document, FormatLimits
from rag.retrieval.search import search
from rag.version import __version__

METRICS = {
    "recall@1": "hit_rate@1",
    "recall@5": "hit_rate@5",
    "recall@10": "hit_rate@10",
    "mrr@10": "mrr@10",
    "ndcg@10": "ndcg@10",
}
HIGHLIGHT = "highlight@1"  # the top result's highlights cover a gold quote (not from ranx)
KEPT = "answerable"  # share of the (answerable) questions that the search calls answerable
DEPTH = 10
_NOTHING = "∅"  # stands for "no passage" where ranx needs a key


@dataclass(frozen=True)
class Miss:
    """A question with no relevant passage in a mode's top 10, and what came first instead."""

    id: str
    question: str
    expected_doc: str
    expected_quote: str
    first: SearchResult | None


@dataclass
class EvalReport:
    runs: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    misses: dict[str, list[Miss]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # mode -> group -> {"refused": share of unanswerable questions called unanswerable, "n"}
    refusals: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runs": self.runs, "config": self.config}
        if self.refusals:
            out["refusals"] = self.refusals
        return out


def _share(flags: dict[str, bool], ids: list[str]) -> float:
    """The share of the questions `ids` whose flag is true, to 4 decimals."""
    return round(sum(flags[i] for i in ids) / len(ids), 4)


def _key(doc_id: str, start: int, end: int) -> str:
    return f"{doc_id}:{start}-{end}"


def _relevant_passages(index: Index, question: GoldQuestion) -> dict[str, int]:
    found: dict[str, int] = {}
    for answer in question.answers:
        ids = index.store.passage_ids(doc_ids=[answer.doc_id])
        for p in index.store.passages(ids).values():
            if is_relevant(answer, p.doc_id, p.start, p.end):
                found[_key(p.doc_id, p.start, p.end)] = 1
    return found or {_NOTHING + "unreachable": 1}


def _groups(question: GoldQuestion, doc_language: dict[str, str]) -> list[str]:
    target = doc_language[question.answers[0].doc_id]
    return ["all", question.lang, f"{question.lang}->{target}"]


def ranx_scores(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    metrics: tuple[str, ...] = tuple(METRICS.values()),
) -> dict[str, float]:
    """ranx's scores of `metrics` for `run` against `qrels`. On a fresh machine ranx's numba
    kernels compile on first use and warn "unsafe cast from uint64 to int64" (its counts are
    small): ranx's to fix, not a reader's of `rag eval` to see, so that one warning is hidden."""
    from ranx import Qrels, Run, evaluate

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")
        scores = evaluate(Qrels(qrels), Run(run), list(metrics), make_comparable=True)
    if not isinstance(scores, dict):  # ranx gives one metric's score alone
        return {metrics[0]: float(scores)}
    return {m: float(scores[m]) for m in metrics}


def score_modes(
    index: Index,
    questions: list[GoldQuestion],
    modes: list[str],
    progress: ProgressCallback | None = None,
) -> EvalReport:
    """Every question in every mode, scored overall, per language and per language pair."""
    doc_language = {d.id: d.language for d in index.store.documents()}
    qrels = {q.id: _relevant_passages(index, q) for q in questions}
    groups: dict[str, list[str]] = {}
    for q in questions:
        for group in _groups(q, doc_language):
            groups.setdefault(group, []).append(q.id)
    report = EvalReport()
    for mode in modes:
        run: dict[str, dict[str, float]] = {}
        highlighted: dict[str, bool] = {}
        kept: dict[str, bool] = {}
        report.misses[mode] = []
        for done, q in enumerate(questions, start=1):
            response = search(index, q.question, DEPTH, mode)
            results = response.results
            kept[q.id] = response.answerable
            # ranx ranks by score: give it the rank order, which fusion ties would blur.
            run[q.id] = {
                _key(r.doc_id, r.start, r.end): float(DEPTH - r.rank + 1) for r in results
            } or {_NOTHING: 0.0}
            top = results[0] if results else None
            highlighted[q.id] = top is not None and any(
                is_relevant(a, top.doc_id, h.start, h.end)
                for a in q.answers
                for h in top.highlights
            )
            if not any(
                is_relevant(a, r.doc_id, r.start, r.end) for a in q.answers for r in results
            ):
                first = results[0] if results else None
                a = q.answers[0]
                report.misses[mode].append(Miss(q.id, q.question, a.doc_id, a.text, first))
            if progress:
                progress(mode, done, len(questions))
        report.runs[mode] = {}
        for group, ids in sorted(groups.items(), key=lambda g: (g[0] != "all", g[0])):
            scores = ranx_scores({i: qrels[i] for i in ids}, {i: run[i] for i in ids})
            row = {name: round(float(scores[m]), 4) for name, m in METRICS.items()}
            row[HIGHLIGHT] = _share(highlighted, ids)
            row[KEPT] = _share(kept, ids)
            report.runs[mode][group] = {**row, "n": len(ids)}
    return report


def score_refusals(
    index: Index, questions: list[UnanswerableQuestion], modes: list[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per mode, the share of questions the corpus cannot answer that the search calls
    unanswerable: overall, per question language and per kind."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for mode in modes:
        refused = {q.id: not search(index, q.question, DEPTH, mode).answerable for q in questions}
        groups: dict[str, list[str]] = {"all": [q.id for q in questions]}
        for q in questions:
            groups.setdefault(q.lang, []).append(q.id)
        for q in questions:
            if q.kind:
                groups.setdefault(q.kind, []).append(q.id)
        out[mode] = {
            group: {"refused": _share(refused, ids), "n": len(ids)} for group, ids in groups.items()
        }
    return out


@contextlib.contextmanager
def _index_for(
    documents: list[Document], settings: Settings, index_dir: Path | None, progress: Any
) -> Iterator[tuple[Index, str]]:
    """An index of `documents`: the one at `index_dir` if it matches, else a new one, built in
    `index_dir` when that folder does not exist yet, or else in a temporary folder."""
    if index_dir is not None and index_matches(index_dir, documents, settings):
        yield load_index(index_dir, settings), f"reused {index_dir}"
        return
    embedder = make_embedder(settings.embedder or DEFAULT_EMBEDDER, settings)
    with contextlib.ExitStack() as stack:
        if index_dir is not None and not index_dir.exists():
            path, how = index_dir, f"built {index_dir}"
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="rag-eval-"))
            path, how = Path(tmp) / "index", "temporary index"
        write_index(documents, path, settings, embedder, progress)
        yield load_index(path, settings), how


def run_evaluation(
    settings: Settings,
    modes: list[str],
    gold_path: Path | None = None,
    squad_path: Path | None = None,
    index_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    unanswerable_path: Path | None = None,
) -> EvalReport:
    """Score a gold set over the corpus (or a SQuAD dataset over its own paragraphs), and the
    refusal of questions it cannot answer if `unanswerable_path` is given."""
    unanswerable = load_unanswerable(unanswerable_path) if unanswerable_path else []
    if squad_path is not None:
        documents, questions = load_squad(squad_path)
        index_dir = None  # a dataset always gets a temporary index
        source = {"squad": str(squad_path)}
    else:
        documents = load_corpus(settings.corpus_dir, FormatLimits.of(settings))
        gold = gold_path or Path("eval/gold.jsonl")
        questions = load_gold(gold, documents)
        source = {"gold": str(gold), "corpus": str(settings.corpus_dir)}
    with _index_for(documents, settings, index_dir, progress) as (index, how):
        report = score_modes(index, questions, modes, progress)
        if unanswerable:
            report.refusals = score_refusals(index, unanswerable, modes)
        manifest = index.manifest
    report.config = {
        **source,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rag_version": __version__,
        "index": how,
        "embedder": manifest.embedder.name,
        "chunk_size": manifest.chunking.size,
        "chunk_overlap": manifest.chunking.overlap,
        "vector_index": manifest.vector_index,
        "candidates": settings.candidates,
        "rrf_k": settings.rrf_k,
        "documents": len(documents),
        "passages": manifest.passages,
        "questions": len(questions),
        "corpus_fingerprint": corpus_fingerprint(documents),
        "modes": modes,
        **({"unanswerable": str(unanswerable_path)} if unanswerable else {}),
    }
    return report
