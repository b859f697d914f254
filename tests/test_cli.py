"""The `rag` command as a user runs it: a real process, real models, real files."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, HANGZHOU, OfficeFiles

from rag.ingest.chunking import SPLITTER_VERSION

pytestmark = pytest.mark.slow
RAG = [sys.executable, "-m", "rag.cli"]


def rag(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAG, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_search_json_answers_in_both_languages(built_index_dir: Path) -> None:
    for question in ("Qui est le maire de Hangzhou ?", "Who is the mayor of Hangzhou?"):
        proc = rag("search", question, "--index", str(built_index_dir), "-k", "3", "--json")
        assert proc.returncode == 0, proc.stderr
        payload = json.loads(proc.stdout)
        assert payload["query"] == question and payload["mode"] == "hybrid"
        assert len(payload["results"]) == 3
        first = payload["results"][0]
        assert set(first) == {
            "rank", "score", "doc_id", "title", "date", "source", "start", "end", "page", "text",
            "highlights",
        }  # fmt: skip
        assert first["doc_id"] == HANGZHOU and "Liyi" in first["text"]
        assert any("Liyi" in h["text"] for h in first["highlights"])


def test_readable_output_shows_score_title_date_and_passage(built_index_dir: Path) -> None:
    proc = rag("search", "Qui est le maire de Hangzhou ?", "--index", str(built_index_dir))
    assert proc.returncode == 0, proc.stderr
    assert "score" in proc.stdout and "2017-12-09" in proc.stdout
    assert "Hangzhou accueille" in proc.stdout and "Liyi" in proc.stdout
    assert "answered (confidence 0." in proc.stdout  # use-m3 is calibrated: say how sure


def test_serve_on_a_port_in_use_says_how_to_choose_another(built_index_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = rag("serve", "--port", port, "--index", str(built_index_dir), "--corpus",
                   str(CORPUS))  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "--port N" in proc.stderr


def _names(folder: Path) -> list[str]:
    """What `folder` holds, but the index's write lock (a file kept beside it)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_index_command_builds_in_the_default_folder(tmp_path: Path) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    proc = rag("index", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "indexed 5 documents" in proc.stderr
    assert (tmp_path / "index" / "manifest.json").exists()
    again = rag("index", cwd=tmp_path)  # incremental: nothing changed, nothing to do
    assert "5 unchanged" in again.stderr and "nothing to change" in again.stderr
    rebuilt = rag("index", "--rebuild", cwd=tmp_path)
    assert "0 embedded" in rebuilt.stderr and "rebuilt: --rebuild" in rebuilt.stderr


def test_index_skips_bad_files_says_why_and_strict_refuses_them(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "zeros.txt").write_bytes(b"\0" * 100_000)
    (corpus / "broken.jsonl").write_text('{"id": "ok-line", "text": "Une ligne."}\n{broken\n')
    old = "Le conseil municipal de Montréal a voté le budget de l'année, à l'unanimité des élus."
    (corpus / "ancien.txt").write_bytes(old.encode("cp1252"))
    index = tmp_path / "index"
    strict = rag("index", "--corpus", str(corpus), "--index", str(index), "--strict")
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert "zeros.txt: binary content" in strict.stderr and "broken.jsonl:2" in strict.stderr
    assert not index.exists()  # nothing was written
    proc = rag("index", "--corpus", str(corpus), "--index", str(index))
    assert proc.returncode == 0, proc.stderr
    assert "skipped " in proc.stderr and "zeros.txt: binary content" in proc.stderr
    assert "broken.jsonl:2: not valid JSON" in proc.stderr
    assert "ancien.txt as cp1252" in proc.stderr
    assert "indexed 7 documents" in proc.stderr and "skipped 2" in proc.stderr
    # Not a terminal: progress comes as lines, one per stage at least, each with its count.
    assert re.search(r"^embedding: 0/\d+ \(0%\)$", proc.stderr, re.MULTILINE)
    assert re.search(r"^embedding: \d+/\d+ \(100%\), done in", proc.stderr, re.MULTILINE)
    assert re.search(r"^indexing: 1/1 \(100%\)", proc.stderr, re.MULTILINE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", ""], "the question is empty"),
        (["search", "maire", "-k", "0"], "k is 0"),
        (["search", "maire", "-k", "5000"], "from 1 to 100"),
        (["search", "maire", "--mode", "magic"], "unknown mode 'magic'"),
        (["search", "maire", "--embedder", "sentence-transformers:x"], "built with embedder"),
        (["search", "maire", "--date-from", "hier"], "ISO 8601"),
    ],
)
def test_bad_search_input_exits_2_with_one_message(
    built_index_dir: Path, args: list[str], message: str
) -> None:
    proc = rag(*args, "--index", str(built_index_dir))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_documents_lists_what_the_index_holds(built_index_dir: Path, tmp_path: Path) -> None:
    proc = rag("documents", "--index", str(built_index_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert [d["id"] for d in listed] == sorted(p.stem for p in CORPUS.glob("*.txt"))
    manifest = json.loads((built_index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert sum(d["passages"] for d in listed) == manifest["passages"]
    hangzhou = next(d for d in listed if d["id"] == HANGZHOU)
    assert hangzhou["date"] == "2017-12-09" and hangzhou["title"].startswith("Hangzhou")
    readable = rag("documents", "--index", str(built_index_dir))
    assert readable.returncode == 0 and HANGZHOU in readable.stdout
    assert f"5 documents, {manifest['passages']} passages" in readable.stdout
    # The error that sends a user here: an unknown id in a filter.
    unknown = rag("search", "maire", "--doc-id", "nope", "--index", str(built_index_dir))
    assert unknown.returncode == 2 and "`rag documents`" in unknown.stderr
    missing = rag("documents", "--index", str(tmp_path / "none"))
    assert missing.returncode == 2 and f"no index at {tmp_path / 'none'}" in missing.stderr


def test_bad_index_and_corpus_folders(tmp_path: Path) -> None:
    cases = [
        (["search", "maire", "--index", str(tmp_path / "none")], "no index at"),
        (["index", "--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "i")],
         "does not exist"),
        (["index", "--corpus", str(tmp_path), "--index", str(tmp_path / "i")], "has no .txt"),
        (["index", "--chunk-size", "100", "--chunk-overlap", "100"], "must be smaller"),
        (["index", "--embedder", "word2vec", "--index", str(tmp_path / "i")], "unknown embedder"),
    ]  # fmt: skip
    for args, message in cases:
        proc = rag(*args)
        assert proc.returncode == 2, args
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "i").exists()


def test_corrupt_index_exits_2(built_index_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(built_index_dir, copy)
    (copy / "segments" / "00000001-main" / "vectors.faiss").write_bytes(b"broken")
    proc = rag("search", "maire", "--index", str(copy))
    assert proc.returncode == 2 and "damaged" in proc.stderr


def test_sigterm_during_a_build_keeps_the_previous_index(
    built_index_dir: Path, tmp_path: Path
) -> None:
    big = tmp_path / "corpus"
    big.mkdir()
    text = (CORPUS / f"{HANGZHOU}.txt").read_text()
    for i in range(400):  # about 5,000 passages: minutes of embedding at 4 a batch
        (big / f"doc{i}.txt").write_text(f"Version {i}.\n\n{text}")
    index_dir = tmp_path / "index"
    shutil.copytree(built_index_dir, index_dir)
    before = {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()}
    env = {**os.environ, "RAG_EMBED_BATCH_SIZE": "4"}
    proc = subprocess.Popen(
        [*RAG, "index", "--corpus", str(big), "--index", str(index_dir)],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    # The signal goes once embedding has begun, not after a fixed sleep: on a loaded machine
    # the interpreter may still be importing after seconds, and die of SIGTERM before `rag`
    # handles it. Lines on a pipe come from ProgressLog: "embedding: 4/800 (0%)".
    assert proc.stderr is not None
    seen = []
    while not (line := proc.stderr.readline()).startswith("embedding:"):
        assert line, f"the build ended before it embedded anything: {''.join(seen)}"
        seen.append(line)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    stderr = "".join(seen) + line + rest
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()} == before
    assert _names(tmp_path) == ["corpus", "index"]


def test_index_applies_the_corpus_differences_and_add_remove_change_the_index(
    tmp_path: Path, built_index_dir: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    index = tmp_path / "index"
    shutil.copytree(built_index_dir, index)
    at = ["--corpus", str(corpus), "--index", str(index)]
    new = corpus / "lyon-velos.md"
    new.write_text("# Vélos à Lyon\n\nLa ville de Lyon lance des vélos électriques partagés.")
    added = rag("index", *at)
    assert added.returncode == 0, added.stderr
    assert "1 added, 5 unchanged" in added.stderr and "generation 2" in added.stderr
    new.write_text("# Vélos à Lyon\n\nLa ville de Lyon étend ses vélos électriques partagés.")
    assert "1 replaced, 5 unchanged" in rag("index", *at).stderr
    new.unlink()
    assert "1 removed, 5 unchanged" in rag("index", *at).stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "nantes.txt").write_text("Nantes ouvre un guichet numérique pour ses habitants.")
    assert "1 added" in rag("add", str(elsewhere), "--index", str(index)).stderr
    kept = rag("index", *at)  # a document from elsewhere is not the corpus's to remove
    assert "kept 1 added from elsewhere" in kept.stderr and "nothing to change" in kept.stderr
    found = rag("search", "guichet numérique à Nantes", "--index", str(index), "--json", "-k", "1")
    assert json.loads(found.stdout)["results"][0]["doc_id"] == "nantes"

    bad = [
        (("remove", "nantes", "nope", "--index", str(index)), "no document with id 'nope'"),
        (("add", str(tmp_path / "missing.txt"), "--index", str(index)), "does not exist"),
        (
            ("add", str(tmp_path / "index" / "manifest.json"), "--index", str(index)),
            "not a document file",
        ),
        (("add", str(elsewhere), "--index", str(tmp_path / "none")), "no index at"),
    ]
    for args, message in bad:
        proc = rag(*args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    gone = rag("remove", "nantes", "--index", str(index))
    assert gone.returncode == 0 and "1 removed" in gone.stderr
    other = rag("index", *at, "--chunk-size", "300", "--chunk-overlap", "50")
    assert "rebuilt: its chunks are 600/100, not 300/50" in other.stderr
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["chunking"]["splitter"] == SPLITTER_VERSION
    manifest["chunking"].pop("splitter")  # as an index written before the cuts had a version
    (index / "manifest.json").write_text(json.dumps(manifest))
    older = rag("index", *at, "--chunk-size", "300", "--chunk-overlap", "50")
    assert "rebuilt: its passages were cut by the rules of version 1" in older.stderr, older.stderr
    assert rag("index", *at, "--chunk-size", "300", "--chunk-overlap", "50").returncode == 0


def test_pdf_and_word_files_go_in_and_a_bad_one_is_skipped_or_refused_with_its_reason(
    tmp_path: Path, built_index_dir: Path, office_files: OfficeFiles
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    shutil.copy(office_files.docx_corpus / f"{HANGZHOU}.docx", corpus / "hangzhou.docx")
    shutil.copy(office_files.encrypted_pdf, corpus / "secret.pdf")
    shutil.copy(office_files.scanned_pdf, corpus / "scan.pdf")
    index = tmp_path / "index"
    shutil.copytree(built_index_dir, index)
    built = rag("index", "--corpus", str(corpus), "--index", str(index))
    assert built.returncode == 0, built.stderr
    assert "1 added, 5 unchanged" in built.stderr
    said = " ".join(built.stderr.split())
    assert re.search(r"secret\.pdf: an encrypted PDF", said)
    # What to install is printed as it is, not read as Rich markup ("rag[ocr]" was "rag").
    assert "scan.pdf: a PDF without a text layer" in said and "the extra rag[ocr]" in said

    refused = rag("add", str(corpus / "secret.pdf"), "--index", str(index))
    assert refused.returncode == 2 and "an encrypted PDF" in refused.stderr
    assert "Traceback" not in refused.stderr
    added = rag("add", str(office_files.report_pdf), "--index", str(index))
    assert added.returncode == 0 and "1 added" in added.stderr, added.stderr
    found = rag("search", "Quand ouvre le marché couvert de Villeneuve ?", "--index", str(index),
                "--json", "-k", "1")  # fmt: skip
    top = json.loads(found.stdout)["results"][0]
    assert (top["doc_id"], top["page"]) == ("rapport", 3)
    readable = rag("search", "Quand ouvre le marché couvert de Villeneuve ?", "--index",
                   str(index), "-k", "1")  # fmt: skip
    assert re.search(r"· rapport \[\d+:\d+\] · page 3", readable.stdout), readable.stdout
