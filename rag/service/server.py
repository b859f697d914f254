"""Serving the API with uvicorn in one or more pre-forked worker processes.

Searching is CPU-bound Python and numpy: one process uses about one core, whatever its threads.
So `rag serve` binds the socket once, builds the index if it is missing, then forks `workers`
processes that share the socket, each with its own event loop and its own read-only view of the
index (the FAISS and BM25 files are memory-mapped, so their pages are shared).

The master supervises them (`_Supervisor`): a worker that dies is replaced, a crash loop backs
off and, once nothing can serve, ends `rag serve` with exit code 1; a worker exits when its
master dies, even of SIGKILL, so a restart finds the port free.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from types import FrameType

import uvicorn

from rag.config import Settings
from rag.indexing.build import open_or_build_index
from rag.indexing.progress import ProgressLog
from rag.service.keys import read_keys
from rag.service.protocol import BoundedHttpProtocol

log = logging.getLogger("rag.service.server")
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))  # listening only once the index is there: see `_serve`
    sock.set_inheritable(True)
    return sock


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    pass


def _exit_with_master(master: int) -> None:
    """Have the kernel send this worker SIGTERM when its master dies, SIGKILL included, so
    that no worker is left holding the port (Linux; elsewhere the master's own stop does)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != master:  # it died before the request was made
        os._exit(1)


def _run_worker(
    settings: Settings, sock: socket.socket, on_started: Callable[[], None] | None = None
) -> None:
    """Serve `settings`' index on `sock` until SIGTERM or SIGINT. The worker answers at once,
    503 while its index loads; `on_started` is called once it answers searches. A load that
    fails ends the worker with exit code 3."""
    # uvicorn handles SIGTERM and SIGINT while it serves: it stops accepting, gives requests in
    # flight 5 s to finish, then raises the signal again for the handler it found. By then
    # there is nothing left to stop, so that handler is a no-op, not a KeyboardInterrupt.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _ignore_signal)
    from rag.service.app import create_app  # after PROMETHEUS_MULTIPROC_DIR is set

    loaded = threading.Event()
    failed: list[BaseException] = []

    def stop_serving(exc: BaseException) -> None:
        failed.append(exc)
        server.should_exit = True

    config = uvicorn.Config(
        create_app(settings, on_loaded=loaded.set, on_failed=stop_serving),
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        http=BoundedHttpProtocol.configure(settings.max_header_bytes, settings.header_timeout),
    )
    server = uvicorn.Server(config)
    if on_started is not None:
        threading.Thread(
            target=_tell_when_started, args=(server, loaded, on_started), daemon=True
        ).start()
    server.run(sockets=[sock])
    if failed:
        sys.exit(3)


def _tell_when_started(
    server: uvicorn.Server, loaded: threading.Event, on_started: Callable[[], None]
) -> None:
    """Call `on_started` once the server accepts connections and its index is loaded."""
    while not (server.started and loaded.is_set()) and not server.should_exit:
        time.sleep(0.05)
    if server.started and loaded.is_set() and not server.should_exit:
        on_started()


@dataclass
class _Worker:
    process: BaseProcess
    ready: EventType
    replaces: int | None = None  # the pid of the worker it was started in place of
    serving: bool = False  # has started serving: a death after it is not a failure to start


class _Supervisor:
    """Keeps `workers` worker processes serving: one that dies is started again, at once if it
    had been serving, after a back-off doubling from 0.5 s if it died before it could serve.
    When none serves and the last `MAX_FAILED_STARTS` starts in a row failed, the service
    cannot serve: `run` returns 1."""

    MAX_FAILED_STARTS = 5
    MAX_BACKOFF = 30.0

    def __init__(self, settings: Settings, sock: socket.socket, workers: int, url: str):
        self._settings = settings
        self._sock = sock
        self._url = url
        self._context = multiprocessing.get_context("fork")
        self._workers = [self._start() for _ in range(workers)]
        self._restart_at: dict[int, float] = {}  # slot -> when to start it again
        self._failed_starts = 0
        self._announced = False
        self._stopping = False

    def _start(self, replaces: int | None = None) -> _Worker:
        ready = self._context.Event()
        process = self._context.Process(
            target=_worker_main, args=(self._settings, self._sock, ready, os.getpid()), daemon=True
        )
        process.start()
        return _Worker(process, ready, replaces)

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        for worker in self._workers:
            if worker.process.pid and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)

    def run(self) -> int:
        while True:
            alive = [w.process.sentinel for w in self._workers if w.process.is_alive()]
            if self._stopping and not alive:
                return 0
            multiprocessing.connection.wait(alive, timeout=0.2)
            for slot, worker in enumerate(self._workers):
                self._check(slot, worker)
            if not self._stopping and self._cannot_serve():
                log.error(
                    "rag cannot serve: %d worker starts in a row failed and no worker is "
                    "serving; the log above says why",
                    self._failed_starts,
                )
                self.stop(signal.SIGTERM, None)
                for worker in self._workers:
                    worker.process.join()
                return 1

    def _check(self, slot: int, worker: _Worker) -> None:
        if not worker.serving and worker.ready.is_set():
            worker.serving = True
            self._failed_starts = 0
            if self._announced and worker.replaces is not None:
                log.info("worker %d serving, in place of %d", worker.process.pid, worker.replaces)
        if not self._announced and self._all_loaded():
            self._announced = True
            log.info(
                "rag running on %s (%d workers); the API at %s/docs",
                self._url,
                len(self._workers),
                self._url,
            )
        if worker.process.is_alive() or self._stopping:
            return
        if slot not in self._restart_at:
            if worker.serving:
                delay = 0.0
            else:
                self._failed_starts += 1
                delay = min(self.MAX_BACKOFF, 0.5 * 2 ** (self._failed_starts - 1))
            log.warning(
                "worker %d exited (%s); starting another in %.1f s",
                worker.process.pid,
                _exit_reason(worker.process.exitcode),
                delay,
            )
            self._restart_at[slot] = time.monotonic() + delay
        if time.monotonic() >= self._restart_at[slot] and not self._cannot_serve():
            del self._restart_at[slot]
            self._workers[slot] = self._start(replaces=worker.process.pid)

    def _all_loaded(self) -> bool:
        """Some worker serves and none is still loading (one that died is not loading)."""
        serving = [w.serving for w in self._workers if w.process.is_alive()]
        return any(serving) and all(serving)

    def _cannot_serve(self) -> bool:
        return self._failed_starts >= self.MAX_FAILED_STARTS and not any(
            w.serving and w.process.is_alive() for w in self._workers
        )


def _worker_main(settings: Settings, sock: socket.socket, ready: EventType, master: int) -> None:
    _exit_with_master(master)
    _run_worker(settings, sock, ready.set)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


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
    if settings.api_keys is not None:
        read_keys(settings.api_keys)  # a fault in the key file stops us here, in one line
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    # Build (or check) the index once, before forking, so that workers only load it. The port
    # is taken but not listening meanwhile: a request is refused at once, not left to wait in
    # the backlog; from `listen` on, workers answer, 503 until their index is loaded.
    open_or_build_index(
        settings, ProgressLog(lambda line: log.info("building the index: %s", line))
    )
    sock.listen(2048)
    if workers == 1:
        # Said once it answers searches, as with several workers, not while the index loads.
        url = f"http://{host}:{port}"
        _run_worker(
            settings,
            sock,
            lambda: log.info("rag running on %s (1 worker); the API at %s/docs", url, url),
        )
        log.info("rag stopped")
        return
    supervisor = _Supervisor(settings, sock, workers, f"http://{host}:{port}")
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    code = supervisor.run()
    sock.close()
    log.info("rag stopped (%d workers)", workers)
    if code:
        raise SystemExit(code)
