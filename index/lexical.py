"""The lexical (BM25) view of the stored chunks, kept beside the vector index.

Chroma is the source of truth. The BM25 view is derived from it and saved with the
store's *generation* counter; a view whose generation differs from the store's is
stale and is rebuilt from Chroma (see ``qa`` when opening an index).
"""

from __future__ import annotations

import errno
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.errors import DataDirError
from index.language import STOPWORDS
from index.models import Chunk, Filters

_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _bm25s():
    import bm25s

    # bm25s sets its own logger to DEBUG on import; its per-build lines are noise.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("german")


def tokenize(text: str) -> list[str]:
    """Lowercase, split into words, drop stopwords, stem with the German Snowball stemmer.

    Args:
        text: Any text, German or English.

    Returns:
        Stemmed tokens; numbers are kept as they are ("2029").
    """
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return _stemmer().stemWords(words)


@dataclass(frozen=True)
class LexicalHit:
    """A chunk id and its BM25 score."""

    chunk_id: str
    score: float


class LexicalIndex:
    """BM25 over chunk texts, with the metadata needed to apply filters."""

    def __init__(
        self,
        chunk_ids: np.ndarray,
        published: np.ndarray,
        sources: np.ndarray,
        bm25: object,
        generation: int,
    ) -> None:
        self.chunk_ids = chunk_ids
        self.published = published
        self.sources = sources
        self._bm25 = bm25
        self.generation = generation
        self._rows: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @classmethod
    def build(cls, chunks: Iterable[Chunk], *, generation: int) -> LexicalIndex:
        """Build the view from chunks (title + text, as they are embedded)."""
        bm25s = _bm25s()
        ids: list[str] = []
        published: list[int] = []
        sources: list[str] = []
        corpus: list[list[str]] = []
        for chunk in chunks:
            ids.append(chunk.id)
            published.append(int(chunk.published.timestamp()))
            sources.append(chunk.source)
            corpus.append(tokenize(chunk.context_text))
        bm25 = bm25s.BM25()
        if corpus:
            bm25.index(corpus, show_progress=False)
        return cls(
            np.array(ids, dtype=object),
            np.array(published, dtype=np.int64),
            np.array(sources, dtype=object),
            bm25,
            generation,
        )

    def filter_mask(self, filters: Filters) -> np.ndarray | None:
        """Which chunks pass the filters (row order of this view).

        Args:
            filters: Date range and source; evaluated through
                :meth:`Filters.conditions`, as the store's ``where`` filter is.

        Returns:
            A boolean array over the chunks, or None when nothing is filtered.
        """
        conditions = filters.conditions()
        if not conditions:
            return None
        columns = {"published": self.published, "source": self.sources}
        mask = np.ones(len(self), dtype=bool)
        for condition in conditions:
            mask &= np.asarray(condition.test(columns[condition.field]), dtype=bool)
        return mask

    def row_of(self, chunk_id: str) -> int | None:
        """Row of a chunk in this view's arrays, or None if the view does not hold it."""
        if self._rows is None:
            # Built on first use: 100k ids take ~30 ms, once per loaded view.
            self._rows = {str(cid): i for i, cid in enumerate(self.chunk_ids.tolist())}
        return self._rows.get(chunk_id)

    def search(
        self,
        query: str,
        *,
        k: int,
        filters: Filters = Filters(),  # noqa: B008 - frozen
    ) -> list[LexicalHit]:
        """Best chunks for ``query`` that pass the filters.

        Args:
            query: Question text.
            k: How many hits at most.
            filters: Date range and source.

        Returns:
            Hits with a positive score, best first.
        """
        tokens = tokenize(query)
        if not tokens or not len(self):
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
        mask = self.filter_mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [LexicalHit(str(self.chunk_ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def save(self, directory: Path) -> None:
        """Write the view atomically (a temp dir renamed into place).

        A failed write (full disk, read-only or damaged data dir) leaves the saved view
        as it was: everything is written into the temp dir first.

        Raises:
            DataDirError: The view cannot be written; says why and where.
        """
        try:
            self._save(directory)
        except OSError as exc:
            raise _save_error(directory, exc) from exc

    def _save(self, directory: Path) -> None:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".lexical-", dir=directory.parent))
        try:
            if len(self):
                self._bm25.save(str(tmp / "bm25"), show_progress=False)
            np.save(tmp / "published.npy", self.published)
            (tmp / "ids.json").write_text(json.dumps(self.chunk_ids.tolist()))
            (tmp / "sources.json").write_text(json.dumps(self.sources.tolist()))
            (tmp / "meta.json").write_text(json.dumps({"generation": self.generation}))
            old = directory.with_name(directory.name + ".old")
            if directory.exists():
                shutil.rmtree(old, ignore_errors=True)
                directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def saved_generation(directory: Path) -> int | None:
        """Generation recorded with a saved view, without loading the view."""
        try:
            return int(json.loads((directory / "meta.json").read_text())["generation"])
        except (OSError, ValueError, KeyError):
            return None

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        """Read a saved view; None when it is missing or unreadable (then rebuild)."""
        bm25s = _bm25s()
        try:
            meta = json.loads((directory / "meta.json").read_text())
            ids = np.array(json.loads((directory / "ids.json").read_text()), dtype=object)
            sources = np.array(json.loads((directory / "sources.json").read_text()), dtype=object)
            published = np.load(directory / "published.npy")
            bm25 = bm25s.BM25.load(str(directory / "bm25")) if len(ids) else bm25s.BM25()
        except (OSError, ValueError, KeyError):
            return None
        docs = int(getattr(bm25, "scores", {}).get("num_docs", 0)) if len(ids) else 0
        if not len(ids) == len(published) == len(sources) == docs:
            return None  # parts from different writes: rebuild from the store
        return cls(ids, published, sources, bm25, int(meta["generation"]))


def _save_error(directory: Path, exc: OSError) -> DataDirError:
    """Why the BM25 view could not be written, naming the path that is in the way."""
    if exc.errno == errno.ENOSPC:
        return DataDirError(
            f"No space left on device: cannot write the BM25 view to {directory} ({exc}). "
            "Free some space on that disk and run the same command again; the index and "
            "the previous view are kept."
        )
    if isinstance(exc, NotADirectoryError | FileExistsError):
        blocker = next(
            (p for p in (directory, *directory.parents) if p.exists() and not p.is_dir()),
            directory,
        )
        return DataDirError(
            f"{blocker} is not a directory, so the BM25 view cannot be written to "
            f"{directory}. Move that file away: the view is rebuilt from the store."
        )
    return DataDirError(
        f"cannot write the BM25 view to {directory} ({exc}): the data directory must be writable."
    )
