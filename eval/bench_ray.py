"""Embedding throughput of `rag index` locally and on Ray (`rag index --ray`), in one run.

Passages: `--passages` (20,000) texts of real sentences, those of the PIAF dev paragraphs
(`../shared/data/piaf-dev.json`) and of `corpus/`, split with the index's own sentence splitter,
then joined in a seeded random order into passages of 400 to 600 characters (the index's chunk
size), so that each passage is distinct and as long as an indexed one. Every configuration embeds
the same passages with the default embedder through the call a build makes:

- local, 1 and 2 threads: `Embedder.encode_passages` (what `rag index` calls);
- Ray, 1 and 2 actors of 1 thread: `RayEmbedder.encode_passages` (what `rag index --ray`
  calls), on a local Ray started once (its start-up is timed apart); each call is one Ray Data
  job, actor start-up and model loads included.

Then one whole build of the PIAF dev paragraphs as a corpus, `rag index` against
`rag index --ray` (Ray start-up included), from nothing.

Run: .venv/bin/python eval/bench_ray.py [--passages 20000] [--one-core ROUNDS]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIAF = ROOT.parent / "shared" / "data" / "piaf-dev.json"


def real_sentences() -> list[str]:
    from rag.evaluation.squad import load_squad
    from rag.ingest.chunking import Passage, sentence_spans
    from rag.ingest.corpus import load_corpus

    documents = load_squad(PIAF)[0] + load_corpus(ROOT / "corpus")
    sentences = []
    for doc in documents:
        whole = Passage(doc.id, 0, len(doc.text), doc.text)
        sentences += [" ".join(doc.text[a:b].split()) for a, b in sentence_spans(whole)]
    return sorted({s for s in sentences if len(s) >= 20})


def make_passages(count: int, seed: int = 0) -> list[str]:
    sentences = real_sentences()
    rng = random.Random(seed)
    passages: set[str] = set()
    while len(passages) < count:
        order = sentences[:]
        rng.shuffle(order)
        current = ""
        for sentence in order:
            current = f"{current} {sentence}".strip()
            if len(current) >= 400:
                passages.add(current[:600])
                current = ""
                if len(passages) == count:
                    break
    return sorted(passages, key=lambda p: rng.random())


def timed(label: str, run, texts: list[str]) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    vectors = run(texts)
    seconds = time.perf_counter() - started
    assert vectors.shape[0] == len(texts)
    rate = len(texts) / seconds
    print(f"| {label} | {len(texts):,} | {seconds:.1f} | {rate:.1f} |", flush=True)
    return rate


def throughput(texts: list[str]) -> dict[str, float]:
    """Each configuration over all of `texts`, one after the other."""
    from rag.config import Settings
    from rag.embedders import make_embedder
    from rag.indexing.distributed import ray_embedder

    print("| configuration | passages | seconds | passages/s |\n|---|---|---|---|")
    rates = {}
    one = make_embedder("use-m3", Settings(embed_threads=1))
    rates["local, 1 thread"] = timed("local `rag index`, 1 thread", one.encode_passages, texts)
    two = make_embedder("use-m3", Settings(embed_threads=2))
    rates["local, 2 threads"] = timed("local `rag index`, 2 threads", two.encode_passages, texts)
    del two
    started = time.perf_counter()
    with ray_embedder(one, Settings(ray=True, embed_threads=1)) as ray:
        print(f"(local Ray started in {time.perf_counter() - started:.1f} s)", flush=True)
        for actors in (1, 2):
            ray.actors = actors
            label = f"`rag index --ray`, {actors} actor{'s' if actors > 1 else ''}"
            rates[f"ray, {actors}"] = timed(label, ray.encode_passages, texts)
    return rates


def one_core_interleaved(texts: list[str], rounds: int) -> None:
    """1 local thread against 1 Ray actor, in alternating slices of the passages, so that a
    shared machine's drift weighs on both alike; each Ray slice is one job (start-up included)."""
    import statistics

    from rag.config import Settings
    from rag.embedders import make_embedder
    from rag.indexing.distributed import ray_embedder

    local = make_embedder("use-m3", Settings(embed_threads=1))
    size = len(texts) // rounds
    rates: dict[str, list[float]] = {"local": [], "ray": []}
    print("| round | local 1 thread, passages/s | Ray 1 actor, passages/s |\n|---|---|---|")
    with ray_embedder(local, Settings(ray=True, embed_threads=1, ray_actors=1)) as ray:
        for r in range(rounds):
            part = texts[r * size : (r + 1) * size]
            for name, embed in (("local", local.encode_passages), ("ray", ray.encode_passages)):
                started = time.perf_counter()
                embed(part)
                rates[name].append(len(part) / (time.perf_counter() - started))
            print(f"| {r + 1} | {rates['local'][-1]:.1f} | {rates['ray'][-1]:.1f} |", flush=True)
    local_rate, ray_rate = statistics.median(rates["local"]), statistics.median(rates["ray"])
    print(f"\nmedians: local {local_rate:.1f}, Ray {ray_rate:.1f} passages/s; "
          f"overhead at 1 core {1 - ray_rate / local_rate:+.1%}")  # fmt: skip


def whole_build() -> None:
    """`rag index` and `rag index --ray` of the PIAF paragraphs as a corpus, from nothing."""
    import json

    from rag.evaluation.squad import load_squad

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        with (corpus / "piaf.jsonl").open("w", encoding="utf-8") as out:
            for doc in load_squad(PIAF)[0]:
                out.write(json.dumps({"id": doc.id, "title": doc.title, "text": doc.text}) + "\n")
        print("\n| whole build of PIAF dev (399 paragraphs) | seconds |\n|---|---|")
        for label, extra in (("`rag index`", []), ("`rag index --ray` (2 actors)", ["--ray"])):
            index = Path(tmp) / f"index{len(extra)}"
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "rag.cli", "index", "--corpus", str(corpus),
                 "--index", str(index), *extra],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            print(f"| {label} | {time.perf_counter() - started:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=20_000)
    parser.add_argument(
        "--one-core",
        type=int,
        metavar="ROUNDS",
        help="only 1 local thread against 1 Ray actor, alternating in ROUNDS slices",
    )
    args = parser.parse_args()
    texts = make_passages(args.passages)
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts):,} passages of {chars:.0f} characters on average, {os.cpu_count()} cores")
    if args.one_core:
        one_core_interleaved(texts, args.one_core)
        return
    rates = throughput(texts)
    print(
        f"\nRay, 2 actors / 1 actor: {rates['ray, 2'] / rates['ray, 1']:.2f}x; "
        f"overhead at 1 core (Ray 1 actor against local 1 thread): "
        f"{1 - rates['ray, 1'] / rates['local, 1 thread']:+.1%}; "
        f"at 2 cores (Ray 2 actors against local 2 threads): "
        f"{1 - rates['ray, 2'] / rates['local, 2 threads']:+.1%}"
    )
    whole_build()


if __name__ == "__main__":
    main()
