"""The plain-text article format (see :mod:`index.articles`), as a reader."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from index.articles import ParseFailure, read_article
from index.errors import ArticleFormatError
from index.readers.base import ReaderOptions, ReadItem, ReadResult


class TextReader:
    """One article per ``.txt`` file: title, epoch line, caption, body, source tag."""

    name = "text"
    extensions = (".txt",)

    def read(self, path: Path, options: ReaderOptions, now: datetime) -> ReadResult:
        """Read one article file; its own format fixes every field, so options are unused."""
        try:
            article = read_article(path, now=now)
        except ArticleFormatError as exc:
            return ReadResult(failures=(ParseFailure(path, getattr(exc, "reason", str(exc))),))
        return ReadResult(items=(ReadItem(article),))
