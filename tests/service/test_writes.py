"""The write routes (POST, PUT, DELETE /documents) against real servers on loopback: what they
refuse, what they change, that every worker serves the change, and that an acknowledged write
survives the server being killed (SIGKILL) at any moment."""

from __future__ import annotations

import random
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, HANGZHOU, OfficeFiles, Served, serve_in_thread
from documents import PAGE_3_FACT

from rag.config import Settings
from rag.index.loading import load_index
from rag.service.app import create_app

pytestmark = pytest.mark.slow
KEY = "write-key"
LYON = {
    "id": "lyon-velos",
    "title": "Lyon lance des vélos partagés",
    "date": "2024-05-02",
    "text": "La ville de Lyon lance un programme de vélos électriques partagés pour ses "
    "habitants. Le maire a présenté le projet au conseil municipal.",
}


@pytest.fixture
def index_dir(tmp_path: Path, built_index_dir: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(built_index_dir, copy)
    return copy


@pytest.fixture
def writable(index_dir: Path) -> Iterator[httpx.Client]:
    app = create_app(Settings(index_dir=index_dir, allow_writes=True, max_document_bytes=50_000))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def test_writes_are_refused_unless_a_key_or_allow_writes_enables_them(index_dir: Path) -> None:
    with serve_in_thread(create_app(Settings(index_dir=index_dir))) as url:
        for method, path in (("post", "/documents"), ("put", "/documents/x"),
                             ("delete", "/documents/x")):  # fmt: skip
            r = httpx.request(method, url + path, json=LYON)
            assert r.status_code == 403 and r.json()["error"] == "forbidden"
            assert "RAG_API_KEY" in r.json()["detail"] and "--allow-writes" in r.json()["detail"]
        assert httpx.get(url + "/documents").status_code == 200  # reads stay open
    keyed = create_app(Settings(index_dir=index_dir, api_key=KEY))
    with serve_in_thread(keyed) as url:
        assert httpx.post(url + "/documents", json=LYON).status_code == 401
        r = httpx.post(url + "/documents", json=LYON, headers={"X-API-Key": KEY}, timeout=60)
        assert r.status_code == 201 and r.json()["added"] == ["lyon-velos"]


def test_add_replace_and_delete_answer_what_changed(writable: httpx.Client) -> None:
    added = writable.post("/documents", json=LYON)
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["added"] == ["lyon-velos"] and body["generation"] == 2
    assert body["passages_added"] == 1 and body["took_ms"] > 0
    # This worker answers from the new generation as soon as the write is acknowledged.
    hit = writable.get("/search", params={"q": "vélos électriques à Lyon", "k": 1}).json()
    assert hit["results"][0]["doc_id"] == "lyon-velos"
    doc = writable.get("/documents/lyon-velos").json()
    assert (doc["title"], doc["date"], doc["passages"]) == (LYON["title"], "2024-05-02", 1)

    again = writable.post("/documents", json=LYON)
    assert again.status_code == 409 and "PUT /documents/" in again.json()["detail"]
    # The id is checked before the text is read: a taken id is a 409 whatever the text.
    unreadable = writable.post("/documents", json={**LYON, "text": "\0\0\0 binaire"})
    assert unreadable.status_code == 409, unreadable.text
    same = writable.put("/documents/lyon-velos", json=LYON)
    assert same.status_code == 200 and same.json()["unchanged"] == ["lyon-velos"]
    assert same.json()["generation"] == 2  # nothing changed, no new generation
    nantes = {**LYON, "id": None, "text": LYON["text"].replace("Lyon", "Nantes")}
    replaced = writable.put("/documents/lyon-velos", json=nantes)
    assert replaced.status_code == 200 and replaced.json()["replaced"] == ["lyon-velos"]
    assert "Nantes" in writable.get("/documents/lyon-velos").json()["text"]
    created = writable.put("/documents/new-one", json={"text": "Un article neuf sur Tunis."})
    assert created.status_code == 201 and created.json()["added"] == ["new-one"]

    gone = writable.delete("/documents/lyon-velos")
    assert gone.status_code == 200 and gone.json()["removed"] == ["lyon-velos"]
    assert writable.get("/documents/lyon-velos").status_code == 404
    missing = writable.delete("/documents/lyon-velos")
    assert missing.status_code == 404 and "nothing was changed" in missing.json()["detail"]
    ids = {d["id"] for d in writable.get("/documents").json()}
    assert "new-one" in ids and "lyon-velos" not in ids and HANGZHOU in ids


def test_uploads_are_read_like_corpus_files(writable: httpx.Client) -> None:
    html = (
        "<html><head><title>Rabat numérique</title></head><body><nav>Menu</nav><article>"
        "<p>La ville de Rabat ouvre un guichet numérique pour ses habitants.</p>"
        "</article></body></html>"
    ).encode("cp1252")
    r = writable.post("/documents", files={"file": ("rabat.html", html, "text/html")})
    assert r.status_code == 201, r.text
    assert r.json()["added"] == ["rabat"]  # the file name without its extension
    doc = writable.get("/documents/rabat").json()
    assert doc["title"] == "Rabat numérique" and "Menu" not in doc["text"]
    assert doc["text"].startswith("La ville de Rabat ouvre")
    md = b"# Titre Markdown\n\nUn texte sur Dakar et ses quartiers."
    r = writable.post(
        "/documents", files={"file": ("x.md", md)}, data={"id": "dakar", "date": "2023-02"}
    )
    assert r.status_code == 201 and r.json()["added"] == ["dakar"]
    doc = writable.get("/documents/dakar").json()
    assert (doc["title"], doc["date"]) == ("Titre Markdown", "2023-02")
    assert doc["pages"] is None  # a format without pages


def test_a_pdf_upload_gives_pages_and_a_bad_one_a_422_that_says_why(
    writable: httpx.Client, office_files: OfficeFiles
) -> None:
    pdf = office_files.report_pdf.read_bytes()
    r = writable.post("/documents", files={"file": ("rapport.pdf", pdf, "application/pdf")})
    assert r.status_code == 201, r.text
    doc = writable.get("/documents/rapport").json()
    assert len(doc["pages"]) == 3 and doc["pages"][0] == 0
    assert doc["text"].index(PAGE_3_FACT) >= doc["pages"][2]  # the fact is on page 3
    hit = writable.get("/search", params={"q": "Quand ouvre le marché couvert de Villeneuve ?"})
    top = hit.json()["results"][0]
    assert (top["doc_id"], top["page"]) == ("rapport", 3)
    cited = writable.post("/context", json={"query": "le marché couvert de Villeneuve", "k": 1})
    assert cited.json()["citations"][0]["page"] == 3
    docx = office_files.report_docx.read_bytes()
    r = writable.put("/documents/rapport-word", files={"file": ("rapport-word.docx", docx)})
    assert r.status_code == 201, r.text
    assert writable.get("/documents/rapport-word").json()["date"] == "2024-03-05"

    encrypted = office_files.encrypted_pdf.read_bytes()
    r = writable.post("/documents", files={"file": ("secret.pdf", encrypted)})
    assert r.status_code == 422 and r.json()["error"] == "invalid_document"
    assert "an encrypted PDF (it needs a password)" in r.json()["detail"]
    r = writable.post("/documents", files={"file": ("lies.pdf", b"<html>not a pdf</html>")})
    assert r.status_code == 422 and "not a PDF file" in r.json()["detail"]
    assert "secret" not in {d["id"] for d in writable.get("/documents").json()}


@pytest.mark.parametrize(
    ("kwargs", "status", "error", "says"),
    [
        ({"json": {**LYON, "id": "a b"}}, 422, "invalid_request", "id"),
        ({"json": {**LYON, "text": ""}}, 422, "invalid_request", "text"),
        ({"json": {**LYON, "date": "hier"}}, 422, "invalid_document", "date"),
        ({"json": {**LYON, "colour": "red"}}, 422, "invalid_request", "colour"),
        ({"json": {**LYON, "title": "Lyon\0"}}, 422, "invalid_request", "control characters"),
        ({"json": {**LYON, "url": "https://a\nb"}}, 422, "invalid_request", "one line"),
        ({"json": {**LYON, "text": "\0\0\0 binaire"}}, 422, "invalid_document", "binary"),
        (
            {"content": b"plain", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
            "application/json",
        ),
        ({"files": {"file": ("a.rtf", b"{\\rtf1}")}}, 422, "invalid_document", ".rtf"),
        ({"files": {"file": ("a.pdf", b"%PDF-1.4")}}, 422, "invalid_document", "a damaged PDF"),
        ({"files": {"other": ("a.txt", b"x")}}, 422, "invalid_query", "`file`"),
        (
            {"files": {"file": ("a.txt", b"Un texte.")}, "data": {"colour": "red"}},
            422,
            "invalid_request",
            "colour",
        ),
        (
            {"files": {"file": ("a.txt", b"Un texte.")}, "data": {"language": "de"}},
            422,
            "invalid_request",
            "language",
        ),
        ({"files": {"file": ("a b.txt", b"Un texte.")}}, 422, "invalid_request", "id"),
        ({"json": {**LYON, "text": "x" * 60_000}}, 413, "too_large", "RAG_MAX_DOCUMENT_BYTES"),
    ],
)
def test_bad_writes_are_clear_errors_and_change_nothing(
    writable: httpx.Client, kwargs: dict, status: int, error: str, says: str
) -> None:
    before = writable.get("/ready").json()["generation"]
    r = writable.post("/documents", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and says in r.json()["detail"], r.json()
    assert "Traceback" not in r.text
    assert writable.get("/ready").json()["generation"] == before


def test_a_put_path_id_is_held_to_the_rule_its_schema_states(writable: httpx.Client) -> None:
    """The schema states the path id's rule, so a client (or schemathesis) draws ids the route
    takes: it once said any text, and the route refused most of what it allowed."""
    put = writable.get("/openapi.json").json()["paths"]["/documents/{doc_id}"]["put"]
    (param,) = (p for p in put["parameters"] if p["name"] == "doc_id")
    pattern = param["schema"]["pattern"]
    for good in ("lyon-velos", "a.b_c-1", "x" * 200):
        assert re.fullmatch(pattern, good), good
    for bad in ("a b", "-lead", ".hidden", "x" * 201, "é"):
        assert not re.fullmatch(pattern, bad), bad
        r = writable.put(f"/documents/{bad}", json={"text": LYON["text"]})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
        assert "doc_id" in r.json()["detail"] and "letters, digits" in r.json()["detail"], r.text
    r = writable.put("/documents/a.b_c-1", json={"text": LYON["text"]})
    assert r.status_code == 201, r.text


def test_a_put_takes_its_id_from_the_path_whatever_the_body_names(writable: httpx.Client) -> None:
    """The path gives a PUT's id, so its body's schema has none, and a file's name is not an id
    there: 'rapport annuel.txt' (no id) once made a PUT a 422 that its schema allowed."""
    body = writable.get("/openapi.json").json()["paths"]["/documents/{doc_id}"]["put"]
    for kind in ("application/json", "multipart/form-data"):
        assert "id" not in body["requestBody"]["content"][kind]["schema"]["properties"], kind
    upload = {"file": ("rapport annuel.txt", LYON["text"].encode())}
    r = writable.put("/documents/rapport-2024", files=upload)
    assert r.status_code == 201, r.text
    assert writable.get("/documents/rapport-2024").status_code == 200
    r = writable.put("/documents/rapport-2024", json={**LYON, "id": "rapport-2024"})
    assert r.status_code == 200, r.text  # the body may repeat the path's id
    r = writable.put("/documents/rapport-2024", json={**LYON, "id": "autre"})
    assert r.status_code == 422 and "not the path's" in r.json()["detail"], r.text


def test_every_worker_serves_a_write_and_no_search_fails_meanwhile(index_dir: Path) -> None:
    served = Served(index_dir, "--allow-writes", corpus_dir=CORPUS)
    url = served.url
    failures: list[str] = []
    searching = threading.Event()
    searching.set()

    def search_all_along() -> None:
        while searching.is_set():
            r = httpx.get(url + "/search", params={"q": "maire de Hangzhou", "k": 3}, timeout=30)
            if r.status_code != 200 or not r.json()["results"]:
                failures.append(r.text)

    searchers = [threading.Thread(target=search_all_along) for _ in range(2)]
    for t in searchers:
        t.start()
    try:
        for n in range(5):
            doc = {**LYON, "id": f"velos-{n}", "text": LYON["text"] + f" Épisode {n}."}
            generation = httpx.post(url + "/documents", json=doc, timeout=60).json()["generation"]
            # Fresh connections reach both workers; each must serve the new generation.
            seen: dict[int, int] = {}
            deadline = time.monotonic() + 30
            while (len(seen) < 2 or min(seen.values()) < generation) and (
                time.monotonic() < deadline
            ):
                ready = httpx.get(url + "/ready", timeout=30).json()
                seen[ready["worker"]] = ready["generation"]
            assert len(seen) == 2 and min(seen.values()) >= generation, seen
        removed = httpx.delete(url + f"/documents/{HANGZHOU}", timeout=60)
        assert removed.status_code == 200
    finally:
        searching.clear()
        for t in searchers:
            t.join()
        served.kill()
    assert not failures, failures[:3]


def test_acknowledged_writes_survive_sigkill_at_any_moment(index_dir: Path) -> None:
    """A stream of adds and deletes, the whole server killed at 20 random moments: after each
    restart the index opens and holds every write that was acknowledged."""
    rng = random.Random(20261202)
    present: dict[str, bool] = {}  # acknowledged: id -> in the index
    for point in range(20):
        served = Served(index_dir, "--allow-writes", corpus_dir=CORPUS)
        url = served.url
        docs = {d["id"] for d in httpx.get(url + "/documents", timeout=30).json()}
        for doc_id, there in present.items():
            assert (doc_id in docs) == there, (point, doc_id)
        stop = threading.Event()

        def write(point: int = point, url: str = url, stop: threading.Event = stop) -> None:
            n = 0
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    kept = [i for i, there in present.items() if there]
                    try:
                        if kept and n % 3 == 2:
                            doc_id = rng.choice(kept)
                            present.pop(doc_id)  # unknown until acknowledged
                            if client.delete(f"/documents/{doc_id}").status_code == 200:
                                present[doc_id] = False
                        else:
                            doc_id = f"k{point}-{n}"
                            text = f"Article {n} du point {point} sur la ville de Lyon."
                            r = client.post("/documents", json={"id": doc_id, "text": text})
                            if r.status_code == 201:
                                present[doc_id] = True
                    except httpx.HTTPError:
                        return  # killed mid-request: that write's outcome is unknown
                    n += 1

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(rng.uniform(0.2, 2.0))
        served.kill()
        stop.set()
        writer.join(timeout=60)
    assert sum(present.values()) > 10  # the stream got somewhere
    index = load_index(index_dir, Settings())
    docs = index.store.document_ids()
    assert all((doc_id in docs) == there for doc_id, there in present.items())
    passages = index.store.passages(index.store.passage_ids())
    assert len(passages) == len(index.bm25) == len(index.vectors)
