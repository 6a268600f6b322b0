"""``qa bench``: the performance harness (registered as a qa command).

What it measures, each over ``--repeat`` runs where repeating makes sense (median
and p95 reported):

* **Indexing** of the sample corpus into a fresh temporary data dir
  (``index_s``: :func:`index.indexer.index_paths`, i.e. parse, chunk, embed, write,
  BM25), against the embedder alone on exactly the chunks the indexer embeds
  (``embed_only_s``) and a naive LangChain pipeline with the same embedding model
  (``naive_index_s``: ``RecursiveCharacterTextSplitter(1000, 200)`` +
  ``Chroma.from_documents``). Re-indexing the unchanged corpus (``reindex_unchanged_s``)
  must embed nothing; the harness checks it.
* **Retrieval latency** (dense, lexical, hybrid, hybrid with a date+source filter) at
  several corpus sizes built from a deterministic synthetic corpus
  (:mod:`eval.synthetic`), in the embedded store and once against a real
  ``chroma run`` server.
* **Answer latency**: extractive, and the local LLM's time to first token and total.
* **Cold start** of ``qa ask --json`` in a subprocess, **peak RSS** of that process
  with and without the LLM, and the **data dir size** per 1 000 chunks.

Synthetic chunk vectors: embedding 100 000 chunks on 2 CPU cores would take hours,
so a synthetic chunk's vector is the normalised mean of the embeddings of its
sentences (each distinct sample sentence is embedded once, with the passage prompt,
and cached). Retrieval latency does not depend on how the vectors were computed
(HNSW search cost depends on the count and dimension of the vectors, BM25 on the
text); indexing throughput is measured separately, on real embeddings.

Outputs ``bench.json``, ``bench.md`` and ``bench.png`` in ``runs/bench/<time>/`` (or
``--out``) and prints a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eval.naive import langchain_embeddings, naive_documents
from eval.runner import git_commit
from eval.synthetic import (
    SOURCES,
    SYNTHETIC_VERSION,
    SentencePool,
    iter_synthetic_articles,
)
from index.articles import load_articles
from index.chunking import chunk_article, split_sentences
from index.embedding import E5_DIR_NAME, Embedder
from index.indexer import ChunkParams, index_articles, refresh_lexical
from index.models import Article, Chunk
from index.store import drop_index
from qa.api import index_paths
from qa.engine import close_default_engines, default_engine
from qa.filters import Filters
from qa.fusion import FusionMode
from qa.resources import OpenIndex, lexical_dir, store_location
from qa.settings import Settings

#: Keys ``--json`` always prints (None only where a figure was skipped, with a note).
REQUIRED_KEYS = (
    "index_s",
    "naive_index_s",
    "embed_only_s",
    "index_chunks_per_s",
    "reindex_unchanged_s",
    "hybrid_p50_ms",
    "extractive_p50_ms",
    "ttft_p50_s",
    "answer_p50_s",
    "peak_rss_mb_llm",
)

DEFAULT_SIZES = (1_000, 10_000)
QUICK_SIZES = (300,)
QUICK_ARTICLES = 3  # sample files used by --quick (the Mars/Moon stories)
QUICK_QUESTIONS = 3  # questions used by --quick (the first ones: about those stories)

#: Questions for retrieval and extractive latency: English and German, over the samples.
QUESTIONS = (
    "When could humans land on Mars?",
    "Who offered a nuclear power plant for Musk's Mars mission?",
    "Was bot Russland für die Mars-Mission an?",
    "Wie hoch schätzt Musk die Chancen für den Starship-Flug zum Mars ein?",
    "How much more will the Nordlicht wind farm cost?",
    "Wie viele Menschen starben beim Hochwasser im Piemont?",
    "What did the ECB decide about the deposit rate?",
    "Wer gewann den Berlin-Marathon mit Weltrekord?",
    "How high was inflation in March?",
    "Wann wurde das Klanghaus in Marlingen eröffnet?",
)
LLM_QUESTIONS = 3

#: The "hybrid with a date+source filter" case: two of seven years, one of four sources.
FILTERED = Filters(
    since=datetime(2023, 1, 1, tzinfo=UTC),
    until=datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
    source=SOURCES[0],
)
RETRIEVAL_CASES: dict[str, tuple[FusionMode, Filters]] = {
    "dense": (FusionMode.DENSE, Filters()),
    "lexical": (FusionMode.LEXICAL, Filters()),
    "hybrid": (FusionMode.HYBRID, Filters()),
    "hybrid_filtered": (FusionMode.HYBRID, FILTERED),
}

#: Targets from the performance issue: (figure, comparison, threshold, description).
TARGETS = (
    ("naive_over_index", ">=", 3.0, "indexing ≥ 3× faster than the naive LangChain pipeline"),
    ("embed_only_over_index", ">=", 0.7, "embed_only / index ≥ 0.7 (little overhead)"),
    ("reindex_unchanged_100k_s", "<", 10.0, "re-index of an unchanged 100k-chunk corpus < 10 s"),
    ("hybrid_100k_p50_ms", "<", 50.0, "hybrid retrieval p50 < 50 ms at 100k chunks"),
    # Over the first pass only: new questions, whose sentences are not cached yet.
    ("extractive_first_pass_p50_ms", "<", 300.0, "extractive answer p50 < 300 ms (new questions)"),
    ("ttft_p50_s", "<", 6.0, "LLM time to first token p50 < 6 s"),
    ("answer_p50_s", "<", 15.0, "LLM answer total p50 < 15 s"),
    ("peak_rss_mb_llm", "<", 4096.0, "peak RSS with the LLM < 4 GB"),
)

_SCALE_GROUP = 2_000  # chunks per write_articles call when building scale indexes
_CHILD_TIMEOUT = 600.0
_SERVER_START_TIMEOUT = 60.0


class BenchError(RuntimeError):
    """A measurement could not be taken (the message says which and why)."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def stats(values: Sequence[float]) -> dict[str, Any]:
    """Median, p95, min, max and count of some measurements.

    Args:
        values: The measurements (any unit).

    Returns:
        ``{"p50", "p95", "min", "max", "n"}``; the statistics are None when empty.
    """
    if not values:
        return {"p50": None, "p95": None, "min": None, "max": None, "n": 0}
    arr = np.asarray(values, dtype=float)
    return {
        "p50": float(np.median(arr)),
        "p95": float(np.percentile(arr, 95)),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": len(values),
    }


def _disk_bytes(path: Path) -> int:
    # Allocated blocks, like `du`: Chroma preallocates, so apparent sizes would mislead.
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _read_first(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def cpu_snapshot() -> tuple[float, float, float]:
    """``(busy, total, own)`` CPU seconds: all CPUs per ``/proc/stat``, and this process's.

    ``own`` includes waited-for children (the subprocesses and the Chroma server), so
    ``busy - own`` between two snapshots is what other processes used meanwhile.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        values = [0] * 8
    hz = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle + iowait; steal counts as taken by others
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return (sum(values) - idle) / hz, sum(values) / hz, own


# The CPU features that decide which kernels llama.cpp, torch and onnxruntime run.
_REPORTED_FLAGS = frozenset(
    {"avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
     "avx512_bf16", "avx512vbmi", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}
)  # fmt: skip


def cpu_kind(flags: set[str]) -> str:
    """``AVX-512+AMX``, ``AVX-512``, ``AVX2`` or ``older`` from /proc/cpuinfo flags."""
    if "avx512f" in flags:
        return "AVX-512+AMX" if "amx_tile" in flags else "AVX-512"
    return "AVX2" if "avx2" in flags else "older"


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return int(torch.get_num_threads())


def machine_info() -> dict[str, Any]:
    """CPU, memory, load and library versions of this machine, for the report."""
    mem_kb = _read_first("/proc/meminfo", "MemTotal")
    cpu_max = None
    with suppress(OSError):
        cpu_max = Path("/sys/fs/cgroup/cpu.max").read_text().strip()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = git_commit()
    flags = set((_read_first("/proc/cpuinfo", "flags") or "").split())
    return {
        "cpu_model": _read_first("/proc/cpuinfo", "model name") or platform.processor(),
        "cpu_kind": cpu_kind(flags),
        "cpu_flags": sorted(flags & _REPORTED_FLAGS),
        "torch_threads": _torch_threads(),
        "cpu_cores": os.cpu_count(),
        "cpu_usable": usable,
        "cgroup_cpu_max": cpu_max,
        "ram_gb": round(int(mem_kb.split()[0]) / 1024**2, 1) if mem_kb else None,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "chromadb": _version("chromadb"),
        "sentence_transformers": _version("sentence-transformers"),
        "langchain_chroma": _version("langchain-chroma"),
        "bm25s": _version("bm25s"),
        "llama_cpp_python": _version("llama_cpp_python"),
        "git_commit": commit,
    }


def token_counter(
    embedder: Embedder, model_dir: Path
) -> tuple[Callable[[Sequence[str]], int], str]:
    """A function counting tokens of texts, and what it counts.

    Uses the embedder's tokenizer when it exposes one, else the e5 model's
    ``tokenizer.json``, else whitespace-separated words.

    Args:
        embedder: The embedder in use.
        model_dir: The models directory (holding the e5 model).

    Returns:
        ``(count, description)``.
    """
    tokenizer = getattr(embedder, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "encode"):
        return (
            lambda texts: sum(len(tokenizer.encode(t)) for t in texts),
            "embedder tokenizer",
        )
    path = Path(model_dir) / E5_DIR_NAME / "tokenizer.json"
    if path.exists():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        return (
            lambda texts: sum(
                len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)
            ),
            "e5 tokenizer (tokenizer.json; no special tokens, no prompt)",
        )
    return (lambda texts: sum(len(t.split()) for t in texts), "whitespace words")


class Log:
    """Progress lines on stderr with the elapsed time (stdout stays for results)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        """Print one progress line."""
        print(
            f"[{time.perf_counter() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True
        )


# ---------------------------------------------------------------------------
# The naive LangChain baseline
# ---------------------------------------------------------------------------


def naive_index(articles: Sequence[Article], embedder: Embedder, persist_dir: Path) -> int:
    """Index articles the naive LangChain way; returns the number of chunks.

    Splitting, embedding (same model, through a LangChain adapter) and
    ``Chroma.from_documents`` into a persistent directory, as a tutorial would.
    """
    from langchain_chroma import Chroma

    # chromadb's Settings as langchain_chroma re-exports it: this module measures the
    # baseline through its own API and keeps `import chromadb` confined to index/store.py.
    from langchain_chroma.vectorstores import Settings as ChromaSettings

    docs = naive_documents(articles)
    Chroma.from_documents(
        docs,
        embedding=langchain_embeddings(embedder),
        collection_name="naive",
        persist_directory=str(persist_dir),
        client_settings=ChromaSettings(anonymized_telemetry=False),
    )
    return len(docs)


# ---------------------------------------------------------------------------
# Indexing the sample corpus
# ---------------------------------------------------------------------------


def _chunks_of(articles: Sequence[Article], params: ChunkParams) -> list[Chunk]:
    return [
        c
        for a in articles
        for c in chunk_article(
            a,
            target_chars=params.target_chars,
            max_chars=params.max_chars,
            overlap_sentences=params.overlap_sentences,
        )
    ]


def bench_indexing(
    paths: Sequence[Path],
    *,
    embedder: Embedder,
    base: Settings,
    work: Path,
    repeat: int,
    log: Log,
) -> tuple[dict[str, Any], Settings]:
    """Index the sample files ``repeat`` times against the embedder alone and LangChain.

    Args:
        paths: Article files.
        embedder: The loaded embedder.
        base: Settings the temporary indexes are derived from.
        work: Scratch folder (one data dir per run).
        repeat: Runs of each pipeline.
        log: Progress output.

    Returns:
        The figures, and settings of the last built index (kept for the answer benches).

    Raises:
        BenchError: A file failed to load or the counts of embedded chunks disagree.
    """
    params = ChunkParams()
    loaded = load_articles(paths)
    if loaded.failures:
        raise BenchError(f"sample articles failed to load: {loaded.failures}")
    articles = loaded.articles
    chunks = _chunks_of(articles, params)
    texts = [c.context_text for c in chunks]
    naive_docs = naive_documents(articles)
    count_tokens, token_kind = token_counter(embedder, base.model_dir)
    tokens = count_tokens(texts)
    naive_tokens = count_tokens([d.page_content for d in naive_docs])

    # Warm-up, untimed: first Chroma client, first torch forward pass and the lazy
    # imports would otherwise all be charged to whichever pipeline runs first.
    warm = base.with_(data_dir=work / "warm-up")
    store, _ = default_engine(warm).open_for_writing()
    index_articles(articles[:1], store=store, embedder=embedder, lexical_dir=lexical_dir(warm))
    naive_index(articles[:1], embedder, work / "warm-up-naive")

    runs: dict[str, list[float]] = {
        k: [] for k in ("index", "embed_only", "naive", "write_only", "lexical_only")
    }
    stages: dict[str, list[float]] = {}
    settings = base
    for r in range(repeat):
        log(f"indexing {len(articles)} articles ({len(chunks)} chunks), run {r + 1}/{repeat}")
        settings = base.with_(data_dir=work / f"index-{r}")
        t = time.perf_counter()
        report = index_paths(paths, settings=settings)
        runs["index"].append(time.perf_counter() - t)
        if report.failed or report.embedded_chunks != len(chunks):
            raise BenchError(
                f"the indexer embedded {report.embedded_chunks} chunks, the bench expected "
                f"{len(chunks)} (failed files: {report.failed})"
            )
        for stage, seconds in report.timings.items():
            stages.setdefault(stage, []).append(seconds)

        t = time.perf_counter()
        vectors = embedder.embed_passages(texts)
        runs["embed_only"].append(time.perf_counter() - t)

        # The store write and the BM25 build alone, with the vectors just computed:
        # together with embed_only this accounts for where index_s goes.
        only = base.with_(data_dir=work / f"write-only-{r}")
        store_only, _ = default_engine(only).open_for_writing()
        t = time.perf_counter()
        store_only.bump_generation()
        by_article: dict[str, list[Chunk]] = {}
        for c in chunks:
            by_article.setdefault(c.article_id, []).append(c)
        store_only.write_articles(
            articles,
            by_article,
            {c.id: v for c, v in zip(chunks, vectors, strict=True)},
            params.signature,
        )
        runs["write_only"].append(time.perf_counter() - t)
        t = time.perf_counter()
        refresh_lexical(store_only, lexical_dir(only))
        runs["lexical_only"].append(time.perf_counter() - t)

        t = time.perf_counter()
        n_naive = naive_index(articles, embedder, work / f"naive-{r}")
        runs["naive"].append(time.perf_counter() - t)

    log("re-indexing the unchanged corpus")
    reindex: list[float] = []
    reindex_embedded = 0
    for _ in range(max(repeat, 3)):
        t = time.perf_counter()
        report = index_paths(paths, settings=settings)
        reindex.append(time.perf_counter() - t)
        reindex_embedded = max(reindex_embedded, report.embedded_chunks)

    s = {k: stats(v) for k, v in runs.items()}
    index_s, embed_s, naive_s = s["index"]["p50"], s["embed_only"]["p50"], s["naive"]["p50"]
    sample_bytes = _disk_bytes(settings.data_dir)
    figures = {
        "corpus_articles": len(articles),
        "corpus_chunks": len(chunks),
        "corpus_tokens": tokens,
        "naive_chunks": n_naive,
        "naive_tokens": naive_tokens,
        "token_count": token_kind,
        "index_s": index_s,
        "index_s_p95": s["index"]["p95"],
        "embed_only_s": embed_s,
        "embed_only_s_p95": s["embed_only"]["p95"],
        "naive_index_s": naive_s,
        "naive_index_s_p95": s["naive"]["p95"],
        "write_only_s": s["write_only"]["p50"],
        "lexical_only_s": s["lexical_only"]["p50"],
        "index_stage_p50_s": {k: stats(v)["p50"] for k, v in stages.items()},
        "naive_over_index": naive_s / index_s,
        "embed_only_over_index": embed_s / index_s,
        # Best-of-N ratios: on a shared machine the least-disturbed runs compare better.
        "naive_over_index_best": s["naive"]["min"] / s["index"]["min"],
        "embed_only_over_index_best": s["embed_only"]["min"] / s["index"]["min"],
        "index_s_min": s["index"]["min"],
        "embed_only_s_min": s["embed_only"]["min"],
        "naive_index_s_min": s["naive"]["min"],
        "index_chunks_per_s": len(chunks) / index_s,
        "index_tokens_per_s": tokens / index_s,
        "embed_only_chunks_per_s": len(chunks) / embed_s,
        "embed_only_tokens_per_s": tokens / embed_s,
        "naive_chunks_per_s": n_naive / naive_s,
        "naive_tokens_per_s": naive_tokens / naive_s,
        "reindex_unchanged_s": stats(reindex)["p50"],
        "reindex_unchanged_s_p95": stats(reindex)["p95"],
        "reindex_embedded_chunks": reindex_embedded,
        "sample_data_mb": sample_bytes / 1e6,
        "sample_data_mb_per_1k_chunks": sample_bytes / 1e6 / len(chunks) * 1000,
        "repeats": repeat,
        "runs_s": {k: v for k, v in runs.items()},
    }
    return figures, settings


# ---------------------------------------------------------------------------
# Synthetic scale indexes
# ---------------------------------------------------------------------------


class SentenceVectors:
    """Embeddings of sentences, each computed once; synthetic chunk vectors from them.

    Args:
        embedder: Embeds missing sentences (passage prompt).
        cache: Folder to load/save the vectors (``--reuse``), or None.
    """

    def __init__(self, embedder: Embedder, cache: Path | None = None) -> None:
        self._embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}
        self._cache = cache
        self.embedded = 0
        if cache is not None and (cache / "sentences.json").exists():
            sentences = json.loads((cache / "sentences.json").read_text(encoding="utf-8"))
            matrix = np.load(cache / "vectors.npy")
            if len(sentences) == len(matrix):
                self._vectors = dict(zip(sentences, matrix, strict=True))

    def __len__(self) -> int:
        return len(self._vectors)

    def ensure(self, sentences: Iterable[str]) -> int:
        """Embed the sentences not seen before, in one batch; returns how many."""
        missing = list(dict.fromkeys(s for s in sentences if s not in self._vectors))
        if missing:
            vectors = self._embedder.embed_passages(missing)
            self._vectors.update(zip(missing, vectors, strict=True))
            self.embedded += len(missing)
        return len(missing)

    def chunk_vectors(self, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
        """The normalised mean of each chunk's sentence vectors, by chunk id."""
        units = {c.id: split_sentences(c.text) or [c.text] for c in chunks}
        # Joining sentences can occasionally merge two at an abbreviation-like boundary;
        # such units are simply embedded here (and counted in `embedded`).
        self.ensure(s for parts in units.values() for s in parts)
        out = {}
        for chunk_id, parts in units.items():
            mean = np.mean([self._vectors[s] for s in parts], axis=0)
            out[chunk_id] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return out

    def save(self) -> None:
        """Write the vectors to the cache folder (no-op without one)."""
        if self._cache is None:
            return
        self._cache.mkdir(parents=True, exist_ok=True)
        sentences = list(self._vectors)
        np.save(self._cache / "vectors.npy", np.stack([self._vectors[s] for s in sentences]))
        (self._cache / "sentences.json").write_text(
            json.dumps(sentences, ensure_ascii=False), encoding="utf-8"
        )


@dataclass
class ScaleIndex:
    """A synthetic index of about ``size`` chunks."""

    size: int
    settings: Settings
    articles: list[Article]
    chunks: int
    build_s: float | None
    reused: bool
    timings: dict[str, float] = field(default_factory=dict)


def synthetic_corpus(
    pool: SentencePool, size: int, *, seed: int, params: ChunkParams
) -> Iterator[tuple[Article, tuple[Chunk, ...]]]:
    """Synthetic articles with their chunks until at least ``size`` chunks are made."""
    total = 0
    for article in iter_synthetic_articles(pool, seed=seed):
        if total >= size:
            return
        chunks = tuple(_chunks_of([article], params))
        total += len(chunks)
        yield article, chunks


def build_scale_index(
    size: int,
    *,
    pool: SentencePool,
    vectors: SentenceVectors,
    settings: Settings,
    seed: int,
    log: Log,
    reuse: bool = False,
) -> ScaleIndex:
    """Build (or reuse) a synthetic index of about ``size`` chunks through the real store.

    Chunks are written with :meth:`ChunkStore.write_articles`, then the BM25 view is
    rebuilt with :func:`refresh_lexical`, exactly as the indexer leaves an index.

    Args:
        size: Minimum number of chunks (the last article may add a few more).
        pool: Sentences the corpus is recombined from.
        vectors: Sentence vectors (synthetic chunk vectors are their means).
        settings: Where the index goes (data dir, or a Chroma server).
        seed: Corpus seed.
        log: Progress output.
        reuse: Keep an existing index built with the same size, seed and embedder.

    Returns:
        The index and how long building it took.
    """
    params = ChunkParams()
    marker = settings.data_dir / "bench-scale.json"
    store, embedder = default_engine(settings).open_for_writing()
    meta = {
        "size": size,
        "seed": seed,
        "synthetic_version": SYNTHETIC_VERSION,
        "chunker": params.signature,
        "embedder": embedder.identity,
        "pool": hashlib.sha256("\n".join(pool.sentences).encode()).hexdigest()[:16],
    }
    if reuse and marker.exists():
        saved = json.loads(marker.read_text(encoding="utf-8"))
        if {k: saved.get(k) for k in meta} == meta and store.count_chunks() == saved["chunks"]:
            articles = [a for a, _ in synthetic_corpus(pool, size, seed=seed, params=params)]
            log(f"reusing the {saved['chunks']}-chunk index in {settings.data_dir}")
            return ScaleIndex(size, settings, articles, saved["chunks"], None, True)
    if store.count_chunks():
        # A half-built or different index: start from an empty one.
        drop_index(store_location(settings))
        default_engine(settings).invalidate()
        store, _ = default_engine(settings).open_for_writing()

    log(f"building a synthetic index of {size} chunks in {settings.data_dir}")
    started = time.perf_counter()
    timings = {"vectors": 0.0, "write": 0.0}
    store.bump_generation()
    articles: list[Article] = []
    group: list[Article] = []
    pending: dict[str, tuple[Chunk, ...]] = {}
    n_chunks = 0

    def flush() -> None:
        t = time.perf_counter()
        vecs = vectors.chunk_vectors([c for a in group for c in pending[a.id]])
        timings["vectors"] += time.perf_counter() - t
        t = time.perf_counter()
        store.write_articles(group, pending, vecs, params.signature)
        timings["write"] += time.perf_counter() - t
        group.clear()
        pending.clear()

    for article, chunks in synthetic_corpus(pool, size, seed=seed, params=params):
        articles.append(article)
        group.append(article)
        pending[article.id] = chunks
        n_chunks += len(chunks)
        if sum(len(c) for c in pending.values()) >= _SCALE_GROUP:
            flush()
            log(f"  {n_chunks}/{size} chunks written")
    if group:
        flush()
    t = time.perf_counter()
    refresh_lexical(store, lexical_dir(settings))
    timings["lexical"] = time.perf_counter() - t
    build_s = time.perf_counter() - started
    timings["generate_and_chunk"] = build_s - sum(timings.values())
    default_engine(settings).close()
    if reuse:
        marker.write_text(json.dumps({**meta, "chunks": n_chunks}) + "\n", encoding="utf-8")
    return ScaleIndex(size, settings, articles, n_chunks, build_s, False, timings)


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
    from qa.retrieval import RetrievalParams, search

    out: dict[str, Any] = {}
    # The first query after opening pays for loading the HNSW graph and BM25 arrays
    # (a hybrid query touches both); it is reported apart and warms up the rest.
    t = time.perf_counter()
    search(questions[0], index=index, k=k)
    out["first_query_ms"] = (time.perf_counter() - t) * 1000
    for case, (mode, filters) in RETRIEVAL_CASES.items():
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
        out[case] = {
            **stats(latencies),
            "qps": 1000 * len(latencies) / sum(latencies),
            "embed_query_p50_ms": stats(embeds)["p50"],
            # The store and BM25 work alone: what grows with the corpus size.
            "search_p50_ms": stats([a - b for a, b in zip(latencies, embeds, strict=True)])["p50"],
            "mean_hits": hits / len(latencies),
        }
    return out


# ---------------------------------------------------------------------------
# A real `chroma run` server
# ---------------------------------------------------------------------------


@contextmanager
def chroma_server(path: Path, log: Log) -> Iterator[tuple[str, int, float]]:
    """Run ``chroma run`` on a free loopback port; yields ``(host, port, start_seconds)``.

    Raises:
        BenchError: The ``chroma`` command is missing or the server does not come up.
    """
    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        found = shutil.which("chroma")
        if not found:
            raise BenchError("the `chroma` command is not installed next to this Python")
        exe = Path(found)
    port = _free_port()
    path.mkdir(parents=True, exist_ok=True)
    log_file = (path.parent / "chroma-server.log").open("wb")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        deadline = time.monotonic() + _SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise BenchError(f"`chroma run` exited with code {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"`chroma run` did not listen within {_SERVER_START_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.1)
        start_s = time.perf_counter() - started
        log(f"chroma server up on 127.0.0.1:{port} after {start_s:.1f}s (pid {proc.pid})")
        yield "127.0.0.1", port, start_s
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------


def bench_extractive(
    settings: Settings, *, questions: Sequence[str], repeat: int
) -> dict[str, Any]:
    """Latency of extractive answers (retrieval, evidence scoring, sentence picking).

    Args:
        settings: Settings of a built index; the generator is forced to extractive.
        questions: Questions to answer.
        repeat: Passes over the questions.

    Returns:
        Total latency stats in ms, per-stage medians, the first pass alone (the
        evidence stage's sentence cache still cold) and how many answers abstained.
    """
    from qa.answering import ask

    settings = settings.with_(generator="extractive")
    ask(questions[0], settings=settings)  # warm-up: opens the index, loads the BM25 view
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    abstained = 0
    for _ in range(repeat):
        for q in questions:
            t = time.perf_counter()
            answer = ask(q, settings=settings)
            totals.append((time.perf_counter() - t) * 1000)
            abstained += answer.abstained
            for stage, seconds in answer.timings.items():
                stages.setdefault(stage, []).append(seconds * 1000)
    return {
        **stats(totals),
        "first_pass_p50": stats(totals[: len(questions)])["p50"],
        "stage_p50_ms": {k: stats(v)["p50"] for k, v in stages.items()},
        "abstained": abstained,
        "answers": len(totals),
    }


def llm_unavailable(settings: Settings) -> str | None:
    """Why the local LLM cannot run here, or None when it can."""
    from qa.errors import ModelNotInstalledError
    from qa.llm_assets import model_path

    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (install the project with the [llm] extra)"
    try:
        model_path(settings.llm_model, settings.model_dir)
    except (ModelNotInstalledError, ValueError) as exc:
        return str(exc)
    return None


def bench_llm(settings: Settings, *, questions: Sequence[str], n: int, log: Log) -> dict[str, Any]:
    """Time to first token and total time of LLM answers (the model loaded beforehand).

    TTFT counts every question the LLM was run on (its first token arrives whether it
    then answers or says the articles don't tell); the total counts the questions that
    got an answer (including LLM answers replaced by the extractive fallback: the
    user waited for both). Questions abstained on before the LLM runs count for
    neither. Up to ``2 * n`` questions are tried to collect ``n`` answers.

    Args:
        settings: Settings of a built index; the generator is forced to ``llm``.
        questions: Candidate questions.
        n: LLM answers wanted.
        log: Progress output.

    Returns:
        Model load time, TTFT and total stats in seconds, and per-answer details.
    """
    from qa.answering import ask, warm_up

    settings = settings.with_(generator="llm")
    t = time.perf_counter()
    # As `qa ui` does at start: load the model and evaluate the fixed system prompt, so
    # the figures are those of a running service (a cold process: `cold_start_llm_s`).
    warm_up(settings)
    load_s = time.perf_counter() - t
    log(f"LLM loaded and system prompt evaluated in {load_s:.1f}s")
    ttft: list[float] = []
    total: list[float] = []
    answers = []
    for q in list(questions)[: 2 * n]:
        if len(total) >= n:
            break
        answer = ask(q, settings=settings)
        # "llm" is timed only when the model ran to the end: not on an early
        # abstention, nor when it was unavailable or failed. A reply that failed
        # verification is replaced by the extractive answer (fallback UNVERIFIED), but
        # the model did run, so it counts.
        ran = "llm" in answer.timings
        answers.append(
            {
                "question": q,
                "generator": answer.generator,
                "fallback": answer.fallback.value if answer.fallback else None,
                "llm_ran": ran,
                "abstained": answer.abstained,
                "chars": len(answer.text),
                "timings_s": answer.timings,
            }
        )
        log(
            f"  LLM: first token {answer.timings.get('first_token', 0):.1f}s, total "
            f"{answer.timings.get('total', 0):.1f}s ({answer.generator}"
            f"{', abstained' if answer.abstained else ''})"
        )
        if ran:
            ttft.append(answer.timings["first_token"])
            if not answer.abstained:
                total.append(answer.timings["total"])
    return {
        "load_s": load_s,
        "ttft_s": stats(ttft),
        "total_s": stats(total),
        "abstained": sum(a["abstained"] for a in answers),
        "answers": answers,
        "model": settings.llm_model,
        "threads": settings.llm_threads,
    }


# ---------------------------------------------------------------------------
# Subprocesses: cold start and peak RSS
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    """A finished subprocess: wall time, its own peak RSS and output."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


# Runs the measured command from a fresh, small process and reports the command's
# wall time and ru_maxrss. Linux carries the pre-exec high-water mark of a forked
# child over into its ru_maxrss, so a command forked straight from this (big) process
# would report at least our own peak RSS; forked from this launcher it reports its own.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - t
with open(report, "w") as f:
    f.write(f"{seconds} {usage.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(cmd: Sequence[str], *, env: Mapping[str, str], timeout: float) -> ChildRun:
    """Run a command and measure its wall time and peak resident memory.

    The command is started by a small launcher process (see ``_LAUNCHER``) that waits
    for it with ``os.wait4``, which returns the rusage of exactly that child: its own
    ``ru_maxrss``, not ours and not the maximum over every child this process ever
    waited for (``RUSAGE_CHILDREN``, which would include the Chroma server).

    Args:
        cmd: Command and arguments (looked up on ``PATH`` if not a path).
        env: Its environment.
        timeout: Seconds before it is killed (with its process group).

    Returns:
        The measurements.

    Raises:
        BenchError: The command timed out.
    """
    with (
        tempfile.TemporaryDirectory(prefix="qa-bench-child-") as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(tmp) / "rusage"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *cmd],
            stdout=out,
            stderr=err,
            env=dict(env),
            start_new_session=True,  # one process group: a timeout kills both
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise BenchError(
                f"{' '.join(cmd[:3])} … did not finish within {timeout:.0f} s"
            ) from None
        seconds, maxrss_kib = report.read_text().split()
        out.seek(0)
        err.seek(0)
        return ChildRun(
            seconds=float(seconds),
            peak_rss_mb=int(maxrss_kib) / 1024,  # Linux reports KiB
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def _qa_command() -> list[str]:
    exe = Path(sys.executable).parent / "qa"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "qa.cli"]


def cold_ask(settings: Settings, question: str, *, generator: str) -> tuple[ChildRun, dict]:
    """``qa ask --json`` in a fresh process against a built index.

    Returns:
        The run and the parsed answer.

    Raises:
        BenchError: The command failed or printed no JSON.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_") or k == "QA_LLM_THREADS"}
    env.update(
        QA_DATA_DIR=str(settings.data_dir),
        QA_MODEL_DIR=str(settings.model_dir),
        QA_EMBEDDER=settings.embedder,
        QA_COLLECTION=settings.collection,
        QA_GENERATOR=generator,
        QA_LLM_MODEL=settings.llm_model,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
    )
    run = run_child([*_qa_command(), "ask", "--json", question], env=env, timeout=_CHILD_TIMEOUT)
    if run.returncode != 0:
        raise BenchError(f"`qa ask` exited with {run.returncode}: {run.stderr.strip()[-500:]}")
    try:
        answer = json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"`qa ask --json` printed no JSON: {run.stdout[:300]!r}") from exc
    return run, answer


# ---------------------------------------------------------------------------
# The whole bench
# ---------------------------------------------------------------------------


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
    """

    sizes: tuple[int, ...] = DEFAULT_SIZES
    repeat: int = 3
    quick: bool = False
    llm: bool = True
    server: bool = True
    reuse: Path | None = None
    seed: int = 0


def _sample_paths(quick: bool) -> list[Path]:
    from qa.cli import sample_articles_dir

    files = sorted(sample_articles_dir().glob("*.txt"))
    return files[:QUICK_ARTICLES] if quick else files


def run_bench(config: BenchConfig, settings: Settings, log: Log) -> dict[str, Any]:
    """Run every measurement; returns the results (see the module docstring).

    Args:
        config: What to run.
        settings: Model directory, embedder, top-k and LLM settings; data
            directories are temporary (or under ``config.reuse``).
        log: Progress output.

    Returns:
        A JSON-ready dict: the headline figures at the top level, plus ``details``,
        ``machine``, ``config``, ``notes`` and ``targets``.
    """
    from qa.answering import RERANK_POOL

    notes: list[str] = []
    machine = machine_info()
    cpu_start = cpu_snapshot()
    if machine["load_avg_start"][0] > 0.5 * (machine["cpu_usable"] or 1):
        notes.append(
            f"the machine was busy when the bench started (load average "
            f"{machine['load_avg_start'][0]} on {machine['cpu_usable']} usable CPUs): "
            "absolute times are pessimistic"
        )
    base = settings.with_(
        generator="extractive", chroma_host=None, chroma_port=None, collection="news"
    )
    questions = QUESTIONS[:QUICK_QUESTIONS] if config.quick else QUESTIONS
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    results: dict[str, Any] = {"details": {}}
    details = results["details"]
    try:
        t = time.perf_counter()
        embedder = default_engine(base).embedder()
        details["embedder_load_s"] = time.perf_counter() - t
        details["embedder"] = embedder.identity
        log(f"embedder {embedder.identity} loaded in {details['embedder_load_s']:.1f}s")

        # Indexing of the (sub)corpus of samples.
        paths = _sample_paths(config.quick)
        indexing, sample = bench_indexing(
            paths, embedder=embedder, base=base, work=work, repeat=config.repeat, log=log
        )
        details["indexing"] = indexing
        if indexing["reindex_embedded_chunks"]:
            notes.append(
                f"FAIL: re-indexing the unchanged corpus embedded "
                f"{indexing['reindex_embedded_chunks']} chunks (expected 0)"
            )

        # Answers on the sample index.
        log("extractive answers")
        details["extractive"] = bench_extractive(sample, questions=questions, repeat=config.repeat)
        llm_reason = None
        if config.quick:
            llm_reason = "skipped under --quick"
        elif not config.llm:
            llm_reason = "skipped (--no-llm)"
        else:
            llm_reason = llm_unavailable(sample)
        if llm_reason is None:
            log("LLM answers")
            details["llm"] = bench_llm(sample, questions=QUESTIONS, n=LLM_QUESTIONS, log=log)
        else:
            notes.append(f"LLM figures not measured: {llm_reason}")

        # Retrieval at scale (synthetic corpus, sentence-mean vectors).
        pool = SentencePool.from_articles(load_articles(paths).articles)
        root = config.reuse or work
        vec_cache = None
        if config.reuse is not None:
            text = "\n".join([embedder.identity, *pool.all_sentences])
            key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
            vec_cache = config.reuse / f"sentence-vectors-{key}"
        vectors = SentenceVectors(embedder, vec_cache)
        t = time.perf_counter()
        n_new = vectors.ensure(pool.all_sentences)
        details["sentence_vectors"] = {
            "sentences": len(vectors),
            "embedded_now": n_new,
            "seconds": time.perf_counter() - t,
        }
        log(f"{len(vectors)} pool sentences ready ({n_new} embedded now)")
        k = base.top_k * (RERANK_POOL if base.rerank else 1)
        scale: dict[str, Any] = {}
        for size in sorted(set(config.sizes)):
            settings_n = base.with_(data_dir=root / f"scale-{size}-seed{config.seed}")
            built = build_scale_index(
                size,
                pool=pool,
                vectors=vectors,
                settings=settings_n,
                seed=config.seed,
                log=log,
                reuse=config.reuse is not None,
            )
            t = time.perf_counter()
            index = default_engine(settings_n).index()
            open_s = time.perf_counter() - t
            log(f"retrieval latency at {built.chunks} chunks")
            latency = bench_retrieval(index, questions=questions, repeat=config.repeat, k=k)
            log(f"re-indexing the unchanged {built.chunks}-chunk corpus")
            store, _ = default_engine(settings_n).open_for_writing()
            reindex: list[float] = []
            embedded = 0
            for _ in range(config.repeat):
                t = time.perf_counter()
                report = index_articles(
                    built.articles,
                    store=store,
                    embedder=embedder,
                    lexical_dir=lexical_dir(settings_n),
                )
                reindex.append(time.perf_counter() - t)
                embedded = max(embedded, report.embedded_chunks)
            if embedded:
                notes.append(
                    f"FAIL: re-indexing the unchanged {built.chunks}-chunk corpus "
                    f"embedded {embedded} chunks (expected 0)"
                )
            data_bytes = _disk_bytes(settings_n.data_dir)
            scale[str(size)] = {
                "chunks": built.chunks,
                "articles": len(built.articles),
                "build_s": built.build_s,
                "build_timings_s": built.timings,
                "reused": built.reused,
                "open_s": open_s,
                "retrieval": latency,
                "reindex_unchanged_s": stats(reindex),
                "reindex_embedded_chunks": embedded,
                "data_mb": data_bytes / 1e6,
                "data_mb_per_1k_chunks": data_bytes / 1e6 / built.chunks * 1000,
            }
            default_engine(settings_n).close()
            if config.reuse is not None:
                vectors.save()
        details["scale"] = scale
        details["sentence_vectors"]["embedded_total"] = vectors.embedded

        # The same retrieval against a real Chroma server, smallest size.
        if config.server and not config.quick:
            size = min(config.sizes)
            log(f"retrieval against a `chroma run` server at {size} chunks")
            try:
                with chroma_server(work / "server" / "chroma", log) as (host, port, start_s):
                    settings_s = base.with_(
                        data_dir=work / "server", chroma_host=host, chroma_port=port
                    )
                    built = build_scale_index(
                        size,
                        pool=pool,
                        vectors=vectors,
                        settings=settings_s,
                        seed=config.seed,
                        log=log,
                    )
                    latency = bench_retrieval(
                        default_engine(settings_s).index(),
                        questions=questions,
                        repeat=config.repeat,
                        k=k,
                    )
                    default_engine(settings_s).close()
                details["server"] = {
                    "size": size,
                    "chunks": built.chunks,
                    "start_s": start_s,
                    "build_s": built.build_s,
                    "retrieval": latency,
                }
            except BenchError as exc:
                notes.append(f"server figures not measured: {exc}")
        else:
            why = "skipped under --quick" if config.quick else "--no-server"
            notes.append(f"server figures not measured: {why}")

        # Fresh processes: cold start and peak memory. --quick skips them: a second
        # torch + model load would double its run time.
        if config.quick:
            notes.append("cold start and peak RSS not measured: skipped under --quick")
        else:
            log("cold start: `qa ask --json` in a subprocess (extractive)")
            run, answer = cold_ask(sample, QUESTIONS[0], generator="extractive")
            details["cold_start"] = {
                "seconds": run.seconds,
                "peak_rss_mb": run.peak_rss_mb,
                "generator": answer.get("generator"),
            }
        if llm_reason is None:
            log("cold start with the LLM: `qa ask --json` in a subprocess")
            run, answer = cold_ask(sample, QUESTIONS[0], generator="llm")
            details["cold_start_llm"] = {
                "seconds": run.seconds,
                "peak_rss_mb": run.peak_rss_mb,
                "generator": answer.get("generator"),
                "first_token_s": answer.get("timings", {}).get("first_token"),
            }
            if answer.get("generator") != "llm":
                notes.append(
                    f"the LLM subprocess answered with {answer.get('generator')!r}: its RSS "
                    "may not include the model"
                )
    finally:
        close_default_engines()
        shutil.rmtree(work, ignore_errors=True)

    machine["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    busy, total, own = (b - a for a, b in zip(cpu_start, cpu_snapshot(), strict=True))
    if total > 0:
        others = max(0.0, busy - own) / total
        machine["cpu_share_used_by_others"] = round(others, 3)
        if others > 0.15:
            notes.append(
                f"the machine was shared: other processes used {others:.0%} of all CPU time "
                "during the bench, so wall times (above all of multi-threaded torch and "
                "llama.cpp) are pessimistic and noisy; compare runs by their min"
            )
    results.update(_headline(details))
    results["machine"] = machine
    results["config"] = {
        "sizes": list(config.sizes),
        "repeat": config.repeat,
        "quick": config.quick,
        "seed": config.seed,
        "questions": len(questions),
        "retrieval_k": k,
        "sample_files": len(paths),
        "reuse": str(config.reuse) if config.reuse else None,
    }
    notes.append(
        "retrieval at scale uses a synthetic corpus recombined from the sample sentences; "
        "a synthetic chunk's vector is the normalised mean of its sentences' embeddings "
        "(each distinct sentence embedded once). Retrieval latency does not depend on how "
        "the vectors were computed; indexing throughput is measured on real embeddings "
        "of the sample corpus."
    )
    results["notes"] = notes
    results["targets"] = check_targets(results)
    return results


def _headline(details: Mapping[str, Any]) -> dict[str, Any]:
    """The flat top-level figures of ``--json`` from the detailed results."""
    ix = details["indexing"]
    scale = details.get("scale", {})
    llm = details.get("llm")
    head: dict[str, Any] = {
        k: ix[k]
        for k in (
            "index_s",
            "index_s_p95",
            "naive_index_s",
            "naive_index_s_p95",
            "embed_only_s",
            "embed_only_s_p95",
            "naive_over_index",
            "embed_only_over_index",
            "naive_over_index_best",
            "embed_only_over_index_best",
            "index_chunks_per_s",
            "index_tokens_per_s",
            "embed_only_chunks_per_s",
            "embed_only_tokens_per_s",
            "naive_chunks_per_s",
            "naive_tokens_per_s",
            "reindex_unchanged_s",
            "reindex_unchanged_s_p95",
            "reindex_embedded_chunks",
        )
    }
    for case in RETRIEVAL_CASES:
        for q in ("p50", "p95"):
            head[f"{case}_{q}_ms"] = {n: s["retrieval"][case][q] for n, s in scale.items()}
        head[f"{case}_search_p50_ms"] = {
            n: s["retrieval"][case]["search_p50_ms"] for n, s in scale.items()
        }
    head["reindex_unchanged_at_size_s"] = {
        n: s["reindex_unchanged_s"]["p50"] for n, s in scale.items()
    }
    head["data_mb_per_1k_chunks"] = {n: s["data_mb_per_1k_chunks"] for n, s in scale.items()}
    server = details.get("server")
    head["hybrid_server_p50_ms"] = server["retrieval"]["hybrid"]["p50"] if server else None
    head["dense_server_p50_ms"] = server["retrieval"]["dense"]["p50"] if server else None
    ex = details["extractive"]
    head["extractive_p50_ms"] = ex["p50"]
    head["extractive_p95_ms"] = ex["p95"]
    head["extractive_first_pass_p50_ms"] = ex["first_pass_p50"]
    head["ttft_p50_s"] = llm["ttft_s"]["p50"] if llm else None
    head["ttft_p95_s"] = llm["ttft_s"]["p95"] if llm else None
    head["answer_p50_s"] = llm["total_s"]["p50"] if llm else None
    head["answer_p95_s"] = llm["total_s"]["p95"] if llm else None
    cold = details.get("cold_start")
    head["cold_start_s"] = cold["seconds"] if cold else None
    head["peak_rss_mb"] = cold["peak_rss_mb"] if cold else None
    cold_llm = details.get("cold_start_llm")
    head["cold_start_llm_s"] = cold_llm["seconds"] if cold_llm else None
    head["peak_rss_mb_llm"] = cold_llm["peak_rss_mb"] if cold_llm else None
    return head


def check_targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Compare the figures with the issue's targets.

    100k-chunk targets use the 100 000 size when it was measured; otherwise the
    largest measured size is shown and the target is marked as not measured.

    Returns:
        One row per target: ``target``, ``value``, ``at``, ``met`` (None: not measured).
    """
    values: dict[str, tuple[Any, str]] = {}
    for key in ("naive_over_index", "embed_only_over_index", "extractive_first_pass_p50_ms"):
        values[key] = (results.get(key), "sample corpus")
    for key in ("ttft_p50_s", "answer_p50_s", "peak_rss_mb_llm"):
        values[key] = (results.get(key), "sample corpus")
    for key, source in (
        ("reindex_unchanged_100k_s", "reindex_unchanged_at_size_s"),
        ("hybrid_100k_p50_ms", "hybrid_p50_ms"),
    ):
        by_size = results.get(source) or {}
        if "100000" in by_size:
            values[key] = (by_size["100000"], "100000 chunks")
        elif by_size:
            largest = max(by_size, key=int)
            values[key] = (by_size[largest], f"{largest} chunks (100k not measured)")
        else:
            values[key] = (None, "not measured")
    rows = []
    for key, op, threshold, text in TARGETS:
        value, at = values[key]
        measured = value is not None and "not measured" not in at
        met = None
        if measured:
            met = value >= threshold if op == ">=" else value < threshold
        rows.append(
            {
                "target": text,
                "key": key,
                "threshold": f"{op} {threshold:g}",
                "value": value,
                "at": at,
                "met": met,
            }
        )
    return rows


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits - 1}f}"
    return str(value)


def table_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows ``(figure, p50, p95, comment)`` of the summary table."""
    d = results["details"]
    ix = d["indexing"]
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, p50: Any, p95: Any = "", note: str = "") -> None:
        rows.append(
            (name, p50 if isinstance(p50, str) else _fmt(p50), _fmt(p95) if p95 != "" else "", note)
        )

    def pair(a: Any, b: Any) -> str:
        return f"{_fmt(a)} / {_fmt(b)}"

    runs = f"{ix['repeats']} runs, {ix['corpus_articles']} articles"
    add(
        "index_s",
        ix["index_s"],
        ix["index_s_p95"],
        f"min {_fmt(ix['index_s_min'])}; {ix['corpus_chunks']} chunks, {runs}",
    )
    add(
        "embed_only_s",
        ix["embed_only_s"],
        ix["embed_only_s_p95"],
        f"min {_fmt(ix['embed_only_s_min'])}; the embedder alone on the same chunks",
    )
    add(
        "naive_index_s",
        ix["naive_index_s"],
        ix["naive_index_s_p95"],
        f"min {_fmt(ix['naive_index_s_min'])}; LangChain splitter + Chroma, "
        f"{ix['naive_chunks']} chunks",
    )
    add(
        "naive / index",
        ix["naive_over_index"],
        note=f"speed-up over the naive pipeline; best-of: {_fmt(ix['naive_over_index_best'])}",
    )
    add(
        "embed_only / index",
        ix["embed_only_over_index"],
        note=f"share of index_s spent embedding; best-of: {_fmt(ix['embed_only_over_index_best'])}",
    )
    add(
        "write_only_s / lexical_only_s",
        pair(ix["write_only_s"], ix["lexical_only_s"]),
        note="Chroma write / BM25 build alone",
    )
    tokens = f"tokens: {ix['token_count']}"
    add("index chunks/s / tokens/s", pair(ix["index_chunks_per_s"], ix["index_tokens_per_s"]))
    add(
        "embed_only chunks/s / tokens/s",
        pair(ix["embed_only_chunks_per_s"], ix["embed_only_tokens_per_s"]),
        note=tokens,
    )
    add("naive chunks/s / tokens/s", pair(ix["naive_chunks_per_s"], ix["naive_tokens_per_s"]))
    add(
        "reindex_unchanged_s",
        ix["reindex_unchanged_s"],
        ix["reindex_unchanged_s_p95"],
        f"embedded {ix['reindex_embedded_chunks']} chunks",
    )
    for s in d.get("scale", {}).values():
        r, at = s["retrieval"], f"@ {s['chunks']:,}"
        for case in RETRIEVAL_CASES:
            note = f"{r[case]['qps']:.0f} q/s"
            if r[case]["embed_query_p50_ms"]:
                note += (
                    f"; p50 query embedding {_fmt(r[case]['embed_query_p50_ms'])} ms"
                    f" + search {_fmt(r[case]['search_p50_ms'])} ms"
                )
            add(f"{case}_ms {at}", r[case]["p50"], r[case]["p95"], note)
        add(f"first query ms {at}", r["first_query_ms"], note=f"opened in {_fmt(s['open_s'])} s")
        rs = s["reindex_unchanged_s"]
        add(
            f"reindex_unchanged_s {at}",
            rs["p50"],
            rs["p95"],
            f"embedded {s['reindex_embedded_chunks']}",
        )
        add(
            f"data MB per 1k chunks {at}",
            s["data_mb_per_1k_chunks"],
            note=f"{_fmt(s['data_mb'])} MB",
        )
    if d.get("server"):
        sv = d["server"]
        for case in ("dense", "hybrid", "hybrid_filtered"):
            r = sv["retrieval"][case]
            add(
                f"{case}_server_ms @ {sv['chunks']:,}", r["p50"], r["p95"], "`chroma run`, loopback"
            )
    ex = d["extractive"]
    stages = ", ".join(f"{k} {_fmt(v)}" for k, v in ex["stage_p50_ms"].items() if v)
    add(
        "extractive_ms",
        ex["p50"],
        ex["p95"],
        f"{ex['answers']} answers ({ex['abstained']} abstained); first pass p50 "
        f"{_fmt(ex['first_pass_p50'])}; stage p50 ms: {stages}",
    )
    llm = d.get("llm")
    if llm:
        note = f"{llm['model']}, {llm['threads']} threads, loaded in {_fmt(llm['load_s'])} s"
        add("ttft_s", llm["ttft_s"]["p50"], llm["ttft_s"]["p95"], note)
        add(
            "answer_s",
            llm["total_s"]["p50"],
            llm["total_s"]["p95"],
            f"{llm['total_s']['n']} answered; TTFT over {llm['ttft_s']['n']} LLM runs; "
            f"{llm['abstained']} of {len(llm['answers'])} questions abstained",
        )
    else:
        add("ttft_s / answer_s", "n/a", "", "LLM not measured (see notes)")
    cs = d.get("cold_start")
    if cs:
        add("cold_start_s", cs["seconds"], note="`qa ask --json`, extractive, fresh process")
        add("peak_rss_mb", cs["peak_rss_mb"], note="that process (no LLM)")
    else:
        add("cold_start_s / peak_rss_mb", "n/a", note="not measured (see notes)")
    cl = d.get("cold_start_llm")
    if cl:
        add("cold_start_llm_s", cl["seconds"], note=f"`qa ask --json`, {cl['generator']}")
        add("peak_rss_mb_llm", cl["peak_rss_mb"], note="that process, with the LLM")
    else:
        add("peak_rss_mb_llm", "n/a", note="LLM not measured (see notes)")
    return rows


def format_table(results: Mapping[str, Any]) -> str:
    """The summary table as aligned plain text."""
    rows = [("figure", "p50", "p95", "notes"), *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()
        for r in rows
    ]
    lines.insert(1, "-" * (sum(widths) + 4 + max(len(r[3]) for r in rows) + 2))
    return "\n".join(lines)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: Mapping[str, Any]) -> str:
    """``bench.md``: summary table, targets, notes and the machine."""
    parts = ["# Benchmark", "", f"Run at {results['started']} (UTC).", "", "## Figures", ""]
    parts.append(_md_table(("figure", "p50", "p95", "notes"), table_rows(results)))
    parts += ["", "## Targets", ""]
    parts.append(
        _md_table(
            ("target", "measured", "at", "met"),
            [
                (
                    t["target"],
                    _fmt(t["value"]),
                    t["at"],
                    {True: "yes", False: "**no**", None: "not measured"}[t["met"]],
                )
                for t in results["targets"]
            ],
        )
    )
    parts += ["", "## Notes", ""]
    parts += [f"- {n}" for n in results["notes"]]
    parts += ["", "## Machine", ""]
    parts.append(_md_table(("", "value"), [(k, _fmt(v)) for k, v in results["machine"].items()]))
    parts += ["", "## Run", ""]
    parts.append(_md_table(("", "value"), [(k, _fmt(v)) for k, v in results["config"].items()]))
    parts += ["", "![retrieval latency and throughput vs corpus size](bench.png)", ""]
    return "\n".join(parts)


def plot(path: Path, results: Mapping[str, Any]) -> None:
    """``bench.png``: retrieval latency (p50, p95) and queries/s against corpus size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    lat, thr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    scale = results["details"].get("scale", {})
    sizes = sorted(scale, key=int)
    xs = [scale[n]["chunks"] for n in sizes]
    for case in RETRIEVAL_CASES:
        p50 = [scale[n]["retrieval"][case]["p50"] for n in sizes]
        p95 = [scale[n]["retrieval"][case]["p95"] for n in sizes]
        qps = [scale[n]["retrieval"][case]["qps"] for n in sizes]
        (line,) = lat.plot(xs, p50, marker="o", label=f"{case} p50")
        lat.plot(xs, p95, marker="x", linestyle="--", color=line.get_color(), label=f"{case} p95")
        thr.plot(xs, qps, marker="o", color=line.get_color(), label=case)
    server = results["details"].get("server")
    if server:
        lat.scatter(
            [server["chunks"]],
            [server["retrieval"]["hybrid"]["p50"]],
            marker="s",
            color="black",
            label="hybrid p50, chroma server",
            zorder=3,
        )
    for ax in (lat, thr):
        # Log scales: BM25 is ~100x faster than anything that embeds the question.
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("corpus size (chunks)")
        ax.grid(True, which="both", alpha=0.3)
    lat.set_ylabel("latency (ms)")
    lat.set_title("retrieval latency")
    lat.legend(fontsize=7)
    thr.set_ylabel("queries/s (one client, sequential)")
    thr.set_title("retrieval throughput")
    thr.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def write_report(out: Path, results: Mapping[str, Any]) -> None:
    """Write ``bench.json``, ``bench.md`` and ``bench.png`` into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(
        json.dumps(results, ensure_ascii=False, indent=2, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    (out / "bench.md").write_text(markdown(results), encoding="utf-8")
    plot(out / "bench.png", results)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``qa bench`` to the CLI."""
    p = sub.add_parser("bench", help="measure indexing, retrieval and answer latency")
    p.add_argument(
        "--chunks",
        type=int,
        nargs="+",
        metavar="N",
        help=f"corpus sizes for retrieval latency (default {' '.join(map(str, DEFAULT_SIZES))}; "
        f"--quick: {' '.join(map(str, QUICK_SIZES))})",
    )
    p.add_argument("--repeat", type=int, help="runs of each timed step (default 3; --quick: 1)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: tiny corpus, one small size; no LLM, server or cold start",
    )
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--out", type=Path, help="report folder (default: runs/bench/<time>)")
    p.add_argument("--reuse", type=Path, metavar="DIR", help="keep scale indexes in DIR")
    p.add_argument("--no-llm", action="store_true", help="skip the LLM figures")
    p.add_argument("--no-server", action="store_true", help="skip the chroma server figures")
    p.add_argument("--seed", type=int, default=0, help="synthetic corpus seed")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    sizes = tuple(args.chunks or (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    repeat = args.repeat or (1 if args.quick else 3)
    if repeat < 1 or any(n < 1 for n in sizes):
        raise ValueError("--repeat and --chunks must be positive")
    config = BenchConfig(
        sizes=sizes,
        repeat=repeat,
        quick=args.quick,
        llm=not args.no_llm,
        server=not args.no_server,
        reuse=args.reuse.resolve() if args.reuse else None,
        seed=args.seed,
    )
    # bm25s sets its own logger to DEBUG when imported, undoing the CLI's setting.
    import bm25s  # noqa: F401

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    started = datetime.now(UTC)
    log = Log()
    results = run_bench(config, settings, log)
    results = {"started": started.isoformat(timespec="seconds"), **results}
    stamp = started.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    out = args.out or Path("runs") / "bench" / stamp
    results["report_dir"] = str(out)
    write_report(out, results)
    log(f"report: {out / 'bench.md'}")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print(format_table(results))
        for note in results["notes"]:
            print(f"note: {note}")
        print(f"report: {out / 'bench.md'}")
    return 1 if any(n.startswith("FAIL") for n in results["notes"]) else 0
