"""Collections over HTTP, on a real server on loopback: created empty, written to, searched
and deleted under `/collections/{name}/`, beside the default at today's paths; and scoped keys
(RAG_API_KEYS): a key reads only its collections (another answers 404, as if absent), writes only
if it may (403), and a wrong key is a 401."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import HANGZHOU, serve_in_thread

from rag.config import Settings
from rag.service.app import create_app

pytestmark = pytest.mark.slow

FULL = "full-key"
VILLES_RW = "villes-writer"
VILLES_RO = "villes-reader"
LYON = {
    "id": "lyon-velos",
    "title": "Lyon lance des vélos partagés",
    "text": "La ville de Lyon lance un programme de vélos électriques partagés pour ses "
    "habitants. Le maire a présenté le projet au conseil municipal.",
}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write_keys(path: Path, *entries: tuple[str, str, list[str], bool]) -> Path:
    keys = [
        {"name": name, "key_sha256": digest(key), "collections": names, "write": write}
        for name, key, names, write in entries
    ]
    path.write_text(json.dumps(keys))
    return path


@pytest.fixture
def folders(tmp_path: Path, built_index_dir: Path) -> tuple[Path, Path]:
    index = tmp_path / "index"
    shutil.copytree(built_index_dir, index)
    return index, tmp_path / "collections"


@pytest.fixture
def open_server(folders: tuple[Path, Path]) -> Iterator[httpx.Client]:
    index, collections = folders
    settings = Settings(index_dir=index, collections_dir=collections, allow_writes=True)
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def test_a_collection_is_created_empty_written_searched_and_deleted(
    open_server: httpx.Client, folders: tuple[Path, Path]
) -> None:
    client = open_server
    assert [c["name"] for c in client.get("/collections").json()] == ["default"]
    created = client.put("/collections/villes", json={"embedder": "use-m3"})
    assert created.status_code == 201, created.text
    assert created.json() | {"updated_at": ""} == {
        "name": "villes", "embedder": "use-m3", "documents": 0, "passages": 0, "updated_at": "",
    }  # fmt: skip
    assert client.put("/collections/villes").status_code == 200  # it exists
    assert (folders[1] / "villes").is_dir()
    empty = client.get("/collections/villes/search", params={"q": "vélos à Lyon"}).json()
    assert empty["results"] == []
    added = client.post("/collections/villes/documents", json=LYON)
    assert added.status_code == 201, added.text
    found = client.get("/collections/villes/search", params={"q": "vélos à Lyon", "k": 3}).json()
    assert [r["doc_id"] for r in found["results"]] == ["lyon-velos"]
    # The default did not change, and answers at today's paths and under its name alike.
    default = client.get("/search", params={"q": "vélos à Lyon", "k": 10}).json()
    assert "lyon-velos" not in {r["doc_id"] for r in default["results"]}
    named = client.get("/collections/default/search", params={"q": "vélos à Lyon", "k": 10})
    assert [r["doc_id"] for r in named.json()["results"]] == [
        r["doc_id"] for r in default["results"]
    ]
    listed = {c["name"]: c for c in client.get("/collections").json()}
    assert listed["villes"]["documents"] == 1 and listed["default"]["documents"] == 5
    assert HANGZHOU in {d["id"] for d in client.get("/documents").json()}
    assert [d["id"] for d in client.get("/collections/villes/documents").json()] == ["lyon-velos"]
    deleted = client.delete("/collections/villes")
    assert deleted.status_code == 200 and deleted.json()["documents"] == 1
    assert not (folders[1] / "villes").exists()
    gone = client.get("/collections/villes/search", params={"q": "Lyon"})
    assert gone.status_code == 404 and "no collection named 'villes'" in gone.json()["detail"]
    assert client.delete("/collections/villes").status_code == 404


def test_names_and_the_default_are_refused_with_the_rule(open_server: httpx.Client) -> None:
    client = open_server
    for bad in ("Villes", "-villes", "a" * 64, "vil les", "é"):
        answer = client.put(f"/collections/{bad}")
        assert answer.status_code == 422, (bad, answer.text)
        assert "1 to 63 characters among a-z, 0-9" in answer.json()["detail"], answer.text
    refused = client.delete("/collections/default")
    assert refused.status_code == 409 and "cannot be deleted" in refused.json()["detail"]
    unknown = client.put("/collections/villes", json={"embedder": "bert"})
    assert unknown.status_code == 422
    assert client.get("/collections/nowhere/documents").status_code == 404


@pytest.fixture
def keyed_server(folders: tuple[Path, Path], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    index, collections = folders
    keys = write_keys(
        tmp_path / "keys.json",
        ("villes-rw", VILLES_RW, ["villes"], True),
        ("villes-ro", VILLES_RO, ["villes"], False),
    )
    settings = Settings(index_dir=index, collections_dir=collections, api_key=FULL, api_keys=keys)
    with serve_in_thread(create_app(settings)) as url:
        yield url, keys


def test_a_scoped_key_reads_only_its_collections_and_writes_only_if_it_may(
    keyed_server: tuple[str, Path],
) -> None:
    url, _ = keyed_server
    with contextlib.ExitStack() as stack:

        def as_key(**headers: str) -> httpx.Client:
            return stack.enter_context(httpx.Client(base_url=url, timeout=60, headers=headers))

        full, writer = as_key(**{"X-API-Key": FULL}), as_key(**{"X-API-Key": VILLES_RW})
        reader = as_key(Authorization=f"Bearer {VILLES_RO}")
        wrong = as_key(**{"X-API-Key": "nope"})
        _isolated(full, writer, reader, wrong)


def _isolated(
    full: httpx.Client, writer: httpx.Client, reader: httpx.Client, wrong: httpx.Client
) -> None:
    assert writer.put("/collections/villes", json={"embedder": "use-m3"}).status_code == 201
    assert writer.post("/collections/villes/documents", json=LYON).status_code == 201
    # The reader reads, never writes; neither reads the default, nor learns what else exists.
    assert [c["name"] for c in reader.get("/collections").json()] == ["villes"]
    assert [c["name"] for c in full.get("/collections").json()] == ["default", "villes"]
    hits = reader.get("/collections/villes/search", params={"q": "vélos"}).json()["results"]
    assert [h["doc_id"] for h in hits] == ["lyon-velos"]
    refused = reader.post("/collections/villes/documents", json={**LYON, "id": "x"})
    assert refused.status_code == 403 and "may read but not change" in refused.json()["detail"]
    assert reader.delete("/collections/villes").status_code == 403
    for client in (writer, reader):
        assert client.get("/search", params={"q": "maire"}).status_code == 404
        assert client.get("/documents").status_code == 404
        assert client.get(f"/collections/default/documents/{HANGZHOU}").status_code == 404
        absent = client.get("/collections/nowhere/search", params={"q": "x"})
        assert absent.status_code == 404
        assert client.put("/collections/other").status_code == 404  # not theirs to name
    assert wrong.get("/collections").status_code == 401
    assert full.get("/search", params={"q": "maire"}).status_code == 200
    assert full.delete("/collections/villes").status_code == 200


def test_the_key_file_is_read_again_and_a_bad_edit_keeps_the_last_good_keys(
    keyed_server: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    import time

    url, keys = keyed_server
    headers = {"X-API-Key": VILLES_RO}
    assert httpx.get(url + "/collections", headers=headers).status_code == 200
    keys.write_text("[{")  # a bad edit: the last good keys stay
    time.sleep(1.2)
    assert httpx.get(url + "/collections", headers=headers).status_code == 200
    assert any("the last good keys are kept" in r.message for r in caplog.records)
    write_keys(keys, ("villes-rw", VILLES_RW, ["villes"], True))  # the reader is revoked
    time.sleep(1.2)
    assert httpx.get(url + "/collections", headers=headers).status_code == 401
    assert httpx.get(url + "/collections", headers={"X-API-Key": VILLES_RW}).status_code == 200


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ("[{", "Invalid JSON"),
        ('[{"name": "a", "key_sha256": "abc", "collections": ["villes"]}]', "0.key_sha256"),
        (json.dumps([{"name": "a", "key_sha256": "0" * 64, "collections": ["Villes"]}]),
         "no collection can be named 'Villes'"),
        (json.dumps([{"name": "a", "key_sha256": "0" * 64, "collections": ["v"], "admin": 1}]),
         "0.admin"),
    ],
)  # fmt: skip
def test_a_malformed_key_file_stops_rag_serve_in_one_line(
    tmp_path: Path, built_index_dir: Path, content: str, fault: str
) -> None:
    from conftest import rag_cli

    keys = tmp_path / "keys.json"
    keys.write_text(content)
    ran = rag_cli(
        "serve", "--index", str(built_index_dir), "--port", "0",
        env={"RAG_API_KEYS": str(keys), "RAG_EMBEDDER": "use-m3"}, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    (line,) = [line for line in ran.stderr.splitlines() if line.strip()]
    assert f"RAG_API_KEYS={keys}" in line and fault in line, line


async def test_mcp_searches_the_collection_asked_and_only_those_of_the_key(
    keyed_server: tuple[str, Path],
) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    url, _ = keyed_server
    with httpx.Client(base_url=url, timeout=60, headers={"X-API-Key": VILLES_RW}) as writer:
        assert writer.put("/collections/villes", json={"embedder": "use-m3"}).status_code == 201
        assert writer.post("/collections/villes/documents", json=LYON).status_code == 201

    @contextlib.asynccontextmanager
    async def connect(key: str) -> AsyncIterator[Client]:
        http = create_mcp_http_client(headers={"X-API-Key": key})  # ours to close
        async with http, Client(streamable_http_client(f"{url}/mcp/", http_client=http)) as client:
            yield client

    async with connect(VILLES_RO) as client:
        asked = {"question": "vélos électriques à Lyon", "k": 3, "collection": "villes"}
        found = await client.call_tool("search", asked)
        assert not found.is_error, found.content
        assert [r["doc_id"] for r in found.structured_content["results"]] == ["lyon-velos"]
        for other in ("default", "nowhere"):
            refused = await client.call_tool("search", {**asked, "collection": other})
            assert refused.is_error and f"no collection named {other!r}" in refused.content[0].text
        assert (await client.list_resources()).resources == []  # no default titles shown
        text = await client.read_resource("rag://collections/villes/documents/lyon-velos")
        assert text.contents[0].text.startswith("La ville de Lyon")
    async with connect(FULL) as client:
        default = await client.call_tool("search", {"question": "Qui est le maire de Hangzhou ?"})
        assert default.structured_content["results"][0]["doc_id"] == HANGZHOU


@pytest.mark.parametrize("held", [1.0, 4.0])
def test_deleting_a_collection_waits_for_the_write_in_flight_or_answers_409(
    folders: tuple[Path, Path], held: float
) -> None:
    """A change in progress (here another process's, which holds the collection's write lock)
    ends before the delete, or the delete answers 409 after RAG_WRITE_TIMEOUT and keeps it."""
    import threading
    import time

    from rag.index.folder import write_lock

    index, collections = folders
    settings = Settings(
        index_dir=index, collections_dir=collections, allow_writes=True, write_timeout=2.5
    )
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.put("/collections/villes", json={"embedder": "use-m3"}).status_code == 201
        assert client.post("/collections/villes/documents", json=LYON).status_code == 201
        locked, done = threading.Event(), threading.Event()

        def writer() -> None:
            with write_lock(collections / "villes", timeout=5):
                locked.set()
                time.sleep(held)
            done.set()

        thread = threading.Thread(target=writer)
        thread.start()
        assert locked.wait(10)
        deleted = client.delete("/collections/villes")
        thread.join()
        if held < settings.write_timeout:  # waited for the write, then deleted
            assert done.is_set() and deleted.status_code == 200, deleted.text
            assert client.get("/collections/villes/documents").status_code == 404
            late = client.post("/collections/villes/documents", json={**LYON, "id": "late"})
            assert late.status_code == 404, late.text  # not a 500, not a new folder
            assert not (collections / "villes").exists()
        else:  # the write lasted too long: nothing deleted
            assert deleted.status_code == 409, deleted.text
            assert "is being changed and was not deleted" in deleted.json()["detail"]
            found = client.get("/collections/villes/search", params={"q": "vélos"}).json()
            assert [r["doc_id"] for r in found["results"]] == ["lyon-velos"]


def _operations(url: str) -> list[tuple[str, str, dict]]:
    """Every (method, path, operation) of the server's OpenAPI schema."""
    schema = httpx.get(url + "/openapi.json").json()
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def _request(path: str, operation: dict, collection: str, doc_id: str) -> tuple[str, dict]:
    """`path` with its parameters filled in, and the required query parameters (no body: the
    key and the collection are checked before the body is)."""
    filled = path.replace("{collection}", collection).replace("{doc_id}", doc_id)
    query = {
        p["name"]: "vélos"
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    return filled, query


def test_every_route_of_the_schema_keeps_a_key_to_its_collections(
    keyed_server: tuple[str, Path],
) -> None:
    """Walks the OpenAPI schema, so that a route added later is checked too: with the key that
    may only read `villes`, every route of another collection (the default's at today's paths,
    or one that does not exist) answers 404; in `villes` a write answers 403 and a read gets
    past the key (200, or 422 for a POST sent without its body); with no key or a wrong one,
    every route but /health answers 401."""
    url, _ = keyed_server
    full, reader = {"X-API-Key": FULL}, {"X-API-Key": VILLES_RO}
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.put("/collections/villes", headers=full).status_code == 201
        assert client.post("/collections/villes/documents", json=LYON, headers=full).is_success
        operations = _operations(url)
        assert {path for _, path, op in operations if "401" not in op["responses"]} == {"/health"}
        scoped = [op for op in operations if op[1].startswith("/collections/{collection}")]
        under = {path for _, path, _ in scoped}
        today = [op for op in operations if f"/collections/{{collection}}{op[1]}" in under]
        assert len(scoped) == 11 and len(today) == 9, (len(scoped), len(today))
        for method, path, operation in operations:
            if "401" not in operation["responses"]:
                continue
            for headers in ({}, {"X-API-Key": "wrong"}):
                target, query = _request(path, operation, "villes", "lyon-velos")
                answer = client.request(method, target, params=query, headers=headers)
                assert answer.status_code == 401, (method, target, headers, answer.text)
        for method, path, operation in scoped + today:
            for collection, doc_id in (("default", HANGZHOU), ("nowhere", "lyon-velos")):
                target, query = _request(path, operation, collection, doc_id)
                answer = client.request(method, target, params=query, headers=reader)
                assert answer.status_code == 404, (method, target, answer.text)
        for method, path, operation in scoped:
            target, query = _request(path, operation, "villes", "lyon-velos")
            answer = client.request(method, target, params=query, headers=reader)
            expected = 403 if "403" in operation["responses"] else 200 if method == "GET" else 422
            assert answer.status_code == expected, (method, target, answer.text)
        # Nothing the walk sent changed `villes`.
        found = client.get("/collections/villes/documents", headers=reader).json()
        assert [d["id"] for d in found] == ["lyon-velos"]
