"""Robustness, second round (issue 16): concurrent writers, file names, uploads, rebuilds, disks.

Real processes, real Chroma, the real e5 model. Writers that must be caught in the
middle of a run are paused deterministically by a small child script (``_WRITER``)
that waits for a signal file, so nothing here depends on timing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.lexical import LexicalIndex
from qa import ask
from qa.api import import_uploads, index_paths, safe_upload_name, status, uploads_dir
from qa.engine import default_engine
from qa.errors import DataDirError, IndexRebuildingError
from qa.resources import lexical_dir
from qa.settings import Settings
from tests.conftest import ROOT

# A writer that pauses in the middle of a run until ``<signals>/go`` exists.
#   where=progress: after its first article is completely written (manifest included);
#   where=manifest: after the second article's chunks, before its manifest entry.
_WRITER = r"""
import sys, time
from pathlib import Path
import index.store as store_mod
from qa.api import index_paths
from qa.settings import Settings

corpus, signals, where, rebuild = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]

def pause():
    (signals / "paused").write_text("1")
    deadline = time.monotonic() + 300
    while not (signals / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("never released")
        time.sleep(0.05)

calls = 0
original = store_mod._article_metadata

def hooked(*args, **kwargs):
    global calls
    calls += 1
    if where == "manifest" and calls == 2:
        pause()
    return original(*args, **kwargs)

store_mod._article_metadata = hooked

def progress(done, total, message):
    if where == "progress" and done == 1:
        pause()

report = index_paths([corpus], settings=Settings.from_env(), progress=progress,
                     rebuild=rebuild == "rebuild")
print(report.summary)
"""

# Runs only the indexer's clean-up, bypassing the write lock (as code calling
# index.indexer directly, or a writer on another machine, would).
_BYPASS = r"""
import sys
from pathlib import Path
from index.indexer import index_paths
from qa.resources import lexical_dir
from qa.engine import Engine
from qa.settings import Settings

settings = Settings.from_env()
store, embedder = Engine(settings).open_for_writing()
print("orphans seen:", len(store.orphans()))
index_paths([Path(sys.argv[1])], store=store, embedder=embedder,
            lexical_dir=lexical_dir(settings))
"""

TOPICS = [
    ("Neue Radwege in Kiel", "Die Stadt Kiel baut bis zum Sommer vier Kilometer neue Radwege."),
    ("Hafenfest in Rostock", "Das Hafenfest in Rostock zog am Wochenende 80.000 Besucher an."),
    ("Bäckerei schließt in Jena", "Nach 120 Jahren schließt die älteste Bäckerei Jenas."),
    ("Schulneubau in Lübeck", "In Lübeck beginnt der Bau einer Gesamtschule für 900 Kinder."),
    ("Hochwasser an der Elbe", "Der Pegel der Elbe bei Dresden stieg auf sechs Meter."),
    ("Tierpark erhält Elefanten", "Der Tierpark Hagenbeck erwartet zwei Elefanten aus Zürich."),
    ("Stadtbibliothek öffnet sonntags", "Die Bibliothek in Ulm öffnet ab Mai auch am Sonntag."),
    ("Neue Buslinie in Kassel", "Kassel richtet eine Nachtbuslinie zum Bahnhof Wilhelmshöhe ein."),
]


def article_text(title: str, epoch: int, sentence: str, *, tag: str = "robust-test") -> str:
    """An article file in the documented layout."""
    return (
        f"{title}\n\n{epoch}\n\nEin Archivbild\n\n{sentence} "
        f"Die Verwaltung teilte das am Montag mit.\n\n{tag}\n"
    )


def write_corpus(folder: Path, topics: list[tuple[str, str]], *, first_epoch: int) -> Path:
    """Small articles, one per topic, with distinct epochs (so distinct ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (title, sentence) in enumerate(topics):
        (folder / f"artikel_{i:02d}.txt").write_text(
            article_text(title, first_epoch + i * 3600, sentence), encoding="utf-8"
        )
    return folder


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a child `qa` process using ``settings``' data and model dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(
        QA_DATA_DIR=str(settings.data_dir),
        QA_MODEL_DIR=str(settings.model_dir),
        QA_GENERATOR="extractive",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def run_qa(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`qa ARGS` from this checkout, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def start_paused_writer(
    env: dict[str, str], corpus: Path, signals: Path, where: str, *, rebuild: bool = False
) -> subprocess.Popen[str]:
    """Start ``_WRITER`` and wait until it has paused (or fail if it exits)."""
    signals.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WRITER,
            str(corpus),
            str(signals),
            where,
            "rebuild" if rebuild else "-",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not (signals / "paused").exists():
        if proc.poll() is not None:
            pytest.fail(f"the writer exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the writer never reached its pause")
        time.sleep(0.1)
    return proc


def release(proc: subprocess.Popen[str], signals: Path) -> tuple[str, str]:
    """Let a paused writer finish; returns its output."""
    (signals / "go").write_text("1")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out, err


@pytest.fixture
def released() -> Iterator[list[tuple[subprocess.Popen[str], Path]]]:
    """Writers registered here are released (and killed if stuck) even when a test fails."""
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    yield procs
    for proc, signals in procs:
        (signals / "go").write_text("1")
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chunk_counts(settings: Settings) -> Counter[str]:
    """Stored chunks per article id."""
    default_engine(settings).invalidate()
    return Counter(c.article_id for c in default_engine(settings).index().store.iter_chunks())


# ================================================================ concurrent writers


def test_second_writer_is_refused_while_the_first_runs_and_no_article_is_lost(
    make_settings, tmp_path: Path, released
) -> None:
    settings = make_settings()
    corpus = write_corpus(tmp_path / "corpus", TOPICS[:6], first_epoch=1_740_000_000)
    other = write_corpus(tmp_path / "other", TOPICS[6:7], first_epoch=1_741_000_000)
    env = child_env(settings, QA_INDEX_BATCH="1")
    signals = tmp_path / "signals"

    first = start_paused_writer(env, corpus, signals, "progress")
    released.append((first, signals))
    second = run_qa(env, "index", str(other))

    assert second.returncode == 1, second.stdout + second.stderr
    assert f"another `qa index` is running on {settings.data_dir} (pid {first.pid})" in (
        second.stderr
    )
    assert "Traceback" not in second.stderr
    out, _ = release(first, signals)
    assert "6 added" in out
    assert status(settings).articles == 6
    # Once the first writer is done, the second one runs normally.
    again = run_qa(env, "index", str(other))
    assert again.returncode == 0, again.stderr
    default_engine(settings).invalidate()
    assert status(settings).articles == 7
    manifest = default_engine(settings).index().store.manifest()
    counts = chunk_counts(settings)
    assert {a: e.n_chunks for a, e in manifest.items()} == dict(counts)


def test_cleanup_keeps_a_live_writers_chunks_even_when_the_lock_is_bypassed(
    make_settings, tmp_path: Path, released
) -> None:
    settings = make_settings()
    corpus = write_corpus(tmp_path / "corpus", TOPICS[:4], first_epoch=1_742_000_000)
    env = child_env(settings, QA_INDEX_BATCH="1")
    signals = tmp_path / "signals"
    empty = tmp_path / "empty"
    empty.mkdir()

    # The writer has stored article 2's chunks but not yet its manifest entry.
    writer = start_paused_writer(env, corpus, signals, "manifest")
    released.append((writer, signals))
    bypass = subprocess.run(
        [sys.executable, "-c", _BYPASS, str(empty)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bypass.returncode == 0, bypass.stderr
    assert "orphans seen: 1" in bypass.stdout  # it did see the in-progress article
    out, _ = release(writer, signals)

    assert "4 added" in out
    manifest = default_engine(settings).index().store.manifest()
    assert len(manifest) == 4
    assert {a: e.n_chunks for a, e in manifest.items()} == dict(chunk_counts(settings))


def test_chunks_of_a_dead_writer_are_still_cleaned_up(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    corpus = write_corpus(tmp_path / "corpus", TOPICS[:2], first_epoch=1_743_000_000)
    index_paths([corpus], settings=settings)
    store = default_engine(settings).index().store
    # Debris of a crashed writer: chunks without a manifest entry, tagged by a pid
    # that no longer runs.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **_TEXT)
    from index.lock import writer_id

    tag = writer_id().rsplit(":", 2)[0] + f":{dead.stdout.strip()}:1"
    chunk = next(iter(store.iter_chunks()))
    vector = store.chunk_embeddings(chunk.article_id)[chunk.text]
    store._chunks.upsert(
        ids=["debris-1"],
        embeddings=[vector.tolist()],
        documents=["Trümmer eines abgebrochenen Laufs."],
        metadatas=[{**_meta(chunk), "article_id": "crashed-article", "writer": tag}],
    )
    store.bump_generation()

    index_paths([corpus], settings=settings)

    assert "crashed-article" not in chunk_counts(settings)


_TEXT = {"capture_output": True, "text": True, "check": True}


def _meta(chunk) -> dict:
    return {
        "article_id": chunk.article_id,
        "position": 0,
        "title": chunk.title,
        "published": int(chunk.published.timestamp()),
        "source": chunk.source,
    }


# ============================================================ a file name not in UTF-8


def test_file_name_that_is_not_utf8_is_indexed_with_the_rest_of_the_batch(
    make_settings, tmp_path: Path
) -> None:
    settings = make_settings()
    corpus = write_corpus(tmp_path / "corpus", TOPICS[:2], first_epoch=1_744_000_000)
    bad = os.path.join(os.fsencode(corpus), b"bad\xff\xfename.txt")
    with open(bad, "wb") as out:
        out.write(article_text(TOPICS[4][0], 1_744_100_000, TOPICS[4][1]).encode("utf-8"))
    bad_path = Path(os.fsdecode(bad))

    report = index_paths([corpus], settings=settings)

    assert (report.added, report.failed) == (3, 0), report.files
    bad_id = next(f.article_id for f in report.files if f.path == bad_path)
    default_engine(settings).invalidate()
    from qa.api import get_article

    assert get_article(bad_id, settings=settings).path == bad_path  # exact round trip
    again = index_paths([corpus], settings=settings, prune=True)
    assert (again.unchanged, again.removed, again.embedded_chunks) == (3, 0, 0)
    answer = ask("Wie hoch stieg der Pegel der Elbe bei Dresden?", settings=settings)
    assert any(c.article_id == bad_id for c in answer.citations)
    # The CLI prints such a path escaped instead of crashing on it.
    cli = run_qa(child_env(settings), "-v", "index", str(corpus))
    assert cli.returncode == 0, cli.stderr
    assert "bad\\xff\\xfename.txt" in cli.stdout
    os.unlink(bad)
    pruned = index_paths([corpus], settings=settings, prune=True)
    assert [f.path for f in pruned.files if f.status == "removed"] == [bad_path]


# ============================================================================ uploads


def _upload_handler(settings: Settings):
    from ui.app import create_app

    app = create_app(settings)
    return next(f.fn for f in app.fns.values() if f.api_name == "index")


def test_uploaded_articles_survive_the_gradio_temp_folder_and_prune(
    make_settings, tmp_path: Path
) -> None:
    settings = make_settings()
    gradio_tmp = write_corpus(tmp_path / "gradio" / "3f2a", TOPICS[:2], first_epoch=1_745_000_000)
    files = sorted(str(p) for p in gradio_tmp.glob("*.txt"))
    handler = _upload_handler(settings)

    rows, summary, _status, _sources = handler(files, progress=lambda *a, **k: None)

    assert "2 added" in summary, rows
    assert sorted(r[0] for r in rows) == ["artikel_00.txt", "artikel_01.txt"]
    shutil.rmtree(tmp_path / "gradio")  # a reboot clears /tmp/gradio
    other = write_corpus(tmp_path / "cli", TOPICS[2:3], first_epoch=1_745_100_000)
    report = index_paths([other], settings=settings, prune=True)
    assert report.removed == 0
    assert status(settings).articles == 3
    manifest = default_engine(settings).index().store.manifest()
    kept = [
        Path(e.path) for e in manifest.values() if "artikel_0" in e.path and "cli" not in e.path
    ]
    assert len(kept) == 2
    assert all(p.is_relative_to(uploads_dir(settings)) and p.is_file() for p in kept)


def test_upload_copies_stay_inside_the_uploads_folder(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    for hostile, expected in [
        ("../../../escape.txt", "escape.txt"),
        ("..\\..\\escape.txt", "escape.txt"),
        (".hidden.txt", "hidden.txt"),
        ("a b\x1b[2J;rm -rf.txt", "a_b_2J_rm_-rf.txt"),
        ("Übersicht", "Übersicht.txt"),
        ("..", "article.txt"),
    ]:
        assert safe_upload_name(hostile) == expected
    source = tmp_path / "in.txt"
    source.write_text(article_text(TOPICS[0][0], 1_746_000_000, TOPICS[0][1]), encoding="utf-8")
    first = import_uploads([source], settings=settings)
    second = import_uploads([source], settings=settings)
    assert first == second  # the same upload twice is the same managed file
    assert first[0].parent.parent == uploads_dir(settings)


# ============================================================ rebuild by another process


def test_running_process_recovers_after_a_rebuild_by_another_process(
    make_settings, tmp_path: Path, released
) -> None:
    settings = make_settings()
    old = write_corpus(tmp_path / "old", TOPICS[:3], first_epoch=1_747_000_000)
    new = write_corpus(tmp_path / "new", TOPICS[3:6], first_epoch=1_747_100_000)
    index_paths([old], settings=settings)
    assert ask("Wie viele Besucher hatte das Hafenfest in Rostock?", settings=settings).citations
    env = child_env(settings, QA_INDEX_BATCH="1")
    signals = tmp_path / "signals"

    rebuild = start_paused_writer(env, new, signals, "progress", rebuild=True)
    released.append((rebuild, signals))
    with pytest.raises(IndexRebuildingError, match=r"being rebuilt.*try again in a moment"):
        ask("Wie hoch stieg der Pegel der Elbe?", settings=settings)
    release(rebuild, signals)

    # The same process, the same cached handles: it notices the new collections.
    answer = ask("Wie hoch stieg der Pegel der Elbe bei Dresden?", settings=settings)
    assert not answer.abstained
    assert any("Elbe" in c.title for c in answer.citations)
    assert status(settings).articles == 3
    # Again after a rebuild that finished while nobody asked.
    again = run_qa(env, "index", "--rebuild", str(old))
    assert again.returncode == 0, again.stderr
    answer = ask("Wie viele Besucher hatte das Hafenfest in Rostock?", settings=settings)
    assert any("Rostock" in c.title for c in answer.citations)


# ======================================================================= disk full


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 8 MB (the machine must allow mounting: root in a privileged container)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_disk(mount: Path, *, leave: int) -> Path:
    """Fill a file system up, then give back ``leave`` bytes."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


@pytest.mark.parametrize("leave", [0, 40_000])
def test_disk_full_names_the_disk_and_never_advises_a_rebuild(
    make_settings, tmp_path: Path, small_tmpfs: Path, leave: int
) -> None:
    settings = make_settings(data_dir=small_tmpfs / "data")
    env = child_env(settings)
    first = write_corpus(tmp_path / "first", TOPICS[:3], first_epoch=1_748_000_000)
    more = write_corpus(tmp_path / "more", TOPICS[3:], first_epoch=1_748_100_000)
    assert run_qa(env, "index", str(first)).returncode == 0
    filler = fill_disk(small_tmpfs, leave=leave)

    full = run_qa(env, "index", str(more))

    assert full.returncode == 1, full.stdout
    assert "No space left on device" in full.stderr
    assert str(settings.data_dir) in full.stderr
    assert "--rebuild" not in full.stderr
    assert "Traceback" not in full.stderr
    asked = run_qa(env, "ask", "Wie viele Besucher hatte das Hafenfest in Rostock?")
    if asked.returncode == 0:  # answered from the intact index
        assert "Rostock" in asked.stdout
    else:  # or one clear line
        assert "No space left on device" in asked.stderr and "--rebuild" not in asked.stderr
        assert "Traceback" not in asked.stderr
    # Nothing was lost: with space again, the same command completes.
    filler.unlink()
    done = run_qa(env, "index", str(more))
    assert done.returncode == 0, done.stderr
    assert "5 added" in done.stdout
    default_engine(settings).invalidate()
    assert status(settings).articles == 8


def test_disk_full_while_saving_the_bm25_view_keeps_the_old_view(
    sample_index: Settings, tmp_path: Path, small_tmpfs: Path
) -> None:
    saved = lexical_dir(sample_index)
    view = LexicalIndex.load(saved)
    assert view is not None
    target = small_tmpfs / "lexical" / "news"
    view.save(target)
    fill_disk(small_tmpfs, leave=0)
    newer = LexicalIndex(view.chunk_ids, view.published, view.sources, view._bm25, 99)

    with pytest.raises(DataDirError, match=r"No space left on device.*BM25 view") as err:
        newer.save(target)

    assert str(target) in str(err.value)
    kept = LexicalIndex.load(target)
    assert kept is not None and kept.generation == view.generation and len(kept) == len(view)
    assert sorted(p.name for p in target.parent.iterdir()) == ["news"]  # no temp left over


def test_lexical_folder_replaced_by_a_file(sample_index: Settings, tmp_path: Path) -> None:
    settings = sample_index.with_(data_dir=tmp_path / "copy")
    shutil.copytree(sample_index.data_dir, settings.data_dir)
    shutil.rmtree(settings.data_dir / "lexical")
    (settings.data_dir / "lexical").write_text("kein Ordner")

    # Asking works from a view built in memory ...
    answer = ask("When could humans land on Mars?", settings=settings)
    assert answer.citations
    # ... and writing says which file is in the way, without a traceback.
    done = run_qa(child_env(settings), "index", str(ROOT / "index" / "samples"))
    assert done.returncode == 1
    assert f"{settings.data_dir / 'lexical'} is not a directory" in done.stderr
    assert "Traceback" not in done.stderr


# ================================================================ read-only data dir


def test_read_only_data_dir_is_one_clear_line(
    sample_index: Settings, tmp_path: Path, small_tmpfs: Path
) -> None:
    data = small_tmpfs / "data"
    shutil.copytree(sample_index.data_dir, data)
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True
    )
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    env = child_env(sample_index.with_(data_dir=data))

    asked = run_qa(env, "ask", "When could humans land on Mars?")

    if asked.returncode != 0:
        lines = asked.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), asked.stderr
        assert f"the data directory {data} is not writable" in lines[0]
        assert "writes to its sqlite database when it opens" in lines[0]
        assert "--rebuild" not in lines[0]
    else:
        assert "2029" in asked.stdout
    indexed = run_qa(env, "index", str(ROOT / "index" / "samples"))
    assert indexed.returncode == 1
    assert "Traceback" not in indexed.stderr and "--rebuild" not in indexed.stderr
