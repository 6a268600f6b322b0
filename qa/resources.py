"""The opened index as the answer path reads it, and how to open it. No state lives here.

:class:`qa.engine.Engine` owns the handles (and decides when to reopen); these are the
plain functions it uses: where an index lives, opening it for reading or writing, and
telling whether an open handle is still current.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.embedding import Embedder
from index.errors import DataDirError, IndexNotBuiltError, IndexRebuildingError
from index.lexical import LexicalIndex
from index.lock import rebuild_in_progress
from index.store import ChunkStore, StoreLocation, open_store
from qa.evidence import SentenceCache
from qa.lru import VectorLRU
from qa.settings import Settings

log = logging.getLogger(__name__)

#: Query vectors an engine keeps (a question and its follow-ups, the UI's recent ones).
QUERY_CACHE_SIZE = 256


class QueryVectors:
    """A bounded LRU of one embedder's query vectors.

    A question is embedded once for retrieval and again for evidence scoring; this
    makes the second (and a repeated question) free.
    """

    def __init__(self, embedder: Embedder, size: int = QUERY_CACHE_SIZE) -> None:
        self._embedder = embedder
        self._cache = VectorLRU(size)

    @property
    def embedder(self) -> Embedder:
        """The embedder the vectors come from."""
        return self._embedder

    def get(self, question: str) -> np.ndarray:
        """The question's query vector, embedded on first use."""
        return self._cache.get_many([question], self._embedder.embed_queries)[0]

    def clear(self) -> None:
        """Forget every vector (a benchmark times a question as if it were new)."""
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)


@dataclass
class OpenIndex:
    """A store, its current lexical view, the embedder that reads it and its caches.

    Attributes:
        store: The chunk store.
        lexical: The BM25 view matching the store's generation.
        embedder: The index's embedder.
        queries: Query vectors of this embedder (the engine's, kept across reopening).
        sentences: Vectors of sentences embedded at question time (likewise).
    """

    store: ChunkStore
    lexical: LexicalIndex
    embedder: Embedder
    queries: QueryVectors = None  # type: ignore[assignment]
    sentences: SentenceCache = field(default_factory=SentenceCache)

    def __post_init__(self) -> None:
        if self.queries is None:
            self.queries = QueryVectors(self.embedder)


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


def open_for_reading(
    settings: Settings,
    embedder: Embedder,
    *,
    queries: QueryVectors | None = None,
    sentences: SentenceCache | None = None,
) -> OpenIndex:
    """Open the index for asking questions, with a lexical view that matches the store.

    Args:
        settings: Where the index lives.
        embedder: The embedder the index must have been built with.
        queries: Query-vector cache to carry (default: a new one).
        sentences: Sentence-vector cache to carry (default: a new one).

    Raises:
        IndexNotBuiltError: Nothing has been indexed yet.
        IndexRebuildingError: Another writer is rebuilding this index right now.
        EmbeddingModelMismatchError: The index was built with another model.
        StoreUnavailableError: The Chroma server is down.
        DataDirError: The data directory is unreadable.
    """
    refuse_during_rebuild(settings)
    try:
        store = open_store(
            store_location(settings), embedder_identity=embedder.identity, create=False
        )
        return OpenIndex(
            store,
            _current_lexical(store, lexical_dir(settings)),
            embedder,
            queries if queries is not None else QueryVectors(embedder),
            sentences if sentences is not None else SentenceCache(),
        )
    except IndexNotBuiltError:
        # Dropped a moment ago by a rebuild that has just taken the lock.
        refuse_during_rebuild(settings)
        raise


def still_current(index: OpenIndex, settings: Settings) -> bool:
    """Whether an open handle may keep serving; its lexical view is refreshed in place.

    Returns:
        False when the index was rebuilt or its data dir replaced (the handle reads
        deleted data and must be reopened).

    Raises:
        QAError: The store cannot be read (e.g. the Chroma server is down); the caller
            drops the handle and reopens once it may be back, instead of keeping a
            handle in an unknown state.
    """
    if index.store.replaced_on_disk() or index.store.recreated():
        # The data dir was deleted and indexed again (or swapped), or another process
        # ran `qa index --rebuild`.
        log.info("the index in %s was rebuilt; reopening it", settings.data_dir)
        return False
    if index.lexical.generation != index.store.generation():
        # Another writer (the UI's upload, a CLI run) changed the store.
        index.lexical = _current_lexical(index.store, lexical_dir(settings))
    return True


def refuse_during_rebuild(settings: Settings) -> None:
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


def open_for_writing(settings: Settings, embedder: Embedder) -> ChunkStore:
    """The store (created if missing) for indexing with ``embedder``."""
    return open_store(store_location(settings), embedder_identity=embedder.identity, create=True)
