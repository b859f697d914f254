"""`rag serve` as a process: it stops cleanly on SIGTERM, whatever its number of workers; it
replaces a worker that dies, leaves no worker behind when it is killed itself, and exits 1
when no worker can start."""

import os
import random
import re
import shutil
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, Served

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_finishes_requests_then_exits_0_with_one_line(
    built_index_dir: Path, workers: str
) -> None:
    served = Served(built_index_dir, corpus_dir=CORPUS, workers=int(workers))
    with httpx.Client(base_url=served.url, timeout=30) as client:
        assert client.get("/search", params={"q": "maire"}).status_code == 200
    os.kill(served.proc.pid, signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0
    served.close()
    log = served.text()
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    assert len(re.findall(r"rag stopped", log)) == 1, log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_url_is_given_once_every_worker_has_loaded_the_index(
    built_index_dir: Path, workers: str
) -> None:
    served = Served(built_index_dir, corpus_dir=CORPUS, workers=int(workers))
    try:
        ready = httpx.get(served.url + "/ready", timeout=30)
        assert ready.status_code == 200 and ready.json()["passages"] > 0
        log = served.text()
        before = log.split("rag running on")[0]
        assert before.count("index loaded from") == int(workers), log
        assert f"the API at {served.url}/docs" in log
    finally:
        served.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return status != "Z"


def test_a_worker_killed_20_times_under_load_is_replaced_each_time(built_index_dir: Path) -> None:
    served = Served(built_index_dir, corpus_dir=CORPUS)
    answered, dropped = [], []
    loading = threading.Event()
    loading.set()

    def load() -> None:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            while loading.is_set():
                try:
                    r = client.get("/search", params={"q": "maire de Hangzhou", "k": 2})
                    answered.append(r.status_code)
                except httpx.TransportError as exc:  # a request in flight on the killed worker
                    dropped.append(type(exc).__name__)

    clients = [threading.Thread(target=load) for _ in range(2)]
    for client in clients:
        client.start()
    try:
        for _ in range(20):
            victim = random.choice(served.workers())
            os.kill(victim, signal.SIGKILL)
            served.wait_for(rf"worker \d+ serving, in place of {victim}\b")
        before = len(answered)
        time.sleep(1)
        assert len(answered) > before  # still answering after the last replacement
    finally:
        loading.clear()
        for client in clients:
            client.join(timeout=60)
    assert len(served.workers()) == 2
    print(f"20 kills: {len(answered)} answered, {len(dropped)} dropped ({Counter(dropped)})")
    assert set(answered) == {200}
    assert len(dropped) <= 20 * len(clients), dropped  # at most the requests in flight
    assert served.close() == 0


def test_workers_exit_when_the_master_is_killed(built_index_dir: Path) -> None:
    served = Served(built_index_dir, corpus_dir=CORPUS)
    workers = served.workers()
    assert len(workers) == 2
    os.kill(served.proc.pid, signal.SIGKILL)
    served.close()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
    port = int(served.url.rsplit(":", 1)[1])
    with socket.socket() as sock:  # the port is free for a restart
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_serve_exits_1_when_no_worker_can_start(built_index_dir: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    served = Served(index_dir, corpus_dir=CORPUS)
    (index_dir / "chunks.sqlite").write_bytes(b"not a database" * 100)
    for pid in served.workers():
        os.kill(pid, signal.SIGKILL)
    served.wait_for(r"rag cannot serve: 5 worker starts in a row failed", timeout=180)
    # It stops its workers and exits by itself; a SIGTERM from close() while Python finalises
    # would end it with -15 instead.
    assert served.proc.wait(timeout=60) == 1
    served.close()
    log = served.text()
    assert "starting another in 8.0 s" in log and "damaged or inconsistent" in log
