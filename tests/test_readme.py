"""The README's Python snippets, run as they are written there: each one is read from README.md
(no copy is kept here), written to a file of its own and run by a fresh Python, in a folder that
holds a copy of corpus/ and of its built index, against a real `rag serve`. The one change made
to a snippet is the server's address."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

pytestmark = pytest.mark.slow

README = ROOT / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_the_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 7
    assert all("http://127.0.0.1:8000" in s or "from rag import" in s for s in SNIPPETS)


@pytest.mark.parametrize("number", range(len(SNIPPETS)))
def test_a_readme_snippet_runs_as_written(
    number: int, server: str, built_index_dir: Path, tmp_path: Path
) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    shutil.copytree(built_index_dir, tmp_path / "index")
    script = tmp_path / f"snippet_{number + 1}.py"
    script.write_text(SNIPPETS[number].replace("http://127.0.0.1:8000", server), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    shown = f"README snippet {number + 1}:\n{script.read_text()}\n{proc.stderr}"
    assert proc.returncode == 0, shown
    assert "Traceback" not in proc.stderr
    # Each one prints what it found: an article on Hangzhou, or the document it added.
    assert re.search(r"Hangzhou|Liyi|lyon-velos", proc.stdout), proc.stdout
