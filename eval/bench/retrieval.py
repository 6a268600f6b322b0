"""Retrieval latency and re-indexing at scale, in the embedded store and a ``chroma run`` server.

The indexes are the synthetic ones of :mod:`eval.bench.scale`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.common import RETRIEVAL_CASES, BenchError, Log, disk_bytes, stats
from eval.bench.scale import ScaleIndex, SentenceVectors, build_scale_index
from eval.synthetic import SentencePool
from index.chroma_server import ChromaServerError, chroma_server
from index.embedding import Embedder
from index.indexer import index_articles
from qa.engine import default_engine
from qa.resources import OpenIndex, lexical_dir
from qa.settings import Settings


def retrieval_case(
    index: OpenIndex, case: str, *, questions: Sequence[str], repeat: int, k: int
) -> dict[str, Any]:
    """Latency of one retrieval case over ``repeat`` passes of the questions.

    Args:
        index: The opened index.
        case: A key of :data:`eval.bench.common.RETRIEVAL_CASES`.
        questions: Questions to search for.
        repeat: Passes over the questions.
        k: Chunks asked for.

    Returns:
        Latency stats in ms (each search pays for its query embedding), queries/s,
        the query embedding and the search alone, and the mean number of hits.
    """
    from qa.retrieval import RetrievalParams, search

    mode, filters = RETRIEVAL_CASES[case]
    params = RetrievalParams(mode=mode)
    latencies: list[float] = []
    embeds: list[float] = []
    hits = 0
    for _ in range(repeat):
        for q in questions:
            timings: dict[str, float] = {}
            # Every search pays for its query embedding, as a new question does.
            index.queries.clear()
            t = time.perf_counter()
            found = search(q, index=index, k=k, filters=filters, params=params, timings=timings)
            latencies.append((time.perf_counter() - t) * 1000)
            embeds.append(timings.get("embed_query", 0.0) * 1000)
            hits += len(found)
    return {
        **stats(latencies),
        "qps": 1000 * len(latencies) / sum(latencies),
        "embed_query_p50_ms": stats(embeds)["p50"],
        # The store and BM25 work alone: what grows with the corpus size.
        "search_p50_ms": stats([a - b for a, b in zip(latencies, embeds, strict=True)])["p50"],
        "mean_hits": hits / len(latencies),
    }


def bench_retrieval(
    index: OpenIndex, *, questions: Sequence[str], repeat: int, k: int
) -> dict[str, Any]:
    """Latency of each retrieval case over the questions, ``repeat`` passes.

    Args:
        index: The opened index.
        questions: Questions to search for.
        repeat: Passes over the questions.
        k: Chunks asked for (what answering asks: ``top_k`` × the rerank pool).

    Returns:
        Per case: latency stats in ms (query embedding included, as a user waits for
        it), queries/s, and the query embedding and the search alone.
    """
    from qa.retrieval import search

    out: dict[str, Any] = {}
    # The first query after opening pays for loading the HNSW graph and BM25 arrays
    # (a hybrid query touches both); it is reported apart and warms up the rest.
    t = time.perf_counter()
    search(questions[0], index=index, k=k)
    out["first_query_ms"] = (time.perf_counter() - t) * 1000
    for case in RETRIEVAL_CASES:
        out[case] = retrieval_case(index, case, questions=questions, repeat=repeat, k=k)
    return out


def _reindex_unchanged(built: ScaleIndex, embedder: Embedder, repeat: int) -> tuple[list, int]:
    """Re-index the unchanged synthetic corpus; returns the times and most chunks embedded."""
    store, _ = default_engine(built.settings).open_for_writing()
    times: list[float] = []
    embedded = 0
    for _ in range(repeat):
        t = time.perf_counter()
        report = index_articles(
            built.articles,
            store=store,
            embedder=embedder,
            lexical_dir=lexical_dir(built.settings),
        )
        times.append(time.perf_counter() - t)
        embedded = max(embedded, report.embedded_chunks)
    return times, embedded


@dataclass(frozen=True)
class ScaleJob:
    """What every scale size shares: the corpus, its vectors and the bench's settings."""

    pool: SentencePool
    vectors: SentenceVectors
    embedder: Embedder
    base: Settings
    root: Path
    seed: int
    reuse: bool
    questions: Sequence[str]
    repeat: int
    k: int


def bench_size(job: ScaleJob, size: int, log: Log) -> dict[str, Any]:
    """Build (or reuse) the index of ``size`` chunks and measure retrieval and re-indexing.

    Returns:
        The figures of ``details.scale[size]``.
    """
    settings = job.base.with_(data_dir=job.root / f"scale-{size}-seed{job.seed}")
    built = build_scale_index(
        size,
        pool=job.pool,
        vectors=job.vectors,
        settings=settings,
        seed=job.seed,
        log=log,
        reuse=job.reuse,
    )
    t = time.perf_counter()
    index = default_engine(settings).index()
    open_s = time.perf_counter() - t
    log(f"retrieval latency at {built.chunks} chunks")
    latency = bench_retrieval(index, questions=job.questions, repeat=job.repeat, k=job.k)
    log(f"re-indexing the unchanged {built.chunks}-chunk corpus")
    times, embedded = _reindex_unchanged(built, job.embedder, job.repeat)
    data = disk_bytes(settings.data_dir)
    default_engine(settings).close()
    if job.reuse:
        job.vectors.save()
    return {
        "chunks": built.chunks,
        "articles": len(built.articles),
        "build_s": built.build_s,
        "build_timings_s": built.timings,
        "reused": built.reused,
        "open_s": open_s,
        "retrieval": latency,
        "reindex_unchanged_s": stats(times),
        "reindex_embedded_chunks": embedded,
        "data_mb": data / 1e6,
        "data_mb_per_1k_chunks": data / 1e6 / built.chunks * 1000,
    }


def bench_server(job: ScaleJob, size: int, work: Path, log: Log) -> dict[str, Any]:
    """The same retrieval against a real ``chroma run`` server on loopback.

    Raises:
        BenchError: The server did not come up.
    """
    log(f"retrieval against a `chroma run` server at {size} chunks")
    try:
        with chroma_server(
            work / "server" / "chroma", log_file=work / "server" / "chroma-server.log"
        ) as server:
            log(f"chroma server up on {server.host}:{server.port} after "
                f"{server.start_seconds:.1f}s (pid {server.pid})")  # fmt: skip
            settings = job.base.with_(
                data_dir=work / "server", chroma_host=server.host, chroma_port=server.port
            )
            built = build_scale_index(
                size, pool=job.pool, vectors=job.vectors, settings=settings, seed=job.seed, log=log
            )
            latency = bench_retrieval(
                default_engine(settings).index(),
                questions=job.questions,
                repeat=job.repeat,
                k=job.k,
            )
            default_engine(settings).close()
    except ChromaServerError as exc:
        raise BenchError(str(exc)) from exc
    return {
        "size": size,
        "chunks": built.chunks,
        "start_s": server.start_seconds,
        "build_s": built.build_s,
        "retrieval": latency,
    }
