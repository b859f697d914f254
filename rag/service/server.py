"""Serving the API with uvicorn in one or more pre-forked worker processes.

Searching is CPU-bound Python and numpy: one process uses about one core, whatever its threads.
So `rag serve` binds the socket once, builds the index if it is missing, then forks `workers`
processes that share the socket, each with its own event loop and its own read-only view of the
index (the FAISS and BM25 files are memory-mapped, so their pages are shared).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from types import FrameType

import uvicorn

from rag.config import Settings
from rag.indexing.build import open_or_build_index
from rag.indexing.progress import ProgressLog

log = logging.getLogger("rag.service.server")
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    pass


def _run_worker(settings: Settings, sock: socket.socket) -> None:
    # uvicorn handles SIGTERM and SIGINT while it serves: it stops accepting, gives requests in
    # flight 5 s to finish, then raises the signal again for the handler it found. By then
    # there is nothing left to stop, so that handler is a no-op, not a KeyboardInterrupt.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _ignore_signal)
    from rag.service.app import create_app  # after PROMETHEUS_MULTIPROC_DIR is set

    config = uvicorn.Config(
        create_app(settings), access_log=False, log_level="warning", timeout_graceful_shutdown=5
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve(settings: Settings, workers: int) -> None:
    """Serve until SIGINT or SIGTERM. Builds the index first when it is missing."""
    # Metrics of all workers add up through files in one folder; prometheus-client reads this
    # variable when it is first imported, so it is set before anything imports it.
    own_metrics_dir = _METRICS_DIR not in os.environ
    if own_metrics_dir:
        os.environ[_METRICS_DIR] = tempfile.mkdtemp(prefix="rag-metrics-")
    try:
        _serve(settings, workers)
    finally:
        if own_metrics_dir:
            shutil.rmtree(os.environ.pop(_METRICS_DIR), ignore_errors=True)


def _serve(settings: Settings, workers: int) -> None:
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    # Build (or check) the index once, before forking, so that workers only load it.
    open_or_build_index(
        settings, ProgressLog(lambda line: log.info("building the index: %s", line))
    )
    if workers == 1:
        log.info("rag running on http://%s:%d (1 worker)", host, port)
        _run_worker(settings, sock)
        log.info("rag stopped")
        return
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(target=_run_worker, args=(settings, sock), daemon=True)
        for _ in range(workers)
    ]
    for child in children:
        child.start()
    log.info("rag running on http://%s:%d (%d workers)", host, port, workers)

    def stop(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.pid and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    sock.close()
    failed = [child.exitcode for child in children if child.exitcode]
    log.info("rag stopped (%d workers%s)", workers, f"; exit codes {failed}" if failed else "")
