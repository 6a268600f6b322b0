"""All ChromaDB I/O lives here; no other module imports ``chromadb``.

Two collections per index name:

* ``<name>`` holds one record per chunk: its vector, its text as the document and
  flat scalar metadata (``published`` is an int epoch so date ranges filter in Chroma).
* ``<name>-articles`` is the manifest: one record per *completely* indexed article,
  written only after all its chunks are stored. An article without a manifest entry
  (or with a stale content hash) is re-indexed on the next run, which is what makes
  an interrupted run safe to repeat.

The chunk collection's metadata records the embedding model identity, so vectors
from two models are never mixed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.errors import NotFoundError

from index.errors import (
    DataDirError,
    EmbeddingModelMismatchError,
    IndexNotBuiltError,
    StoreUnavailableError,
)
from index.models import Article, Chunk, RetrievedChunk

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_GET_PAGE = 5000  # rows per `get` call: keeps memory flat on 100k-chunk collections


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
        return chromadb.PersistentClient(path=str(chroma_dir), settings=settings)
    except Exception as exc:
        raise DataDirError(
            f"cannot open the data directory {chroma_dir} ({exc}). If it is corrupted, "
            f"move it away and rebuild: `qa index --rebuild PATH...`."
        ) from exc


class ChunkStore:
    """Typed access to the chunk and manifest collections of one index.

    Create it with :func:`open_store`.
    """

    def __init__(self, client: Any, chunks: Any, articles: Any, location: StoreLocation) -> None:
        self._client = client
        self._chunks = chunks
        self._articles = articles
        self.location = location

    # ----------------------------------------------------------------- reading

    @property
    def embedder_identity(self) -> str:
        """Identity of the embedding model that built this index."""
        return str(self._chunks.metadata.get("embedding_model", ""))

    def generation(self) -> int:
        """Counter bumped before every write, so derived views can tell they are stale."""
        return int(self._fresh_metadata().get("qa_generation", 0))

    def _fresh_metadata(self) -> dict[str, Any]:
        # Re-read: another process (or an earlier run) may have bumped the generation.
        col = self._client.get_collection(self._chunks.name, embedding_function=None)
        return dict(col.metadata or {})

    def count_chunks(self) -> int:
        """Number of stored chunks."""
        return int(self._chunks.count())

    def count_articles(self) -> int:
        """Number of completely indexed articles."""
        return int(self._articles.count())

    def manifest(self) -> dict[str, ManifestEntry]:
        """All completely indexed articles, by id."""
        entries: dict[str, ManifestEntry] = {}
        for ids, _docs, metas, _embs in self._pages(self._articles, ["metadatas"]):
            for article_id, meta in zip(ids, metas, strict=True):
                entries[article_id] = _to_manifest_entry(article_id, meta)
        return entries

    def iter_chunks(self) -> Iterator[Chunk]:
        """Every stored chunk, page by page (for rebuilding the lexical view)."""
        for ids, docs, metas, _embs in self._pages(self._chunks, ["documents", "metadatas"]):
            yield from _to_chunks(ids, docs, metas)

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

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked (missing ids are skipped)."""
        if not chunk_ids:
            return []
        got = self._chunks.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        by_id = {c.id: c for c in _to_chunks(got["ids"], got["documents"], got["metadatas"])}
        return [by_id[i] for i in chunk_ids if i in by_id]

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

    def query(
        self, embedding: np.ndarray, *, k: int, where: Mapping[str, Any] | None = None
    ) -> list[RetrievedChunk]:
        """Nearest chunks by cosine similarity.

        Args:
            embedding: Query vector (normalised).
            k: How many chunks to return at most.
            where: A Chroma ``where`` filter, e.g. from :func:`build_where`.

        Returns:
            Chunks best first; ``score`` and ``dense_score`` are cosine similarities.
        """
        n = self.count_chunks()
        if n == 0:
            return []
        res = self._chunks.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32).tolist()],
            n_results=min(k, n),
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        chunks = _to_chunks(res["ids"][0], res["documents"][0], res["metadatas"][0])
        out = []
        for chunk, dist in zip(chunks, res["distances"][0], strict=True):
            sim = 1.0 - float(dist)  # cosine space: distance = 1 - similarity
            out.append(RetrievedChunk(chunk=chunk, score=sim, dense_score=sim))
        return out

    # ----------------------------------------------------------------- writing

    def bump_generation(self) -> int:
        """Mark derived views stale before a write; returns the new generation."""
        meta = self._fresh_metadata()
        meta["qa_generation"] = int(meta.get("qa_generation", 0)) + 1
        self._chunks.modify(metadata=meta)
        return int(meta["qa_generation"])

    def write_articles(
        self,
        articles: Sequence[Article],
        chunks: Mapping[str, Sequence[Chunk]],
        embeddings: Mapping[str, np.ndarray],
        chunker: str,
    ) -> None:
        """Replace the stored chunks of some articles, then mark them complete.

        Order matters for crash safety: old chunks are deleted, new chunks written,
        and only then is each article's manifest entry written.

        Args:
            articles: Articles to (re)write.
            chunks: Chunks per article id.
            embeddings: Vector per chunk id.
            chunker: Signature of the chunking parameters used.
        """
        if not articles:
            return
        ids = [a.id for a in articles]
        self._chunks.delete(where={"article_id": {"$in": ids}})
        all_chunks = [c for a in articles for c in chunks[a.id]]
        if all_chunks:
            self._chunks.upsert(
                ids=[c.id for c in all_chunks],
                embeddings=np.stack([embeddings[c.id] for c in all_chunks]).astype(np.float32),
                documents=[c.text for c in all_chunks],
                metadatas=[_chunk_metadata(c) for c in all_chunks],
            )
        self._articles.upsert(
            ids=ids,
            # The manifest needs no vector search; Chroma still wants a vector per record.
            embeddings=np.ones((len(ids), 1), dtype=np.float32),
            documents=[_article_document(a) for a in articles],
            metadatas=[_article_metadata(a, chunker, len(chunks[a.id])) for a in articles],
        )

    def update_paths(self, paths: Mapping[str, str]) -> None:
        """Record new file paths of unchanged (moved) articles without re-embedding."""
        if not paths:
            return
        got = self._articles.get(ids=list(paths), include=["metadatas"])
        metas = []
        for article_id, meta in zip(got["ids"], got["metadatas"], strict=True):
            metas.append({**meta, "path": paths[article_id]})
        self._articles.update(ids=got["ids"], metadatas=metas)

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove articles and their chunks (manifest first: they stop counting as complete)."""
        if not article_ids:
            return
        self._articles.delete(ids=list(article_ids))
        self._chunks.delete(where={"article_id": {"$in": list(article_ids)}})

    def orphan_article_ids(self) -> set[str]:
        """Article ids that have chunks but no manifest entry (an interrupted write)."""
        complete = set(self.manifest())
        seen: set[str] = set()
        for _ids, _docs, metas, _embs in self._pages(self._chunks, ["metadatas"]):
            seen.update(str(m["article_id"]) for m in metas)
        return seen - complete

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


def open_store(location: StoreLocation, *, embedder_identity: str, create: bool) -> ChunkStore:
    """Open (or create) the index at ``location``.

    Args:
        location: Data directory or server, and the index name.
        embedder_identity: Identity of the embedder that will read or write vectors.
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
    client = _client(location, create=create)
    names = (location.collection, f"{location.collection}-articles")
    try:
        if create:
            chunks = client.get_or_create_collection(
                names[0],
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": embedder_identity, "schema": SCHEMA_VERSION},
            )
            articles = client.get_or_create_collection(names[1], embedding_function=None)
        else:
            chunks = client.get_collection(names[0], embedding_function=None)
            articles = client.get_collection(names[1], embedding_function=None)
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
        raise DataDirError(
            f"cannot read the index in {location.describe} ({exc}). If it is corrupted, "
            "move the data directory away and rebuild: `qa index --rebuild PATH...`."
        ) from exc
    built_with = str((chunks.metadata or {}).get("embedding_model", ""))
    if built_with != embedder_identity:
        raise EmbeddingModelMismatchError(
            f"the index in {location.describe} was built with {built_with!r}, but the "
            f"embedder in use is {embedder_identity!r}. Rebuild it with "
            "`qa index --rebuild PATH...` or switch QA_EMBEDDER back."
        )
    return ChunkStore(client, chunks, articles, location)


def drop_index(location: StoreLocation) -> None:
    """Delete both collections of an index (used by ``qa index --rebuild``)."""
    client = _client(location, create=True)
    for name in (location.collection, f"{location.collection}-articles"):
        with contextlib.suppress(NotFoundError):
            client.delete_collection(name)


def build_where(
    *, since: datetime | None = None, until: datetime | None = None, source: str | None = None
) -> dict[str, Any] | None:
    """A Chroma ``where`` filter for a publication date range and a source tag.

    Args:
        since: Earliest publication time (inclusive).
        until: Latest publication time (inclusive).
        source: Exact source tag.

    Returns:
        The filter, or None when nothing is filtered.
    """
    clauses: list[dict[str, Any]] = []
    if since is not None:
        clauses.append({"published": {"$gte": int(since.timestamp())}})
    if until is not None:
        clauses.append({"published": {"$lte": int(until.timestamp())}})
    if source is not None:
        clauses.append({"source": source})
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
        path=str(meta.get("path", "")),
        title=str(meta["title"]),
        published=datetime.fromtimestamp(int(meta["published"]), tz=UTC),
        source=str(meta["source"]),
    )


def _chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    return {
        "article_id": chunk.article_id,
        "position": chunk.position,
        "title": chunk.title,
        "published": int(chunk.published.timestamp()),
        "source": chunk.source,
    }


def _article_metadata(article: Article, chunker: str, n_chunks: int) -> dict[str, Any]:
    return {
        "content_hash": article.content_hash,
        "chunker": chunker,
        "n_chunks": n_chunks,
        "path": str(article.path) if article.path else "",
        "title": article.title,
        "published": int(article.published.timestamp()),
        "source": article.source,
    }


def _article_document(article: Article) -> str:
    # Caption first, then paragraphs: get_article() splits it back the same way.
    return "\n\n".join([article.caption, *article.paragraphs])
