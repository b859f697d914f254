"""Grid search of the query-time settings with the real search, for choosing an embedder's
defaults (issue #13). Unlike `sweep.py`, which re-implements fusion on score matrices, every
cell here is `rag eval`'s own scoring (`rag.evaluation.metrics.score_modes`) over a real index.

The index of a dataset, embedder and chunking is built once into `--cache` and reused; question
vectors are kept in memory, so a cell costs the search alone. PIAF dev is also scored on its
two halves by article number (even: "tune", odd: "held-out"), to see whether a setting chosen on
one half holds on the other.

    python eval/tune.py gold --embedder e5-small --bm25-weights 0.2,0.3,0.5
    python eval/tune.py piaf --embedder e5-small --chunk-size 1000 --chunk-overlap 150
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embedders import Embedder, make_embedder
from rag.evaluation.gold import GoldQuestion, load_gold
from rag.evaluation.metrics import score_modes
from rag.evaluation.squad import load_squad
from rag.index.loading import Index, load_index
from rag.indexing.build import write_index
from rag.ingest.corpus import load_corpus

PIAF = Path("../shared/data/piaf-dev.json")
GRID = ("bm25_weight", "sentence_weight", "document_weight", "translate_questions",
        "cross_language_bm25_factor")  # fmt: skip


class MemoEmbedder:
    """An embedder that remembers every vector it gave, so a grid embeds each text once."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self._queries: dict[str, np.ndarray] = {}
        self._passages: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _cached(self, memo: dict[str, np.ndarray], texts: Sequence[str], encode) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, encode(missing), strict=True))
        return np.stack([memo[t] for t in texts]) if texts else encode([])

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(self._queries, texts, self.inner.encode_queries)

    def encode_passages(self, texts: Sequence[str], progress=None) -> np.ndarray:
        return self._cached(self._passages, texts, self.inner.encode_passages)


def _load(args: argparse.Namespace) -> tuple[Index, dict[str, list[GoldQuestion]]]:
    settings = Settings(
        embedder=args.embedder, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap
    )
    if args.dataset == "gold":
        documents = load_corpus(Path("corpus"))
        questions = load_gold(Path("eval/gold.jsonl"), documents)
        sets = {"gold": questions}
    else:
        documents, questions = load_squad(PIAF)
        even = [q for q in questions if int(q.answers[0].doc_id[:4]) % 2 == 0]
        odd = [q for q in questions if int(q.answers[0].doc_id[:4]) % 2 == 1]
        sets = {"tune": even, "held-out": odd}  # "piaf", both together, is their mean
    name = (
        f"{args.dataset}-{args.embedder.replace('/', '_')}-{args.chunk_size}-{args.chunk_overlap}"
    )
    folder = args.cache / name
    if not folder.exists():
        print(f"building {folder}", file=sys.stderr, flush=True)
        write_index(documents, folder, settings, make_embedder(args.embedder, settings))
    index = load_index(folder, settings)
    return dataclasses.replace(index, embedder=MemoEmbedder(index.embedder)), sets


def _cells(scores: dict, sets: Sequence[str], groups: Sequence[str]) -> dict[str, float]:
    out = {}
    if "tune" in scores:  # PIAF: the whole set first, weighting each half by its questions
        halves = [scores["tune"]["all"], scores["held-out"]["all"]]
        n = sum(h["n"] for h in halves)
        for metric, label in (("mrr@10", "mrr"), ("recall@5", "r@5")):
            out[f"piaf {label}"] = sum(h[metric] * h["n"] for h in halves) / n
    for s in sets:
        for g in groups:
            row = scores[s].get(g)
            if row:
                label = s if g == "all" else f"{s}/{g}"
                out[f"{label} mrr"] = row["mrr@10"]
                out[f"{label} r@5"] = row["recall@5"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=["gold", "piaf"])
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--chunk-size", type=int, default=600)
    parser.add_argument("--chunk-overlap", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/rag-tune"))
    parser.add_argument("--bm25-weights", default="0.5")
    parser.add_argument("--sentence-weights", default="0")
    parser.add_argument("--document-weights", default="0.35")
    parser.add_argument("--translate", default="1", help="comma-separated 1/0")
    parser.add_argument("--cross-language-factors", default="1")
    parser.add_argument("--baselines", action="store_true", help="also score dense and bm25")
    parser.add_argument("--jsonl", type=Path, help="append one line per cell here")
    args = parser.parse_args()
    index, sets = _load(args)
    groups = ("all",) if args.dataset == "piaf" else ("all", "fr", "en")

    def floats(text: str) -> list[float]:
        return [float(x) for x in text.split(",")]

    grid = itertools.product(
        floats(args.bm25_weights),
        floats(args.sentence_weights),
        floats(args.document_weights),
        [x.strip() == "1" for x in args.translate.split(",")],
        floats(args.cross_language_factors),
    )
    print(f"{index.manifest.passages} passages, {index.manifest.embedder.name}, "
          f"chunks {args.chunk_size}/{args.chunk_overlap}", flush=True)  # fmt: skip
    if args.baselines:
        for mode in ("dense", "bm25"):
            scores = {s: score_modes(index, qs, [mode]).runs[mode] for s, qs in sets.items()}
            cells = _cells(scores, list(sets), groups)
            print(f"{mode:<40}", "  ".join(f"{k} {v:.3f}" for k, v in cells.items()), flush=True)
    for values in grid:
        update = dict(zip(GRID, values, strict=True))
        cell_index = dataclasses.replace(index, settings=index.settings.model_copy(update=update))
        scores = {
            s: score_modes(cell_index, qs, ["hybrid"]).runs["hybrid"] for s, qs in sets.items()
        }
        cells = _cells(scores, list(sets), groups)
        label = " ".join(f"{k.split('_')[0][:5]}={v:g}" for k, v in update.items())
        print(f"{label:<40}", "  ".join(f"{k} {v:.3f}" for k, v in cells.items()), flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as f:
                f.write(json.dumps({"dataset": args.dataset, "embedder": args.embedder,
                                    "chunk_size": args.chunk_size,
                                    "chunk_overlap": args.chunk_overlap,
                                    **update, **cells}) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
