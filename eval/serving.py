"""`rag serve` in a process of its own, for the tests and the benchmarks: the one way they start
a server, with one rule for when it is ready.

Ready means: the log said `rag running on <url>`, which `rag serve` says once every worker
has loaded the index, and `GET /ready` answers 200 there. The log is read to its end by a
thread (so that the server never blocks on a full pipe) and kept in `log`; the pipe is closed
by that thread at the end of the log, never under it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

RUNNING = re.compile(r"rag running on (http://\S+)")


class Served:
    def __init__(
        self,
        index_dir: Path,
        *args: str,
        corpus_dir: Path | None = None,
        workers: int = 2,
        port: int | None = 0,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> None:
        """Start `rag serve` on `index_dir` with `args` besides, and wait until it is ready.
        `port=None` leaves the port to the settings (`RAG_PORT`). The process leads a session of
        its own, so that `kill` reaches its workers too."""
        command = [sys.executable, "-m", "rag.cli", "serve", "--workers", str(workers)]
        command += ["--index", str(index_dir), *args]
        if corpus_dir is not None:
            command += ["--corpus", str(corpus_dir)]
        if port is not None:
            command += ["--port", str(port)]
        env = {**os.environ, **(env or {})}
        key = env.get("RAG_API_KEY")
        self.headers = {"X-API-Key": key} if key else {}
        self.proc = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.url = self.wait_for(RUNNING.pattern, timeout).group(1)
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.kill()
            raise

    def _read(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr as stream:
            for line in stream:
                self.log.append(line)
                self._lines.put(line)
        self._lines.put(None)  # the end of the log

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        """The first match of `pattern` in a line of the log not read by an earlier wait."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                self._lines.put(None)
                raise AssertionError(
                    f"rag serve exited ({self.proc.wait()}) with no {pattern!r} in its log:\n"
                    + self.text()
                )
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no {pattern!r} in the log after {timeout:.0f} s:\n" + self.text())

    def _wait_ready(self, deadline: float) -> None:
        while True:
            try:
                answer = httpx.get(self.url + "/ready", headers=self.headers, timeout=10)
            except httpx.HTTPError as exc:
                said = type(exc).__name__
            else:
                if answer.status_code == 200:
                    return
                said = f"{answer.status_code} {answer.text}"
            if time.monotonic() > deadline:
                raise AssertionError(f"/ready answers {said}, not 200:\n" + self.text())
            time.sleep(0.1)

    def text(self) -> str:
        return "".join(self.log)

    def workers(self) -> list[int]:
        """The process ids of its workers (none with one worker: it serves in process)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def close(self, timeout: float = 60) -> int:
        """Stop it (SIGTERM, if it still runs) and return its exit code once its log ended."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self._finish(timeout)

    def kill(self, timeout: float = 60) -> int:
        """SIGKILL to it and its workers."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self._finish(timeout)

    def _finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)  # the log ends once its workers are gone too
        return code

    def __enter__(self) -> Served:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
