"""`rag serve` as a process: it stops cleanly on SIGTERM, whatever its number of workers."""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_finishes_requests_then_exits_0_with_one_line(
    built_index_dir: Path, workers: str
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", "0", "--workers", workers,
         "--index", str(built_index_dir), "--corpus", str(CORPUS)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    url = None
    for line in proc.stderr:
        lines.append(line)
        found = re.search(r"rag running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            url = found.group(1)
            break
    assert url, "".join(lines)
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.extend(proc.stderr or []), daemon=True)
    reader.start()
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/search", params={"q": "maire"}).status_code == 200
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    reader.join(timeout=10)
    proc.stderr.close()
    log = "".join(rest)
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    assert len(re.findall(r"rag stopped", log)) == 1, log
