"""Process-wide handles: the embedder is loaded once, indexes are opened once.

Everything here is keyed by the settings that matter, so tests with different
data directories in one process do not see each other's state.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from index.embedding import Embedder, load_embedder
from index.errors import DataDirError, IndexNotBuiltError, IndexRebuildingError, QAError
from index.lexical import LexicalIndex
from index.lock import rebuild_in_progress
from index.store import ChunkStore, StoreLocation, open_store
from qa.settings import Settings

log = logging.getLogger(__name__)

_lock = threading.RLock()
_indexes: dict[tuple, OpenIndex] = {}


@dataclass
class OpenIndex:
    """A store, its current lexical view and the embedder that reads it."""

    store: ChunkStore
    lexical: LexicalIndex
    embedder: Embedder


@lru_cache(maxsize=4)
def _embedder(kind: str, model_dir: Path, runtime: str, options: tuple = ()) -> Embedder:
    return load_embedder(kind, model_dir, runtime=runtime, **dict(options))


def get_embedder(settings: Settings) -> Embedder:
    """The embedder named by the settings, loaded once per process."""
    with _lock:
        # The server options are part of the key: another URL is another embedder.
        options = tuple(sorted(settings.embedder_options.items()))
        runtime = settings.embedding_runtime if settings.embedder == "e5" else "torch"
        return _embedder(settings.embedder, settings.model_dir, runtime, options)


def store_location(settings: Settings) -> StoreLocation:
    """Where the settings say the index lives."""
    return StoreLocation(
        data_dir=settings.data_dir,
        collection=settings.collection,
        host=settings.chroma_host,
        port=settings.chroma_port,
    )


def lexical_dir(settings: Settings) -> Path:
    """Local folder of the BM25 view (per server too: it mirrors that server's chunks)."""
    where = (
        "local" if not settings.server_mode else f"{settings.chroma_host}_{settings.chroma_port}"
    )
    return settings.data_dir / "lexical" / where / settings.collection


def open_index(settings: Settings) -> OpenIndex:
    """The index for asking questions, with a lexical view that matches the store.

    Raises:
        IndexNotBuiltError: Nothing has been indexed yet.
        EmbeddingModelMismatchError: The index was built with another model.
        StoreUnavailableError: The Chroma server is down (the next call reopens it).
        DataDirError: The data directory is unreadable.
    """
    key = (
        settings.data_dir,
        settings.collection,
        settings.chroma_host,
        settings.chroma_port,
        settings.embedder,
        settings.embedding_runtime,
        settings.model_dir,
        settings.embeddings_base_url,
    )
    with _lock:
        _refuse_during_rebuild(settings)
        embedder = get_embedder(settings)
        cached = _indexes.get(key)
        if cached is not None:
            try:
                if cached.store.replaced_on_disk() or cached.store.recreated():
                    # The data dir was deleted and indexed again (or swapped), or another
                    # process ran `qa index --rebuild`: this handle reads deleted data.
                    log.info("the index in %s was rebuilt; reopening it", settings.data_dir)
                    del _indexes[key]
                    cached = None
                elif cached.lexical.generation != cached.store.generation():
                    # Another writer (the UI's upload, a CLI run) changed the store.
                    cached.lexical = _current_lexical(cached.store, lexical_dir(settings))
            except QAError:
                # E.g. the Chroma server is down: reopen from scratch on the next call,
                # once it may be back, instead of keeping a handle in an unknown state.
                _indexes.pop(key, None)
                raise
            if cached is not None:
                return cached
        try:
            store = open_store(
                store_location(settings), embedder_identity=embedder.identity, create=False
            )
            cached = OpenIndex(store, _current_lexical(store, lexical_dir(settings)), embedder)
        except IndexNotBuiltError:
            # Dropped a moment ago by a rebuild that has just taken the lock.
            _refuse_during_rebuild(settings)
            raise
        _indexes[key] = cached
        return cached


def _refuse_during_rebuild(settings: Settings) -> None:
    """Raise IndexRebuildingError while another writer rebuilds this data dir's index.

    A half-rebuilt index would answer from whatever is indexed so far, or abstain
    for no visible reason.
    """
    holder = rebuild_in_progress(settings.data_dir)
    if holder is not None:
        pid = f" (pid {holder.pid})" if holder.pid is not None else ""
        raise IndexRebuildingError(
            f"the index in {settings.data_dir} is being rebuilt by `{holder.command}`{pid}; "
            "try again in a moment."
        )


def _current_lexical(store: ChunkStore, directory: Path) -> LexicalIndex:
    """The saved BM25 view if current, else one rebuilt from the store.

    A rebuilt view that cannot be saved (full disk, read-only data dir) is still used
    from memory: answering must not depend on writing a cache.
    """
    view = LexicalIndex.load(directory)
    if view is not None and view.generation == store.generation():
        return view
    view = LexicalIndex.build(store.iter_chunks(), generation=store.generation())
    try:
        view.save(directory)
    except DataDirError as exc:
        log.warning("using the BM25 view from memory: %s", exc)
    return view


def open_for_writing(settings: Settings) -> tuple[ChunkStore, Embedder]:
    """The store (created if missing) and embedder for indexing."""
    with _lock:
        embedder = get_embedder(settings)
        store = open_store(
            store_location(settings), embedder_identity=embedder.identity, create=True
        )
        return store, embedder


def forget(settings: Settings | None = None) -> None:
    """Drop cached index handles (after a rebuild, or in tests)."""
    with _lock:
        if settings is None:
            _indexes.clear()
            return
        for key in [k for k in _indexes if k[0] == settings.data_dir]:
            del _indexes[key]
