"""Sentence vectors stored at index time: real model, real Chroma in temp dirs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from index.chunking import split_sentences
from index.embedding import embed_chunks
from index.store import ChunkStore
from qa import ask
from qa.api import index_paths
from qa.engine import default_engine
from tests.conftest import ROOT, SAMPLES, SEED_NAME, copy_articles

FEW = [SEED_NAME, *sorted(p.name for p in SAMPLES.glob("*.txt") if p.name != SEED_NAME)[:3]]

# Literal questions whose quoted sentence is the same whichever way the sentence
# vectors were made (stored contextual ones or embedded at question time).
LITERAL = [
    ("When could humans land on Mars?", "2029"),
    ("Wann stürzte die russische Mondsonde Luna-25 ab?", "August 2023"),
    ("Wie viele Solarmodule wurden im Lausitzer Sonnenfeld installiert?", "Solarmodule"),
    ("Welche Provinzen waren vom Hochwasser im Piemont besonders betroffen?", "Asti"),
]


def _fresh_question_state(settings) -> None:
    """Forget the engine's query and sentence vectors: the next question is new to it."""
    default_engine(settings).clear_caches()


def _sentence_state(settings) -> dict[str, np.ndarray]:
    """Assert every chunk has exactly its sentences' vectors and nothing else is stored.

    Returns:
        The stored sentence vectors by chunk id.
    """
    store = default_engine(settings).index().store
    chunks = list(store.iter_chunks())
    vectors = store.sentence_vectors([c.id for c in chunks])
    assert set(vectors) == {c.id for c in chunks}, "chunks without sentence vectors"
    total = 0
    for chunk in chunks:
        n = len(split_sentences(chunk.text))
        assert vectors[chunk.id].shape == (n, 384), chunk.id
        np.testing.assert_allclose(np.linalg.norm(vectors[chunk.id], axis=1), 1.0, atol=1e-4)
        total += n
    # No leftovers of deleted or replaced chunks.
    assert store.count_sentences() == total
    return vectors


def test_chunk_vectors_are_unchanged_and_sentence_vectors_match_their_method(
    make_settings,
) -> None:
    from index.articles import load_articles
    from index.chunking import chunk_article

    embedder = default_engine(make_settings()).embedder()
    articles = load_articles([SAMPLES / name for name in FEW[:2]]).articles
    chunks = [c for a in articles for c in chunk_article(a)]
    plain = embedder.embed_passages([c.context_text for c in chunks])
    for method in ("contextual", "separate"):
        vectors, sentences = embed_chunks(embedder, chunks, method=method)
        # Existing indexes and recall must not move: the chunk vector is today's.
        assert np.min(np.sum(vectors * plain, axis=1)) >= 0.99999, method
        for chunk, matrix in zip(chunks, sentences, strict=True):
            assert matrix.shape == (len(split_sentences(chunk.text)), 384)
    # "separate" is what question time computes: each sentence embedded as a passage.
    first = split_sentences(chunks[0].text)
    alone = embedder.embed_passages(first)
    _, sentences = embed_chunks(embedder, chunks[:1], method="separate")
    assert np.min(np.sum(sentences[0] * alone, axis=1)) >= 0.99999
    # Contextual vectors are different vectors of the same sentences (they carry context).
    _, contextual = embed_chunks(embedder, chunks[:1], method="contextual")
    cos = np.sum(contextual[0] * alone, axis=1)
    assert np.all(cos > 0.7) and np.all(cos < 0.9999)


def test_every_chunk_has_its_sentence_vectors_and_reindex_embeds_nothing(
    make_settings, tmp_path: Path
) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW, tmp_path / "corpus")
    first = index_paths([corpus], settings=settings)
    assert first.embedded_chunks > 0
    before = _sentence_state(settings)

    again = index_paths([corpus], settings=settings)
    assert (again.unchanged, again.embedded_chunks) == (len(FEW), 0)
    after = _sentence_state(settings)
    assert set(after) == set(before)
    for chunk_id, matrix in before.items():
        np.testing.assert_array_equal(after[chunk_id], matrix)


def test_changed_and_removed_articles_take_their_sentence_vectors_along(
    make_settings, tmp_path: Path
) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW, tmp_path / "corpus")
    index_paths([corpus], settings=settings)
    before = _sentence_state(settings)
    store = default_engine(settings).index().store

    # One word of the first sentence changes (same length, so the packing stays): the
    # first chunk's text changes, the other chunks are reused.
    target = corpus / FEW[1]
    text = target.read_text(encoding="utf-8")
    assert "am Dienstag" in text
    target.write_text(text.replace("am Dienstag", "am Mittwoch", 1), encoding="utf-8")
    updated = index_paths([corpus], settings=settings)
    assert updated.updated == 1 and updated.reused_chunks > 0
    after = _sentence_state(settings)
    changed_article = next(f.article_id for f in updated.files if f.status == "updated")
    gone = set(before) - set(after)
    assert gone and all(c.startswith(changed_article) for c in gone)
    assert store.sentence_vectors(sorted(gone)) == {}
    # Reused chunks keep their stored sentence vectors (Chroma re-normalises on write).
    for chunk_id in set(before) & set(after):
        np.testing.assert_allclose(after[chunk_id], before[chunk_id], atol=1e-6)
    assert any("am Mittwoch" in c.text for c in store.iter_chunks())

    # --prune removes a deleted file's article with its sentence vectors.
    removed_id = next(f.article_id for f in updated.files if f.path.name == FEW[2])
    assert any(c.startswith(removed_id) for c in after)
    (corpus / FEW[2]).unlink()
    pruned = index_paths([corpus], settings=settings, prune=True)
    assert pruned.removed == 1
    left = _sentence_state(settings)
    assert left and not any(c.startswith(removed_id) for c in left)

    # --rebuild drops them with the rest and stores them again.
    rebuilt = index_paths([corpus], settings=settings, rebuild=True)
    default_engine(settings).invalidate()
    assert rebuilt.added == len(FEW) - 1
    assert set(_sentence_state(settings)) == set(left)


def test_same_extractive_answer_as_question_time_embedding(sample_index) -> None:
    for question, needle in LITERAL:
        _fresh_question_state(sample_index)
        stored = ask(question, settings=sample_index)
        _fresh_question_state(sample_index)
        with mock.patch.object(ChunkStore, "sentence_vectors", lambda self, ids: {}):
            embedded = ask(question, settings=sample_index)
        assert stored.citations and embedded.citations, question
        # Contextual vectors may prefer another sentence stating the same fact: the
        # fact itself must be the one question-time embedding finds.
        assert needle in stored.citations[0].quote, (question, stored.citations[0].quote)
        assert needle in embedded.citations[0].quote, question
        assert stored.outcome is embedded.outcome, question


def test_separately_embedded_stored_vectors_give_identical_evidence(
    make_settings, tmp_path: Path
) -> None:
    # With the "separate" method the stored vectors are exactly what question time
    # computes, so every sentence score must agree: this checks the row order end to end.
    from qa.answering import gather_evidence

    settings = make_settings()
    corpus = copy_articles(FEW, tmp_path / "corpus")
    with mock.patch("index.embedding.sentence_method", lambda _embedder: "separate"):
        index_paths([corpus], settings=settings)
    index = default_engine(settings).index()
    questions = [
        "When could humans land on Mars?",
        "Who is Putin's envoy for international cooperation?",
        "Welche Nachrichtenagentur zitierte Dmitriev?",
    ]
    for question in questions:
        _fresh_question_state(settings)
        evidence = gather_evidence(question, index=index, settings=settings)
        hits, stored = evidence.hits, evidence.scored
        _fresh_question_state(settings)
        with mock.patch.object(ChunkStore, "sentence_vectors", lambda self, ids: {}):
            again = gather_evidence(question, index=index, settings=settings)
            hits2, embedded = again.hits, again.scored
        assert [h.chunk.id for h in hits] == [h.chunk.id for h in hits2]
        assert [s.text for s in stored] == [s.text for s in embedded]
        np.testing.assert_allclose(
            [s.score for s in stored], [s.score for s in embedded], atol=1e-5
        )


def test_index_built_before_sentence_vectors_still_answers(
    make_settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    corpus = copy_articles(FEW, tmp_path / "corpus")
    index_paths([corpus], settings=settings)
    # An old index: no sentence collection (chunks without n_sentences are the same case).
    store = default_engine(settings).index().store
    store._client.delete_collection(f"{settings.collection}-sentences")
    default_engine(settings).invalidate()

    caplog.set_level(logging.INFO, logger="index.store")
    for _ in range(2):
        _fresh_question_state(settings)
        answer = ask("When could humans land on Mars?", settings=settings)
        assert answer.citations and "2029" in answer.citations[0].quote
    notes = [r for r in caplog.records if "without stored sentence vectors" in r.getMessage()]
    assert len(notes) == 1

    # Re-indexing the unchanged articles still embeds nothing.
    default_engine(settings).invalidate()
    again = index_paths([corpus], settings=settings)
    assert again.embedded_chunks == 0


@pytest.mark.slow
@pytest.mark.parametrize("delay", [4.0, 8.0])
def test_kill_9_during_indexing_then_rerun_keeps_sentence_vectors_consistent(
    make_settings, delay: float
) -> None:
    settings = make_settings()
    env = {
        **os.environ,
        "QA_DATA_DIR": str(settings.data_dir),
        "QA_MODEL_DIR": str(settings.model_dir),
        "QA_INDEX_BATCH": "1",  # one article per write: the kill lands inside or between
    }
    # `python -m` from the checkout: this checkout's code, whichever one the venv's
    # `qa` script was installed from.
    cmd = [sys.executable, "-m", "qa.cli", "index", "-q", str(SAMPLES)]
    run = {"env": env, "cwd": ROOT}
    proc = subprocess.Popen(cmd, **run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    rerun = subprocess.run(cmd, **run, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    default_engine(settings).invalidate()
    vectors = _sentence_state(settings)
    manifest = default_engine(settings).index().store.manifest()
    assert len(manifest) == len(list(SAMPLES.glob("*.txt")))
    assert sum(e.n_chunks for e in manifest.values()) == len(vectors)
    again = subprocess.run(cmd, **run, capture_output=True, text=True)
    assert "0 chunks embedded" in again.stdout
    default_engine(settings).invalidate()
    assert _sentence_state(settings).keys() == vectors.keys()
