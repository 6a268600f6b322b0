"""The whole bench: what to run (:class:`BenchConfig`) and :func:`run_bench`."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.answers import bench_extractive, bench_llm, llm_unavailable
from eval.bench.common import (
    DEFAULT_SIZES,
    LLM_QUESTIONS,
    QUESTIONS,
    QUICK_ARTICLES,
    QUICK_QUESTIONS,
    BenchError,
    Log,
)
from eval.bench.indexing import bench_indexing
from eval.bench.machine import busy_at_start_note, cpu_snapshot, finish_machine_info, machine_info
from eval.bench.processes import cold_start
from eval.bench.realtext import (
    NOT_MEASURED,
    RealTextJob,
    bench_real_text,
    default_xquad_dir,
    load_corpus,
    skip_note,
)
from eval.bench.report import check_targets, headline
from eval.bench.retrieval import ScaleJob, bench_server, bench_size
from eval.bench.scale import sentence_vectors
from eval.synthetic import SentencePool
from index.articles import load_articles
from index.embedding import Embedder, load_embedder
from qa.engine import close_default_engines, default_engine
from qa.settings import Settings

SYNTHETIC_NOTE = (
    "retrieval at scale uses a synthetic corpus recombined from the sample sentences; "
    "a synthetic chunk's vector is the normalised mean of its sentences' embeddings "
    "(each distinct sentence embedded once). Retrieval latency does not depend on how "
    "the vectors were computed; indexing throughput is measured on real embeddings "
    "of the sample corpus."
)


@dataclass(frozen=True)
class BenchConfig:
    """What ``qa bench`` runs.

    Attributes:
        sizes: Corpus sizes (chunks) for the retrieval latency.
        repeat: Runs of each timed step (passes over the questions for latencies).
        quick: Tiny corpus subset, one small size, few questions; no LLM, server or
            cold start (a smoke test that finishes in well under a minute on an idle
            2-core machine).
        llm: Measure the local LLM (when installed).
        server: Measure retrieval against a ``chroma run`` server.
        reuse: Folder keeping the scale indexes between runs, or None.
        seed: Synthetic corpus seed.
        real_text: Measure the real-text point (XQuAD German paragraphs + samples);
            skipped under ``quick`` and when the XQuAD folder is missing.
        xquad: The XQuAD folder (default: ``../shared/data/xquad`` beside the checkout).
        real_text_limit: XQuAD paragraphs indexed (None: all of them).
    """

    sizes: tuple[int, ...] = DEFAULT_SIZES
    repeat: int = 3
    quick: bool = False
    llm: bool = True
    server: bool = True
    reuse: Path | None = None
    seed: int = 0
    real_text: bool = True
    xquad: Path | None = None
    real_text_limit: int | None = None


def sample_paths(quick: bool) -> list[Path]:
    """The bundled sample article files (the first few under ``--quick``)."""
    from qa.cli import sample_articles_dir

    files = sorted(sample_articles_dir().glob("*.txt"))
    return files[:QUICK_ARTICLES] if quick else files


def _llm_skipped(config: BenchConfig, sample: Settings) -> str | None:
    """Why the LLM figures are not taken, or None when they are."""
    if config.quick:
        return "skipped under --quick"
    if not config.llm:
        return "skipped (--no-llm)"
    return llm_unavailable(sample)


def _load_embedder(base: Settings, details: dict[str, Any], log: Log) -> Embedder:
    t = time.perf_counter()
    embedder = default_engine(base).embedder()
    details["embedder_load_s"] = time.perf_counter() - t
    details["embedder"] = embedder.identity
    log(f"embedder {embedder.identity} loaded in {details['embedder_load_s']:.1f}s")
    return embedder


def _bench_answers(
    config: BenchConfig, sample: Settings, questions: tuple[str, ...], details: dict, log: Log
) -> str | None:
    """Extractive and LLM answers on the sample index; returns why the LLM was skipped."""
    log("extractive answers")
    details["extractive"] = bench_extractive(sample, questions=questions, repeat=config.repeat)
    reason = _llm_skipped(config, sample)
    if reason is None:
        log("LLM answers")
        details["llm"] = bench_llm(sample, questions=QUESTIONS, n=LLM_QUESTIONS, log=log)
    return reason


def _bench_scale(
    config: BenchConfig, job: ScaleJob, work: Path, details: dict, notes: list[str], log: Log
) -> None:
    """Retrieval at every size, then once against a ``chroma run`` server."""
    scale: dict[str, Any] = {}
    for size in sorted(set(config.sizes)):
        scale[str(size)] = figures = bench_size(job, size, log)
        if figures["reindex_embedded_chunks"]:
            notes.append(
                f"FAIL: re-indexing the unchanged {figures['chunks']}-chunk corpus "
                f"embedded {figures['reindex_embedded_chunks']} chunks (expected 0)"
            )
    details["scale"] = scale
    details["sentence_vectors"]["embedded_total"] = job.vectors.embedded
    if not config.server or config.quick:
        why = "skipped under --quick" if config.quick else "--no-server"
        notes.append(f"server figures not measured: {why}")
        return
    try:
        details["server"] = bench_server(job, min(config.sizes), work, log)
    except BenchError as exc:
        notes.append(f"server figures not measured: {exc}")


def _bench_real_text(
    config: BenchConfig, job: ScaleJob, work: Path, details: dict, notes: list[str], log: Log
) -> None:
    """The real-text point (:mod:`eval.bench.realtext`), or a note saying why not."""
    folder = config.xquad or default_xquad_dir()
    skipped = skip_note(quick=config.quick, enabled=config.real_text, folder=folder)
    if skipped:
        notes.append(skipped)
        return
    real = RealTextJob(
        xquad_dir=folder,
        sample_paths=tuple(sample_paths(quick=False)),
        base=job.base,
        work=work,
        repeat=config.repeat,
        k=job.k,
        limit=config.real_text_limit,
    )
    try:
        corpus = load_corpus(real)
    except (FileNotFoundError, ValueError) as exc:
        notes.append(f"{NOT_MEASURED}: {exc}")
        return
    details["real_text"] = figures = bench_real_text(real, corpus, log)
    if figures["reindex_embedded_chunks"]:
        notes.append(
            f"FAIL: re-indexing the unchanged real-text corpus ({figures['chunks']} chunks) "
            f"embedded {figures['reindex_embedded_chunks']} chunks (expected 0)"
        )


def _bench_cold_starts(
    config: BenchConfig, sample: Settings, llm_reason: str | None, details: dict, notes: list
) -> None:
    """Fresh processes: cold start and peak memory, with and without the LLM."""
    # --quick skips them: a second torch + model load would double its run time.
    if config.quick:
        notes.append("cold start and peak RSS not measured: skipped under --quick")
    else:
        details["cold_start"] = cold_start(sample, QUESTIONS[0], generator="extractive")
    if llm_reason is not None:
        return
    details["cold_start_llm"] = cold_llm = cold_start(sample, QUESTIONS[0], generator="llm")
    if cold_llm["generator"] != "llm":
        notes.append(
            f"the LLM subprocess answered with {cold_llm['generator']!r}: its RSS "
            "may not include the model"
        )


def _scale_job(
    config: BenchConfig,
    embedder: Embedder,
    base: Settings,
    root: Path,
    paths: list[Path],
    details: dict,
    log: Log,
) -> ScaleJob:
    """The synthetic corpus and its sentence vectors, shared by every size."""
    from qa.answering import RERANK_POOL

    pool = SentencePool.from_articles(load_articles(paths).articles)
    vectors, details["sentence_vectors"] = sentence_vectors(embedder, pool, config.reuse)
    log(f"{len(vectors)} pool sentences ready ({details['sentence_vectors']['embedded_now']} "
        "embedded now)")  # fmt: skip
    return ScaleJob(
        pool=pool,
        vectors=vectors,
        embedder=embedder,
        base=base,
        root=root,
        seed=config.seed,
        reuse=config.reuse is not None,
        questions=QUESTIONS[:QUICK_QUESTIONS] if config.quick else QUESTIONS,
        repeat=config.repeat,
        k=base.top_k * (RERANK_POOL if base.rerank else 1),
    )


def _naive_embedder(embedder: Embedder, base: Settings, details: dict[str, Any]) -> Embedder:
    """The e5 weights through sentence-transformers (torch), as a naive pipeline runs them.

    Our indexer runs ``QA_EMBEDDING_RUNTIME`` (ONNX Runtime by default); giving the
    baseline the same runtime would hide what the runtime choice buys.
    """
    if base.embedder != "e5" or base.embedding_runtime == "torch":
        details["naive_embedder_runtime"] = "same as ours"
        return embedder
    details["naive_embedder_runtime"] = "torch (sentence-transformers)"
    return load_embedder("e5", base.model_dir, runtime="torch")


def _measure(
    config: BenchConfig, base: Settings, work: Path, details: dict, notes: list, log: Log
) -> tuple[ScaleJob, list[Path]]:
    """Every measurement, in order; returns the scale job and the sample files."""
    embedder = _load_embedder(base, details, log)
    paths = sample_paths(config.quick)
    naive_embedder = _naive_embedder(embedder, base, details)
    details["indexing"], sample = bench_indexing(
        paths,
        embedder=embedder,
        naive_embedder=naive_embedder,
        base=base,
        work=work,
        repeat=config.repeat,
        log=log,
    )
    if details["indexing"]["reindex_embedded_chunks"]:
        notes.append(
            f"FAIL: re-indexing the unchanged corpus embedded "
            f"{details['indexing']['reindex_embedded_chunks']} chunks (expected 0)"
        )
    questions = QUESTIONS[:QUICK_QUESTIONS] if config.quick else QUESTIONS
    llm_reason = _bench_answers(config, sample, questions, details, log)
    if llm_reason is not None:
        notes.append(f"LLM figures not measured: {llm_reason}")
    job = _scale_job(config, embedder, base, config.reuse or work, paths, details, log)
    _bench_scale(config, job, work, details, notes, log)
    _bench_real_text(config, job, work, details, notes, log)
    _bench_cold_starts(config, sample, llm_reason, details, notes)
    return job, paths


def run_bench(config: BenchConfig, settings: Settings, log: Log) -> dict[str, Any]:
    """Run every measurement; returns the results (see :mod:`eval.bench`).

    Args:
        config: What to run.
        settings: Model directory, embedder, top-k and LLM settings; data
            directories are temporary (or under ``config.reuse``).
        log: Progress output.

    Returns:
        A JSON-ready dict: the headline figures at the top level, plus ``details``,
        ``machine``, ``config``, ``notes`` and ``targets``.
    """
    machine = machine_info()
    cpu_start = cpu_snapshot()
    notes = [n for n in (busy_at_start_note(machine),) if n]
    base = settings.with_(
        generator="extractive", chroma_host=None, chroma_port=None, collection="news"
    )
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    details: dict[str, Any] = {}
    try:
        job, paths = _measure(config, base, work, details, notes, log)
    finally:
        close_default_engines()
        shutil.rmtree(work, ignore_errors=True)
    shared = finish_machine_info(machine, cpu_start)
    if shared:
        notes.append(shared)
    results: dict[str, Any] = {"details": details, **headline(details), "machine": machine}
    results["config"] = {
        "sizes": list(config.sizes),
        "repeat": config.repeat,
        "quick": config.quick,
        "seed": config.seed,
        "questions": len(job.questions),
        "retrieval_k": job.k,
        "sample_files": len(paths),
        "reuse": str(config.reuse) if config.reuse else None,
        "real_text": "real_text" in details,
        "real_text_limit": config.real_text_limit,
    }
    results["notes"] = [*notes, SYNTHETIC_NOTE]
    results["targets"] = check_targets(results)
    return results
