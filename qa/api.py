"""Index management for callers holding Settings: the CLI, the UI and Python users."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from index.embedding import E5_DIR_NAME
from index.indexer import IndexReport, Progress
from index.indexer import index_paths as _index_paths
from index.models import Article
from index.ray_embedding import RayEmbedder, RayOptions
from index.store import drop_index, open_store
from qa.errors import ArticleNotFoundError
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


def index_paths(
    paths: Sequence[Path],
    *,
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    ray: RayOptions | None = None,
) -> IndexReport:
    """Index article files or folders into the configured store.

    Args:
        paths: Files or folders of article ``.txt`` files.
        settings: Where the index lives and which embedder to use.
        prune: Remove indexed articles whose files are gone.
        rebuild: Drop the whole index first (e.g. after changing the embedder).
        progress: Optional ``progress(done, total, message)`` callback.
        ray: Embed on this Ray cluster instead of in-process (the e5 model on its
            actors; the index is the same as an in-process one).

    Returns:
        Per-file outcomes; bad files are reported, not raised.

    Raises:
        FileNotFoundError: A path does not exist.
        EmbeddingModelMismatchError: The index was built with another model (use rebuild).
        StoreUnavailableError: The Chroma server is down.
        EmbeddingServerError: The Ray cluster cannot be reached or its job failed.
        RayNotInstalledError: ``ray`` is given but the ``ray`` extra is not installed.
    """
    missing = [str(p) for p in paths if not Path(p).exists()]
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
