"""`rag index --ray`: a real local Ray cluster embeds the corpus; the index must be the one a
local build writes, even when an actor dies during the job."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, ROOT

from rag.config import Settings
from rag.embedders import Embedder
from rag.evaluation.gold import load_gold
from rag.evaluation.metrics import score_modes
from rag.index.loading import Index, load_index
from rag.index.manifest import read_manifest
from rag.indexing.updates import update_index
from rag.ingest.corpus import load_corpus

pytestmark = pytest.mark.slow
GOLD = ROOT / "eval" / "gold.jsonl"


RAY = Path(sys.executable).with_name("ray")
# Ray on one machine, listening on loopback only, with token authentication (its default).
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token"}


def rag_index(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", *map(str, args)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )  # fmt: skip


@pytest.fixture
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Ray cluster started apart (`ray start --head`), as users run one, on loopback, with
    token authentication: the token is in the environment of the cluster and of its clients
    (this test's processes), as `ray get-auth-token --generate` would put it in a file."""
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **RAY_ENV}
    start = [RAY, "start", "--head", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats"]  # fmt: skip
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop"], env=env, capture_output=True, timeout=120)


def build_killing_an_actor(corpus: Path, index_dir: Path) -> tuple[int, str]:
    """`rag index --ray` with one of its two actors killed (SIGKILL) at the first progress line
    that counts embedded texts (after 5 s of the stage): Ray must restart it and retry its
    tasks. One text a task, so that the job lasts longer than that (about 9 s here)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "index", "--ray", "--ray-actors", "2",
         "--ray-batch-size", "1", "--corpus", str(corpus), "--index", str(index_dir)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    lines, killed = [], False
    try:
        with proc.stderr:
            for line in proc.stderr:
                lines.append(line)
                if not killed and re.match(r"embedding: [1-9]\d*/\d+ \((?!100%)", line):
                    found = subprocess.run(["pgrep", "-f", "MapWorker"], capture_output=True,
                                           text=True).stdout.split()  # fmt: skip
                    assert found, "no actor process while embedding:\n" + "".join(lines)
                    os.kill(int(found[0]), signal.SIGKILL)
                    killed = True
        assert killed, "the build ended before an actor could be killed:\n" + "".join(lines)
        return proc.wait(timeout=300), "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def embedded(output: str) -> int:
    found = re.search(r"(\d+) (?:texts )?embedded", output)
    assert found, output
    return int(found.group(1))


def all_passages(index: Index) -> list[tuple[str, int, int, str]]:
    passages = index.store.passages(range(index.manifest.passages))
    return [(p.doc_id, p.start, p.end, p.text) for _, p in sorted(passages.items())]


def test_a_ray_build_is_the_local_build(
    tmp_path: Path,
    built_index_dir: Path,
    default_index: Index,
    use_embedder: Embedder,
    ray_cluster: str,
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    index_dir = tmp_path / "index"
    # A local Ray for the build, started and stopped by `rag index`, losing an actor midway.
    returncode, stderr = build_killing_an_actor(corpus, index_dir)
    assert returncode == 0, stderr
    assert "Traceback" not in stderr

    ray_manifest, local_manifest = read_manifest(index_dir), default_index.manifest
    same = {"built_at", "updated_at", "generation"}
    assert ray_manifest.model_dump(exclude=same) == local_manifest.model_dump(exclude=same)
    ray_index = load_index(index_dir, Settings(index_dir=index_dir), use_embedder)
    assert all_passages(ray_index) == all_passages(default_index)
    ids = np.arange(local_manifest.passages)
    assert np.allclose(
        ray_index.vectors.reconstruct(ids), default_index.vectors.reconstruct(ids), atol=1e-5
    )
    sentence_ids = list(range(local_manifest.sentences))
    sentences = [i.sentence_vectors[sentence_ids] for i in (ray_index, default_index)]
    assert np.allclose(*sentences, atol=2e-3)  # float16 on disk
    assert ray_index.lexicon.words == default_index.lexicon.words

    questions = load_gold(GOLD, load_corpus(CORPUS))
    modes = ["dense", "bm25", "hybrid"]
    ray_runs = score_modes(ray_index, questions, modes).runs
    local_runs = score_modes(default_index, questions, modes).runs
    assert ray_runs.keys() == local_runs.keys()
    for mode, groups in local_runs.items():
        for group, metrics in groups.items():
            for metric, value in metrics.items():
                assert round(ray_runs[mode][group][metric], 3) == round(value, 3), (mode, metric)

    # A changed article, on a running cluster: only what changed goes to it, as in a local
    # rebuild.
    article = next(corpus.glob("*.txt"))
    article.write_text(article.read_text() + "\n\nUne phrase ajoutée à la fin.", encoding="utf-8")
    cluster = {"RAG_RAY_ADDRESS": ray_cluster, **RAY_ENV}
    again = rag_index("--ray", "--corpus", corpus, "--index", index_dir, **cluster)
    assert again.returncode == 0, again.stderr
    assert "1 replaced, 4 unchanged" in again.stderr
    local_dir = tmp_path / "local"
    shutil.copytree(built_index_dir, local_dir)
    local = update_index(local_dir, Settings(), load_corpus(corpus), embedder=use_embedder)
    assert 0 < embedded(again.stderr) == local.embedded < local_manifest.passages
    assert read_manifest(index_dir).generation == 2


def test_an_unreachable_cluster_is_a_clear_error_and_keeps_the_index(
    tmp_path: Path, built_index_dir: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    before = (index_dir / "manifest.json").read_text()
    done = rag_index("--ray", "--ray-address", "127.0.0.1:9", "--corpus", CORPUS, "--index",
                     index_dir)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot connect to the Ray cluster at '127.0.0.1:9'" in done.stderr
    assert (index_dir / "manifest.json").read_text() == before
