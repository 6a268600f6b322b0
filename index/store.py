"""All ChromaDB I/O lives here; no other module imports ``chromadb``.

Three collections per index name:

* ``<name>`` holds one record per chunk: its vector, its text as the document and
  flat scalar metadata (``published`` is an int epoch so date ranges filter in Chroma;
  ``n_sentences`` says how many sentence vectors the chunk has).
* ``<name>-sentences`` holds one record per sentence of a chunk: id ``<chunk_id>:<i>``
  (``i`` in ``split_sentences(chunk.text)`` order), the sentence vector and
  ``article_id`` metadata. Question time reads them by primary key instead of embedding
  sentences. Indexes built before it existed have neither the
  collection nor ``n_sentences``; they still work (sentences are embedded when asked).
* ``<name>-articles`` is the manifest: one record per *completely* indexed article,
  written only after all its chunks and sentence vectors are stored. An article without
  a manifest entry (or with a stale content hash) is re-indexed on the next run, which
  is what makes an interrupted run safe to repeat. Deletes go manifest, sentences,
  chunks: a run killed in between leaves chunks without a manifest entry, which the
  next run finds and removes (sentences never outlive their chunks unnoticed).

The chunk collection's metadata records the embedding model identity, so vectors
from two models are never mixed.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import chromadb
import httpx
import numpy as np
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.errors import InternalError, NotFoundError

from index.chunking import split_sentences
from index.errors import (
    DataDirError,
    EmbeddingModelMismatchError,
    IndexNotBuiltError,
    StoreUnavailableError,
)
from index.models import Article, Chunk, Filters, RetrievedChunk

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_GET_PAGE = 5000  # rows per `get` call: keeps memory flat on 100k-chunk collections
# The sentence collection is only read by primary key, never searched, but Chroma builds
# an HNSW graph for every collection; a sparse one keeps the write cost of ~6 vectors per
# chunk down.
_SENTENCE_HNSW = {"hnsw": {"space": "cosine", "ef_construction": 16, "max_neighbors": 4}}


@dataclass(frozen=True)
class ManifestEntry:
    """What the store knows about one completely indexed article."""

    article_id: str
    content_hash: str
    chunker: str
    n_chunks: int
    path: str
    title: str
    published: datetime
    source: str


@dataclass(frozen=True)
class StoreLocation:
    """Where the index lives: a local data directory or a Chroma server.

    Args:
        data_dir: Directory for the embedded store (ignored in server mode except
            for the lexical view, which always lives locally).
        collection: Index name; Chroma collection names derive from it.
        host: Chroma server host; set together with ``port`` for server mode.
        port: Chroma server port.
    """

    data_dir: Path
    collection: str = "news"
    host: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        if (self.host is None) != (self.port is None):
            raise ValueError("host and port must be given together (server mode) or not at all")

    @property
    def describe(self) -> str:
        """Human-readable location for messages and the status line."""
        if self.host is not None:
            return f"chroma server {self.host}:{self.port} (collection {self.collection})"
        return f"{self.data_dir} (collection {self.collection})"


# ------------------------------------------------------------ Chroma's client cache
# chromadb keeps one started "System" per persist directory in a class-level dict
# (SharedSystemClient._identifier_to_system, keyed by the path string) and hands it
# to every later PersistentClient for that path. Two things go wrong with that in a
# long-running process (the UI): a System whose start failed on a corrupted store
# stays cached, and a System whose files were deleted or replaced on disk keeps
# being reused. We remember which sqlite file each cached System opened and evict
# only that one path's entry, so other open stores in the process are untouched.
# This stays module-level on purpose (it is not one of the answer path's caches,
# which qa.engine.Engine owns): it shadows chromadb's registry, which is per process,
# so a copy per engine would miss Systems opened by another engine on the same path.

# Chroma identifier -> (st_dev, st_ino) of the sqlite file its System opened.
_opened_files: dict[str, tuple[int, int] | None] = {}
_cache_lock = threading.Lock()


def _sqlite_file_id(chroma_dir: Path) -> tuple[int, int] | None:
    """Identity of the store's sqlite file on disk, or None when it is missing."""
    try:
        st = os.stat(chroma_dir / "chroma.sqlite3")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _evict(identifier: str, *, stop: bool) -> None:
    """Forget Chroma's cached System for one persist directory.

    Args:
        identifier: Chroma's cache key (the persist directory string).
        stop: Also stop the System. Only for one that failed to start: a stale but
            working System may still serve ChunkStores held elsewhere, and is freed
            by garbage collection once they are gone.
    """
    with SharedSystemClient._refcount_lock:
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)
    _opened_files.pop(identifier, None)
    if system is not None and stop:
        with contextlib.suppress(Exception):  # half-started components may not stop cleanly
            system.stop()


def _persistent_client(chroma_dir: Path, settings: Any) -> Any:
    """``chromadb.PersistentClient`` that never reuses a broken or stale cached System."""
    identifier = str(chroma_dir)
    with _cache_lock:
        on_disk = _sqlite_file_id(chroma_dir)
        cached = identifier in SharedSystemClient._identifier_to_system
        if cached and (on_disk is None or _opened_files.get(identifier) != on_disk):
            # Deleted, moved away or replaced since it was opened: writing through the
            # old System fails ("attempt to write a readonly database").
            log.info("chroma store %s changed on disk; opening it afresh", chroma_dir)
            _evict(identifier, stop=False)
        try:
            client = chromadb.PersistentClient(path=identifier, settings=settings)
        except Exception:
            _evict(identifier, stop=True)
            raise
        _opened_files[identifier] = _sqlite_file_id(chroma_dir)
        return client


def _forget_failed(location: StoreLocation) -> None:
    """Evict the cached System of an embedded store that turned out unreadable."""
    if location.host is None:
        with _cache_lock:
            _evict(str(location.data_dir / "chroma"), stop=False)


def _client(location: StoreLocation, *, create: bool) -> Any:
    settings = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
    if location.host is not None:
        try:
            client = chromadb.HttpClient(host=location.host, port=location.port, settings=settings)
            client.heartbeat()
        except Exception as exc:  # chromadb raises several unrelated types here
            raise StoreUnavailableError(
                f"cannot reach the Chroma server at {location.host}:{location.port} ({exc}). "
                "Start it with `chroma run --path DIR --host HOST --port PORT`, or unset "
                "QA_CHROMA_HOST/QA_CHROMA_PORT to use the embedded store."
            ) from exc
        return client
    chroma_dir = location.data_dir / "chroma"
    if chroma_dir.exists() and not chroma_dir.is_dir():
        raise DataDirError(
            f"{chroma_dir} is not a directory: the data directory is damaged. Move "
            f"{location.data_dir} away and rebuild: `qa index --rebuild PATH...`."
        )
    if not create and not (chroma_dir / "chroma.sqlite3").exists():
        raise IndexNotBuiltError(
            f"no index in {location.data_dir}: run `qa index PATH...` first "
            "(or `make run` to index the bundled sample articles)."
        )
    try:
        chroma_dir.mkdir(parents=True, exist_ok=True)
        return _persistent_client(chroma_dir, settings)
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(chroma_dir, exc) from exc
        if _is_read_only(exc) or isinstance(exc, PermissionError):
            raise DataDirError(read_only_message(location.data_dir, exc)) from exc
        raise DataDirError(
            f"cannot open the data directory {chroma_dir} ({exc}). If it is corrupted, "
            f"move it away and rebuild: `qa index --rebuild PATH...`."
        ) from exc


_F = TypeVar("_F", bound=Callable[..., Any])

# How a full disk shows up: OSError(ENOSPC) from Python, sqlite's SQLITE_FULL and the
# Rust bindings' io::Error text inside chromadb's own exception types.
_DISK_FULL_TEXT = ("no space left on device", "database or disk is full", "os error 28")


def is_disk_full(exc: BaseException) -> bool:
    """Whether an exception (or one it was raised from) means the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if any(text in str(current).lower() for text in _DISK_FULL_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full_error(path: Path, exc: BaseException) -> DataDirError:
    """The error for a full disk: names the path, never advises a rebuild (it loses data)."""
    return DataDirError(
        f"No space left on device: cannot write to {path} ({exc}). Free some space on that "
        "disk (or point QA_DATA_DIR elsewhere) and run the same command again; the index "
        "is kept as it was before this write."
    )


# Chroma's compaction reports some write failures without their cause ("Failed to
# apply logs to the metadata segment"); with this little space left, a full disk is
# the likely cause, and advising a rebuild would destroy a store that is fine.
_LOW_SPACE_BYTES = 64 * 1024 * 1024


def _free_bytes(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


def _is_read_only(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "readonly database" in text or "read-only file system" in text


def read_only_message(data_dir: Path, exc: BaseException) -> str:
    """Why a read-only data directory cannot be used, and what to do."""
    return (
        f"the data directory {data_dir} is not writable ({exc}). It must be: the embedded "
        "Chroma store writes to its sqlite database when it opens, even only to answer "
        "questions. Fix its permissions, or copy it somewhere writable and point "
        "QA_DATA_DIR there."
    )


def _translate(exc: Exception, location: StoreLocation) -> Exception | None:
    """The typed error for a failure of Chroma I/O, or None to let it propagate."""
    if isinstance(exc, NotFoundError):
        # The collections were dropped under us (a rebuild by another process).
        return IndexNotBuiltError(
            f"the index in {location.describe} is gone ({exc}): it was deleted or is being "
            "rebuilt. Ask again, or run `qa index PATH...`."
        )
    if location.host is not None and isinstance(exc, httpx.TransportError | InternalError):
        return StoreUnavailableError(
            f"the Chroma server at {location.host}:{location.port} is not answering "
            f"({type(exc).__name__}: {exc}). Start it again (`chroma run --path DIR --host "
            "HOST --port PORT`), or unset QA_CHROMA_HOST/QA_CHROMA_PORT to use the "
            "embedded store."
        )
    if location.host is None and is_disk_full(exc):
        return disk_full_error(location.data_dir, exc)
    if location.host is None and _is_read_only(exc):
        return DataDirError(read_only_message(location.data_dir, exc))
    if location.host is None and isinstance(exc, InternalError):
        free = _free_bytes(location.data_dir)
        if free is not None and free < _LOW_SPACE_BYTES:
            return DataDirError(
                f"No space left on device, most likely: writing to {location.data_dir} "
                f"failed ({exc}) with only {free // 1024} KiB free on its disk. Free some "
                "space and run the same command again; do not rebuild, the index is kept."
            )
        # sqlite failures ("no such table", a damaged file).
        return DataDirError(
            f"cannot use the index in {location.describe} ({exc}). If the data directory "
            "was deleted or is corrupted, move it away and rebuild: "
            "`qa index --rebuild PATH...`."
        )
    return None


def _chroma_io(method: _F) -> _F:
    """Decorate a ChunkStore method so Chroma failures surface as typed QAErrors.

    Without it a server that went down mid-session leaks a raw ``httpx.ConnectError``
    (the UI can only say "Something went wrong"). Generator methods are guarded for
    their whole iteration.
    """
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def gen_wrapper(self: ChunkStore, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(self, *args, **kwargs)
            except Exception as exc:
                typed = _translate(exc, self.location)
                if typed is None:
                    raise
                raise typed from exc

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(method)
    def wrapper(self: ChunkStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            typed = _translate(exc, self.location)
            if typed is None:
                raise
            raise typed from exc

    return wrapper  # type: ignore[return-value]


class ChunkStore:
    """Typed access to the chunk and manifest collections of one index.

    Create it with :func:`open_store`.
    """

    def __init__(
        self,
        client: Any,
        chunks: Any,
        articles: Any,
        location: StoreLocation,
        sentences: Any = None,
    ) -> None:
        self._client = client
        self._chunks = chunks
        self._articles = articles
        # None: an index built before sentence vectors were stored (read-only open).
        self._sentences = sentences
        self._warned_no_sentences = False
        self.location = location
        self._file_id = None if location.host else _sqlite_file_id(location.data_dir / "chroma")

    def replaced_on_disk(self) -> bool:
        """Whether another store now sits where this one was opened (embedded mode).

        True after the data directory was deleted and indexed again, or swapped for
        another one: this handle still reads the old, deleted files. A store that is
        merely deleted (nothing there yet) is not "replaced": it keeps answering.
        """
        if self.location.host is not None:
            return False
        now = _sqlite_file_id(self.location.data_dir / "chroma")
        return now is not None and now != self._file_id

    def recreated(self) -> bool:
        """Whether this handle's collections were dropped (and maybe built again) since.

        True after ``qa index --rebuild`` by another process: the collections under
        these names are new ones (another Chroma id), or gone, and this handle's
        collection objects point at deleted data. Reopen the store then.
        """
        for held in (self._chunks, self._articles):
            try:
                now = self._client.get_collection(held.name, embedding_function=None)
            except NotFoundError:
                return True
            except Exception as exc:
                typed = _translate(exc, self.location)
                if typed is None:
                    raise
                raise typed from exc
            if now.id != held.id:
                return True
        return False

    # ----------------------------------------------------------------- reading

    @property
    def embedder_identity(self) -> str:
        """Identity of the embedding model that built this index."""
        return str(self._chunks.metadata.get("embedding_model", ""))

    @_chroma_io
    def generation(self) -> int:
        """Counter bumped before every write, so derived views can tell they are stale."""
        return int(self._fresh_metadata().get("qa_generation", 0))

    def _fresh_metadata(self) -> dict[str, Any]:
        # Re-read: another process (or an earlier run) may have bumped the generation.
        col = self._client.get_collection(self._chunks.name, embedding_function=None)
        return dict(col.metadata or {})

    @_chroma_io
    def count_chunks(self) -> int:
        """Number of stored chunks."""
        return int(self._chunks.count())

    @_chroma_io
    def count_articles(self) -> int:
        """Number of completely indexed articles."""
        return int(self._articles.count())

    @_chroma_io
    def manifest(self) -> dict[str, ManifestEntry]:
        """All completely indexed articles, by id."""
        entries: dict[str, ManifestEntry] = {}
        for ids, _docs, metas, _embs in self._pages(self._articles, ["metadatas"]):
            for article_id, meta in zip(ids, metas, strict=True):
                entries[article_id] = _to_manifest_entry(article_id, meta)
        return entries

    @_chroma_io
    def iter_chunks(self) -> Iterator[Chunk]:
        """Every stored chunk, page by page (for rebuilding the lexical view)."""
        for ids, docs, metas, _embs in self._pages(self._chunks, ["documents", "metadatas"]):
            yield from _to_chunks(ids, docs, metas)

    @_chroma_io
    def chunk_embeddings(self, article_id: str) -> dict[str, np.ndarray]:
        """Stored vectors of one article's chunks, keyed by chunk text.

        Used to avoid re-embedding text that did not change when an article is updated.
        """
        got = self._chunks.get(
            where={"article_id": article_id}, include=["documents", "embeddings"]
        )
        docs = got.get("documents") or []
        embs = got.get("embeddings")
        if embs is None:
            return {}
        return {doc: np.asarray(emb, dtype=np.float32) for doc, emb in zip(docs, embs, strict=True)}

    @_chroma_io
    def sentence_embeddings(self, article_id: str) -> dict[str, np.ndarray]:
        """Stored sentence vectors of one article's chunks, keyed by chunk text.

        Only chunks whose sentence vectors are complete are returned, so a reused chunk
        never lacks some (an index built before sentence vectors has none).

        Returns:
            ``{chunk_text: float32 [n_sentences, dim]}``, rows in ``split_sentences`` order.
        """
        if self._sentences is None:
            return {}
        got = self._chunks.get(where={"article_id": article_id}, include=["documents", "metadatas"])
        counts = {
            cid: (doc, int(meta["n_sentences"]))
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            if meta and "n_sentences" in meta
        }
        if not counts:
            return {}
        rows = self._sentences.get(where={"article_id": article_id}, include=["embeddings"])
        vectors = _sentence_rows(rows["ids"], rows.get("embeddings"))
        out: dict[str, np.ndarray] = {}
        for cid, (doc, n) in counts.items():
            matrix = _sentence_matrix(vectors, cid, n)
            if matrix is not None:
                out[doc] = matrix
        return out

    @_chroma_io
    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored sentence vectors of some chunks, by primary key (no vector search).

        Args:
            chunk_ids: Chunk ids, e.g. of the retrieved chunks.

        Returns:
            ``{chunk_id: float32 [n_sentences, dim]}``, rows in
            ``split_sentences(chunk.text)`` order. Chunks without complete stored vectors
            (an index built before they were stored) are left out: the caller embeds
            their sentences itself.
        """
        ids = list(dict.fromkeys(chunk_ids))
        if not ids:
            return {}
        counts: dict[str, int] = {}
        if self._sentences is not None:
            got = self._chunks.get(ids=ids, include=["metadatas"])
            counts = {
                cid: int(meta["n_sentences"])
                for cid, meta in zip(got["ids"], got["metadatas"], strict=True)
                if meta and "n_sentences" in meta
            }
        if len(counts) < len(ids) and not self._warned_no_sentences:
            self._warned_no_sentences = True
            log.info(
                "the index in %s has chunks without stored sentence vectors (built before "
                "they were stored): their sentences are embedded at question time. "
                "`qa index --rebuild PATH...` stores them.",
                self.location.describe,
            )
        wanted = [f"{cid}:{i}" for cid, n in counts.items() for i in range(n)]
        if not wanted:
            return {}
        rows = self._sentences.get(ids=wanted, include=["embeddings"])
        vectors = _sentence_rows(rows["ids"], rows.get("embeddings"))
        out: dict[str, np.ndarray] = {}
        for cid, n in counts.items():
            matrix = _sentence_matrix(vectors, cid, n)
            if matrix is not None:
                out[cid] = matrix
        return out

    @_chroma_io
    def count_sentences(self) -> int:
        """Number of stored sentence vectors (0 for an index built before they were)."""
        return 0 if self._sentences is None else int(self._sentences.count())

    @_chroma_io
    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked (missing ids are skipped)."""
        if not chunk_ids:
            return []
        got = self._chunks.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        by_id = {c.id: c for c in _to_chunks(got["ids"], got["documents"], got["metadatas"])}
        return [by_id[i] for i in chunk_ids if i in by_id]

    @_chroma_io
    def get_article(self, article_id: str) -> Article | None:
        """The full stored article, or None if it is not indexed."""
        got = self._articles.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        entry = _to_manifest_entry(article_id, got["metadatas"][0])
        caption, _, body = (got["documents"][0] or "").partition("\n\n")
        return Article(
            id=article_id,
            title=entry.title,
            published=entry.published,
            source=entry.source,
            caption=caption,
            paragraphs=tuple(p for p in body.split("\n\n") if p),
            content_hash=entry.content_hash,
            path=Path(entry.path) if entry.path else None,
        )

    @_chroma_io
    def query(
        self, embedding: np.ndarray, *, k: int, where: Mapping[str, Any] | None = None
    ) -> list[RetrievedChunk]:
        """Nearest chunks by cosine similarity.

        Args:
            embedding: Query vector (normalised).
            k: How many chunks to return at most.
            where: A Chroma ``where`` filter, e.g. from :func:`where_of`.

        Returns:
            Chunks best first; ``score`` and ``dense_score`` are cosine similarities.
        """
        # No count() first: it costs 8 ms at 100k chunks, and Chroma already returns
        # fewer than k results (or none) from a smaller collection.
        res = self._chunks.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32).tolist()],
            n_results=k,
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        chunks = _to_chunks(res["ids"][0], res["documents"][0], res["metadatas"][0])
        out = []
        for chunk, dist in zip(chunks, res["distances"][0], strict=True):
            sim = 1.0 - float(dist)  # cosine space: distance = 1 - similarity
            out.append(RetrievedChunk(chunk=chunk, score=sim, dense_score=sim))
        return out

    @_chroma_io
    def nearest_ids(self, embedding: np.ndarray, *, k: int) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the ``k`` nearest chunks, unfiltered.

        Much cheaper than :meth:`query` for large ``k``: no documents or metadata are
        read (1 000 ids in ~16 ms at 100k chunks, against ~60 ms for 500 with metadata),
        so callers can over-fetch and filter on metadata they hold themselves.

        Args:
            embedding: Query vector (normalised).
            k: How many ids to return at most.

        Returns:
            ``(chunk_id, similarity)`` pairs, best first.
        """
        res = self._chunks.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32).tolist()],
            n_results=k,
            include=["distances"],
        )
        ids, distances = res["ids"][0], res["distances"][0]
        return [(str(i), 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    # ----------------------------------------------------------------- writing

    @_chroma_io
    def bump_generation(self) -> int:
        """Mark derived views stale before a write; returns the new generation."""
        meta = self._fresh_metadata()
        meta["qa_generation"] = int(meta.get("qa_generation", 0)) + 1
        self._chunks.modify(metadata=meta)
        return int(meta["qa_generation"])

    @_chroma_io
    def write_articles(
        self,
        articles: Sequence[Article],
        chunks: Mapping[str, Sequence[Chunk]],
        embeddings: Mapping[str, np.ndarray],
        chunker: str,
        sentences: Mapping[str, np.ndarray] | None = None,
        *,
        writer: str = "",
    ) -> None:
        """Replace the stored chunks of some articles, then mark them complete.

        Order matters for crash safety: old sentence vectors and chunks are deleted,
        new chunks and their sentence vectors written, and only then is each article's
        manifest entry written.

        Args:
            articles: Articles to (re)write.
            chunks: Chunks per article id.
            embeddings: Vector per chunk id.
            chunker: Signature of the chunking parameters used.
            writer: Identity of the writing process (``index.lock.writer_id``), stored
                with each chunk so a clean-up never deletes a live writer's chunks.
            sentences: Sentence vectors per chunk id (``[n, dim]``, rows in
                ``split_sentences(chunk.text)`` order). Chunks without an entry get
                none stored; their sentences are embedded at question time.

        Raises:
            ValueError: A chunk's sentence vectors do not match its sentences.
        """
        if not articles:
            return
        ids = [a.id for a in articles]
        sentences = sentences or {}
        if self._sentences is not None:
            self._sentences.delete(where={"article_id": {"$in": ids}})
        self._chunks.delete(where={"article_id": {"$in": ids}})
        all_chunks = [c for a in articles for c in chunks[a.id]]
        with_sentences = (
            {c.id for c in all_chunks if c.id in sentences} if self._sentences else set()
        )
        if all_chunks:
            self._chunks.upsert(
                ids=[c.id for c in all_chunks],
                embeddings=np.stack([embeddings[c.id] for c in all_chunks]).astype(np.float32),
                documents=[c.text for c in all_chunks],
                metadatas=[
                    {
                        **_chunk_metadata(
                            c, len(sentences[c.id]) if c.id in with_sentences else None
                        ),
                        "writer": writer,
                    }
                    for c in all_chunks
                ],
            )
        self._write_sentences([c for c in all_chunks if c.id in with_sentences], sentences)
        self._articles.upsert(
            ids=ids,
            # The manifest needs no vector search; Chroma still wants a vector per record.
            embeddings=np.ones((len(ids), 1), dtype=np.float32),
            documents=[_article_document(a) for a in articles],
            metadatas=[_article_metadata(a, chunker, len(chunks[a.id])) for a in articles],
        )

    def _write_sentences(
        self, chunks: Sequence[Chunk], sentences: Mapping[str, np.ndarray]
    ) -> None:
        # No document and only article_id (for deletes): Chroma full-text-indexes every
        # document, and that made writing the samples' 681 sentences 0.25 s instead of
        # 0.05 s. The text is split_sentences(chunk.text)[i]; chunk id and position are
        # in the record id.
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        matrices: list[np.ndarray] = []
        for chunk in chunks:
            n = len(split_sentences(chunk.text))
            matrix = np.asarray(sentences[chunk.id], dtype=np.float32)
            if matrix.shape[0] != n:
                raise ValueError(
                    f"chunk {chunk.id} has {n} sentences but {matrix.shape[0]} vectors"
                )
            ids.extend(f"{chunk.id}:{i}" for i in range(n))
            metas.extend({"article_id": chunk.article_id} for _ in range(n))
            matrices.append(matrix)
        if not ids:
            return
        vectors = np.concatenate(matrices)
        # Chroma caps the rows of one call; scale writes may pass more than a group holds.
        step = max(1, int(self._client.get_max_batch_size()))
        for start in range(0, len(ids), step):
            stop = start + step
            self._sentences.upsert(
                ids=ids[start:stop], embeddings=vectors[start:stop], metadatas=metas[start:stop]
            )

    @_chroma_io
    def update_paths(self, paths: Mapping[str, str]) -> None:
        """Record new file paths of unchanged (moved) articles without re-embedding."""
        if not paths:
            return
        got = self._articles.get(ids=list(paths), include=["metadatas"])
        metas = []
        for article_id, meta in zip(got["ids"], got["metadatas"], strict=True):
            metas.append({**meta, **_path_metadata(paths[article_id])})
        self._articles.update(ids=got["ids"], metadatas=metas)

    @_chroma_io
    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove articles, their sentence vectors and chunks.

        Manifest first (they stop counting as complete), chunks last (leftover chunks
        are found as orphans by the next run and removed with their sentences).
        """
        if not article_ids:
            return
        self._articles.delete(ids=list(article_ids))
        if self._sentences is not None:
            self._sentences.delete(where={"article_id": {"$in": list(article_ids)}})
        self._chunks.delete(where={"article_id": {"$in": list(article_ids)}})

    @_chroma_io
    def orphan_article_ids(self) -> set[str]:
        """Article ids that have chunks but no manifest entry (an interrupted write)."""
        return set(self.orphans())

    @_chroma_io
    def orphans(self) -> dict[str, set[str]]:
        """Articles with chunks but no manifest entry, with the writers of those chunks.

        Such chunks are debris of an interrupted write, or the work in progress of a
        writer that is still running: the writer ids (``""`` for chunks written
        before writers were recorded) tell them apart.
        """
        complete = set(self.manifest())
        found: dict[str, set[str]] = {}
        for _ids, _docs, metas, _embs in self._pages(self._chunks, ["metadatas"]):
            for meta in metas:
                article_id = str(meta["article_id"])
                if article_id not in complete:
                    found.setdefault(article_id, set()).add(str(meta.get("writer", "")))
        return found

    # ----------------------------------------------------------------- helpers

    def _pages(
        self, collection: Any, include: list[str]
    ) -> Iterator[tuple[list[str], list[Any], list[Any], Any]]:
        offset = 0
        while True:
            got = collection.get(include=include, limit=_GET_PAGE, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            yield (
                ids,
                got.get("documents") or [None] * len(ids),
                got.get("metadatas") or [{}] * len(ids),
                got.get("embeddings"),
            )
            offset += len(ids)


def open_store(
    location: StoreLocation, *, embedder_identity: str | None, create: bool
) -> ChunkStore:
    """Open (or create) the index at ``location``.

    Args:
        location: Data directory or server, and the index name.
        embedder_identity: Identity of the embedder that will read or write vectors;
            None to skip the check, for callers that touch no vectors (listing and
            removing articles), so they need not load a model.
        create: Create the collections if missing (indexing); when False a missing
            index raises :class:`IndexNotBuiltError` (asking).

    Returns:
        The opened store.

    Raises:
        IndexNotBuiltError: ``create`` is False and there is no index yet.
        EmbeddingModelMismatchError: The index was built with another model.
        StoreUnavailableError: The Chroma server cannot be reached.
        DataDirError: The data directory cannot be opened.
    """
    if create and embedder_identity is None:
        raise ValueError("creating an index needs the embedder identity")
    client = _client(location, create=create)
    names = (location.collection, f"{location.collection}-articles")
    sentences_name = _sentences_name(location)
    try:
        if create:
            chunks = client.get_or_create_collection(
                names[0],
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": embedder_identity, "schema": SCHEMA_VERSION},
            )
            articles = client.get_or_create_collection(names[1], embedding_function=None)
            sentences = client.get_or_create_collection(
                sentences_name, embedding_function=None, configuration=_SENTENCE_HNSW
            )
        else:
            chunks = client.get_collection(names[0], embedding_function=None)
            articles = client.get_collection(names[1], embedding_function=None)
            try:
                sentences = client.get_collection(sentences_name, embedding_function=None)
            except NotFoundError:
                sentences = None  # built before sentence vectors were stored
    except NotFoundError as exc:
        raise IndexNotBuiltError(
            f"no index named {location.collection!r} in {location.describe}: "
            "run `qa index PATH...` first."
        ) from exc
    except Exception as exc:
        if location.host is not None:
            raise StoreUnavailableError(
                f"the Chroma server at {location.host}:{location.port} failed: {exc}"
            ) from exc
        # The client started but the store is unreadable: a later open (after the
        # user moved the directory away) must not get this System back from the cache.
        _forget_failed(location)
        if is_disk_full(exc):
            raise disk_full_error(location.data_dir, exc) from exc
        if _is_read_only(exc):
            raise DataDirError(read_only_message(location.data_dir, exc)) from exc
        raise DataDirError(
            f"cannot read the index in {location.describe} ({exc}). If it is corrupted, "
            "move the data directory away and rebuild: `qa index --rebuild PATH...`."
        ) from exc
    built_with = str((chunks.metadata or {}).get("embedding_model", ""))
    if embedder_identity is not None and built_with != embedder_identity:
        raise EmbeddingModelMismatchError(
            f"the index in {location.describe} was built with {built_with!r}, but the "
            f"embedder in use is {embedder_identity!r}. Rebuild it with "
            "`qa index --rebuild PATH...` or switch QA_EMBEDDER / QA_EMBEDDING_RUNTIME back."
        )
    return ChunkStore(client, chunks, articles, location, sentences)


def drop_index(location: StoreLocation) -> None:
    """Delete all collections of an index (used by ``qa index --rebuild``)."""
    client = _client(location, create=True)
    for name in (
        location.collection,
        f"{location.collection}-articles",
        _sentences_name(location),
    ):
        with contextlib.suppress(NotFoundError):
            client.delete_collection(name)


_WHERE_OPS = {"gte": "$gte", "lte": "$lte"}


def where_of(filters: Filters) -> dict[str, Any] | None:
    """The Chroma ``where`` filter for :meth:`Filters.conditions`.

    Args:
        filters: Date range and source tag.

    Returns:
        The filter, or None when nothing is filtered.
    """
    clauses: list[dict[str, Any]] = [
        {c.field: c.value} if c.op == "eq" else {c.field: {_WHERE_OPS[c.op]: c.value}}
        for c in filters.conditions()
    ]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


# --------------------------------------------------------------------- mapping
# Chroma's columnar results become typed records here and nowhere else.


def _to_chunks(
    ids: Sequence[str], documents: Sequence[str | None], metadatas: Sequence[Mapping[str, Any]]
) -> list[Chunk]:
    return [
        Chunk(
            id=chunk_id,
            article_id=str(meta["article_id"]),
            position=int(meta["position"]),
            text=doc or "",
            title=str(meta["title"]),
            published=datetime.fromtimestamp(int(meta["published"]), tz=UTC),
            source=str(meta["source"]),
        )
        for chunk_id, doc, meta in zip(ids, documents, metadatas, strict=True)
    ]


def _to_manifest_entry(article_id: str, meta: Mapping[str, Any]) -> ManifestEntry:
    return ManifestEntry(
        article_id=article_id,
        content_hash=str(meta["content_hash"]),
        chunker=str(meta.get("chunker", "")),
        n_chunks=int(meta.get("n_chunks", 0)),
        path=_path_from_metadata(meta),
        title=str(meta["title"]),
        published=datetime.fromtimestamp(int(meta["published"]), tz=UTC),
        source=str(meta["source"]),
    )


def _chunk_metadata(chunk: Chunk, n_sentences: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "article_id": chunk.article_id,
        "position": chunk.position,
        "title": chunk.title,
        "published": int(chunk.published.timestamp()),
        "source": chunk.source,
    }
    if n_sentences is not None:
        meta["n_sentences"] = n_sentences
    return meta


def _sentences_name(location: StoreLocation) -> str:
    return f"{location.collection}-sentences"


def _sentence_rows(ids: Sequence[str], embeddings: Any) -> dict[str, np.ndarray]:
    if embeddings is None or len(ids) == 0:
        return {}
    matrix = np.asarray(embeddings, dtype=np.float32)
    return {str(i): matrix[k] for k, i in enumerate(ids)}


def _sentence_matrix(rows: Mapping[str, np.ndarray], chunk_id: str, n: int) -> np.ndarray | None:
    """The ``[n, dim]`` sentence vectors of one chunk, or None when any row is missing."""
    try:
        return np.stack([rows[f"{chunk_id}:{i}"] for i in range(n)]) if n else None
    except KeyError:
        return None


def _article_metadata(article: Article, chunker: str, n_chunks: int) -> dict[str, Any]:
    return {
        "content_hash": article.content_hash,
        "chunker": chunker,
        "n_chunks": n_chunks,
        **_path_metadata(str(article.path) if article.path else ""),
        "title": article.title,
        "published": int(article.published.timestamp()),
        "source": article.source,
    }


def _path_metadata(path: str) -> dict[str, str]:
    """A file path as manifest metadata, also when its name is not valid UTF-8.

    Python represents undecodable bytes of a file name as lone surrogates, which
    Chroma cannot store. Such a path is kept as its raw bytes in hex (``path_bytes``,
    exact round trip) next to a readable version with the bad bytes replaced. The key
    is always written, so updating a path to a valid name drops the old bytes.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        return {"path": raw.decode("utf-8", "replace"), "path_bytes": raw.hex()}
    return {"path": path, "path_bytes": ""}


def _path_from_metadata(meta: Mapping[str, Any]) -> str:
    raw = str(meta.get("path_bytes", "") or "")
    if raw:
        with contextlib.suppress(ValueError):
            return os.fsdecode(bytes.fromhex(raw))
    return str(meta.get("path", ""))


def _article_document(article: Article) -> str:
    # Caption first, then paragraphs: get_article() splits it back the same way.
    return "\n\n".join([article.caption, *article.paragraphs])
