"""What a big corpus costs: build time, disk, memory, latency and quality from 10k to 1M passages.

    .venv/bin/python eval/bench_scale.py --sizes 10000,100000,1000000 [--http] [--plots]

Each size is an index of that many passages (about: documents are chunked as `rag` chunks them)
built with `rag`'s own build, then loaded and asked questions as a serving worker would be.

The haystack. Real prose that nobody asks about: the sentences of the Debian Administrator's
Handbook in French and in English (Debian's package `debian-handbook`, read as `rag` reads HTML),
and of the articles of `corpus/` (French), split as `rag` splits sentences and kept when they
read as sentences: 5 to 80 words, 30 to 400 characters, from a capital letter to a full stop,
a question or an exclamation mark (a colon does not end a sentence for `rag`).
A generated document is in French four times in five, and is 20 to 60 sentences drawn without
replacement from a window of 80 neighbouring sentences of its language's book (so that it keeps
to a topic), in paragraphs of 3 to 7 sentences; its date is drawn from 2015 to 2026. So BM25
sees real words, document lengths and word frequencies. Sentences recur across documents: the
books give 7,652 usable sentences, so at 1M passages each is in about 900 of them, far more than
boilerplate recurs in a real archive. The haystack is off the needles' topics, and its
passages are near-duplicates of one another.

The needles: the 399 paragraphs of PIAF dev (`../shared/data/piaf-dev.json`), one document each
as `rag eval --squad` makes them, are in every haystack, embedded for real; their 2,025
questions are asked at every size and scored by `rag eval`'s rules (`score_modes`).

Vectors. Embedding a million passages with e5-small takes days here, so a haystack passage's
vector is DERIVED: the normalised mean of the real vectors of its sentences (each distinct
sentence is embedded once, for real). Sentence vectors, the needles' passages and sentences, the
vocabulary's words and the questions are embedded for real, once, and cached in `--work`.
Every figure below the embedder (FAISS, BM25, store, memory, latency) is real; quality figures
are on real needles among derived haystack vectors, and are labelled so.

Per size: build time by stage and the build's peak RSS (in a child process, as `rag index`),
disk, RSS and PSS after loading and after the questions, search latency p50 / p99 per mode in
one thread with the question's vector given (`search` as the service calls it, embedding
excluded: the question's vector and its words' vectors are cached), ANN recall@10 of the dense
index against exact search over the same vectors (and, for HNSW, the curve over efSearch), and
the needles' recall@5 and MRR@10 per mode. With `--http`, `rag serve --workers 2` on the index:
latency over HTTP (embedding included) and each worker's RSS and PSS. Separately, once: the
embedder's raw batch throughput against its throughput inside `rag`'s build, on the same
passages and threads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import Served  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.embedders import Embedder, make_embedder  # noqa: E402
from rag.evaluation.metrics import score_modes  # noqa: E402
from rag.evaluation.squad import load_squad  # noqa: E402
from rag.index.loading import load_index  # noqa: E402
from rag.indexing.build import write_index  # noqa: E402
from rag.ingest.chunking import Passage, chunk_documents, sentence_spans  # noqa: E402
from rag.ingest.cleaning import normalize_text  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402
from rag.ingest.formats import Document, fallback_title, parse_document  # noqa: E402
from rag.retrieval.search import search  # noqa: E402

PIAF = ROOT.parent / "shared" / "data" / "piaf-dev.json"
HANDBOOK = Path("/usr/share/doc/debian-handbook/html")
BOOKS = {"fr": "fr-FR", "en": "en-US"}
MODES = ("dense", "bm25", "hybrid")
FRENCH_SHARE = 0.8
WINDOW = 80
_WORDS = re.compile(r"\w+")


# --- the haystack's text ----------------------------------------------------------------------


def _sentences_of(text: str) -> Iterator[str]:
    """`text`'s sentences as `rag` splits them."""
    for start, end in sentence_spans(Passage("", 0, len(text), text)):
        yield text[start:end].strip()


def _reads_as_sentence(s: str) -> bool:
    words = len(_WORDS.findall(s))
    return 5 <= words <= 80 and 30 <= len(s) <= 400 and s[0].isupper() and s[-1] in ".!?"


def book_sentences() -> dict[str, list[str]]:
    """The usable sentences of the handbook in each language (and of `corpus/`, French), in
    reading order, each once."""
    if not all((HANDBOOK / book).is_dir() for book in BOOKS.values()):
        sys.exit(
            f"bench_scale: the haystack is the Debian Administrator's Handbook, not found in "
            f"{HANDBOOK}; install it with: apt-get install debian-handbook (or: make handbook)"
        )
    found: dict[str, list[str]] = {}
    for language, book in BOOKS.items():
        texts = [
            parse_document(f.stem, f.read_bytes(), ".html", str(f), {})[0].text
            for f in sorted((HANDBOOK / book).glob("*.html"))
        ]
        if language == "fr":
            texts += [d.text for d in load_corpus(ROOT / "corpus")]
        seen: dict[str, None] = {}
        for text in texts:
            for s in _sentences_of(normalize_text(text)):
                if _reads_as_sentence(s):
                    seen.setdefault(s)
        found[language] = list(seen)
    return found


def haystack(
    count: int, sentences: dict[str, list[str]], seed: int, first: int = 0
) -> Iterator[Document]:
    """`count` generated documents (see the module's docstring), the same for the same seed."""
    rng = random.Random(seed)
    start = dt.date(2015, 1, 1).toordinal()
    days = dt.date(2026, 11, 30).toordinal() - start
    for i in range(first, first + count):
        language = "fr" if rng.random() < FRENCH_SHARE else "en"
        pool = sentences[language]
        centre = rng.randrange(len(pool))
        window = pool[max(0, centre - WINDOW // 2) : centre + WINDOW // 2]
        drawn = rng.sample(window, min(len(window), rng.randint(20, 60)))
        paragraphs, at = [], 0
        while at < len(drawn):
            n = rng.randint(3, 7)
            paragraphs.append(" ".join(drawn[at : at + n]))
            at += n
        text = "\n\n".join(paragraphs)
        yield Document(
            id=f"hay-{i:07d}",
            title=fallback_title(text),
            date=dt.date.fromordinal(start + rng.randrange(days)).isoformat(),
            language=language,
            source="bench_scale",
            text=text,
        )


def documents_for(
    size: int, needles: list[Document], sentences: dict[str, list[str]], settings: Settings
) -> list[Document]:
    """The needles and enough generated documents for about `size` passages."""
    tuned = settings.tuned_for(settings.embedder or "")
    chunk = (tuned.chunk_size, tuned.chunk_overlap)
    sample = list(haystack(300, sentences, seed=1))
    per_document = sum(1 for _ in chunk_documents(sample, *chunk)) / len(sample)
    needle_passages = sum(1 for _ in chunk_documents(needles, *chunk))
    count = max(0, round((size - needle_passages) / per_document))
    return needles + list(haystack(count, sentences, seed=size))


# --- vectors: real ones cached, the haystack's derived --------------------------------------


class VectorCache:
    """Real vectors by text (passages' and questions' apart), kept in `folder` between runs."""

    def __init__(self, folder: Path, embedder: str):
        self.texts_path = folder / f"vectors-{embedder}.json"
        self.vectors_path = folder / f"vectors-{embedder}.npy"
        self.rows: dict[str, int] = {}
        self.vectors = np.empty((0, 0), np.float32)
        self._fresh: dict[str, np.ndarray] = {}
        if self.texts_path.exists() and self.vectors_path.exists():
            texts = json.loads(self.texts_path.read_text(encoding="utf-8"))
            self.vectors = np.load(self.vectors_path)
            self.rows = {t: i for i, t in enumerate(texts)}

    def get(self, key: str) -> np.ndarray | None:
        row = self.rows.get(key)
        if row is None:
            return None
        fresh = self._fresh.get(key)
        return self.vectors[row] if fresh is None else fresh

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        for key, vector in zip(keys, vectors, strict=True):
            if key not in self.rows:
                self.rows[key] = len(self.rows)
                self._fresh[key] = vector

    def save(self) -> None:
        if not self._fresh:
            return
        fresh = np.stack(list(self._fresh.values())).astype(np.float32)
        self.vectors = np.concatenate([self.vectors, fresh]) if self.vectors.size else fresh
        self._fresh = {}
        self.texts_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(self.vectors_path, self.vectors)
        texts = sorted(self.rows, key=self.rows.__getitem__)
        self.texts_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")


class DerivedEmbedder(Embedder):
    """The real embedder for what it has not seen, and for a text made of several sentences it
    has all seen (a haystack passage), the normalised mean of their vectors."""

    def __init__(self, real: Embedder, cache: VectorCache):
        super().__init__(real.batch_size, real.query_prefix, real.passage_prefix)
        self.real, self.cache = real, cache
        self.name, self.dimension = real.name, real.dimension
        self.derived = self.embedded = 0

    def _embed_batch(self, texts: list[str]) -> np.ndarray:  # not called: the real one is
        raise NotImplementedError

    @property
    def cache_key(self) -> str:
        return self.real.cache_key

    def _cached(self, texts: Sequence[str], prefix: str, embed: Callable) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), np.float32)
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            vector = self.cache.get(prefix + text)
            if vector is None:
                missing.setdefault(text, []).append(i)
            else:
                out[i] = vector
        if missing:
            fresh = embed(list(missing))
            self.cache.add([prefix + t for t in missing], fresh)
            self.embedded += len(missing)
            for vector, rows in zip(fresh, missing.values(), strict=True):
                out[rows] = vector
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, "query\0", self.real.encode_queries)

    def encode_passages(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), np.float32)
        real: list[int] = []
        for i, text in enumerate(texts):
            vector = self.cache.get(text)
            if vector is None:
                parts = list(_sentences_of(text))
                rows = [self.cache.get(s) for s in parts]
                if len(parts) > 1 and all(r is not None for r in rows):
                    mean = np.mean(rows, axis=0)
                    vector = mean / max(float(np.linalg.norm(mean)), 1e-12)
                    self.derived += 1
            if vector is None:
                real.append(i)
            else:
                out[i] = vector
        if real:
            out[real] = self._cached([texts[i] for i in real], "", self.real.encode_passages)
        if progress:
            progress(len(texts))
        return out


# --- measuring --------------------------------------------------------------------------------


def memory(pid: int | str = "self") -> dict[str, float]:
    """A process's memory in MB: RSS; PSS (each shared page divided among the processes that
    map it); `anon_mb`, its own heap (what the kernel cannot drop); `file_mb`, pages of mapped
    files (the index's memory-mapped files: page cache, shared with other workers, dropped by
    the kernel when memory is short)."""
    names = {"Rss": "rss_mb", "Pss": "pss_mb", "Anonymous": "anon_mb"}
    found = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in names:
                found[names[key]] = round(int(rest.split()[0]) / 1024, 1)
    found["file_mb"] = round(found["rss_mb"] - found["anon_mb"], 1)
    return found


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {
        "p50_ms": round(float(np.median(ms)), 2),
        "p99_ms": round(float(np.quantile(ms, 0.99)), 2),
    }


def folder_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def _child(target: Callable[..., dict], args: tuple[Any, ...], writer: Any) -> None:
    try:
        writer.send(target(*args))
    except BaseException as exc:
        writer.send({"error": f"{type(exc).__name__}: {exc}"})
        raise


def _in_child(target: Callable[..., dict], *args: Any) -> dict:
    """`target(*args)` in a process of its own (its memory is its own), returning its dict.
    The process is started fresh ("spawn"), not forked: a fork inherits the OpenMP thread pool
    of its parent without its threads, and OpenMP there waits for them forever
    (tests/evaluation/test_bench_scale.py)."""
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(target, args, writer))
    child.start()
    writer.close()  # so that a child that dies unheard is an EOFError here, not a wait
    try:
        result = reader.recv()
    except EOFError:
        result = None
    child.join()
    if result is None:
        result = {"error": f"the process died (exit code {child.exitcode})"}
    if "error" in result:
        raise RuntimeError(f"{target.__name__} failed: {result['error']}")
    return result


def build(size: int, index_dir: Path, args: argparse.Namespace) -> dict:
    settings = Settings(embedder=args.embedder, embed_threads=args.threads)
    cache = VectorCache(args.work, args.embedder)
    embedder = DerivedEmbedder(make_embedder(args.embedder, settings), cache)
    needles, _ = load_squad(PIAF)
    sentences = book_sentences()
    pool = [s for ss in sentences.values() for s in ss]
    started = time.perf_counter()
    embedder.encode_passages(pool)  # for real, those not cached yet
    pool_s = time.perf_counter() - started
    cache.save()
    started = time.perf_counter()
    documents = documents_for(size, needles, sentences, settings)
    generated = time.perf_counter() - started
    report = write_index(documents, index_dir, settings, embedder)
    cache.save()
    return {
        "documents": report.manifest.documents,
        "passages": report.manifest.passages,
        "sentences": report.manifest.sentences,
        "vector_index": report.manifest.vector_index,
        "pool_sentences": len(pool),
        "pool_embedding_s": round(pool_s, 1),
        "generate_s": round(generated, 1),
        "build_s": round(report.seconds, 1),
        "stages_s": {k: round(v, 1) for k, v in report.stages.items()},
        "derived_vectors": embedder.derived,
        "embedded_for_real": embedder.embedded,
        "build_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "disk_mb": folder_mb(index_dir),
    }


def ask(size: int, index_dir: Path, args: argparse.Namespace) -> dict:
    import faiss

    faiss.omp_set_num_threads(1)
    settings = Settings(embedder=args.embedder, embed_threads=1)
    cache = VectorCache(args.work, args.embedder)
    embedder = DerivedEmbedder(make_embedder(args.embedder, settings), cache)
    _, questions = load_squad(PIAF)
    questions = questions[: args.questions]
    started = time.perf_counter()
    index = load_index(index_dir, settings, embedder)
    out: dict[str, Any] = {"load_s": round(time.perf_counter() - started, 2)}
    out["after_load"] = memory()
    asked = [q.question for q in questions[: args.queries]]
    # Untimed, once: embeds the questions and their words (for translation) and caches them.
    for q in asked:
        search(index, q, 5, "hybrid")
    out["after_1000_queries"] = memory()  # --queries of them, 1,000 by default
    out["latency"] = {}
    for mode in MODES:
        times = []
        for q in asked:
            t = time.perf_counter()
            search(index, q, 5, mode)
            times.append(time.perf_counter() - t)
        out["latency"][mode] = percentiles(times)
    out["after_queries"] = memory()  # and 3 x --queries more, timed
    # The needles, by `rag eval`'s rules (after the memory is read: ranx compiles with numba).
    report = score_modes(index, questions, list(MODES))
    out["needles"] = {
        m: {k: report.runs[m]["all"][k] for k in ("recall@5", "mrr@10")} for m in MODES
    }
    cache.save()
    return out


def ann_recall(size: int, index_dir: Path, args: argparse.Namespace) -> dict:
    """Recall@10 of the dense index against exact search over the same vectors, and for HNSW
    the recall and the time of a dense search over efSearch."""
    import faiss

    faiss.omp_set_num_threads(1)
    settings = Settings(embedder=args.embedder, embed_threads=1)
    cache = VectorCache(args.work, args.embedder)
    embedder = DerivedEmbedder(make_embedder(args.embedder, settings), cache)
    index = load_index(index_dir, settings, embedder)
    _, questions = load_squad(PIAF)
    questions = [q.question for q in questions[:1000]]
    live = index.live_passages
    vectors = np.empty((len(live), index.vectors.dimension), np.float32)
    for lo in range(0, len(live), 20_000):  # as the build made them
        ids = live[lo : lo + 20_000].tolist()
        passages = index.store.passages(ids)
        vectors[lo : lo + len(ids)] = embedder.encode_passages([passages[i].text for i in ids])
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    queries = embedder.encode_queries(questions)
    # At the process's one thread, as `load_index` left FAISS and BLAS: raising FAISS's OpenMP
    # alone, to 2, for this search had it spin on one core for good in CI (twice, 2026-12-07;
    # FAISS's OpenBLAS runs on its OpenMP and stays held to 1).
    _, truth = exact.search(queries, 10)
    truth = live[truth]
    main = index.vectors.segments[0]
    curve = {}
    # The recall curve over the setting that trades recall for time, at its default too.
    knob = {"hnsw": "_ef_search", "ivf": "_nprobe"}.get(main.kind)
    default = getattr(main, knob) if knob else None
    values = sorted({16, 32, 64, 128, 256, default}) if knob else [None]
    for value in values:
        if knob:
            setattr(main, knob, value)
        found, times = [], []
        for q in queries:
            t = time.perf_counter()
            hits = index.vectors.search(q, 10)
            times.append(time.perf_counter() - t)
            found.append([pid for pid, _ in hits])
        shared = [len(set(f) & set(t)) for f, t in zip(found, truth, strict=True)]
        recall = float(np.mean(shared)) / 10
        curve[str(value or "exact")] = {"recall@10": round(recall, 4), **percentiles(times)}
    if knob:
        setattr(main, knob, default)
    return {
        "kind": main.kind,
        "setting": knob and knob.strip("_"),
        "default": default,
        "curve": curve,
    }


def over_http(size: int, index_dir: Path, args: argparse.Namespace) -> dict:
    """`rag serve --workers 2` on the index: hybrid latency with embedding, workers' memory."""
    import httpx

    env = {"RAG_LOG_REQUESTS": "false", "RAG_EMBED_THREADS": "1"}
    served = Served(index_dir, workers=2, env=env, timeout=600)
    url = served.url
    try:
        workers = served.workers()
        _, questions = load_squad(PIAF)
        times = []
        for q in questions[: args.http_queries]:
            t = time.perf_counter()  # a connection each, so that both workers answer
            r = httpx.post(f"{url}/search", json={"query": q.question, "k": 5}, timeout=60)
            r.raise_for_status()
            times.append(time.perf_counter() - t)
        memories = {str(pid): memory(pid) for pid in sorted(workers)}
        return {"hybrid": percentiles(times), "workers": memories}
    finally:
        served.close()


def throughput(size: int, index_dir: Path, args: argparse.Namespace) -> dict:
    """Texts per second of the embedder alone and inside `rag`'s build, on the same texts
    (the passages and sentences of `--throughput-docs` PIAF paragraphs), alternately, twice."""
    settings = Settings(embedder=args.embedder, embed_threads=args.threads, vocabulary_size=0)
    embedder = make_embedder(args.embedder, settings)
    needles, _ = load_squad(PIAF)
    docs = needles[: args.throughput_docs]
    tuned = settings.tuned_for(args.embedder)
    passages = list(chunk_documents(docs, tuned.chunk_size, tuned.chunk_overlap))
    texts = list(dict.fromkeys([p.text for p in passages] + [
        s for p in passages for s in _sentences_of(p.text)
    ]))  # fmt: skip
    raw, inside = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(2):
            t = time.perf_counter()
            embedder.encode_passages(texts)
            raw.append(len(texts) / (time.perf_counter() - t))
            report = write_index(docs, Path(tmp) / f"i{n}", settings, embedder)
            inside.append(report.embedded / report.embed_seconds)
    return {
        "texts": len(texts),
        "raw_per_s": round(statistics.median(raw), 2),
        "rag_index_per_s": round(statistics.median(inside), 2),
        "ratio": round(statistics.median(inside) / statistics.median(raw), 3),
    }


# --- report -----------------------------------------------------------------------------------


def table(results: list[dict]) -> str:
    lines = [
        "| passages | FAISS | build s | peak RSS MB | disk MB | mode | p50 ms | p99 ms "
        "| needle R@5 | MRR@10 | ANN R@10 | RSS load / after MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b, a = r["build"], r["ask"]
        ann_at = r["ann"].get("default", r["ann"].get("ef_search"))  # (earlier results: ef_search)
        ann = r["ann"]["curve"][str(ann_at or "exact")]["recall@10"]
        for mode in MODES:
            lat, q = a["latency"][mode], a["needles"][mode]
            lines.append(
                f"| {b['passages']:,} | {b['vector_index']} | {b['build_s']} | "
                f"{b['build_peak_rss_mb']:,.0f} | {b['disk_mb']:,.0f} | {mode} | {lat['p50_ms']} "
                f"| {lat['p99_ms']} | {q['recall@5']:.3f} | {q['mrr@10']:.3f} | {ann:.4f} | "
                f"{a['after_load']['rss_mb']:,.0f} / {a['after_queries']['rss_mb']:,.0f} |"
            )
    return "\n".join(lines)


def plots(results: list[dict], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["build"]["passages"] for r in results]
    fig, (lat, qual) = plt.subplots(1, 2, figsize=(11, 4))
    for mode in MODES:
        for pct, style in (("p50_ms", "-o"), ("p99_ms", ":x")):
            values = [r["ask"]["latency"][mode][pct] for r in results]
            lat.plot(sizes, values, style, label=f"{mode} {pct[:3]}")
        values = [r["ask"]["needles"][mode]["recall@5"] for r in results]
        qual.plot(sizes, values, "-o", label=f"{mode} recall@5")
        values = [r["ask"]["needles"][mode]["mrr@10"] for r in results]
        qual.plot(sizes, values, ":x", label=f"{mode} MRR@10")
    for ax in (lat, qual):
        ax.set_xscale("log")
        ax.set_xlabel("passages in the index")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    lat.set_ylabel("search time, ms (one thread, embedding excluded)")
    qual.set_ylabel("PIAF dev needles (2,025 questions)")
    lat.set_title("Latency vs size")
    qual.set_title("Needle quality vs size (haystack vectors derived)")
    fig.tight_layout()
    fig.savefig(folder / "scale.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--threads", type=int, default=2, help="embedding threads for builds")
    parser.add_argument("--questions", type=int, default=2025, help="needle questions asked")
    parser.add_argument("--queries", type=int, default=1000, help="timed questions per mode")
    parser.add_argument("--http", action="store_true", help="also over HTTP, 2 workers")
    parser.add_argument("--http-queries", type=int, default=300)
    parser.add_argument("--throughput-docs", type=int, default=100, help="0: skip")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-bench-scale"))
    parser.add_argument("--keep", action="store_true", help="keep each size's index in --work")
    parser.add_argument(
        "--resume", action="store_true", help="reuse a kept index and the phases it has results of"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "bench_scale.json")
    parser.add_argument("--plots", type=Path, help="folder to write scale.png into")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        index_dir = args.work / f"index-{size}"
        saved = args.work / f"result-{size}.json"
        result: dict[str, Any] = {"size": size}
        if args.resume and saved.exists() and index_dir.is_dir():
            result = json.loads(saved.read_text(encoding="utf-8"))
            print(f"size {size:,}: resuming after {', '.join(result)}", flush=True)
        else:
            shutil.rmtree(index_dir, ignore_errors=True)
        phases = [("build", build), ("ask", ask), ("ann", ann_recall)]
        if args.http:
            phases.append(("http", over_http))
        for phase, run in phases:
            if phase not in result:
                print(f"size {size:,}: {phase}", flush=True)
                result[phase] = _in_child(run, size, index_dir, args)
                print(json.dumps(result[phase]), flush=True)
                saved.write_text(json.dumps(result) + "\n", encoding="utf-8")
        results.append(result)
        if not args.keep:
            shutil.rmtree(index_dir, ignore_errors=True)
    summary: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "embedder": args.embedder,
        "questions": args.questions,
        "results": results,
    }
    if args.throughput_docs:
        summary["throughput"] = _in_child(throughput, 0, Path(), args)
        print(json.dumps(summary["throughput"]), flush=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    if args.plots:
        plots(results, args.plots)


if __name__ == "__main__":
    main()
