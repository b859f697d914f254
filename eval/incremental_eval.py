"""`rag eval` of an index built in one go against the same corpus built by changes.

    .venv/bin/python eval/incremental_eval.py [--embedder e5-small]

Builds `corpus/` twice in /tmp/rag-incremental: with `rag index` in one go, and with `rag index`
of its first article then `rag add` of the others one by one, `rag remove` of two of them and
`rag add` of those two again. Then runs `rag eval --json` on both (the gold set and
`eval/unanswerable.jsonl`; `rag eval --squad` always builds an index of its own, so PIAF is not
scored this way: `tests/indexing/test_updates.py` compares such indexes passage by passage) and
prints every score that differs at 3 decimals: none, if changes in place give the index a build
from nothing gives.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAG = [sys.executable, "-m", "rag.cli"]
WORK = Path("/tmp/rag-incremental")


def rag(*args: str | Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [*RAG, *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    if proc.returncode:
        raise SystemExit(f"rag {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stderr


def build_both(corpus: Path, name: str, env: dict[str, str]) -> tuple[Path, Path]:
    one_go, changed = WORK / name / "one-go", WORK / name / "changed"
    rag("index", "--corpus", corpus, "--index", one_go, "--rebuild", env=env)
    files = sorted(p for p in corpus.iterdir() if p.suffix in (".txt", ".md", ".html"))
    first = WORK / name / "first"
    first.mkdir(parents=True)
    shutil.copy(files[0], first)
    rag("index", "--corpus", first, "--index", changed, "--rebuild", env=env)
    for path in files[1:]:
        rag("add", path, "--index", changed, env=env)
    twice = [files[0], files[len(files) // 2]]
    rag("remove", *(p.stem for p in twice), "--index", changed, env=env)
    print(rag("add", *twice, "--index", changed, env=env).strip())
    return one_go, changed


def scores(index: Path, env: dict[str, str]) -> dict:
    out = WORK / f"{index.name}.json"
    rag("eval", "--index", index, "--json", out, env=env)
    payload = json.loads(out.read_text())
    print(f"{index.name}: {payload['config']['index']}")  # "reused": this very index
    return payload


def differences(a: object, b: object, at: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in differences(a.get(k), b.get(k), f"{at}/{k}")]
    if isinstance(a, float) or isinstance(b, float):
        same = a is not None and b is not None and round(a, 3) == round(b, 3)
        return [] if same else [f"{at}: {a} != {b}"]
    differ = a != b and at not in ("/config/date", "/config/index")  # when, and which folder
    return [f"{at}: {a!r} != {b!r}"] if differ else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="e5-small")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    env = {**os.environ, "RAG_EMBEDDER": args.embedder}
    one_go, changed = build_both(ROOT / "corpus", "corpus", env)
    found = differences(scores(one_go, env), scores(changed, env))
    print(f"gold set and unanswerable questions ({args.embedder}): "
          f"{len(found)} scores differ at 3 decimals", *found, sep="\n")  # fmt: skip


if __name__ == "__main__":
    main()
