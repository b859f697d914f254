"""The README's run command: `make run` installs only what serving needs, and honours RAG_PORT."""

import os
import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, ROOT, Served

pytestmark = pytest.mark.slow


def make_dry_run(*args: str, **env: str) -> str:
    """The commands `make` would run, for a virtual environment that does not exist yet."""
    proc = subprocess.run(
        ["make", "-n", "VENV=/nonexistent/venv", *args],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, check=True,
    )  # fmt: skip
    return proc.stdout


def test_make_run_installs_the_service_alone() -> None:
    commands = make_dry_run("run")
    assert "pip install -q -e ." in commands
    assert "torch" not in commands and "[st" not in commands and "test]" not in commands
    assert "torch==2.13.0" in make_dry_run("test")
    # It says where the `rag` command is, which is not on the PATH (issue #27).
    assert "the rag command is /nonexistent/venv/bin/rag" in commands


def test_make_test_fast_leaves_out_the_slow_tests() -> None:
    assert re.search(r'pytest -n 2 --dist loadfile -m "not slow"$', make_dry_run("test-fast"), re.M)


def test_make_test_runs_in_two_processes_unless_told_otherwise() -> None:
    assert re.search(r"pytest -n 2 --dist loadfile$", make_dry_run("test"), re.M)
    assert re.search(r"-m pytest$", make_dry_run("test", "TEST_WORKERS=0"), re.M)


def test_make_run_leaves_the_port_to_rag_port_unless_given() -> None:
    serve = [line for line in make_dry_run("run").splitlines() if " serve" in line]
    assert serve and "--port" not in serve[0] and "--host" not in serve[0]
    given = [line for line in make_dry_run("run", "PORT=9001").splitlines() if " serve" in line]
    assert re.search(r"--port 9001\b", given[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rag_serve_listens_on_rag_port(built_index_dir: Path) -> None:
    port = free_port()
    env = {"RAG_PORT": str(port)}
    with Served(built_index_dir, corpus_dir=CORPUS, workers=1, port=None, env=env) as served:
        assert served.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{served.url}/health", timeout=30).status_code == 200
