"""Index management for callers holding Settings: the CLI, the UI and Python users."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from index.embedding import E5_DIR_NAME
from index.indexer import IndexReport, Progress, refresh_lexical
from index.indexer import index_paths as _index_paths
from index.lock import writer_lock
from index.models import Article
from index.ray_embedding import RayEmbedder, RayOptions
from index.readers import ReaderOptions
from index.store import ChunkStore, disk_full_error, drop_index, is_disk_full, open_store
from qa.engine import Engine, default_engine
from qa.errors import ArticleNotFoundError, DataDirError
from qa.filters import parse_filters
from qa.resources import lexical_dir, store_location
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


def _engine(settings: Settings, engine: Engine | None) -> Engine:
    """The given engine (checked against the settings) or the default one for them."""
    if engine is None:
        return default_engine(settings)
    engine.settings_for(settings)
    return engine


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
    engine: Engine | None = None,
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
        engine: The engine whose embedder indexes and whose open index is dropped
            after a rebuild (default: the default engine for ``settings``).

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
    command = "qa index --rebuild" if rebuild else "qa index"
    with contextlib.ExitStack() as stack:
        ray_embedder = None
        if ray is not None:
            # Connected before anything is dropped: an unreachable cluster changes nothing.
            ray_embedder = stack.enter_context(_ray_embedder(ray, settings))
        stack.enter_context(writing(settings, command=command, rebuild=rebuild))
        if rebuild:
            drop_index(store_location(settings))
            _engine(settings, engine).invalidate()
        if ray_embedder is None:
            store, embedder = _engine(settings, engine).open_for_writing()
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
    if settings.embedding_runtime == "onnx-int8":
        # The actors run torch fp32; int8 vectors differ, so the index would refuse them.
        raise ValueError(
            "--ray embeds with torch fp32 on the Ray workers; QA_EMBEDDING_RUNTIME=onnx-int8 "
            "would build an index that runtime cannot query (use torch or onnx)"
        )
    return RayEmbedder(
        settings.model_dir / E5_DIR_NAME,
        address=ray.address,
        actors=ray.actors,
        actor_cpus=ray.actor_cpus,
    )


@contextlib.contextmanager
def writing(
    settings: Settings, *, command: str = "qa index", rebuild: bool = False
) -> Iterator[None]:
    """Hold the data directory's write lock for a block that changes the index.

    Every writer (``qa index``, uploads, removing articles) goes through this, so two
    of them never run on one data directory at once. It fails at once when another
    writer is running rather than waiting: an indexing run can take many minutes.

    Args:
        settings: Names the data directory.
        command: What is writing, shown to a second writer.
        rebuild: The index is dropped first; readers say it is being rebuilt.

    Raises:
        IndexBusyError: Another writer is running on this data directory (its pid named).
    """
    with writer_lock(settings.data_dir, command=command, rebuild=rebuild):
        yield


UPLOADS_DIR = "uploads"
_SAFE_NAME = re.compile(r"[^\w.-]+")
_MAX_NAME_CHARS = 120


def uploads_dir(settings: Settings) -> Path:
    """The managed folder in the data directory that keeps copies of uploaded articles."""
    return settings.data_dir / UPLOADS_DIR


def safe_upload_name(name: str) -> str:
    """A file name made from an uploaded file's name that cannot leave its folder.

    Only the last path component is kept (a slash or a backslash), characters
    other than letters, digits, ``.``, ``-`` and ``_`` become ``_`` and leading dots
    are dropped. The extension is kept (it chooses the reader: ``.txt``, ``.xml``,
    ``.html``, ``.csv``, ``.jsonl`` …); a name without one gets ``.txt``.
    """
    base = re.split(r"[/\\]", name)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,8}", suffix):
        stem, suffix = base, "txt"
    stem = _SAFE_NAME.sub("_", stem).lstrip(".")[:_MAX_NAME_CHARS] or "article"
    return f"{stem}.{suffix.lower()}"


def import_uploads(files: Sequence[Path], *, settings: Settings) -> list[Path]:
    """Copy uploaded files into ``<data_dir>/uploads/`` and return the copies' paths.

    The manifest then points at files the data directory owns: a web server's
    temporary upload folder (Gradio's is cleared on reboot) may vanish, and
    ``qa index --prune`` would drop the articles. Each copy lives in a folder named by
    a hash of its content, under its own (sanitised) name: the same file uploaded
    twice is the same path (so "unchanged"), and two different files with one name
    do not overwrite each other.

    Args:
        files: The uploaded files (anywhere).
        settings: Names the data directory.

    Returns:
        The managed copies, in the order of ``files``.

    Raises:
        DataDirError: The copy cannot be written (disk full, read-only data dir).
    """
    root = uploads_dir(settings)
    copies: list[Path] = []
    for source in files:
        data = Path(source).read_bytes()
        folder = root / hashlib.sha256(data).hexdigest()[:24]
        target = folder / safe_upload_name(Path(source).name)
        if target.resolve().parent != folder.resolve() or folder.parent != root:
            raise ValueError(f"unsafe upload name {Path(source).name!r}")  # never happens
        try:
            if not (target.is_file() and target.read_bytes() == data):
                folder.mkdir(parents=True, exist_ok=True)
                # Temp file + rename: an interrupted copy never looks like an article.
                fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=folder)
                try:
                    with os.fdopen(fd, "wb") as out:
                        out.write(data)
                    os.replace(tmp, target)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(root, exc) from exc
            raise DataDirError(f"cannot copy the upload into {root} ({exc})") from exc
        copies.append(target)
    return copies


def index_uploads(
    files: Sequence[Path],
    *,
    settings: Settings,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> IndexReport:
    """Index uploaded files from copies kept in the data directory (the UI's uploads).

    Copies of files that failed to index are deleted again, and so is the previous
    copy of an article that an upload updated (the manifest no longer points at it).

    Args:
        files: The uploaded files, e.g. in the web server's temporary folder.
        settings: Where the index lives.
        progress: Optional ``progress(done, total, message)`` callback.
        engine: The engine whose embedder indexes (default: the default engine).

    Returns:
        Per-file outcomes; the paths are the managed copies (same file names).

    Raises:
        IndexBusyError: Another writer is running on this data directory.
    """
    with writing(settings, command="upload in the web UI"):
        copies = import_uploads(files, settings=settings)
        store, embedder = _engine(settings, engine).open_for_writing()
        before = {e.article_id: e.path for e in store.manifest().values()}
        report = _index_paths(
            copies,
            store=store,
            embedder=embedder,
            lexical_dir=lexical_dir(settings),
            progress=progress,
            group_chunks=settings.index_batch,
        )
    root = uploads_dir(settings)
    stale = [f.path for f in report.files if f.status == "failed"]
    stale += [
        Path(before[f.article_id])
        for f in report.files
        if f.status in ("updated", "unchanged")
        and f.article_id in before
        and before[f.article_id] != str(f.path)
    ]
    for path in stale:
        if path.parent.parent == root and path not in {
            f.path for f in report.files if f.status != "failed"
        }:
            with contextlib.suppress(OSError):
                path.unlink()
                path.parent.rmdir()  # only when empty
    return report


def status(settings: Settings, *, engine: Engine | None = None) -> IndexStatus:
    """Counts of the index and the models in use.

    Args:
        settings: Where the index lives.
        engine: The engine that reads it (default: the default engine for ``settings``).

    Raises:
        IndexNotBuiltError: Nothing indexed yet.
    """
    index = _engine(settings, engine).index()
    return IndexStatus(
        articles=index.store.count_articles(),
        chunks=index.store.count_chunks(),
        embedder=index.embedder.identity,
        generator=settings.generator,
        location=index.store.location.describe,
        sources=tuple(sorted(set(index.lexical.sources.tolist()))),
    )


def get_article(article_id: str, *, settings: Settings, engine: Engine | None = None) -> Article:
    """The full text of an indexed article.

    Args:
        article_id: The article's id.
        settings: Where the index lives.
        engine: The engine that reads it (default: the default engine for ``settings``).

    Raises:
        ArticleNotFoundError: No article has this id.
    """
    article = _engine(settings, engine).index().store.get_article(article_id)
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
    with writing(settings, command="qa articles remove"):
        store.bump_generation()
        store.delete_articles(wanted)
        refresh_lexical(store, lexical_dir(settings))
    return removed
