"""Idempotent, interruptible indexing of article files into the store.

A run compares each article's content hash (and the chunker signature) with the
store's manifest: unchanged articles cost nothing, changed ones have exactly their
chunks replaced, and text that was embedded before is not embedded again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from index.articles import ParseFailure, load_articles
from index.chunking import chunk_article, chunker_signature
from index.embedding import Embedder, embed_chunks, separate_texts, split_separate
from index.lexical import LexicalIndex
from index.lock import writer_alive, writer_id
from index.models import Article, Chunk
from index.readers import ReaderOptions
from index.store import ChunkStore

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""Called as ``progress(done, total, message)`` while indexing."""

# Articles are written in groups: big enough for efficient batched embedding and
# bulk upserts, small enough that an interruption loses little work.
DEFAULT_GROUP_CHUNKS = 256


@dataclass(frozen=True)
class ChunkParams:
    """Chunking parameters (their signature is stored with each article)."""

    target_chars: int = 700
    max_chars: int = 1200
    overlap_sentences: int = 1

    @property
    def signature(self) -> str:
        """Stable text that changes when any parameter does."""
        return chunker_signature(self.target_chars, self.max_chars, self.overlap_sentences)


@dataclass(frozen=True)
class FileResult:
    """Outcome for one file (or one pruned article)."""

    path: Path
    status: str  # "added" | "updated" | "unchanged" | "removed" | "failed"
    reason: str = ""
    article_id: str | None = None


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did."""

    files: tuple[FileResult, ...]
    embedded_chunks: int = 0
    reused_chunks: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def added(self) -> int:
        """Articles indexed for the first time."""
        return self._count("added")

    @property
    def updated(self) -> int:
        """Articles whose text changed and were re-indexed."""
        return self._count("updated")

    @property
    def unchanged(self) -> int:
        """Articles already indexed with the same text."""
        return self._count("unchanged")

    @property
    def removed(self) -> int:
        """Articles pruned because their files are gone."""
        return self._count("removed")

    @property
    def failed(self) -> int:
        """Files that could not be indexed (see their reasons)."""
        return self._count("failed")

    @property
    def summary(self) -> str:
        """One line with the counts."""
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {self.failed} failed"
        )


def index_paths(
    paths: Sequence[Path],
    *,
    store: ChunkStore,
    embedder: Embedder,
    lexical_dir: Path,
    prune: bool = False,
    params: ChunkParams = ChunkParams(),
    progress: Progress | None = None,
    group_chunks: int = DEFAULT_GROUP_CHUNKS,
    options: ReaderOptions | None = None,
) -> IndexReport:
    """Index article files and folders.

    Args:
        paths: Files or folders (folders are searched recursively for the files of
            every format, see :mod:`index.readers`).
        store: The opened store.
        embedder: Embedder whose identity matches the store's.
        lexical_dir: Where the BM25 view is saved.
        prune: Also remove indexed articles whose files no longer exist.
        params: Chunking parameters.
        progress: Optional progress callback.
        group_chunks: About how many chunks are embedded and written together.
        options: How files are read (format, CSV/JSONL field mapping, default date, ...).

    Returns:
        Per-file (per-item for feeds and exports) outcomes and counts. Bad files and
        bad items are reported, never raised.

    Raises:
        FileNotFoundError: A given path does not exist.
    """
    loaded = load_articles(paths, options=options)
    return index_articles(
        loaded.articles,
        store=store,
        embedder=embedder,
        lexical_dir=lexical_dir,
        failures=loaded.failures,
        prune=prune,
        params=params,
        progress=progress,
        group_chunks=group_chunks,
    )


def index_articles(
    articles: Sequence[Article],
    *,
    store: ChunkStore,
    embedder: Embedder,
    lexical_dir: Path,
    failures: Iterable[ParseFailure] = (),
    prune: bool = False,
    params: ChunkParams = ChunkParams(),
    progress: Progress | None = None,
    group_chunks: int = DEFAULT_GROUP_CHUNKS,
) -> IndexReport:
    """Index parsed articles; see :func:`index_paths`."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    results = [FileResult(f.path, "failed", f.reason) for f in failures]
    signature = params.signature

    manifest = store.manifest()
    clean = store.generation() == _clean_generation(lexical_dir)
    if not clean:
        # The last run did not finish, or another writer is running right now: drop
        # chunks of articles that never got a manifest, but only those whose writer is
        # gone. A live writer's chunks are its work in progress (the write lock keeps a
        # second writer out; this holds even when the lock is bypassed).
        indexing = {a.id for a in articles}
        orphans = [
            article_id
            for article_id, writers in store.orphans().items()
            if article_id not in indexing and not any(writer_alive(w) for w in writers)
        ]
        if orphans:
            log.info("removing %d half-indexed articles", len(orphans))
            store.delete_articles(sorted(orphans))

    todo: list[Article] = []
    moved: dict[str, str] = {}
    for article in articles:
        entry = manifest.get(article.id)
        path = article.path or Path(article.id)
        if entry and entry.content_hash == article.content_hash and entry.chunker == signature:
            results.append(FileResult(path, "unchanged", article_id=article.id))
            if article.path and entry.path != str(article.path):
                moved[article.id] = str(article.path)
        else:
            todo.append(article)
            status = "updated" if entry else "added"
            results.append(FileResult(path, status, article_id=article.id))
    timings["diff"] = time.perf_counter() - started

    removed: list[FileResult] = []
    if prune:
        seen = {a.id for a in articles}
        for entry in manifest.values():
            if entry.article_id not in seen and entry.path and not Path(entry.path).exists():
                removed.append(FileResult(Path(entry.path), "removed", article_id=entry.article_id))

    embedded = reused = 0
    if todo or removed or moved:
        store.bump_generation()
        store.update_paths(moved)
        store.delete_articles([r.article_id for r in removed if r.article_id])
        t = time.perf_counter()
        embedded, reused = _write(todo, manifest, store, embedder, params, progress, group_chunks)
        timings["embed_write"] = time.perf_counter() - t
    if todo or removed or moved or not clean:
        t = time.perf_counter()
        refresh_lexical(store, lexical_dir)
        timings["lexical"] = time.perf_counter() - t

    return IndexReport(
        files=tuple(results + removed),
        embedded_chunks=embedded,
        reused_chunks=reused,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


@runtime_checkable
class StreamingEmbedder(Protocol):
    """An embedder that takes the whole run's chunk texts at once (e.g. on a Ray cluster).

    Starting remote workers and loading the model on each costs seconds, so such an
    embedder wants one job per run rather than one per group; :func:`_write` then hands
    it every group's texts and writes each group as soon as its vectors come back.
    """

    def embed_passage_stream(self, groups: Iterable[Sequence[str]]) -> Iterator[np.ndarray]:
        """Embed groups of documents; yields one ``[len(group), dim]`` array per group, in order."""
        ...


@dataclass(frozen=True)
class _Group:
    """Articles written together: their chunks, the vectors reused and the chunks to embed."""

    articles: tuple[Article, ...]
    chunks: dict[str, tuple[Chunk, ...]]
    reused: dict[str, np.ndarray]
    need: tuple[Chunk, ...]
    reused_sentences: dict[str, np.ndarray]


def _plan(
    todo: Sequence[Article],
    manifest: dict,
    store: ChunkStore,
    params: ChunkParams,
    group_size: int,
) -> Iterator[_Group]:
    """Chunk articles into groups of about ``group_size`` chunks, lazily, in order.

    Vectors of chunk text that is already stored (an updated article whose other
    paragraphs did not change) are reused instead of embedded again.
    """
    group: list[Article] = []
    pending: dict[str, tuple[Chunk, ...]] = {}
    size = 0

    def close() -> _Group:
        reused: dict[str, np.ndarray] = {}
        reused_sentences: dict[str, np.ndarray] = {}
        need: list[Chunk] = []
        for article in group:
            old: dict[str, np.ndarray] = {}
            old_sentences: dict[str, np.ndarray] = {}
            if article.id in manifest:
                old = store.chunk_embeddings(article.id)
                old_sentences = store.sentence_embeddings(article.id)
            for chunk in pending[article.id]:
                # Reuse only a chunk stored with its sentence vectors (an index built
                # before they were stored has none): one pass computes both anyway.
                if chunk.text in old and chunk.text in old_sentences:
                    reused[chunk.id] = old[chunk.text]
                    reused_sentences[chunk.id] = old_sentences[chunk.text]
                else:
                    need.append(chunk)
        return _Group(tuple(group), pending, reused, tuple(need), reused_sentences)

    for article in todo:
        group.append(article)
        pending[article.id] = chunk_article(
            article,
            target_chars=params.target_chars,
            max_chars=params.max_chars,
            overlap_sentences=params.overlap_sentences,
        )
        size += len(pending[article.id])
        if size >= group_size:
            yield close()
            group, pending, size = [], {}, 0
    if group:
        yield close()


def _embedded(
    embedder: Embedder, groups: Iterable[_Group]
) -> Iterator[tuple[_Group, np.ndarray, list[np.ndarray]]]:
    """Each group with its chunk vectors and per-chunk sentence vectors, in order.

    An in-process embedder computes both in one pass per group (:func:`embed_chunks`,
    contextual sentence vectors for the torch model). A streaming embedder (Ray) reads
    ahead over the groups; its workers embed the chunk texts and the distinct sentences
    as passages (the ``separate`` method), so the groups it has not returned yet wait
    in ``waiting``.
    """
    if not isinstance(embedder, StreamingEmbedder):
        for group in groups:
            if group.need:
                yield group, *embed_chunks(embedder, group.need)
            else:
                yield group, np.zeros((0, embedder.dim), np.float32), []
        return
    waiting: deque[_Group] = deque()

    def texts() -> Iterator[list[str]]:
        for group in groups:
            waiting.append(group)
            yield separate_texts(group.need)

    for vectors in embedder.embed_passage_stream(texts()):
        group = waiting.popleft()
        yield group, *split_separate(group.need, vectors)
    if waiting:
        raise RuntimeError(f"embedder returned no vectors for {len(waiting)} groups")


def _write(
    todo: Sequence[Article],
    manifest: dict,
    store: ChunkStore,
    embedder: Embedder,
    params: ChunkParams,
    progress: Progress | None,
    group_size: int,
) -> tuple[int, int]:
    """Chunk, embed and store articles group by group; returns (embedded, reused).

    Each group is written (chunks first, manifest last) as soon as its vectors are
    there, so an interruption loses at most the groups still being embedded. Chunk and
    sentence vectors are written together (see :func:`_embedded`).
    """
    writer = writer_id()
    embedded = reused = done = 0
    total = len(todo)
    groups = _plan(todo, manifest, store, params, group_size)
    for group, new, new_sentences in _embedded(embedder, groups):
        if len(new) != len(group.need) or len(new_sentences) != len(group.need):
            raise RuntimeError(f"embedder returned {len(new)} vectors for {len(group.need)} texts")
        vectors = dict(group.reused)
        vectors.update({c.id: v for c, v in zip(group.need, new, strict=True)})
        sentences = dict(group.reused_sentences)
        sentences.update({c.id: m for c, m in zip(group.need, new_sentences, strict=True)})
        store.write_articles(
            group.articles,
            group.chunks,
            vectors,
            params.signature,
            sentences=sentences,
            writer=writer,
        )
        embedded += len(group.need)
        reused += len(group.reused)
        done += len(group.articles)
        if progress:
            progress(done, total, f"indexed {done}/{total} articles")
    return embedded, reused


def _clean_generation(lexical_dir: Path) -> int | None:
    """Generation of the last completed run, as recorded by the saved lexical view."""
    return LexicalIndex.saved_generation(lexical_dir)


def refresh_lexical(store: ChunkStore, lexical_dir: Path) -> LexicalIndex:
    """Rebuild the BM25 view from the store and save it with the store's generation."""
    view = LexicalIndex.build(store.iter_chunks(), generation=store.generation())
    view.save(lexical_dir)
    return view


def open_lexical(store: ChunkStore, lexical_dir: Path) -> LexicalIndex:
    """The saved BM25 view if it is current, else a fresh one rebuilt from the store."""
    view = LexicalIndex.load(lexical_dir)
    if view is not None and view.generation == store.generation():
        return view
    return refresh_lexical(store, lexical_dir)
