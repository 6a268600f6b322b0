"""Run the assistant over a dataset and collect one EvalRecord per question."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.dataset import Dataset, GoldQuestion
from eval.metrics import EvalRecord
from index.indexer import index_articles
from qa.answering import gather_evidence
from qa.api import index_paths
from qa.engine import Engine, default_engine
from qa.errors import QAError
from qa.filters import Filters
from qa.followup import rewrite_heuristic
from qa.resources import lexical_dir
from qa.retrieval import RetrievalParams
from qa.settings import Settings


def index_dataset(dataset: Dataset, settings: Settings, engine: Engine | None = None) -> None:
    """Index the dataset's corpus into ``settings.data_dir`` (idempotent).

    ``engine`` embeds (default: the default engine for ``settings``).
    """
    engine = engine or default_engine(settings)
    if dataset.corpus_paths:
        report = index_paths(list(dataset.corpus_paths), settings=settings, engine=engine)
    else:
        store, embedder = engine.open_for_writing()
        report = index_articles(
            dataset.articles, store=store, embedder=embedder, lexical_dir=lexical_dir(settings)
        )
    if report.failed:
        bad = "; ".join(f"{f.path}: {f.reason}" for f in report.files if f.status == "failed")
        raise ValueError(f"the dataset's corpus has bad articles: {bad}")


def select(
    dataset: Dataset, *, split: str | None = None, limit: int | None = None
) -> list[GoldQuestion]:
    """The questions of a split (``dev``, ``test`` or all), first ``limit`` of them."""
    questions = list(dataset.questions if split in (None, "all") else dataset.split(split))
    return questions[:limit] if limit else questions


def run(
    questions: Sequence[GoldQuestion],
    *,
    settings: Settings,
    retrieval: RetrievalParams | None = None,
    progress: Callable[[int, int], None] | None = None,
    retrieval_only: bool = False,
    engine: Engine | None = None,
) -> list[EvalRecord]:
    """Ask every question and record what happened.

    Retrieval metrics score the ranking the answer itself used (``Answer.ranked``,
    at least ten deep); the answer uses the usual ``top_k`` chunks.

    Args:
        questions: Gold questions to ask.
        settings: The configuration under test (generator, thresholds…).
        retrieval: Retrieval knobs (mode for baselines).
        progress: Called as ``progress(done, total)``.
        retrieval_only: Skip answering (retrieval metrics only; fast).
        engine: The engine answering (default: the default engine for ``settings``);
            ``settings`` are its answer settings for this run.

    Returns:
        One record per question, in order.
    """
    engine = engine or default_engine(settings)
    settings = engine.settings_for(settings)
    index = engine.index()
    records = []
    for i, q in enumerate(questions):
        history = q.history_messages()
        try:
            if retrieval_only:
                # No answer: score the ranking the answer path would use, ten deep.
                evidence = gather_evidence(
                    rewrite_heuristic(q.question, history),
                    index=index,
                    settings=settings,
                    filters=Filters(),
                    params=retrieval,
                )
                record = EvalRecord.from_question(
                    q,
                    retrieved_article_ids=[h.chunk.article_id for h in evidence.ranked],
                    retrieved_chunk_texts=[h.chunk.text for h in evidence.ranked],
                )
            else:
                # The retrieval metrics score the ranking this very answer used.
                answer = engine.ask(
                    q.question, history=history, settings=settings, retrieval=retrieval
                )
                record = EvalRecord.from_answer(q, answer)
        except QAError as exc:
            record = EvalRecord.from_question(q, error=str(exc))
        records.append(record)
        if progress:
            progress(i + 1, len(questions))
    return records


def git_commit() -> str:
    """Short hash of the checkout's HEAD, or "" outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        return ""


def llm_identity(settings: Settings, generator: str) -> str:
    """Which LLM a generator runs: local GGUF name and hash, server model, or "".

    Args:
        settings: The configuration.
        generator: ``llm``/``naive-rag`` (local llama.cpp), ``openai`` or ``extractive``.

    Returns:
        ``"<model>@sha256:<16 hex>"`` for the local LLM, ``"openai:<model>"`` for a
        server, ``""`` without an LLM.
    """
    if generator in ("llm", "naive-rag"):
        from qa.llm_assets import get_asset

        return f"{settings.llm_model}@sha256:{get_asset(settings.llm_model).sha256[:16]}"
    if generator == "openai":
        return f"openai:{settings.openai_model or ''}"
    return ""


def run_meta(
    settings: Settings,
    *,
    mode: str,
    dataset: Dataset,
    engine: Engine | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Settings, model identities and git commit recorded with a run."""
    engine = engine or default_engine(settings)
    return {
        "mode": mode,
        "dataset": dataset.name,
        "embedder": engine.index().embedder.identity,
        "llm": llm_identity(settings, mode),
        "git_commit": git_commit(),
        "top_k": settings.top_k,
        "rerank": settings.rerank,
        "abstain_threshold": settings.abstain_threshold,
        **extra,
    }
