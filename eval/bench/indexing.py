"""Indexing the sample corpus: the indexer, the embedder alone, the store alone, LangChain."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.common import BenchError, Log, disk_bytes, stats
from eval.naive import build_store, naive_documents
from index.articles import load_articles
from index.chunking import chunk_article
from index.embedding import E5_DIR_NAME, Embedder
from index.indexer import ChunkParams, index_articles, refresh_lexical
from index.models import Article, Chunk
from qa.api import index_paths
from qa.engine import default_engine
from qa.resources import lexical_dir
from qa.settings import Settings

#: The timed pipelines of each run.
_PIPELINES = ("index", "embed_only", "naive", "write_only", "lexical_only")


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


def chunks_of(articles: Sequence[Article], params: ChunkParams) -> list[Chunk]:
    """The indexer's chunks of some articles, in order."""
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


def naive_index(articles: Sequence[Article], embedder: Embedder, persist_dir: Path) -> None:
    """Index articles the naive LangChain way (:func:`eval.naive.build_store`)."""
    build_store(articles, embedder, persist_dir)


@dataclass(frozen=True)
class _Corpus:
    """The sample corpus as the indexer and the naive pipeline see it."""

    paths: tuple[Path, ...]
    articles: list[Article]
    chunks: list[Chunk]
    params: ChunkParams

    @property
    def texts(self) -> list[str]:
        """What the embedder embeds per chunk (with the title/caption context)."""
        return [c.context_text for c in self.chunks]


def _load(paths: Sequence[Path]) -> _Corpus:
    loaded = load_articles(paths)
    if loaded.failures:
        raise BenchError(f"sample articles failed to load: {loaded.failures}")
    params = ChunkParams()
    return _Corpus(tuple(paths), loaded.articles, chunks_of(loaded.articles, params), params)


def _warm_up(
    corpus: _Corpus, embedder: Embedder, naive_embedder: Embedder, base: Settings, work: Path
) -> None:
    # Untimed: first Chroma client, first torch forward pass and the lazy imports would
    # otherwise all be charged to whichever pipeline runs first.
    warm = base.with_(data_dir=work / "warm-up")
    store, _ = default_engine(warm).open_for_writing()
    first = corpus.articles[:1]
    index_articles(first, store=store, embedder=embedder, lexical_dir=lexical_dir(warm))
    naive_index(first, naive_embedder, work / "warm-up-naive")


def _timed(runs: dict[str, list[float]], name: str, fn: Callable[[], Any]) -> Any:
    t = time.perf_counter()
    result = fn()
    runs[name].append(time.perf_counter() - t)
    return result


def _run_indexer(corpus: _Corpus, settings: Settings, runs: dict[str, list[float]]) -> Any:
    """``index_paths`` into a fresh data dir; returns its report after checking it."""
    report = _timed(runs, "index", lambda: index_paths(corpus.paths, settings=settings))
    if report.failed or report.embedded_chunks != len(corpus.chunks):
        raise BenchError(
            f"the indexer embedded {report.embedded_chunks} chunks, the bench expected "
            f"{len(corpus.chunks)} (failed files: {report.failed})"
        )
    return report


def _run_store_only(
    corpus: _Corpus, vectors: Any, settings: Settings, runs: dict[str, list[float]]
) -> None:
    """The store write and the BM25 build alone, with vectors computed beforehand.

    Together with ``embed_only`` this accounts for where ``index_s`` goes. No sentence
    vectors are written here: this is the chunk write alone (the indexer also writes
    each chunk's sentence vectors).
    """
    store, _ = default_engine(settings).open_for_writing()
    by_article: dict[str, list[Chunk]] = {}
    for c in corpus.chunks:
        by_article.setdefault(c.article_id, []).append(c)
    by_id = {c.id: v for c, v in zip(corpus.chunks, vectors, strict=True)}

    def write() -> None:
        store.bump_generation()
        store.write_articles(corpus.articles, by_article, by_id, corpus.params.signature)

    _timed(runs, "write_only", write)
    _timed(runs, "lexical_only", lambda: refresh_lexical(store, lexical_dir(settings)))


def _one_run(
    r: int,
    corpus: _Corpus,
    embedder: Embedder,
    naive_embedder: Embedder,
    base: Settings,
    work: Path,
    runs: dict[str, list[float]],
) -> tuple[Settings, dict[str, float]]:
    """Run r of every pipeline; returns the indexed settings and the indexer's stages."""
    settings = base.with_(data_dir=work / f"index-{r}")
    report = _run_indexer(corpus, settings, runs)
    vectors = _timed(runs, "embed_only", lambda: embedder.embed_passages(corpus.texts))
    _run_store_only(corpus, vectors, base.with_(data_dir=work / f"write-only-{r}"), runs)
    _timed(runs, "naive", lambda: naive_index(corpus.articles, naive_embedder, work / f"naive-{r}"))
    return settings, report.timings


def _reindex(corpus: _Corpus, settings: Settings, passes: int) -> tuple[list[float], int]:
    """Re-index the unchanged corpus; returns the times and the most chunks embedded."""
    times: list[float] = []
    embedded = 0
    for _ in range(passes):
        t = time.perf_counter()
        report = index_paths(corpus.paths, settings=settings)
        times.append(time.perf_counter() - t)
        embedded = max(embedded, report.embedded_chunks)
    return times, embedded


def _throughput(
    s: dict[str, dict[str, Any]], counts: dict[str, tuple[int, int]]
) -> dict[str, float]:
    """Chunks/s and tokens/s of each pipeline from its median time."""
    out: dict[str, float] = {}
    for name, (n_chunks, n_tokens) in counts.items():
        seconds = s[name]["p50"]
        out[f"{name}_chunks_per_s"] = n_chunks / seconds
        out[f"{name}_tokens_per_s"] = n_tokens / seconds
    return out


def _figures(
    corpus: _Corpus,
    runs: dict[str, list[float]],
    stages: dict[str, list[float]],
    reindex: tuple[list[float], int],
    tokens: dict[str, Any],
    data_bytes: int,
) -> dict[str, Any]:
    """The indexing figures, in the order ``bench.json`` has always had them."""
    s = {k: stats(v) for k, v in runs.items()}
    index_s, embed_s, naive_s = s["index"]["p50"], s["embed_only"]["p50"], s["naive"]["p50"]
    n_chunks, n_naive = len(corpus.chunks), tokens["naive_chunks"]
    speed = _throughput(
        s,
        {
            "index": (n_chunks, tokens["corpus"]),
            "embed_only": (n_chunks, tokens["corpus"]),
            "naive": (n_naive, tokens["naive"]),
        },
    )
    times, embedded = reindex
    return {
        "corpus_articles": len(corpus.articles),
        "corpus_chunks": n_chunks,
        "corpus_tokens": tokens["corpus"],
        "naive_chunks": n_naive,
        "naive_tokens": tokens["naive"],
        "token_count": tokens["kind"],
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
        **speed,
        "reindex_unchanged_s": stats(times)["p50"],
        "reindex_unchanged_s_p95": stats(times)["p95"],
        "reindex_embedded_chunks": embedded,
        "sample_data_mb": data_bytes / 1e6,
        "sample_data_mb_per_1k_chunks": data_bytes / 1e6 / n_chunks * 1000,
        "repeats": len(runs["index"]),
        "runs_s": dict(runs),
    }


def _token_counts(corpus: _Corpus, embedder: Embedder, model_dir: Path) -> dict[str, Any]:
    count, kind = token_counter(embedder, model_dir)
    naive_docs = naive_documents(corpus.articles)
    return {
        "corpus": count(corpus.texts),
        "naive": count([d.page_content for d in naive_docs]),
        "naive_chunks": len(naive_docs),
        "kind": kind,
    }


def bench_indexing(
    paths: Sequence[Path],
    *,
    embedder: Embedder,
    naive_embedder: Embedder,
    base: Settings,
    work: Path,
    repeat: int,
    log: Log,
) -> tuple[dict[str, Any], Settings]:
    """Index the sample files ``repeat`` times against the embedder alone and LangChain.

    Args:
        paths: Article files.
        embedder: The loaded embedder.
        naive_embedder: What the naive LangChain pipeline embeds with: the same weights
            through sentence-transformers, as a LangChain user's
            ``HuggingFaceEmbeddings`` would run them.
        base: Settings the temporary indexes are derived from.
        work: Scratch folder (one data dir per run).
        repeat: Runs of each pipeline.
        log: Progress output.

    Returns:
        The figures, and settings of the last built index (kept for the answer benches).

    Raises:
        BenchError: A file failed to load or the counts of embedded chunks disagree.
    """
    corpus = _load(paths)
    tokens = _token_counts(corpus, embedder, base.model_dir)
    _warm_up(corpus, embedder, naive_embedder, base, work)
    runs: dict[str, list[float]] = {k: [] for k in _PIPELINES}
    stages: dict[str, list[float]] = {}
    settings = base
    for r in range(repeat):
        log(
            f"indexing {len(corpus.articles)} articles ({len(corpus.chunks)} chunks), "
            f"run {r + 1}/{repeat}"
        )
        settings, timings = _one_run(r, corpus, embedder, naive_embedder, base, work, runs)
        for stage, seconds in timings.items():
            stages.setdefault(stage, []).append(seconds)
    log("re-indexing the unchanged corpus")
    reindex = _reindex(corpus, settings, max(repeat, 3))
    data = disk_bytes(settings.data_dir)
    return _figures(corpus, runs, stages, reindex, tokens, data), settings
