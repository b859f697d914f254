"""The bounds `rag serve` puts on a request's head (`rag.service.protocol`), against a real
server on loopback, spoken to over raw sockets as a misbehaving client would."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import CORPUS, Served

pytestmark = pytest.mark.slow
MAX_HEADER_BYTES = 8192


@pytest.fixture(scope="module")
def address(built_index_dir: Path) -> Iterator[tuple[str, int]]:
    env = {"RAG_HEADER_TIMEOUT": "1", "RAG_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES)}
    with Served(built_index_dir, corpus_dir=CORPUS, env=env) as served:
        parts = urlsplit(served.url)
        assert parts.hostname and parts.port
        yield parts.hostname, parts.port


def _answer(sock: socket.socket) -> tuple[int, dict]:
    """Status and JSON body of the answer, read until the server closes."""
    sock.settimeout(60)  # a hang guard, not a timing: the server closes long before
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_head_larger_than_the_bound_is_refused_431_and_closed(address: tuple) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        try:  # up to 24 MB, as the attack sent: the server answers and closes long before
            for _ in range(24 * 1024):
                sock.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, body = _answer(sock)
    assert status == 431 and body["error"] == "too_large"
    assert f"larger than {MAX_HEADER_BYTES} bytes" in body["detail"]


def test_a_url_larger_than_the_bound_is_refused_431(address: tuple) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /search?q=" + b"a" * (2 * MAX_HEADER_BYTES) + b" HTTP/1.1\r\n\r\n")
        status, body = _answer(sock)
    assert status == 431 and body["error"] == "too_large"


def test_a_head_sent_too_slowly_is_refused_408_and_closed(address: tuple) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        status, body = _answer(sock)
    assert status == 408 and body["error"] == "timeout" and "within 1 s" in body["detail"]
    with socket.create_connection(address) as silent:  # nothing sent at all
        assert _answer(silent)[0] == 408


def test_keep_alive_requests_and_big_but_allowed_heads_still_pass(address: tuple) -> None:
    with httpx.Client(base_url=f"http://{address[0]}:{address[1]}", timeout=30) as client:
        for _ in range(3):
            r = client.get("/search", params={"q": "maire"}, headers={"X-Pad": "p" * 4000})
            assert r.status_code == 200
