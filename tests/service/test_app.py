"""The HTTP API against a real `rag serve` process on a loopback port, spoken to with httpx."""

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, HANGZHOU, Served

from rag.index.loading import Index
from rag.retrieval.search import search

pytestmark = pytest.mark.slow
API_KEY = "s3cret-key"


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as c:
        yield c


def test_search_get_answers_the_mayor_question_with_its_source(client: httpx.Client) -> None:
    r = client.get("/search", params={"q": "Qui est le maire de Hangzhou"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "lang", "mode", "answerable", "confidence", "took_ms", "results"}
    assert (body["lang"], body["mode"]) == ("fr", "hybrid") and body["took_ms"] > 0
    first = body["results"][0]
    assert first["doc_id"] == HANGZHOU and "Liyi" in first["text"]
    doc = client.get(f"/documents/{first['doc_id']}").json()
    assert doc["text"][first["start"] : first["end"]] == first["text"]
    assert first["highlights"] and all(
        doc["text"][h["start"] : h["end"]] == h["text"] for h in first["highlights"]
    )
    assert any("Liyi" in h["text"] for h in first["highlights"])


def test_the_http_answer_is_the_library_answer_with_its_time(
    client: httpx.Client, default_index: Index
) -> None:
    """One shape for both: the API adds `took_ms` to what `rag.search` answers, nothing else."""
    question = "Who is the mayor of Hangzhou?"
    body = client.post("/search", json={"query": question, "k": 4}).json()
    assert body.pop("took_ms") > 0
    assert body == search(default_index, question, 4).model_dump()


def test_search_post_with_filters_in_english(client: httpx.Client) -> None:
    r = client.post(
        "/search",
        json={
            "query": "Who is the mayor of Hangzhou?",
            "k": 3,
            "mode": "dense",
            "filters": {"doc_ids": [HANGZHOU], "date_from": "2017-01", "date_to": "2017-12-31"},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lang"] == "en" and body["mode"] == "dense" and len(body["results"]) == 3
    assert {x["doc_id"] for x in body["results"]} == {HANGZHOU}


def test_documents_list_and_one_document(client: httpx.Client) -> None:
    docs = client.get("/documents").json()
    assert len(docs) == 5
    hangzhou = next(d for d in docs if d["id"] == HANGZHOU)
    assert hangzhou["date"] == "2017-12-09" and hangzhou["passages"] > 1
    one = client.get(f"/documents/{HANGZHOU}").json()
    assert one["title"] == hangzhou["title"] and one["passages"] == hangzhou["passages"]
    assert one["text"].startswith("Hangzhou accueille")


@pytest.mark.parametrize("question", ["the", "le", "Qui ?", "!!!", "👍", "de la", "?"])
def test_a_question_with_no_searchable_word_still_gets_dense_results(
    client: httpx.Client, question: str
) -> None:
    for mode in ("hybrid", "dense"):
        answer = client.get("/search", params={"q": question, "mode": mode})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["results"]) == 5
    lexical = client.get("/search", params={"q": question, "mode": "bm25"})
    assert lexical.status_code == 200 and lexical.json()["results"] == []


def test_a_method_not_allowed_names_every_allowed_method(client: httpx.Client) -> None:
    for method in ("DELETE", "OPTIONS", "PUT"):
        refused = client.request(method, "/search")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, POST"
        assert "use GET or POST" in refused.json()["detail"]


def test_the_schema_documents_the_error_bodies_the_server_sends(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, method in (("/search", "get"), ("/search", "post"), ("/context", "post")):
        responses = schema["paths"][path][method]["responses"]
        assert {"400", "413", "422", "500", "503"} <= set(responses)
        for status in ("413", "422", "500"):
            assert responses[status]["content"]["application/json"]["schema"] == problem
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "securitySchemes" not in schema.get("components", {})  # no key set: none needed


def test_docs_pages_are_public_and_load_their_assets_from_the_server(client: httpx.Client) -> None:
    """Swagger UI and ReDoc come from the package: no CDN, so /docs works offline."""
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
        assert assets and all(a.startswith("/static-offline-docs/") for a in assets), assets
        for asset in assets:
            got = client.get(asset)
            assert got.status_code == 200 and len(got.content) > 10_000
        assert "cdn.jsdelivr" not in html and "unpkg" not in html


def test_health_ready_and_docs(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["embedder"] == "use-m3"
    assert ready["passages"] > 5 and ready["built_at"]
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    text = str(schema)
    assert "Qui est le maire de Hangzhou ?" in text and "Who is the mayor of Hangzhou?" in text


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [
        ("get", "/search", {"params": {"q": ""}}, 422, "invalid_request"),
        ("get", "/search", {"params": {"q": "   "}}, 422, "invalid_query"),
        ("get", "/search", {"params": {"q": "x" * 1001}}, 422, "invalid_request"),
        ("get", "/search", {"params": {"q": "maire", "k": 0}}, 422, "invalid_request"),
        ("get", "/search", {"params": {"q": "maire", "k": 101}}, 422, "invalid_request"),
        ("get", "/search", {"params": {"q": "maire", "k": "five"}}, 422, "invalid_request"),
        ("get", "/search", {"params": {"q": "maire", "mode": "magic"}}, 422, "invalid_request"),
        ("get", "/search", {"params": {"q": "maire", "date_from": "hier"}}, 422, "invalid_query"),
        ("get", "/search", {}, 422, "invalid_request"),
        ("post", "/search", {"json": {"query": "\t\n"}}, 422, "invalid_query"),
        ("post", "/search", {"json": {"query": "maire", "k": -1}}, 422, "invalid_request"),
        ("post", "/search", {"json": {"query": "maire", "mode": 3}}, 422, "invalid_request"),
        ("post", "/search", {"json": {"query": 42}}, 422, "invalid_request"),
        ("post", "/search", {"json": {"question": "maire"}}, 422, "invalid_request"),
        ("post", "/search", {"json": ["maire"]}, 422, "invalid_request"),
        (
            "post",
            "/search",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
            "invalid_request",
        ),
        (
            "post",
            "/search",
            {"json": {"query": "maire", "filters": {"doc_ids": ["nope"]}}},
            422,
            "invalid_query",
        ),
        (
            "post",
            "/search",
            {"json": {"query": "maire", "filters": {"lang": "fr"}}},
            422,
            "invalid_request",
        ),
        ("get", "/documents/nope", {}, 404, "not_found"),
        ("get", "/nowhere", {}, 404, "not_found"),
        ("delete", "/search", {}, 405, "method_not_allowed"),
        ("get", "/search", {"params": {"q": "maire", "doc_id": ""}}, 422, "invalid_request"),
        ("post", "/search", {"json": {"query": "maire", "k": True}}, 422, "invalid_request"),
        (
            "post",
            "/search",
            {"content": b"\xff\xfe{", "headers": {"content-type": "application/json"}},
            400,
            "invalid_request",
        ),
    ],
)
def test_bad_input_answers_4xx_with_a_json_reason(
    client: httpx.Client, method: str, path: str, kwargs: dict, status: int, error: str
) -> None:
    r = client.request(method.upper(), path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["detail"]
    assert client.get("/health").status_code == 200  # and the server is still up


def test_search_get_refuses_a_parameter_it_does_not_take(client: httpx.Client) -> None:
    """As POST refuses an unknown field: schemathesis found `?q=0&=null` answered 200 (an
    unnamed parameter), and a misspelt filter would widen the search unseen."""
    schema = client.get("/openapi.json").json()["paths"]["/search"]["get"]["parameters"]
    taken = ", ".join(p["name"] for p in schema)
    for extra in ({"date_form": "2021-01"}, {"": "null"}, {"Q": "maire"}):
        r = client.get("/search", params={"q": "maire", **extra})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
        (name,) = extra
        assert f"query.{name}: unknown parameter; /search takes {taken}" in r.json()["detail"]
    everything = {"q": "maire", "k": 2, "mode": "bm25", "doc_id": HANGZHOU,
                  "date_from": "2017-01", "date_to": "2017-12"}  # fmt: skip
    assert client.get("/search", params=everything).status_code == 200


def test_fifty_concurrent_requests_are_all_answered_correctly(server: str) -> None:
    questions = [
        ("Qui est le maire de Hangzhou ?", HANGZHOU),
        ("Who is the mayor of Hangzhou?", HANGZHOU),
        ("Qui a inauguré la formation en diplomatie des villes à Tunis ?", "003_c18db2fcc2ae3497"),
        ("Sommet international du numérique à Namur", "001_eaea50fff73a9e8d"),
        ("Forum des Maires de l'ASEAN à Phnom Penh", "004_99f9bd370384c404"),
    ]
    with httpx.Client(base_url=server, timeout=60) as c:
        expected = {q: c.get("/search", params={"q": q, "k": 3}).json() for q, _ in questions}

        def ask(i: int) -> tuple[str, dict]:
            q = questions[i % len(questions)][0]
            return q, c.get("/search", params={"q": q, "k": 3}).json()

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(ask, range(50)))
    assert len(answers) == 50
    for q, body in answers:
        assert body["results"] == expected[q]["results"]
    for q, doc_id in questions:
        assert expected[q]["results"][0]["doc_id"] == doc_id, q


def test_api_key_is_required_everywhere_but_health_and_docs(built_index_dir: Path) -> None:
    """/health, the docs and the page shells stay public: they hold no data from the index."""
    served = Served(built_index_dir, corpus_dir=CORPUS, env={"RAG_API_KEY": API_KEY})
    url = served.url
    try:
        with httpx.Client(base_url=url, timeout=60) as c:
            pages = ("/", f"/documents/{HANGZHOU}/view", "/static/search.js")
            for public in ("/health", "/docs", "/redoc", "/openapi.json", *pages):
                assert c.get(public).status_code == 200, public
            schemes = c.get("/openapi.json").json()["components"]["securitySchemes"]
            assert {s["type"] for s in schemes.values()} == {"apiKey", "http"}
            for path in ("/search?q=maire", "/documents", f"/documents/{HANGZHOU}", "/ready"):
                r = c.get(path)
                assert r.status_code == 401 and r.json()["error"] == "unauthorized", path
                assert c.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
                assert c.get(path, headers={"X-API-Key": API_KEY}).status_code == 200
                bearer = {"Authorization": f"Bearer {API_KEY}"}
                assert c.get(path, headers=bearer).status_code == 200
    finally:
        served.close()


def test_cors_origins_are_configurable(built_index_dir: Path) -> None:
    served = Served(
        built_index_dir, corpus_dir=CORPUS, env={"RAG_CORS_ORIGINS": '["https://front.example"]'}
    )
    url = served.url
    try:
        with httpx.Client(base_url=url, timeout=60) as c:
            ok = c.get("/health", headers={"Origin": "https://front.example"})
            assert ok.headers["access-control-allow-origin"] == "https://front.example"
            other = c.get("/health", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        served.close()


def test_serve_builds_the_index_when_missing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    served = Served(tmp_path / "index", corpus_dir=corpus)
    url = served.url
    try:
        r = httpx.get(f"{url}/search", params={"q": "Who is the mayor of Hangzhou?"}, timeout=60)
        assert r.json()["results"][0]["doc_id"] == HANGZHOU
        assert (tmp_path / "index" / "manifest.json").exists()
    finally:
        served.close()


def test_serve_with_a_missing_corpus_and_no_index_fails_clearly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--port", "0",
         "--index", str(tmp_path / "index"), "--corpus", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "corpus folder" in proc.stderr and "does not exist" in proc.stderr
    assert not (tmp_path / "index").exists()
