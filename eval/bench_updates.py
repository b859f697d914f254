"""How long a change to a large index takes: add one article, replace it, delete it.

    .venv/bin/python eval/bench_updates.py [--passages 50000] [--rounds 20] [--embedder use-m3]

The bulk: articles made of the paragraphs of PIAF dev (`../shared/data/piaf-dev.json`, 399
paragraphs of French Wikipedia) and of `corpus/` (the five articles, split at blank lines),
eight paragraphs drawn at random (seeded) per article, until the index has `--passages`
passages. It is built once with `rag`'s own build (cached in /tmp/rag-bench-updates; a
paragraph that recurs is embedded once). Each round then, on that index, as `rag add` and the
write routes do it:

- adds a new article (eight paragraphs in a new order, with a sentence of its own),
- replaces it (one more sentence),
- deletes it,

and times each change whole, and without the time its embedder took (the texts of the article
and the words entering the vocabulary: `UpdateReport.embed_seconds`), then the time a serving
process takes to load the new generation (`LiveIndex.refresh`). Last, one merge, forced (the
recent segment folded into a new main one, as happens when it passes 2,000 passages). Medians
and the worst, in one run; the machine is shared, so ratios and medians are what to compare.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import Served  # noqa: E402

import rag.indexing.updates  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embedders import make_embedder  # noqa: E402
from rag.index.live import LiveIndex  # noqa: E402
from rag.index.loading import load_index  # noqa: E402
from rag.indexing.build import write_index  # noqa: E402
from rag.indexing.updates import update_index  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402
from rag.ingest.formats import Document, parse_document  # noqa: E402

PIAF = ROOT.parent / "shared" / "data" / "piaf-dev.json"
CACHE = Path("/tmp/rag-bench-updates")


def paragraphs() -> list[str]:
    data = json.loads(PIAF.read_text(encoding="utf-8"))
    found = [p["context"].strip() for a in data["data"] for p in a["paragraphs"]]
    for doc in load_corpus(ROOT / "corpus"):
        found += [p.strip() for p in doc.text.split("\n\n") if len(p.strip()) > 80]
    return found


def article(doc_id: str, pool: list[str], rng: random.Random, extra: str = "") -> Document:
    text = "\n\n".join(rng.sample(pool, 8)) + (f"\n\n{extra}" if extra else "")
    return parse_document(doc_id, text, ".txt", source="bench")[0]


def bulk(passages: int, embedder_name: str) -> Path:
    """The index of generated articles, built once per size and embedder."""
    index_dir = CACHE / f"{embedder_name}-{passages}" / "index"
    if (index_dir / "manifest.json").exists():
        return index_dir
    pool, rng = paragraphs(), random.Random(0)
    settings = Settings(embedder=embedder_name, index_dir=index_dir)
    tuned = settings.tuned_for(embedder_name)
    per_article = 8 * statistics.mean(map(len, pool)) / (tuned.chunk_size - tuned.chunk_overlap)
    docs = [article(f"bulk-{n:06d}", pool, rng) for n in range(int(passages / per_article) + 1)]
    embedder = make_embedder(embedder_name, settings)
    started = time.perf_counter()
    report = write_index(docs, index_dir, settings, embedder)
    print(
        f"built {report.manifest.passages} passages of {len(docs)} articles in "
        f"{time.perf_counter() - started:.0f} s ({report.embedded} texts embedded)",
        flush=True,
    )
    return index_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--embedder", default="use-m3")
    parser.add_argument("--json", type=Path, help="write the timings here")
    parser.add_argument(
        "--http", action="store_true", help="also: how soon both workers of a server serve a write"
    )
    args = parser.parse_args()

    source = bulk(args.passages, args.embedder)
    index_dir = CACHE / "work" / "index"
    shutil.rmtree(index_dir.parent, ignore_errors=True)
    shutil.copytree(source.parent, index_dir.parent)
    settings = Settings(embedder=args.embedder, index_dir=index_dir, embed_threads=1)
    embedder = make_embedder(args.embedder, settings)
    live = LiveIndex(load_index(index_dir, settings, embedder), settings)
    print(f"index: {live.current.manifest.passages} passages, "
          f"{live.current.manifest.documents} articles", flush=True)  # fmt: skip
    pool, rng = paragraphs(), random.Random(1)
    times: dict[str, list[tuple[float, float, float]]] = {"add": [], "replace": [], "delete": []}
    for n in range(args.rounds):
        new = article(f"new-{n}", pool, rng, f"Un article du tour {n} sur la ville de Lyon.")
        changed = parse_document(new.id, new.text + "\n\nUne phrase de plus.", source="bench")[0]
        for op, change in (
            ("add", {"add": [new]}),
            ("replace", {"add": [changed]}),
            ("delete", {"remove": [new.id]}),
        ):
            started = time.perf_counter()
            # As a server does it: the generation it serves shares its segments.
            report = update_index(
                index_dir, settings, embedder=embedder, previous=live.current, **change
            )
            total = time.perf_counter() - started
            loading = time.perf_counter()
            assert live.refresh()
            reload = time.perf_counter() - loading
            times[op].append((total, total - report.embed_seconds, reload))
    print(f"\n{args.rounds} rounds on {live.current.manifest.passages} passages ({args.embedder})")
    print("| change | whole p50 | without embedding p50 | max | reload in a server p50 | max |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for op, rows in times.items():
        whole, alone, reload = (sorted(col) for col in zip(*rows, strict=True))
        summary[op] = {
            "whole_p50": statistics.median(whole),
            "without_embedding_p50": statistics.median(alone),
            "without_embedding_max": alone[-1],
            "reload_p50": statistics.median(reload),
            "reload_max": reload[-1],
        }
        s = summary[op]
        print(
            f"| {op} | {s['whole_p50'] * 1000:.0f} ms | {s['without_embedding_p50'] * 1000:.0f} ms"
            f" | {s['without_embedding_max'] * 1000:.0f} ms | {s['reload_p50'] * 1000:.0f} ms"
            f" | {s['reload_max'] * 1000:.0f} ms |"
        )
    # A merge, forced: the change that folds the recent segment into a new main one.
    rag.indexing.updates.MERGE_MIN, rag.indexing.updates.MERGE_SHARE = 0, 0.0
    new = article("merged", pool, rng, "Un article qui déclenche une fusion.")
    started = time.perf_counter()
    report = update_index(index_dir, settings, embedder=embedder, previous=live.current, add=[new])
    merge = time.perf_counter() - started - report.embed_seconds
    assert report.merged
    loading = time.perf_counter()
    live.refresh()
    reload = time.perf_counter() - loading
    summary["merge"] = {"without_embedding": merge, "reload": reload}
    print(f"| merge (one, forced) | | {merge * 1000:.0f} ms | | {reload * 1000:.0f} ms | |")
    if args.http:
        summary["http"] = http_lag(index_dir, args.embedder, args.rounds, pool, rng)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


def http_lag(index_dir: Path, embedder: str, rounds: int, pool: list[str], rng: random.Random):
    """`rag serve --workers 2 --allow-writes` on the index: for each POST /documents, the time
    from its answer until both workers' /ready give its generation (fresh connections, which
    the kernel hands to either worker)."""
    served = Served(index_dir, "--allow-writes", env={"RAG_EMBEDDER": embedder})
    url = served.url
    try:
        lags, acks = [], []
        for n in range(rounds):
            doc = article(f"http-{n}", pool, rng)
            started = time.perf_counter()
            answer = httpx.post(url + "/documents", json={"id": doc.id, "text": doc.text},
                                timeout=60).json()  # fmt: skip
            acked = time.perf_counter()
            seen: dict[int, int] = {}
            while len(seen) < 2 or min(seen.values()) < answer["generation"]:
                ready = httpx.get(url + "/ready").json()
                seen[ready["worker"]] = ready["generation"]
            lags.append(time.perf_counter() - acked)
            acks.append(acked - started)
    finally:
        served.close()
    lags.sort()
    result = {
        "write_p50": statistics.median(acks),
        "both_workers_p50": statistics.median(lags),
        "both_workers_max": lags[-1],
    }
    print(
        f"\nover HTTP, 2 workers, {rounds} writes: POST answered in "
        f"{result['write_p50'] * 1000:.0f} ms (p50, embedding included); both workers serve "
        f"it {result['both_workers_p50'] * 1000:.0f} ms later (p50), "
        f"{result['both_workers_max'] * 1000:.0f} ms at worst"
    )
    return result


if __name__ == "__main__":
    main()
