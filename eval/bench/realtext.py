"""The real-text scale point: the XQuAD German paragraphs plus the samples, really indexed.

The synthetic sizes of :mod:`eval.bench.scale` time retrieval over recombined sample
sentences with averaged vectors. This point builds a real index instead: every German
XQuAD paragraph (one in-memory article each, :func:`eval.xquad.load_xquad`) plus the
bundled sample articles, embedded by the bench's embedder through the indexer
(:func:`index.indexer.index_articles`, as :func:`eval.runner.index_dataset` indexes a
dataset). It then times extractive answers and hybrid retrieval for a fixed set of
XQuAD ``en-de`` questions (English questions over the German text), each timed as a
new question, and scores whether the right paragraph was retrieved.

The XQuAD data is read at run time from its folder (``../shared/data/xquad`` beside
the checkout by default) and never copied into the project.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.answers import bench_extractive
from eval.bench.common import BenchError, Log, disk_bytes, stats
from eval.bench.indexing import chunks_of, token_counter
from eval.bench.retrieval import retrieval_case
from eval.metrics import recall_at_k
from eval.records import GoldQuestion
from eval.xquad import ENGLISH_FILE, GERMAN_FILE, SHARED_SUBDIR, find_xquad_dir, load_xquad
from index.articles import load_articles
from index.indexer import ChunkParams, IndexReport, index_articles
from index.models import Article
from qa.engine import default_engine
from qa.resources import OpenIndex, lexical_dir
from qa.settings import Settings

#: XQuAD en-de questions timed and scored (spread evenly over the dataset).
REAL_TEXT_QUESTIONS = 40
#: Cut-offs of the paragraph recall.
RECALL_KS = (1, 5)
#: Prefix of every note saying why the point was not measured.
NOT_MEASURED = "real-text point not measured"


def default_xquad_dir() -> Path:
    """The XQuAD folder beside the checkout, or where it would be when there is none."""
    found = find_xquad_dir()
    return found or Path(__file__).resolve().parents[2].parent / SHARED_SUBDIR


def missing_note(folder: Path) -> str | None:
    """The note saying the XQuAD files are missing, or None when both are there."""
    if not folder.is_dir():
        return f"{NOT_MEASURED}: {folder} not found"
    for name in (GERMAN_FILE, ENGLISH_FILE):
        if not (folder / name).is_file():
            return f"{NOT_MEASURED}: {folder / name} not found"
    return None


def skip_note(*, quick: bool, enabled: bool, folder: Path) -> str | None:
    """Why the real-text point is not measured (a note), or None when it is.

    Args:
        quick: The bench runs under ``--quick``.
        enabled: The point was asked for (not ``--no-real-text``).
        folder: The XQuAD folder.
    """
    if quick:
        return f"{NOT_MEASURED}: skipped under --quick"
    if not enabled:
        return f"{NOT_MEASURED}: skipped (--no-real-text)"
    return missing_note(folder)


def spread_questions(
    questions: Sequence[GoldQuestion], n: int, articles: Collection[str] | None = None
) -> tuple[GoldQuestion, ...]:
    """``n`` answerable questions spread evenly over the dataset, in dataset order.

    XQuAD asks five or so questions per paragraph, grouped by topic; evenly spaced
    picks cover every topic instead of the first paragraphs only. Deterministic.

    Args:
        questions: The questions, in dataset order.
        n: How many to pick (all of them when fewer are eligible).
        articles: If given, only questions whose gold articles are all among these ids.

    Returns:
        The picked questions.
    """
    eligible = [
        q
        for q in questions
        if q.article_ids and (articles is None or set(q.article_ids) <= set(articles))
    ]
    if len(eligible) <= n:
        return tuple(eligible)
    return tuple(eligible[i * len(eligible) // n] for i in range(n))


@dataclass(frozen=True)
class RealTextJob:
    """What the real-text point runs.

    Attributes:
        xquad_dir: Folder holding ``xquad.de.json`` and ``xquad.en.json``.
        sample_paths: The bundled sample article files.
        base: Settings the index is derived from (its data dir is replaced).
        work: Scratch folder; the index goes to ``work / "real-text"``.
        repeat: Passes over the questions for the latencies.
        k: Chunks retrieval asks for (what answering asks).
        limit: Keep only the first ``limit`` XQuAD paragraphs (None: all of them).
        questions: XQuAD questions timed and scored.
    """

    xquad_dir: Path
    sample_paths: tuple[Path, ...]
    base: Settings
    work: Path
    repeat: int
    k: int
    limit: int | None = None
    questions: int = REAL_TEXT_QUESTIONS


@dataclass(frozen=True)
class RealCorpus:
    """The articles of the real-text index and the questions asked over it.

    Attributes:
        articles: The XQuAD paragraphs, then the sample articles.
        xquad_articles: How many of them are XQuAD paragraphs.
        questions: The XQuAD en-de questions timed and scored.
    """

    articles: tuple[Article, ...]
    xquad_articles: int
    questions: tuple[GoldQuestion, ...]

    @property
    def sample_articles(self) -> int:
        """How many of the articles are samples."""
        return len(self.articles) - self.xquad_articles


def load_corpus(job: RealTextJob) -> RealCorpus:
    """The XQuAD German paragraphs (the first ``job.limit``), the samples and the questions.

    Raises:
        FileNotFoundError: An XQuAD file is missing.
        ValueError: An XQuAD file is malformed, or no answerable question is left.
        BenchError: A sample file failed to load.
    """
    xquad = load_xquad(job.xquad_dir, "en-de").dataset
    paragraphs = xquad.articles[: job.limit] if job.limit is not None else xquad.articles
    questions = spread_questions(xquad.questions, job.questions, {a.id for a in paragraphs})
    if not questions:
        raise ValueError(f"{job.xquad_dir}: no answerable question in the kept paragraphs")
    samples = load_articles(job.sample_paths)
    if samples.failures:
        raise BenchError(f"sample articles failed to load: {samples.failures}")
    return RealCorpus(
        articles=(*paragraphs, *samples.articles),
        xquad_articles=len(paragraphs),
        questions=questions,
    )


def _index(corpus: RealCorpus, settings: Settings) -> tuple[float, IndexReport]:
    """Index the corpus into ``settings.data_dir``; returns the wall time and the report."""
    t = time.perf_counter()
    store, embedder = default_engine(settings).open_for_writing()
    report = index_articles(
        corpus.articles, store=store, embedder=embedder, lexical_dir=lexical_dir(settings)
    )
    return time.perf_counter() - t, report


def _check_first_index(report: IndexReport, n_chunks: int) -> None:
    """Raise when the first indexing run did not embed (or reuse) every chunk."""
    done = report.embedded_chunks + report.reused_chunks
    if report.failed or done != n_chunks:
        raise BenchError(
            f"the real-text index embedded {report.embedded_chunks} and reused "
            f"{report.reused_chunks} chunks, the bench expected {n_chunks} "
            f"({report.failed} failed)"
        )


def _indexing_figures(
    corpus: RealCorpus, settings: Settings, n_chunks: int, n_tokens: int, passes: int
) -> dict[str, Any]:
    """Index once into a fresh data dir, then re-index the unchanged corpus ``passes`` times."""
    seconds, report = _index(corpus, settings)
    _check_first_index(report, n_chunks)
    again = [_index(corpus, settings) for _ in range(passes)]
    return {
        "index_s": seconds,
        "index_chunks_per_s": n_chunks / seconds,
        "index_tokens_per_s": n_tokens / seconds,
        "embedded_chunks": report.embedded_chunks,
        "reused_chunks": report.reused_chunks,
        "index_stage_s": report.timings,
        "reindex_unchanged_s": stats([s for s, _ in again]),
        "reindex_embedded_chunks": max(r.embedded_chunks for _, r in again),
    }


def paragraph_recall(
    index: OpenIndex, questions: Sequence[GoldQuestion], k: int
) -> dict[str, float]:
    """Recall@1 and @5 of each question's gold paragraph among the hybrid results.

    Args:
        index: The opened real-text index.
        questions: Questions with gold article ids.
        k: Chunks retrieved per question.

    Returns:
        ``{"recall@1": mean, "recall@5": mean}`` over the questions.
    """
    from qa.retrieval import search

    hits = {cut: 0.0 for cut in RECALL_KS}
    for q in questions:
        ids = [r.chunk.article_id for r in search(q.question, index=index, k=k)]
        for cut in RECALL_KS:
            hits[cut] += recall_at_k(ids, q.article_ids, cut)
    return {f"recall@{cut}": hits[cut] / len(questions) for cut in RECALL_KS}


def _question_figures(
    corpus: RealCorpus, settings: Settings, repeat: int, k: int
) -> dict[str, Any]:
    """Extractive answer and hybrid retrieval latency, and the paragraph recall."""
    texts = [q.question for q in corpus.questions]
    extractive = bench_extractive(settings, questions=texts, repeat=repeat, fresh=True)
    index = default_engine(settings).index()
    hybrid = retrieval_case(index, "hybrid", questions=texts, repeat=repeat, k=k)
    return {
        "extractive": extractive,
        "hybrid": hybrid,
        **paragraph_recall(index, corpus.questions, max(k, max(RECALL_KS))),
    }


def bench_real_text(job: RealTextJob, corpus: RealCorpus, log: Log) -> dict[str, Any]:
    """Build the real-text index and measure indexing, answers, retrieval and recall.

    Args:
        job: What to run.
        corpus: Its articles and questions (:func:`load_corpus`).
        log: Progress output.

    Returns:
        The figures of ``details.real_text``.

    Raises:
        BenchError: The indexer did not embed every chunk.
    """
    settings = job.base.with_(data_dir=job.work / "real-text")
    chunks = chunks_of(corpus.articles, ChunkParams())
    count, token_kind = token_counter(default_engine(settings).embedder(), job.base.model_dir)
    log(
        f"real-text index: {corpus.xquad_articles} XQuAD paragraphs + "
        f"{corpus.sample_articles} samples ({len(chunks)} chunks)"
    )
    tokens = count([c.context_text for c in chunks])
    indexing = _indexing_figures(corpus, settings, len(chunks), tokens, max(job.repeat, 3))
    log(f"real-text answers and retrieval: {len(corpus.questions)} XQuAD en-de questions")
    questions = _question_figures(corpus, settings, job.repeat, job.k)
    data = disk_bytes(settings.data_dir)
    default_engine(settings).close()
    return {
        "articles": len(corpus.articles),
        "xquad_articles": corpus.xquad_articles,
        "sample_articles": corpus.sample_articles,
        "chunks": len(chunks),
        "tokens": tokens,
        "token_count": token_kind,
        **indexing,
        **questions,
        "questions": len(corpus.questions),
        "question_ids": [q.id for q in corpus.questions],
        "retrieval_k": job.k,
        "data_mb": data / 1e6,
        "xquad_dir": str(job.xquad_dir),
    }
