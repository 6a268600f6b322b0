"""Synthetic indexes of N chunks for retrieval at scale (measured in :mod:`eval.bench.retrieval`).

Embedding 100 000 chunks on 2 CPU cores would take hours, so a synthetic chunk's
vector is the normalised mean of the embeddings of its sentences (each distinct sample
sentence embedded once, with the passage prompt, and cached). Retrieval latency does
not depend on how the vectors were computed (HNSW cost depends on the count and
dimension of the vectors, BM25 on the text). The chunks are written straight through
:meth:`ChunkStore.write_articles` without sentence vectors: retrieval never reads them,
and the build's ``write`` time is then the store's chunk write alone.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.common import Log
from eval.bench.indexing import chunks_of
from eval.synthetic import SYNTHETIC_VERSION, SentencePool, iter_synthetic_articles
from index.chunking import split_sentences
from index.embedding import Embedder
from index.indexer import ChunkParams, refresh_lexical
from index.models import Article, Chunk
from index.store import ChunkStore, drop_index
from qa.engine import default_engine
from qa.resources import lexical_dir, store_location
from qa.settings import Settings

_SCALE_GROUP = 2_000  # chunks per write_articles call when building scale indexes


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
        chunks = tuple(chunks_of([article], params))
        total += len(chunks)
        yield article, chunks


def _scale_meta(size: int, seed: int, pool: SentencePool, identity: str) -> dict[str, Any]:
    """What a reusable scale index must have been built with."""
    return {
        "size": size,
        "seed": seed,
        "synthetic_version": SYNTHETIC_VERSION,
        "chunker": ChunkParams().signature,
        "embedder": identity,
        "pool": hashlib.sha256("\n".join(pool.sentences).encode()).hexdigest()[:16],
    }


def _saved_chunks(marker: Path, meta: dict[str, Any], store: ChunkStore) -> int | None:
    """The chunk count of a complete index built with ``meta``, or None."""
    if not marker.exists():
        return None
    saved = json.loads(marker.read_text(encoding="utf-8"))
    same = {k: saved.get(k) for k in meta} == meta
    return saved["chunks"] if same and store.count_chunks() == saved["chunks"] else None


class _GroupWriter:
    """Writes synthetic articles in groups of about ``_SCALE_GROUP`` chunks, timing each part."""

    def __init__(self, store: ChunkStore, vectors: SentenceVectors) -> None:
        self.store, self.vectors = store, vectors
        self.timings = {"vectors": 0.0, "write": 0.0}
        self.group: list[Article] = []
        self.pending: dict[str, tuple[Chunk, ...]] = {}

    def add(self, article: Article, chunks: tuple[Chunk, ...]) -> bool:
        """Queue an article; returns True when its group was written."""
        self.group.append(article)
        self.pending[article.id] = chunks
        if sum(len(c) for c in self.pending.values()) < _SCALE_GROUP:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        """Write the queued articles (chunks first, manifest last; no sentence vectors)."""
        if not self.group:
            return
        t = time.perf_counter()
        vecs = self.vectors.chunk_vectors([c for a in self.group for c in self.pending[a.id]])
        self.timings["vectors"] += time.perf_counter() - t
        t = time.perf_counter()
        self.store.write_articles(self.group, self.pending, vecs, ChunkParams().signature)
        self.timings["write"] += time.perf_counter() - t
        self.group, self.pending = [], {}


def _write_corpus(
    store: ChunkStore, pool: SentencePool, vectors: SentenceVectors, size: int, seed: int, log: Log
) -> tuple[list[Article], int, dict[str, float]]:
    """Write the synthetic corpus; returns its articles, chunk count and timings."""
    store.bump_generation()
    writer = _GroupWriter(store, vectors)
    articles: list[Article] = []
    n_chunks = 0
    for article, chunks in synthetic_corpus(pool, size, seed=seed, params=ChunkParams()):
        articles.append(article)
        n_chunks += len(chunks)
        if writer.add(article, chunks):
            log(f"  {n_chunks}/{size} chunks written")
    writer.flush()
    return articles, n_chunks, writer.timings


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
    rebuilt with :func:`refresh_lexical`, as the indexer leaves an index (without the
    per-chunk sentence vectors, which retrieval does not read).

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
    marker = settings.data_dir / "bench-scale.json"
    store, embedder = default_engine(settings).open_for_writing()
    meta = _scale_meta(size, seed, pool, embedder.identity)
    saved = _saved_chunks(marker, meta, store) if reuse else None
    if saved is not None:
        params = ChunkParams()
        articles = [a for a, _ in synthetic_corpus(pool, size, seed=seed, params=params)]
        log(f"reusing the {saved}-chunk index in {settings.data_dir}")
        return ScaleIndex(size, settings, articles, saved, None, True)
    if store.count_chunks():
        # A half-built or different index: start from an empty one.
        drop_index(store_location(settings))
        default_engine(settings).invalidate()
        store, _ = default_engine(settings).open_for_writing()

    log(f"building a synthetic index of {size} chunks in {settings.data_dir}")
    started = time.perf_counter()
    articles, n_chunks, timings = _write_corpus(store, pool, vectors, size, seed, log)
    t = time.perf_counter()
    refresh_lexical(store, lexical_dir(settings))
    timings["lexical"] = time.perf_counter() - t
    build_s = time.perf_counter() - started
    timings["generate_and_chunk"] = build_s - sum(timings.values())
    default_engine(settings).close()
    if reuse:
        marker.write_text(json.dumps({**meta, "chunks": n_chunks}) + "\n", encoding="utf-8")
    return ScaleIndex(size, settings, articles, n_chunks, build_s, False, timings)


def sentence_vectors(
    embedder: Embedder, pool: SentencePool, reuse: Path | None
) -> tuple[SentenceVectors, dict[str, Any]]:
    """Every pool sentence embedded (or loaded from ``reuse``), and what it took."""
    cache = None
    if reuse is not None:
        text = "\n".join([embedder.identity, *pool.all_sentences])
        cache = reuse / f"sentence-vectors-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    vectors = SentenceVectors(embedder, cache)
    t = time.perf_counter()
    n_new = vectors.ensure(pool.all_sentences)
    info = {"sentences": len(vectors), "embedded_now": n_new, "seconds": time.perf_counter() - t}
    return vectors, info
