"""The API against its own OpenAPI schema, with schemathesis and every one of its checks: no 5xx,
every status and body as documented, invalid input refused, valid input accepted, the API key
enforced where the schema says. Bounded to about a minute; `eval/fuzz.sh` runs it for longer.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, Served

pytestmark = pytest.mark.slow


SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


def schemathesis(url: str, *args: str) -> None:
    # One worker: with two, schemathesis' threads call ast.parse at once (hypothesis describes
    # its strategies' lambdas), and CPython 3.11's parser, not thread-safe there, fails a run
    # now and then with "SystemError: AST constructor recursion depth mismatch"
    # (python/cpython#106905). It costs about 3 s a run.
    proc = subprocess.run(
        [SCHEMATHESIS, "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", "60",
         "--workers", "1", "--no-color", *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT,  # reads ROOT/schemathesis.toml
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-20_000:] + proc.stderr[-5_000:]
    assert " passed" in proc.stdout and "generated" in proc.stdout


def test_the_api_keeps_its_contract(server: str) -> None:
    schemathesis(server)


def test_the_api_keeps_its_contract_behind_a_key(built_index_dir: Path, tmp_path: Path) -> None:
    """With a key, the write routes are open to it: schemathesis adds, replaces and deletes
    documents, so it gets a copy of the index."""
    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    served = Served(index_dir, corpus_dir=CORPUS, env={"RAG_API_KEY": "s3cret"})
    url = served.url
    try:
        schemathesis(url, "--header", "X-API-Key: s3cret")
    finally:
        served.close()


def test_the_api_keeps_its_contract_behind_a_scoped_key(
    built_index_dir: Path, tmp_path: Path
) -> None:
    """With a key that may read and write only `villes` (RAG_API_KEYS): every other collection,
    the default's routes included, answers 404 as the schema says, and its writes reach only
    `villes`."""
    import hashlib
    import json

    import httpx

    keys = tmp_path / "keys.json"
    digest = hashlib.sha256(b"villes-key").hexdigest()
    keys.write_text(json.dumps([{"name": "villes", "key_sha256": digest,
                                 "collections": ["villes"], "write": True}]))  # fmt: skip
    collections = tmp_path / "collections"
    env = {
        "RAG_API_KEY": "s3cret",
        "RAG_API_KEYS": str(keys),
        "RAG_COLLECTIONS_DIR": str(collections),
    }
    served = Served(built_index_dir, workers=1, env=env)
    try:
        made = httpx.put(f"{served.url}/collections/villes", headers={"X-API-Key": "villes-key"})
        assert made.status_code == 201, made.text
        schemathesis(served.url, "--header", "X-API-Key: villes-key")
        # Only its collection was made, changed or deleted: the default is as it was built.
        made = {p.name for p in collections.iterdir() if not p.name.startswith(".")}
        assert made <= {"villes"}, made
        default = httpx.get(f"{served.url}/documents", headers={"X-API-Key": "s3cret"}).json()
        assert len(default) == len(list(CORPUS.iterdir()))
    finally:
        served.close()
