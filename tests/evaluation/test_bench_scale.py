"""eval/bench_scale.py at a small size, end to end: the haystack is generated and chunked as
planned, its vectors are derived, the needles are found, the dense index agrees with exact
search, and two workers over HTTP share the index's memory. (The sizes that matter, 10k to 1M,
take an hour: eval/README.md has them.)"""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

SIZE = 3000


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("bench")
    out = work / "bench_scale.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "bench_scale.py"), "--sizes", str(SIZE),
         "--embedder", "use-m3", "--questions", "200", "--queries", "50", "--http",
         "--http-queries", "10", "--throughput-docs", "5", "--work", str(work), "--out",
         str(out), "--plots", str(work)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    assert "| passages | FAISS |" in proc.stdout  # the table for eval/README.md
    assert (work / "scale.png").stat().st_size > 10_000
    return json.loads(out.read_text())


def test_the_haystack_has_the_size_asked_and_derived_vectors(result: dict) -> None:
    (row,) = result["results"]
    built = row["build"]
    assert abs(built["passages"] - SIZE) < 0.15 * SIZE
    assert built["documents"] > 399  # the PIAF paragraphs and generated documents
    assert built["sentences"] > 3 * built["passages"]
    # Haystack passages are derived from their sentences; the needles are embedded for real.
    assert built["derived_vectors"] > 0.6 * built["passages"]
    assert built["pool_sentences"] > 5000
    stages = built["stages_s"]
    assert set(stages) == {"chunking", "vocabulary", "embedding", "bm25", "faiss", "segment",
                           "store"}  # fmt: skip
    assert 0 < sum(stages.values()) <= built["build_s"] + 0.05 * len(stages)  # rounded to 0.1 s
    assert built["build_peak_rss_mb"] > 0 and built["disk_mb"] > 1


def test_needles_latency_memory_and_exact_search(result: dict) -> None:
    (row,) = result["results"]
    asked = row["ask"]
    for mode in ("dense", "bm25", "hybrid"):
        assert 0.3 < asked["needles"][mode]["recall@5"] <= 1.0
        assert 0 < asked["latency"][mode]["p50_ms"] <= asked["latency"][mode]["p99_ms"]
    assert asked["needles"]["hybrid"]["recall@5"] >= asked["needles"]["dense"]["recall@5"]
    # A flat index is exact search: its recall against exact search is 1, ties aside.
    assert row["ann"]["kind"] == "flat"
    assert row["ann"]["curve"]["exact"]["recall@10"] > 0.99
    assert asked["after_queries"]["rss_mb"] >= asked["after_load"]["pss_mb"] > 0


def test_two_workers_share_pages_and_rag_index_embeds_at_the_raw_rate(result: dict) -> None:
    (row,) = result["results"]
    workers = row["http"]["workers"]
    assert len(workers) == 2
    assert all(0 < w["pss_mb"] < w["rss_mb"] for w in workers.values())
    assert row["http"]["hybrid"]["p50_ms"] > 0
    throughput = result["throughput"]
    assert throughput["texts"] > 5 and throughput["raw_per_s"] > 0
    assert throughput["ratio"] > 0  # recorded, not held to the target here: timings are noisy
