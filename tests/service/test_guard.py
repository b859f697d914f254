"""Every request's outer layer, against a real uvicorn: request ids, body limits, and a JSON 500
for the unexpected that leaves the connection usable."""

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import serve_in_thread

from rag.config import Settings
from rag.service.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def url(built_index_dir: Path) -> Iterator[str]:
    app = create_app(Settings(index_dir=built_index_dir, max_body_bytes=10_000))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug nobody foresaw")

    with serve_in_thread(app) as url:
        yield url


def test_an_unexpected_error_is_a_json_500_and_the_connection_stays_usable(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), httpx.Client(base_url=url) as client:
        failed = client.get("/boom")
        assert failed.status_code == 500
        body = failed.json()
        assert body["error"] == "internal" and body["request_id"] in body["detail"]
        assert "RuntimeError" not in failed.text and "Traceback" not in failed.text
        assert failed.headers["x-request-id"] == body["request_id"]
        assert failed.headers.get("connection") != "close"
        after = client.get("/search", params={"q": "Qui est le maire de Hangzhou ?"})
        assert after.status_code == 200
        # The same keep-alive connection carried both.
        assert after.extensions["network_stream"] is failed.extensions["network_stream"]
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert any(r.exc_info and "a bug nobody foresaw" in str(r.exc_info[1]) for r in logged)
    assert any('"status": 500' in r.getMessage() for r in logged)  # the access line


def test_a_request_id_is_kept_when_sane_and_made_otherwise(url: str) -> None:
    given = httpx.get(f"{url}/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = httpx.get(f"{url}/health", headers={"X-Request-ID": "no spaces\tor tabs"})
    assert made.headers["x-request-id"] != "no spaces\tor tabs"
    assert len(made.headers["x-request-id"]) == 16


def test_a_body_over_the_limit_is_refused_with_413(url: str) -> None:
    big = {"query": "maire", "filters": {"doc_ids": ["x" * 20_000]}}
    declared = httpx.post(f"{url}/search", json=big)
    assert declared.status_code == 413 and declared.json()["error"] == "too_large"
    assert "10000 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it arrives
        yield b'{"query": "maire", "filters": {"doc_ids": ["'
        for _ in range(20):
            yield b"x" * 1000
        yield b'"]}}'

    streamed = httpx.post(
        f"{url}/search", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"] == "too_large"
    small = httpx.post(f"{url}/search", json={"query": "maire", "k": 1})
    assert small.status_code == 200


def test_a_body_that_cannot_be_read_says_why(url: str) -> None:
    json_body = {"Content-Type": "application/json"}
    broken = httpx.post(f"{url}/search", content=b'{"query": "maire"', headers=json_body)
    assert broken.status_code == 422
    assert broken.json()["detail"] == "body.17: not valid JSON (Expecting ',' delimiter)"
    latin1 = httpx.post(f"{url}/search", content='{"query": "é"}'.encode("latin-1"),
                        headers=json_body)  # fmt: skip
    assert latin1.status_code == 400 and "encoded in UTF-8" in latin1.json()["detail"]
    # Valid JSON, 4,000 lists deep (under the body limit): Python's json gives up with a
    # RecursionError, which is the client's fault and said as such.
    deep = b'{"query": "maire", "filters": ' + b"[" * 4_000 + b"]" * 4_000 + b"}"
    nested = httpx.post(f"{url}/search", content=deep, headers=json_body)
    assert nested.status_code == 400, nested.text
    assert nested.json()["detail"].startswith("the request body is JSON nested too deeply")
    assert httpx.get(f"{url}/health").status_code == 200
