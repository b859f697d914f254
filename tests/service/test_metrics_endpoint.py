"""`GET /metrics` from a real `rag serve` with two workers: the counts of both add up."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, Served
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (metric, pairs), value in found.items()
        if metric == name and labels.items() <= dict(pairs).items()
    )


def up(text: str) -> list[float]:
    return [v for (name, _), v in samples(text).items() if name == "rag_worker_up"]


def test_requests_of_both_workers_add_up(built_index_dir: Path) -> None:
    served = Served(built_index_dir, corpus_dir=CORPUS)
    url = served.url
    try:
        # A worker is up once its index is loaded: wait for both (a worker still loading
        # shows 0), so that both can take requests.
        deadline = time.monotonic() + 120
        while up(httpx.get(f"{url}/metrics", timeout=60).text) != [1.0, 1.0]:
            assert time.monotonic() < deadline, "both workers never came up"
            time.sleep(0.2)
        questions = [("Qui est le maire de Hangzhou ?", "hybrid"), ("maire", "bm25")] * 20

        def ask(question: str, mode: str) -> int:  # a new connection each: both workers answer
            params = {"q": question, "mode": mode, "k": 3}
            return httpx.get(f"{url}/search", params=params, timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(lambda qm: ask(*qm), questions)) == {200}
        httpx.get(f"{url}/documents/nope", timeout=60)
        assert httpx.request("PROPFIND", f"{url}/search", timeout=60).status_code == 405
        response = httpx.get(f"{url}/metrics", timeout=60)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
    finally:
        served.close()
    assert up(response.text) == [1.0, 1.0]  # one series per worker: the scrape read both
    assert total(found, "rag_requests_total", route="/search", status="200") == 40
    assert total(found, "rag_requests_total", route="/documents/{doc_id}", status="404") == 1
    # A method HTTP does not define counts as "other": clients cannot multiply the series.
    assert total(found, "rag_requests_total", method="other", status="405") == 1
    assert total(found, "rag_request_duration_seconds_count", route="/search") == 41
    assert total(found, "rag_search_duration_seconds_count", mode="hybrid") == 20
    assert total(found, "rag_search_results_sum", mode="hybrid") == 60  # 20 searches × k=3
    assert total(found, "rag_index_passages") > 5 and total(found, "rag_index_documents") == 5
    assert total(found, "rag_index_generation") == 1
    assert total(found, "rag_build_info", embedder="use-m3") == 1
    assert all(v > 1e8 for (n, _), v in found.items() if n == "rag_worker_resident_memory_bytes")


def test_metrics_need_the_key_unless_made_public(built_index_dir: Path) -> None:
    served = Served(built_index_dir, corpus_dir=CORPUS, env={"RAG_API_KEY": "k3y"})
    url = served.url
    try:
        assert httpx.get(f"{url}/metrics", timeout=60).status_code == 401
        keyed = httpx.get(f"{url}/metrics", headers={"X-API-Key": "k3y"}, timeout=60)
        assert keyed.status_code == 200 and "rag_requests_total" in keyed.text
    finally:
        served.close()
    public = {"RAG_API_KEY": "k3y", "RAG_METRICS_PUBLIC": "true"}
    served = Served(built_index_dir, corpus_dir=CORPUS, env=public)
    url = served.url
    try:
        assert httpx.get(f"{url}/metrics", timeout=60).status_code == 200
        assert httpx.get(f"{url}/search?q=maire", timeout=60).status_code == 401
    finally:
        served.close()
