"""Index management for callers holding Settings: the CLI, the UI and Python users."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from index.embedding import E5_DIR_NAME
from index.indexer import IndexReport, Progress, refresh_lexical
from index.indexer import index_paths as _index_paths
from index.models import Article
from index.ray_embedding import RayEmbedder, RayOptions
from index.readers import ReaderOptions
from index.store import ChunkStore, drop_index, open_store
from qa.errors import ArticleNotFoundError
from qa.filters import parse_filters
from qa.resources import forget, lexical_dir, open_for_writing, open_index, store_location
from qa.settings import Settings


@dataclass(frozen=True)
class IndexStatus:
    """What is indexed and which models are in use."""

    articles: int
    chunks: int
    embedder: str
    generator: str
    location: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArticleInfo:
    """One indexed article, as the library view lists it.

    Attributes:
        id: Article id (give it to :func:`get_article` or :func:`remove_articles`).
        title: Headline.
        published: Publication time (UTC).
        source: Source tag.
        chunks: Number of stored chunks.
        path: File it was indexed from ("" if none).
    """

    id: str
    title: str
    published: datetime
    source: str
    chunks: int
    path: str


def _missing(path: Path) -> bool:
    """Whether a given path does not exist (an over-long path is reported by the scan)."""
    try:
        os.lstat(path)
    except OSError as exc:
        return exc.errno in (errno.ENOENT, errno.ENOTDIR)
    return False


def index_paths(
    paths: Sequence[Path],
    *,
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    options: ReaderOptions | None = None,
    ray: RayOptions | None = None,
) -> IndexReport:
    """Index article files or folders into the configured store.

    Args:
        paths: Files or folders: plain-text articles, RSS/Atom feeds, HTML pages,
            CSV or JSON Lines exports (see :mod:`index.readers`).
        settings: Where the index lives and which embedder to use.
        prune: Remove indexed articles whose files are gone.
        rebuild: Drop the whole index first (e.g. after changing the embedder).
        progress: Optional ``progress(done, total, message)`` callback.
        options: How files are read (format, field mapping, default date, ...).
        ray: Embed on this Ray cluster instead of in-process (the e5 model on its
            actors; the index is the same as an in-process one).

    Returns:
        Per-file (per-item for feeds and exports) outcomes; bad files and items are
        reported, not raised.

    Raises:
        FileNotFoundError: A path does not exist.
        EmbeddingModelMismatchError: The index was built with another model (use rebuild).
        StoreUnavailableError: The Chroma server is down.
        EmbeddingServerError: The Ray cluster cannot be reached or its job failed.
        RayNotInstalledError: ``ray`` is given but the ``ray`` extra is not installed.
    """
    missing = [str(p) for p in paths if _missing(Path(p))]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    with contextlib.ExitStack() as stack:
        ray_embedder = None
        if ray is not None:
            # Connected before anything is dropped: an unreachable cluster changes nothing.
            ray_embedder = stack.enter_context(_ray_embedder(ray, settings))
        if rebuild:
            drop_index(store_location(settings))
            forget(settings)
        if ray_embedder is None:
            store, embedder = open_for_writing(settings)
        else:
            embedder = ray_embedder
            store = open_store(
                store_location(settings), embedder_identity=embedder.identity, create=True
            )
        return _index_paths(
            [Path(p) for p in paths],
            store=store,
            embedder=embedder,
            lexical_dir=lexical_dir(settings),
            prune=prune,
            progress=progress,
            group_chunks=settings.index_batch,
            options=options,
        )


def _ray_embedder(ray: RayOptions, settings: Settings) -> RayEmbedder:
    if settings.embedder != "e5":
        raise ValueError(
            f"--ray embeds with the e5 model on the Ray workers; QA_EMBEDDER={settings.embedder} "
            "would build an index that model cannot query (unset QA_EMBEDDER or set it to e5)"
        )
    return RayEmbedder(
        settings.model_dir / E5_DIR_NAME,
        address=ray.address,
        actors=ray.actors,
        actor_cpus=ray.actor_cpus,
    )


def status(settings: Settings) -> IndexStatus:
    """Counts of the index and the models in use.

    Raises:
        IndexNotBuiltError: Nothing indexed yet.
    """
    index = open_index(settings)
    return IndexStatus(
        articles=index.store.count_articles(),
        chunks=index.store.count_chunks(),
        embedder=index.embedder.identity,
        generator=settings.generator,
        location=index.store.location.describe,
        sources=tuple(sorted(set(index.lexical.sources.tolist()))),
    )


def get_article(article_id: str, *, settings: Settings) -> Article:
    """The full text of an indexed article.

    Raises:
        ArticleNotFoundError: No article has this id.
    """
    article = open_index(settings).store.get_article(article_id)
    if article is None:
        raise ArticleNotFoundError(f"no indexed article has id {article_id!r}")
    return article


def _manifest_store(settings: Settings) -> ChunkStore:
    """The store opened without loading a model: listing and removing touch no vectors."""
    return open_store(store_location(settings), embedder_identity=None, create=False)


def list_articles(
    settings: Settings,
    *,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    source: str | None = None,
    search: str | None = None,
) -> list[ArticleInfo]:
    """The indexed articles, newest first, optionally filtered.

    Args:
        settings: Where the index lives.
        since: Only articles published on/after this date (``YYYY-MM-DD``).
        until: Only articles published on/before this date (its whole day).
        source: Only articles with exactly this source tag.
        search: Only articles whose title, id or source contains this text
            (case-insensitive).

    Returns:
        The matching articles.

    Raises:
        IndexNotBuiltError: Nothing indexed yet.
        FilterError: A date is not ``YYYY-MM-DD`` or ``since`` is after ``until``.
    """
    filters = parse_filters({"since": since, "until": until, "source": source})
    needle = " ".join((search or "").split()).casefold()
    found: list[ArticleInfo] = []
    for entry in _manifest_store(settings).manifest().values():
        if filters.since and entry.published < filters.since:
            continue
        if filters.until and entry.published > filters.until:
            continue
        if filters.source and entry.source != filters.source:
            continue
        haystack = " ".join(f"{entry.title} {entry.article_id} {entry.source}".split())
        if needle and needle not in haystack.casefold():
            continue
        found.append(
            ArticleInfo(
                id=entry.article_id,
                title=entry.title,
                published=entry.published,
                source=entry.source,
                chunks=entry.n_chunks,
                path=entry.path,
            )
        )
    found.sort(key=lambda a: (a.published, a.id), reverse=True)
    return found


def remove_articles(article_ids: Sequence[str], *, settings: Settings) -> list[ArticleInfo]:
    """Remove articles from the index: their manifest entries, chunks and BM25 entries.

    Crash-safe: the manifest entry goes first (the article stops counting as indexed),
    then its chunks; an interrupted removal leaves orphan chunks that the next
    ``qa index`` run deletes. Indexing the article's file again adds it back.

    Args:
        article_ids: Ids as listed by :func:`list_articles`.
        settings: Where the index lives.

    Returns:
        The removed articles.

    Raises:
        ArticleNotFoundError: Some ids are not indexed (names them); nothing is removed.
        IndexNotBuiltError: Nothing indexed yet.
    """
    wanted = list(dict.fromkeys(i.strip() for i in article_ids if i.strip()))
    if not wanted:
        raise ArticleNotFoundError("no article ids given")
    store = _manifest_store(settings)
    manifest = store.manifest()
    unknown = [i for i in wanted if i not in manifest]
    if unknown:
        raise ArticleNotFoundError(
            f"no indexed article has id {', '.join(map(repr, unknown))} "
            "(see `qa articles list`); nothing was removed"
        )
    removed = [
        ArticleInfo(
            id=e.article_id,
            title=e.title,
            published=e.published,
            source=e.source,
            chunks=e.n_chunks,
            path=e.path,
        )
        for e in (manifest[i] for i in wanted)
    ]
    # Bump first: a crash after the delete leaves the BM25 view marked stale, and the
    # next reader (or run) rebuilds it instead of serving the removed chunks.
    store.bump_generation()
    store.delete_articles(wanted)
    refresh_lexical(store, lexical_dir(settings))
    return removed
