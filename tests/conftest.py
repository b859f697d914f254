from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest

from rag.config import Settings
from rag.embedders import Embedder, make_embedder
from rag.index.loading import Index, load_index
from rag.indexing.build import build_index

# sentence-transformers must load the packaged model from disk, never from a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

# The tests of the machinery (builds, the server, the page, Ray) run on use-m3, which embeds
# about 20 times faster than the default e5-small; tests/test_default_embedder.py builds, searches
# and scores the default itself. Subprocesses inherit this.
os.environ.setdefault("RAG_EMBEDDER", "use-m3")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
HANGZHOU = "002_4fe2696a3ac29a64"
# The run's hypothesis seed, for the processes of the run (xdist's workers): see pytest_configure.
SEED_VARIABLE = "RAG_TESTS_HYPOTHESIS_SEED"

# The benchmarks' helpers, `serving.Served` first: the one way a test starts `rag serve`.
sys.path.insert(0, str(ROOT / "eval"))
from serving import Served  # noqa: E402


@pytest.hookimpl(tryfirst=True)  # before hypothesis' plugin reads the option
def pytest_configure(config: pytest.Config) -> None:
    """Every run's property tests draw from one seed, chosen here unless `--hypothesis-seed`
    gives it, and printed, so that a failure is run again with the same examples. Hypothesis
    alone prints the failing example, not the seed that drew it.

    Where `CI` is set, hypothesis loads its `ci` profile, which derandomizes: each test draws
    the same examples on every run and a seed changes nothing. That stays so (CI never flakes
    on a new draw), unless `--hypothesis-seed` is given, which then chooses the examples there
    too."""
    if config.getoption("hypothesis_seed") is not None:
        if hypothesis.settings.default.derandomize:
            hypothesis.settings.register_profile(
                "seeded", hypothesis.settings.default, derandomize=False
            )
            hypothesis.settings.load_profile("seeded")
    elif not hypothesis.settings.default.derandomize:
        # Chosen once, by pytest or by xdist's controller: its workers inherit the variable.
        seed = os.environ.setdefault(SEED_VARIABLE, str(random.randrange(2**32)))
        config.option.hypothesis_seed = seed


def _examples(config: pytest.Config) -> tuple[str, str]:
    """How this run's property tests draw, and the command that draws the same again."""
    seed = config.option.hypothesis_seed
    if seed is None:
        return "derandomized (hypothesis' ci profile)", "CI=true pytest (CI=true make test)"
    return f"seed {seed}", (
        f"pytest --hypothesis-seed={seed} (make test PYTEST_ARGS=--hypothesis-seed={seed})"
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis {_examples(config)[0]}"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if exitstatus == pytest.ExitCode.TESTS_FAILED:
        how, again = _examples(config)
        terminalreporter.write_line(
            f"the property tests drew {how}; the same examples again: {again}"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One rule for the fast tier (`make test-fast`, `-m "not slow"`): a test that asks for the
    session's real `rag serve` (the `server` fixture) is slow, like the modules and tests that
    say so themselves (subprocesses, servers, the browser, Ray)."""
    for item in items:
        if "server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@dataclass(frozen=True)
class OfficeFiles:
    """The corpus as PDF and as Word files, a three-page report (Word, and PDF), a scan of an
    article, and an encrypted PDF, all made by real producers (tests/documents.py)."""

    pdf_corpus: Path
    docx_corpus: Path
    report_docx: Path
    report_pdf: Path
    scanned_pdf: Path
    encrypted_pdf: Path


@pytest.fixture(scope="session")
def office_files(tmp_path_factory: pytest.TempPathFactory) -> OfficeFiles:
    from documents import REPORT, scan, soffice, write_report

    root = tmp_path_factory.mktemp("office")
    profile = root / "profile"
    articles = sorted(CORPUS.glob("*.txt"))
    soffice(articles, "pdf", root / "pdf", profile)
    soffice(articles, "docx", root / "docx", profile)
    report = write_report(root / f"{REPORT}.docx")
    (report_pdf,) = soffice([report], "pdf", root / "report", profile)
    encrypted = soffice(
        [CORPUS / f"{HANGZHOU}.txt"],
        'pdf:writer_pdf_Export:{"EncryptFile":{"type":"boolean","value":"true"},'
        '"DocumentOpenPassword":{"type":"string","value":"secret"}}',
        root / "encrypted",
        profile,
    )[0]
    scanned = scan(root / "pdf" / f"{HANGZHOU}.pdf", root / "scanned" / f"{HANGZHOU}.pdf")
    return OfficeFiles(root / "pdf", root / "docx", report, report_pdf, scanned, encrypted)


@pytest.fixture(scope="session")
def use_embedder() -> Embedder:
    return make_embedder("use-m3", Settings(embed_threads=1))


@pytest.fixture(scope="session")
def built_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default corpus indexed once with the default settings; tests must not change it."""
    index_dir = tmp_path_factory.mktemp("default") / "index"
    build_index(Settings(corpus_dir=CORPUS, index_dir=index_dir))
    return index_dir


def rag_cli(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`rag *args` in a subprocess with nothing configured but `env` (no other RAG_ variable),
    from the root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )  # fmt: skip


@pytest.fixture(scope="session")
def e5_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default corpus indexed by `rag index` with nothing configured: the default embedder,
    e5-small, at its tuned chunks. Tests must not change it."""
    folder = tmp_path_factory.mktemp("default-embedder") / "index"
    built = rag_cli("index", "--corpus", str(CORPUS), "--index", str(folder))
    assert built.returncode == 0, built.stderr
    return folder


@pytest.fixture(scope="session")
def default_index(built_index_dir: Path, use_embedder: Embedder) -> Index:
    return load_index(built_index_dir, Settings(index_dir=built_index_dir), use_embedder)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def server(built_index_dir: Path) -> Iterator[str]:
    """A real `rag serve` of the default index on a free loopback port, for the whole session."""
    with Served(built_index_dir, corpus_dir=CORPUS) as served:
        yield served.url


def _ready(url: str, key: str | None) -> bool:
    import httpx

    headers = {"X-API-Key": key} if key else {}
    return httpx.get(url + "/ready", headers=headers, timeout=10).status_code == 200


@contextmanager
def serve_in_thread(app: Any, ready: bool = True) -> Iterator[str]:
    """`app` served by a real uvicorn on a free loopback port, in a thread of the test process
    (so that a test can add routes, or read the server's log with caplog). Given once /ready
    answers 200, or at once, while the index loads, without `ready`."""
    import socket
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 120
    # Ready as for `Served`: /ready answers 200 (the app loads its index in the background).
    while not server.started or (ready and not _ready(url, getattr(app.state, "api_key", None))):
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
