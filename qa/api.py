"""Index management for callers holding Settings: the CLI, the UI and Python users."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.indexer import IndexReport, Progress
from index.indexer import index_paths as _index_paths
from index.lock import writer_lock
from index.models import Article
from index.store import disk_full_error, drop_index, is_disk_full
from qa.errors import ArticleNotFoundError, DataDirError
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
) -> IndexReport:
    """Index article files or folders into the configured store.

    Args:
        paths: Files or folders of article ``.txt`` files.
        settings: Where the index lives and which embedder to use.
        prune: Remove indexed articles whose files are gone.
        rebuild: Drop the whole index first (e.g. after changing the embedder).
        progress: Optional ``progress(done, total, message)`` callback.

    Returns:
        Per-file outcomes; bad files are reported, not raised.

    Raises:
        FileNotFoundError: A path does not exist.
        EmbeddingModelMismatchError: The index was built with another model (use rebuild).
        StoreUnavailableError: The Chroma server is down.
    """
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    command = "qa index --rebuild" if rebuild else "qa index"
    with writing(settings, command=command, rebuild=rebuild):
        if rebuild:
            drop_index(store_location(settings))
            forget(settings)
        store, embedder = open_for_writing(settings)
        return _index_paths(
            [Path(p) for p in paths],
            store=store,
            embedder=embedder,
            lexical_dir=lexical_dir(settings),
            prune=prune,
            progress=progress,
            group_chunks=settings.index_batch,
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
    other than letters, digits, ``.``, ``-`` and ``_`` become ``_``, leading dots are
    dropped, and the name ends in ``.txt``.
    """
    base = re.split(r"[/\\]", name)[-1]
    stem = base[:-4] if base.lower().endswith(".txt") else base
    stem = _SAFE_NAME.sub("_", stem).lstrip(".")[:_MAX_NAME_CHARS] or "article"
    return f"{stem}.txt"


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
    files: Sequence[Path], *, settings: Settings, progress: Progress | None = None
) -> IndexReport:
    """Index uploaded files from copies kept in the data directory (the UI's uploads).

    Copies of files that failed to index are deleted again, and so is the previous
    copy of an article that an upload updated (the manifest no longer points at it).

    Args:
        files: The uploaded files, e.g. in the web server's temporary folder.
        settings: Where the index lives.
        progress: Optional ``progress(done, total, message)`` callback.

    Returns:
        Per-file outcomes; the paths are the managed copies (same file names).

    Raises:
        IndexBusyError: Another writer is running on this data directory.
    """
    with writing(settings, command="upload in the web UI"):
        copies = import_uploads(files, settings=settings)
        store, embedder = open_for_writing(settings)
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
