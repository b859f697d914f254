"""A run's property tests draw from one seed that the run prints, and a failed run says how to
draw the same examples again (tests/conftest.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED_VARIABLE
from hypothesis._settings import _CI_VARS

pytestmark = pytest.mark.slow

PROPERTIES = """
import os
from hypothesis import given, settings, strategies as st

@settings(database=None, max_examples=20)
@given(st.integers())
def test_draws(x):
    with open(os.environ["DRAWN"], "a") as f:
        f.write(f"{x}\\n")

def test_fails():
    assert False
"""


def run(tmp_path: Path, name: str, *args: str, ci: bool = False) -> tuple[str, list[str]]:
    """pytest on the two tests above with this suite's conftest as a plugin, with `CI` set or
    not (hypothesis reads it): its output, and what the property test drew."""
    drawn = tmp_path / f"{name}.txt"
    env = {k: v for k, v in os.environ.items() if k not in {*_CI_VARS, SEED_VARIABLE}}
    env |= {"PYTHONPATH": str(ROOT / "tests"), "DRAWN": str(drawn)} | ({"CI": "true"} if ci else {})
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(tmp_path), "-p", "conftest", str(tmp_path / "test_properties.py"),
         *args],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr  # test_fails failed, nothing else
    return proc.stdout, drawn.read_text().split()


def test_a_failed_run_prints_the_seed_that_draws_its_examples_again(tmp_path: Path) -> None:
    (tmp_path / "test_properties.py").write_text(PROPERTIES)
    first, drawn = run(tmp_path, "first")
    (seed,) = re.findall(r"^hypothesis seed (\d+)$", first, re.MULTILINE)
    assert f"the same examples again: pytest --hypothesis-seed={seed}" in first, first
    again, drawn_again = run(tmp_path, "again", f"--hypothesis-seed={seed}")
    assert f"hypothesis seed {seed}\n" in again and drawn_again == drawn
    other = str((int(seed) + 1) % 2**32)
    _, drawn_other = run(tmp_path, "other", f"--hypothesis-seed={other}")
    assert drawn_other != drawn  # the seed is what chose them


def test_where_ci_is_set_runs_draw_the_same_unless_a_seed_is_given(tmp_path: Path) -> None:
    """Hypothesis' ci profile derandomizes, so CI's runs draw alike and no seed is printed
    (a CI run failed once because two seeds had drawn the same there); a seed given is
    honoured all the same."""
    (tmp_path / "test_properties.py").write_text(PROPERTIES)
    first, drawn = run(tmp_path, "first", ci=True)
    assert "hypothesis derandomized (hypothesis' ci profile)" in first, first
    assert "the same examples again: CI=true pytest" in first, first
    _, drawn_again = run(tmp_path, "again", ci=True)
    assert drawn_again == drawn
    seeded, drawn_seeded = run(tmp_path, "seeded", "--hypothesis-seed=7", ci=True)
    assert "hypothesis seed 7\n" in seeded and drawn_seeded != drawn
    _, drawn_seeded_here = run(tmp_path, "seeded-here", "--hypothesis-seed=7")
    assert drawn_seeded_here == drawn_seeded


def test_xdist_workers_draw_from_the_seed_the_header_prints(tmp_path: Path) -> None:
    """`make test` runs in xdist's workers: the seed is chosen once, by the controller, and is
    the one its workers draw from (each would otherwise choose its own, never printed)."""
    (tmp_path / "test_properties.py").write_text(PROPERTIES)
    spread, drawn = run(tmp_path, "spread", "-n", "2")
    (seed,) = re.findall(r"^hypothesis seed (\d+)$", spread, re.MULTILINE)
    _, drawn_here = run(tmp_path, "here", f"--hypothesis-seed={seed}")
    assert drawn_here == drawn
