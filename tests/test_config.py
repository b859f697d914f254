"""Settings: an embedder's tuned defaults fill what the user left unset, and only that."""

from pathlib import Path

import pytest

from rag.config import TUNED_SETTINGS, TUNINGS, Settings, tuning_of
from rag.errors import SettingsError


def test_unset_settings_take_the_embedders_tuning() -> None:
    for name, tuning in TUNINGS.items():
        tuned = Settings(embedder=None).tuned_for(name)
        assert {s: getattr(tuned, s) for s in TUNED_SETTINGS} == {
            s: getattr(tuning, s) for s in TUNED_SETTINGS
        }
    # The two shipped embedders are tuned apart (eval/README.md has the sweeps).
    assert TUNINGS["e5-small"].chunk_size != TUNINGS["use-m3"].chunk_size


def test_what_the_user_sets_wins_over_the_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_BM25_WEIGHT", "0.9")
    tuned = Settings(chunk_size=700, translate_questions=False).tuned_for("e5-small")
    assert (tuned.chunk_size, tuned.bm25_weight, tuned.translate_questions) == (700, 0.9, False)
    assert tuned.chunk_overlap == TUNINGS["e5-small"].chunk_overlap


def test_another_embedder_gets_use_m3s_fusion_and_no_calibration() -> None:
    other = tuning_of("sentence-transformers:some/model")
    assert other.no_answer is None
    assert other.model_dump(exclude={"no_answer"}) == TUNINGS["use-m3"].model_dump(
        exclude={"no_answer"}
    )
    assert all(t.no_answer is not None for t in TUNINGS.values())


def test_an_overlap_too_big_for_the_tuned_size_is_a_clear_error() -> None:
    with pytest.raises(
        SettingsError, match=r"chunk_overlap \(900\) must be smaller than chunk_size \(600\)"
    ):
        Settings(chunk_overlap=900).tuned_for("use-m3")
    assert Settings(chunk_overlap=900).tuned_for("e5-small").chunk_size == 1000


@pytest.mark.parametrize("key", ["", "   ", " s3cret", "s3cret\t"])
def test_a_key_no_client_can_send_is_refused_at_start_without_being_echoed(key: str) -> None:
    # Headers lose their surrounding spaces: such a key would lock every route for good.
    from conftest import rag_cli

    proc = rag_cli("serve", "--port", "0", env={"RAG_API_KEY": key}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "RAG_API_KEY is blank or has spaces around it" in proc.stderr
    assert "Traceback" not in proc.stderr
    if key.strip():
        assert key.strip() not in proc.stderr + proc.stdout  # a secret is never printed


def test_collections_live_beside_the_default_index_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index given elsewhere keeps its collections beside it: with `collections/` in the
    working folder, a test's server wrote collections into the checkout."""
    assert Settings().collections_dir == Path("collections")
    assert Settings(index_dir=tmp_path / "index").collections_dir == tmp_path / "collections"
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "srv" / "index"))
    assert Settings().collections_dir == tmp_path / "srv" / "collections"
    assert Settings(collections_dir=tmp_path / "c").for_collection("v").index_dir == (
        tmp_path / "c" / "v"
    )
