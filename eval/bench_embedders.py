"""What an embedder costs, side by side with use-m3, in one run (issue #13).

For each embedder (default: use-m3 and e5-small), at its own tuned defaults and one thread:
- `rag index` of `corpus/` from nothing (the command, timed from outside); and in another
  process a library build, its embedding time, and the encoder's raw time on the same texts
  (passages, sentences and vocabulary words, one `encode_passages` call each) right after, so
  the build's share of the raw throughput shows;
- in-process search over that index, per mode: median and p90 wall time of questions asked for
  the first time (the gold set and eval/unanswerable.jsonl, 140 distinct questions), and of the
  question's encoding alone. The two embedders' searches alternate question by question, so a
  shared machine's drift falls on both.

Run: .venv/bin/python eval/bench_embedders.py [--embedders use-m3,e5-small] [--modes hybrid]
Numbers are medians of one run on a shared machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD = """
import json, sys, time
from pathlib import Path
from rag.config import Settings
from rag.indexing.build import build_index
from rag.embedders import make_embedder
from rag.index.loading import load_index
from rag.ingest.corpus import load_corpus
t = time.perf_counter()
settings = Settings(embedder=sys.argv[1], index_dir=Path(sys.argv[2]), corpus_dir=Path("corpus"))
report = build_index(settings)
build = time.perf_counter() - t
index = load_index(Path(sys.argv[2]), settings)
passages = index.store.passages(list(range(len(index.vectors))))
texts = [p.text for p in passages.values()]
sentences = [passages[pid].text[a - passages[pid].start : b - passages[pid].start]
             for pid, spans in index.store.sentences_of(list(passages)).items()
             for _, a, b in spans]
words = [w for ws in index.lexicon.words.values() for w in ws]
embedder = make_embedder(sys.argv[1], settings)
embedder.encode_passages(texts[:2])  # load the model outside the clock
timings = {}
for name, batch in (("passages", texts), ("sentences", sentences), ("words", words)):
    t = time.perf_counter()
    embedder.encode_passages(batch)
    timings[name] = time.perf_counter() - t
print(json.dumps({"build_s": build, "embed_s": report.embed_seconds, "passages": len(texts),
                  "sentences": len(sentences), "words": len(words),
                  "embedded": report.embedded, "raw_s": timings}))
"""


def _questions() -> list[str]:
    out = []
    for name in ("eval/gold.jsonl", "eval/unanswerable.jsonl"):
        out += [json.loads(line)["question"] for line in Path(name).read_text().splitlines()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="use-m3,e5-small")
    parser.add_argument("--modes", default="dense,bm25,hybrid")
    args = parser.parse_args()
    names = args.embedders.split(",")
    modes = args.modes.split(",")
    env = {**os.environ, "RAG_EMBED_THREADS": "1"}
    os.environ["RAG_EMBED_THREADS"] = "1"
    from rag.config import Settings
    from rag.index.loading import load_index
    from rag.retrieval.search import search

    with tempfile.TemporaryDirectory(prefix="bench-embedders-") as tmp:
        indexes = {}
        for name in names:
            folder = Path(tmp) / name.replace("/", "_")
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", BUILD, name, str(folder)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            wall = time.perf_counter() - t
            built = json.loads(out.stdout.strip().splitlines()[-1])
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "rag.cli", "index", "--corpus", "corpus",
                 "--index", str(folder) + "-cli", "--embedder", name],
                env=env, capture_output=True, check=True,
            )  # fmt: skip
            wall = time.perf_counter() - t
            raw = sum(built["raw_s"].values())
            shares = ", ".join(f"{k} {v / raw:.0%}" for k, v in built["raw_s"].items())
            print(f"{name}: `rag index` of corpus/ from nothing {wall:.1f} s; build "
                  f"{built['build_s']:.1f} s, of which embedding {built['embed_s']:.1f} s: "
                  f"{built['passages']} passages, {built['sentences']} sentences and "
                  f"{built['words']} vocabulary words ({built['embedded']} texts, "
                  f"{built['passages'] / built['embed_s']:.2f} passages/s). The encoder alone "
                  f"on the same texts: {raw:.1f} s ({shares}), so the build runs at "
                  f"{raw / built['embed_s']:.0%} of its raw throughput", flush=True)  # fmt: skip
            indexes[name] = load_index(folder, Settings())
        questions = _questions()
        for mode in modes:
            walls: dict[str, list[float]] = {n: [] for n in names}
            encodes: dict[str, list[float]] = {n: [] for n in names}
            for name in names:  # warm up on other questions: model load, caches, first calls
                for q in ("Qui est le maire ?", "What is a smart city?"):
                    search(indexes[name], q, 5, mode)
            for q in questions:
                for name in names:
                    index = indexes[name]
                    t = time.perf_counter()
                    index.embedder.encode_queries([q])
                    encodes[name].append(time.perf_counter() - t)
            for q in questions:
                for name in names:
                    t = time.perf_counter()
                    search(indexes[name], q, 5, mode)
                    walls[name].append(time.perf_counter() - t)
            base = statistics.median(walls[names[0]])
            for name in names:
                w = sorted(walls[name])
                p50, p90 = statistics.median(w), w[int(0.9 * len(w))]
                enc = statistics.median(encodes[name])
                print(f"{mode:<7} {name:<12} search p50 {p50 * 1000:6.1f} ms  p90 "
                      f"{p90 * 1000:6.1f} ms  question encoding p50 {enc * 1000:5.1f} ms  "
                      f"p50 vs {names[0]} {p50 / base:4.2f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
