"""What collections cost a server: search latency and worker memory with 20 collections served
by one `rag serve`, against a server of one collection of the same size.

    .venv/bin/python eval/bench_collections.py [--collections 20] [--passages 1000]
        [--turns 7] [--seconds 3] [--idle 60] [--work /tmp/bench-collections]

The collection: the 399 paragraphs of PIAF dev and enough of `bench_scale`'s haystack (the
Debian Administrator's Handbook's sentences) for about `--passages` passages, built with
e5-small for real, once (kept in `--work`). The 20 collections are copies of its folder, each a
collection of its own (its own files: nothing is shared between them in memory).

Both servers run at once, `rag serve --workers 2` with the default settings, and take turns:
- single: the index as the default collection; questions to `/search`;
- many: the same index as the default, and the 20 collections; questions to
  `/collections/cNN/search`, each to the next collection.
Each is warmed first (concurrency 8, until both workers loaded every collection). Then, at
concurrency 1 and then 4 (`bench_http`'s load generator), `--turns` turns of `--seconds`
each: a turn gives both servers, one after the other (which first alternates), the same new
questions, so that the machine's drift falls on both and no answer comes from a cache. Last,
each worker's memory, and for the many-collection server again once its collections went idle
(`--idle`, RAG_COLLECTION_IDLE_SECONDS). Results go to eval/bench_collections.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import _worker, percentile
from bench_scale import PIAF, book_sentences, documents_for, memory
from serving import Served

from rag.config import Settings
from rag.embedders import make_embedder
from rag.evaluation.squad import load_squad
from rag.index.manifest import MANIFEST, read_manifest
from rag.indexing.build import write_index

EMBEDDER = "e5-small"
RESULTS = Path(__file__).with_name("bench_collections.json")
# Questions: the warm-up's, then new ones for each turn (no server is asked one twice).
WARM, C1_TURN, C4_TURN = 200, 75, 150


def base_index(work: Path, passages: int) -> tuple[Path, dict]:
    """The collection every server serves, built once for real and kept in `work`."""
    folder = work / f"base-{passages}"
    if not (folder / MANIFEST).exists():
        settings = Settings(embedder=EMBEDDER)
        needles, _ = load_squad(PIAF)
        documents = documents_for(passages, needles, book_sentences(), settings)
        started = time.perf_counter()
        write_index(documents, folder, settings, make_embedder(EMBEDDER, settings))
        print(f"built {folder} in {time.perf_counter() - started:.0f} s")
    manifest = read_manifest(folder)
    return folder, {"documents": manifest.documents, "passages": manifest.passages}


def layouts(work: Path, base: Path, count: int) -> dict[str, tuple[Path, Path]]:
    """Each server's index folder and collections folder."""
    found = {}
    for kind, names in (("single", []), ("many", [f"c{i:02d}" for i in range(1, count + 1)])):
        root = work / kind
        if not (root / "index" / MANIFEST).exists():
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(base, root / "index")
            for name in names:
                shutil.copytree(base, root / "collections" / name)
        found[kind] = (root / "index", root / "collections")
    return found


def paths(kind: str, questions: list[str], count: int) -> list[str]:
    """The requests of a run: each question to the next collection, or all to `/search`."""
    found = []
    for i, question in enumerate(questions):
        prefix = "" if kind == "single" else f"/collections/c{i % count + 1:02d}"
        found.append(f"{prefix}/search?q={quote(question)}&k=5")
    return found


def timed(host: str, port: int, requests: list[str], concurrency: int, seconds: float) -> list:
    """Latencies of `concurrency` clients for `seconds`, each asking its own share of
    `requests` in turn, so that no question is asked twice (a repeat is a cache hit)."""

    async def run() -> list[float]:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                _worker(host, port, requests[c::concurrency], deadline, latencies, 0)
                for c in range(concurrency)
            )
        )
        return latencies

    return asyncio.run(run())


def logged(served: Served, word: str) -> int:
    return sum(1 for line in served.log if f" {word}" in line and "collection c" in line)


def start(kind: str, folders: tuple[Path, Path], args: argparse.Namespace) -> Served:
    index, collections = folders
    env = {
        "RAG_LOG_REQUESTS": "false",
        "RAG_COLLECTIONS_DIR": str(collections),
        "RAG_COLLECTION_IDLE_SECONDS": str(args.idle),
    }
    return Served(index, workers=2, env=env, timeout=600)


def address(served: Served) -> tuple[str, int]:
    parts = urlsplit(served.url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def warm(kind: str, served: Served, questions: list[str], args: argparse.Namespace) -> int:
    """Ask until both workers hold every collection (once for a single one); the loads."""
    expected = 0 if kind == "single" else 2 * args.collections
    deadline = time.monotonic() + 120
    while True:
        timed(*address(served), paths(kind, questions, args.collections), 8, args.warm)
        if logged(served, "loaded") >= expected or time.monotonic() > deadline:
            return logged(served, "loaded")


def rss(served: Served) -> list[float]:
    return sorted(memory(pid)["rss_mb"] for pid in served.workers())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--collections", type=int, default=20)
    parser.add_argument("--passages", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=7, help="turns of each server per load")
    parser.add_argument("--seconds", type=float, default=3.0, help="of a turn")
    parser.add_argument("--warm", type=float, default=6.0)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-collections"))
    args = parser.parse_args()
    base, size = base_index(args.work, args.passages)
    folders = layouts(args.work, base, args.collections)
    _, asked = load_squad(PIAF)
    questions = list(dict.fromkeys(q.question for q in asked))
    warming, fresh = questions[:WARM], iter(questions[WARM:])
    kinds = ("single", "many")
    servers = {kind: start(kind, folders[kind], args) for kind in kinds}
    try:
        result: dict = {kind: {"loads": warm(kind, servers[kind], warming, args)} for kind in kinds}
        for concurrency, per_turn in ((1, C1_TURN), (4, C4_TURN)):
            latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
            for turn in range(args.turns):
                chunk = [next(fresh) for _ in range(per_turn)]  # both servers: new to each
                for kind in kinds if turn % 2 == 0 else kinds[::-1]:
                    found = timed(
                        *address(servers[kind]), paths(kind, chunk, args.collections),
                        concurrency, args.seconds,
                    )  # fmt: skip
                    if len(found) >= len(chunk):
                        sys.exit(f"bench_collections: {per_turn} questions a turn are too few")
                    latencies[kind] += found
            for kind in kinds:
                result[kind][f"c{concurrency}"] = {
                    "p50_ms": round(percentile(latencies[kind], 0.5) * 1000, 2),
                    "p99_ms": round(percentile(latencies[kind], 0.99) * 1000, 2),
                    "requests_per_s": round(len(latencies[kind]) / (args.turns * args.seconds), 1),
                }
            print(f"c{concurrency}: {json.dumps({k: result[k][f'c{concurrency}'] for k in kinds})}",
                  flush=True)  # fmt: skip
        for kind in kinds:
            result[kind]["rss_mb_used"] = rss(servers[kind])
        many = servers["many"]
        deadline = time.monotonic() + args.idle * 2 + 30
        while logged(many, "unloaded") < result["many"]["loads"] and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(2)  # the sweep's last unload, then its return of memory
        result["many"]["unloads"] = logged(many, "unloaded")
        result["many"]["rss_mb_idle"] = rss(many)
    finally:
        for served in servers.values():
            served.close()
    for concurrency in ("c1", "c4"):
        ratio = result["many"][concurrency]["p50_ms"] / result["single"][concurrency]["p50_ms"]
        result[f"{concurrency}_p50_ratio"] = round(ratio, 3)
    record = {
        "date": dt.date.today().isoformat(),
        "embedder": EMBEDDER,
        "collection": size,
        "collections": args.collections,
        "workers": 2,
        "idle_seconds": args.idle,
        "turns": args.turns,
        "turn_seconds": args.seconds,
        **result,
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
