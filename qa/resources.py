"""Process-wide handles: the embedder is loaded once, indexes are opened once.

Everything here is keyed by the settings that matter, so tests with different
data directories in one process do not see each other's state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from index.embedding import Embedder, load_embedder
from index.errors import QAError
from index.indexer import open_lexical
from index.lexical import LexicalIndex
from index.store import ChunkStore, StoreLocation, open_store
from qa.settings import Settings

_lock = threading.RLock()
_indexes: dict[tuple, OpenIndex] = {}


@dataclass
class OpenIndex:
    """A store, its current lexical view and the embedder that reads it."""

    store: ChunkStore
    lexical: LexicalIndex
    embedder: Embedder


@lru_cache(maxsize=4)
def _embedder(kind: str, model_dir: Path, options: tuple = ()) -> Embedder:
    return load_embedder(kind, model_dir, **dict(options))


def get_embedder(settings: Settings) -> Embedder:
    """The embedder named by the settings, loaded once per process."""
    with _lock:
        # The server options are part of the key: another URL is another embedder.
        options = tuple(sorted(settings.embedder_options.items()))
        return _embedder(settings.embedder, settings.model_dir, options)


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
        settings.model_dir,
        settings.embeddings_base_url,
    )
    with _lock:
        embedder = get_embedder(settings)
        cached = _indexes.get(key)
        if cached is not None and cached.store.replaced_on_disk():
            # The data dir was deleted and indexed again (or swapped): this handle
            # still reads the old, deleted files.
            cached = None
        if cached is not None:
            try:
                if cached.lexical.generation != cached.store.generation():
                    # Another writer (the UI's upload, a CLI run) changed the store.
                    cached.lexical = open_lexical(cached.store, lexical_dir(settings))
                return cached
            except QAError:
                # E.g. the Chroma server is down: reopen from scratch on the next call,
                # once it may be back, instead of keeping a handle in an unknown state.
                del _indexes[key]
                raise
        store = open_store(
            store_location(settings), embedder_identity=embedder.identity, create=False
        )
        cached = OpenIndex(store, open_lexical(store, lexical_dir(settings)), embedder)
        _indexes[key] = cached
        return cached


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
