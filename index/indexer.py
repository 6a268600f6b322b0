"""Idempotent, interruptible indexing of article files into the store.

A run compares each article's content hash (and the chunker signature) with the
store's manifest: unchanged articles cost nothing, changed ones have exactly their
chunks replaced, and text that was embedded before is not embedded again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.articles import ParseFailure, load_articles
from index.chunking import chunk_article, chunker_signature
from index.embedding import Embedder
from index.lexical import LexicalIndex
from index.lock import writer_alive, writer_id
from index.models import Article, Chunk
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
) -> IndexReport:
    """Index article files and folders.

    Args:
        paths: Files or folders (searched recursively for ``*.txt``).
        store: The opened store.
        embedder: Embedder whose identity matches the store's.
        lexical_dir: Where the BM25 view is saved.
        prune: Also remove indexed articles whose files no longer exist.
        params: Chunking parameters.
        progress: Optional progress callback.
        group_chunks: About how many chunks are embedded and written together.

    Returns:
        Per-file outcomes and counts. Bad files are reported, never raised.

    Raises:
        FileNotFoundError: A given path does not exist.
    """
    loaded = load_articles(paths)
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


def _write(
    todo: Sequence[Article],
    manifest: dict,
    store: ChunkStore,
    embedder: Embedder,
    params: ChunkParams,
    progress: Progress | None,
    group_size: int,
) -> tuple[int, int]:
    """Chunk, embed and store articles group by group; returns (embedded, reused)."""
    writer = writer_id()
    embedded = reused = 0
    total = len(todo)
    done = 0
    group: list[Article] = []
    pending: dict[str, tuple[Chunk, ...]] = {}
    size = 0

    def flush() -> None:
        nonlocal embedded, reused, group, pending, size, done
        vectors: dict[str, np.ndarray] = {}
        need: list[Chunk] = []
        for article in group:
            old = store.chunk_embeddings(article.id) if article.id in manifest else {}
            for chunk in pending[article.id]:
                if chunk.text in old:
                    vectors[chunk.id] = old[chunk.text]
                    reused += 1
                else:
                    need.append(chunk)
        if need:
            new = embedder.embed_passages([c.context_text for c in need])
            vectors.update({c.id: v for c, v in zip(need, new, strict=True)})
            embedded += len(need)
        store.write_articles(group, pending, vectors, params.signature, writer=writer)
        done += len(group)
        if progress:
            progress(done, total, f"indexed {done}/{total} articles")
        group, pending, size = [], {}, 0

    for article in todo:
        chunks = chunk_article(
            article,
            target_chars=params.target_chars,
            max_chars=params.max_chars,
            overlap_sentences=params.overlap_sentences,
        )
        group.append(article)
        pending[article.id] = chunks
        size += len(chunks)
        if size >= group_size:
            flush()
    if group:
        flush()
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
