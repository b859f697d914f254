"""Score-level sweeps for retrieval experiments (issue #5), faster than one `rag eval` per idea.

Every question is scored against every passage once per component (passage cosine, best
sentence cosine, BM25 variants); fusion settings are then tried on the stored matrices. The
judging is `rag eval`'s: passages ranked, overlapping ones dropped, a passage relevant when it
covers half of a gold quote (`rag.evaluation.gold.is_relevant`). What a sweep suggests is kept
only once `rag eval` confirms it.

PIAF is split by article into a tuning half (even article numbers) and a held-out half (odd),
so a setting chosen on one half can be checked on French data it was not tuned on.

    python eval/sweep.py gold
    python eval/sweep.py piaf --chunk-size 1000 --chunk-overlap 150
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embedders import make_embedder
from rag.evaluation.gold import GoldQuestion, is_relevant, load_gold
from rag.evaluation.squad import load_squad
from rag.ingest.chunking import Passage, chunk_documents, sentence_spans
from rag.ingest.corpus import load_corpus
from rag.ingest.formats import Document
from rag.ingest.language import detect_language
from rag.retrieval.fusion import convex_fusion
from rag.retrieval.search import without_overlaps

CACHE = Path("/tmp/rag-sweep-cache")


@dataclass
class Data:
    documents: list[Document]
    questions: list[GoldQuestion]
    passages: list[Passage]
    passage_lang: np.ndarray  # (P,) document language of each passage
    question_lang: list[str]
    query_vectors: np.ndarray  # (Q, d)
    passage_vectors: np.ndarray  # (P, d)
    sentence_vectors: np.ndarray  # (S, d)
    sentence_passage: np.ndarray  # (S,) passage of each sentence
    groups: dict[str, list[int]]


def _embed(embedder, texts: list[str]) -> np.ndarray:
    CACHE.mkdir(exist_ok=True)
    key = hashlib.sha256("\0".join([embedder.name, *texts]).encode()).hexdigest()[:24]
    path = CACHE / f"{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = embedder.encode_passages(texts)
    np.save(path, vectors)
    return vectors


def load(dataset: str, chunk_size: int, chunk_overlap: int) -> Data:
    settings = Settings(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    if dataset == "gold":
        documents = load_corpus(Path("corpus"))
        questions = load_gold(Path("eval/gold.jsonl"), documents)
    else:
        documents, questions = load_squad(Path("../shared/data/piaf-dev.json"))
    passages = list(chunk_documents(documents, chunk_size, chunk_overlap))
    doc_lang = {d.id: d.language for d in documents}
    spans = [(pid, a, b) for pid, p in enumerate(passages) for a, b in sentence_spans(p)]
    sentence_texts = [passages[pid].text[a - passages[pid].start : b - passages[pid].start]
                      for pid, a, b in spans]  # fmt: skip
    embedder = make_embedder("use-m3", settings)
    groups: dict[str, list[int]] = {"all": list(range(len(questions)))}
    for i, q in enumerate(questions):
        groups.setdefault(q.lang, []).append(i)
        if dataset != "gold":
            half = "tune" if int(q.answers[0].doc_id[:4]) % 2 == 0 else "held-out"
            groups.setdefault(half, []).append(i)
    return Data(
        documents=documents,
        questions=questions,
        passages=passages,
        passage_lang=np.array([doc_lang[p.doc_id] for p in passages]),
        question_lang=[detect_language(q.question) for q in questions],
        query_vectors=_embed(embedder, [q.question for q in questions]),
        passage_vectors=_embed(embedder, [p.text for p in passages]),
        sentence_vectors=_embed(embedder, sentence_texts),
        sentence_passage=np.array([pid for pid, _, _ in spans]),
        groups=groups,
    )


def sentence_max(data: Data, sims: np.ndarray) -> np.ndarray:
    """(Q, P) best sentence cosine of each passage from (Q, S) sentence cosines."""
    starts = np.flatnonzero(np.r_[True, np.diff(data.sentence_passage) != 0])
    return np.maximum.reduceat(sims, starts, axis=1)


def bm25_matrix(data: Data, analyze_passage, analyze_query, **params) -> np.ndarray:
    import bm25s

    tokens = [
        analyze_passage(p.text, lang)
        for p, lang in zip(data.passages, data.passage_lang, strict=True)
    ]
    retriever = bm25s.BM25(**params)
    retriever.index(tokens, show_progress=False)
    return np.stack(
        [retriever.get_scores(analyze_query(q.question)) for q in data.questions]
    ).astype(np.float32)


def candidates(dense: np.ndarray, lexical: np.ndarray, n: int = 50) -> np.ndarray:
    top_d = np.argsort(-dense, kind="stable")[:n]
    positive = np.flatnonzero(lexical > 0)
    top_l = positive[np.argsort(-lexical[positive], kind="stable")[:n]]
    return np.union1d(top_d, top_l)


def evaluate(data: Data, rank: Callable[[int], list[int]]) -> dict[str, dict[str, float]]:
    """recall@1/5/10 and MRR@10 per group, after dropping overlapping passages."""
    firsts = []
    for qi, q in enumerate(data.questions):
        ranked = rank(qi)
        kept = without_overlaps([(pid, 0.0) for pid in ranked],
                                {pid: data.passages[pid] for pid in ranked}, 10)  # fmt: skip
        hits = [
            n
            for n, (p, _) in enumerate(kept, start=1)
            if any(is_relevant(a, p.doc_id, p.start, p.end) for a in q.answers)
        ]
        firsts.append(hits[0] if hits else 0)
    ranks = np.array(firsts)
    out = {}
    for group, ids in data.groups.items():
        r = ranks[ids]
        hit = r > 0
        out[group] = {
            "n": len(ids),
            "r@1": float(np.mean(hit & (r <= 1))),
            "r@5": float(np.mean(hit & (r <= 5))),
            "r@10": float(np.mean(hit)),
            "mrr": float(np.mean(np.where(hit, 1.0 / np.maximum(r, 1), 0.0))),
        }
    return out


def show(name: str, scores: dict[str, dict[str, float]], groups: list[str]) -> None:
    cells = "  ".join(
        f"{g} mrr {scores[g]['mrr']:.3f} r@5 {scores[g]['r@5']:.3f}" for g in groups if g in scores
    )
    print(f"{name:<48} {cells}", flush=True)


def convex(data: Data, dense: np.ndarray, lexical: np.ndarray, weight: float, n: int = 50):
    """`rag.retrieval.search`'s fusion (`rag.retrieval.fusion.convex_fusion`) on the matrices,
    without question translation: over the union of both top-n lists, each candidate scored by
    both."""

    def rank(qi: int) -> list[int]:
        c = candidates(dense[qi], lexical[qi], n).tolist()
        fused = convex_fusion(
            [(pid, float(dense[qi, pid])) for pid in c],
            [(pid, float(lexical[qi, pid])) for pid in c],
            lambda pid: weight,
        )
        return [pid for pid, _ in fused]

    return rank


def main() -> None:
    from rag.index.analysis import analyze_passage, analyze_query

    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", choices=["gold", "piaf"])
    parser.add_argument("--chunk-size", type=int, default=600)
    parser.add_argument("--chunk-overlap", type=int, default=100)
    parser.add_argument("--sentence-weights", default="0,0.3,0.5")
    parser.add_argument("--bm25-weights", default="0.3,0.4,0.5")
    args = parser.parse_args()
    data = load(args.dataset, args.chunk_size, args.chunk_overlap)
    print(f"{len(data.questions)} questions, {len(data.passages)} passages", file=sys.stderr)
    groups = [g for g in ("all", "fr", "en", "tune", "held-out") if g in data.groups]
    dense = data.query_vectors @ data.passage_vectors.T
    best_sentence = sentence_max(data, data.query_vectors @ data.sentence_vectors.T)
    lexical = bm25_matrix(data, analyze_passage, analyze_query)
    order = np.arange(dense.shape[1])
    show("dense", evaluate(data, lambda qi: np.lexsort((order, -dense[qi]))[:60].tolist()), groups)
    show("bm25", evaluate(data, lambda qi: np.lexsort((order, -lexical[qi]))[:60].tolist()), groups)
    for sw in [float(x) for x in args.sentence_weights.split(",")]:
        pooled = (1 - sw) * dense + sw * best_sentence
        for w in [float(x) for x in args.bm25_weights.split(",")]:
            show(
                f"hybrid sentences {sw} bm25 {w}",
                evaluate(data, convex(data, pooled, lexical, w)),
                groups,
            )


if __name__ == "__main__":
    main()
