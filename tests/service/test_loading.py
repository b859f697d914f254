"""While the index loads, the service answers at once: 503 with the reason from the routes that
need the index, 200 from /health and the pages; once it is loaded, it answers searches. A load
that fails says why on /ready. `rag serve` refuses connections while it builds the index
(nothing waits in the backlog) and gives its URL once every worker answers searches."""

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, serve_in_thread

import rag.service.app as app_module
from rag.config import Settings
from rag.service.app import create_app

pytestmark = pytest.mark.slow


def test_a_request_while_the_index_loads_is_answered_503_at_once(
    built_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    opened = app_module.open_or_build_index

    def held(*args, **kwargs):  # the load waits until the test has asked its questions
        assert gate.wait(300), "the test never let the load go on"
        return opened(*args, **kwargs)

    monkeypatch.setattr(app_module, "open_or_build_index", held)
    app = create_app(Settings(index_dir=built_index_dir))
    try:
        # Before the fix, the app loaded inside its lifespan: uvicorn accepted nothing until
        # then, and this did not even start.
        with serve_in_thread(app, ready=False) as url, httpx.Client(base_url=url, timeout=30) as c:
            for path in ("/ready", "/search?q=maire", "/documents"):
                r = c.get(path)
                assert r.status_code == 503, (path, r.text)
                assert r.json()["error"] == "unavailable" and "still loading" in r.json()["detail"]
                assert r.headers["retry-after"] == "1"
            mcp = c.post("/mcp/", json={})
            assert mcp.status_code == 503 and mcp.json()["error"] == "unavailable"
            assert c.get("/health").status_code == 200 and c.get("/").status_code == 200
            gate.set()
            deadline = time.monotonic() + 120
            while c.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, "the index never loaded"
                time.sleep(0.05)
            r = c.get("/search", params={"q": "Qui est le maire de Hangzhou ?"})
            assert r.status_code == 200 and r.json()["results"]
    finally:
        gate.set()


def test_a_load_that_fails_says_why_on_ready(built_index_dir: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    (index_dir / "chunks.sqlite").write_bytes(b"not a database" * 100)
    app = create_app(Settings(index_dir=index_dir, corpus_dir=tmp_path / "none"))
    with serve_in_thread(app, ready=False) as url, httpx.Client(base_url=url, timeout=30) as c:
        deadline = time.monotonic() + 120
        while "cannot be served" not in (r := c.get("/ready")).text:
            assert r.status_code == 503 and time.monotonic() < deadline, r.text
            time.sleep(0.05)
        assert r.status_code == 503 and r.json()["error"] == "unavailable"
        assert "damaged or inconsistent" in r.json()["detail"], r.json()
        assert "Traceback" not in r.text


def test_rag_serve_refuses_connections_while_it_builds_the_index(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--workers", "2",
         "--index", str(tmp_path / "index"), "--corpus", str(corpus)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        log = []
        for line in proc.stderr:
            log.append(line)
            if "building the index: indexing: 0/1" in line:
                break
        else:
            raise AssertionError("no build in the log:\n" + "".join(log))
        # The build has just begun (it embeds every passage): a connection is refused now,
        # where it was accepted into the backlog and its request waited for the build.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=30).close()
        for line in proc.stderr:
            log.append(line)
            if "rag running on" in line:
                assert "/docs" in line
                break
        # Said once every worker answers searches: fresh connections reach either worker.
        for _ in range(20):
            r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=30)
            assert r.status_code == 200, r.text
        assert httpx.get(f"http://127.0.0.1:{port}/search?q=maire", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        proc.stderr.close()
