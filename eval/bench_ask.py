"""What a question costs beside its encoding, in process CPU, in one run (issue #26).

Two processes load the same index with no thread variable set (as a user's shell has it):
- `rag`: as rag runs, FAISS and BLAS held to `embed_threads` (1) once the index is loaded;
- `library defaults`: the same, then FAISS's OpenMP and BLAS set back to their defaults (one
  thread a core), as rag ran before;
- `no question cache`: as rag runs, with `query_cache=0` (as rag ran before 2026-12-07);
and with --which two more, FAISS alone and BLAS alone set back to their defaults. They take
the questions in turn (the gold set and eval/unanswerable.jsonl, each asked once), so a shared
machine's drift falls on all. For each question each process measures, in process CPU (every
thread's): the question's encoding alone (`encode_queries`, at one thread), then the search of
it, then the same search again (a question asked twice, its vector cached). The ratios of the
medians are the result: search CPU ÷ encoding CPU, with its wall time beside it.

Run: .venv/bin/python eval/bench_ask.py [--bilingual] [--index DIR] [--modes hybrid,dense,bm25]
Without --index it builds corpus/ with the default embedder into a temporary folder; with
--bilingual, corpus/ and ten English sections of the Debian handbook (`make handbook`), so that
the questions' words are translated between the two languages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, os, sys, time
from pathlib import Path
import faiss
from threadpoolctl import threadpool_limits
from rag.config import Settings
from rag.index.loading import load_index
from rag.retrieval.search import search
cache = {"query_cache": 0} if sys.argv[2] == "nocache" else {}
index = load_index(Path(sys.argv[1]), Settings(**cache))
if sys.argv[2] in ("defaults", "faiss"):
    faiss.omp_set_num_threads(os.cpu_count())
if sys.argv[2] in ("defaults", "blas"):
    threadpool_limits(limits=os.cpu_count(), user_api="blas")
for q in ("Qui est le maire ?", "What is a smart city?"):  # model load, first calls
    search(index, q)
print("ready", flush=True)
for line in sys.stdin:
    question, mode = json.loads(line)
    c = time.process_time()
    index.embedder.encode_queries([question])
    encode = time.process_time() - c
    index.embedder.forget_queries()  # the first search is of a question not seen before
    times = []
    for _ in range(2):
        c, w = time.process_time(), time.perf_counter()
        search(index, question, 5, mode)
        times += [time.process_time() - c, time.perf_counter() - w]
    print(json.dumps([encode, *times]), flush=True)
"""

# A user's shell sets none of these; rag must not need them.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT", "OMP_THREAD_LIMIT", "RAG_EMBED_THREADS",
)  # fmt: skip
CONFIGS = {"rag": "rag", "library defaults": "defaults", "no question cache": "nocache"}
# --which: which library's threads cost it, each set back to its default alone.
ONE_AT_A_TIME = {"FAISS at its default": "faiss", "BLAS at its default": "blas"}
HANDBOOK = Path("/usr/share/doc/debian-handbook/html/en-US")
ENGLISH = ("who-is-this-book-for", "raspbian", "devuan", "kali", "tails", "pureos", "grml",
           "steamos", "doudoulinux", "other-derivatives")  # fmt: skip


def questions() -> list[str]:
    out = []
    for name in ("eval/gold.jsonl", "eval/unanswerable.jsonl"):
        out += [json.loads(line)["question"] for line in Path(name).read_text().splitlines()]
    return list(dict.fromkeys(out))


def start(index: Path, config: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(index), config],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def ask(proc: subprocess.Popen[str], question: str, mode: str) -> list[float]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps([question, mode]) + "\n")
    proc.stdin.flush()
    return list(json.loads(proc.stdout.readline()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="an index to load; none: corpus/ built anew")
    parser.add_argument("--bilingual", action="store_true", help="corpus/ and English pages")
    parser.add_argument("--modes", default="hybrid,dense,bm25")
    parser.add_argument("--json", type=Path, help="write the medians here")
    parser.add_argument("--which", action="store_true", help="also FAISS alone and BLAS alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ask-") as tmp:
        index = args.index
        if index is None:
            corpus = Path("corpus")
            if args.bilingual:
                corpus = Path(tmp) / "corpus"
                shutil.copytree("corpus", corpus)
                for name in ENGLISH:
                    shutil.copy(HANDBOOK / f"sect.{name}.html", corpus)
            index = Path(tmp) / "index"
            subprocess.run(
                [sys.executable, "-m", "rag.cli", "index", "--corpus", str(corpus), "--index",
                 str(index)], check=True, capture_output=True,
            )  # fmt: skip
        configs = {**CONFIGS, **(ONE_AT_A_TIME if args.which else {})}
        procs = {name: start(index, config) for name, config in configs.items()}
        qs = questions()
        results: dict[str, dict[str, dict[str, float]]] = {}
        print(f"{len(qs)} questions, {os.cpu_count()} cores, index {index}")
        print("| mode | process | encoding CPU | search CPU | ÷ encoding | search wall | again |")
        print("|---|---|---|---|---|---|---|")
        for mode in args.modes.split(","):
            rows: dict[str, list[list[float]]] = {name: [] for name in procs}
            for q in qs:
                for name, proc in procs.items():
                    rows[name].append(ask(proc, q, mode))
            results[mode] = {}
            for name, row in rows.items():
                columns = zip(*row, strict=True)
                enc, cpu, wall, again, _ = (statistics.median(col) for col in columns)
                results[mode][name] = {"encode_cpu_ms": enc * 1000, "search_cpu_ms": cpu * 1000,
                                       "ratio": cpu / enc, "search_wall_ms": wall * 1000,
                                       "again_cpu_ms": again * 1000}  # fmt: skip
                print(f"| {mode} | {name} | {enc * 1000:.1f} ms | {cpu * 1000:.1f} ms | "
                      f"{cpu / enc:.2f}× | {wall * 1000:.1f} ms | {again * 1000:.1f} ms "
                      f"({again / enc:.2f}×) |", flush=True)  # fmt: skip
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
