"""One reader per archive format, all producing the same :class:`~index.models.Article`.

=========  ===========================  ==============================================
format     extensions                   one article per
=========  ===========================  ==============================================
``text``   ``.txt``                     file (the format of :mod:`index.articles`)
``rss``    ``.xml .rss``                feed item (RSS 2.0/1.0; also reads Atom)
``atom``   ``.atom``                    feed entry
``html``   ``.html .htm .xhtml``        saved article page
``csv``    ``.csv .tsv``                data row (header row required)
``jsonl``  ``.jsonl .ndjson``           line (one JSON object each)
=========  ===========================  ==============================================

``auto`` (the default) chooses by content first where the content is unambiguous (an
``<rss>``/``<feed>``/``<rdf:RDF>`` root is a feed, ``<html>`` a page, whatever the file is
called), then by extension; a file of unknown extension given by name is read as text.
Every reader builds its articles with :func:`~index.readers.base.make_article`, so ids
(publication epoch + normalised title) and content hashes do not depend on the format.
"""

from __future__ import annotations

import stat
from datetime import datetime
from pathlib import Path

from index.articles import ParseFailure
from index.readers.base import (
    FIELDS,
    FORMATS,
    ItemError,
    Reader,
    ReaderOptions,
    ReadItem,
    ReadResult,
    make_article,
    parse_date,
    parse_field_map,
    slugify,
)
from index.readers.feed import AtomReader, FeedReader
from index.readers.html import HtmlReader
from index.readers.tabular import CsvReader, JsonlReader
from index.readers.text import TextReader

__all__ = [
    "EXTENSIONS",
    "FIELDS",
    "FORMATS",
    "READERS",
    "ItemError",
    "ReadItem",
    "ReadResult",
    "Reader",
    "ReaderOptions",
    "detect_format",
    "extensions_for",
    "make_article",
    "parse_date",
    "parse_field_map",
    "read_file",
    "slugify",
]

READERS: dict[str, Reader] = {
    reader.name: reader
    for reader in (
        TextReader(),
        FeedReader(),
        AtomReader(),
        HtmlReader(),
        CsvReader(),
        JsonlReader(),
    )
}
"""The reader of each format, by ``--format`` name."""

EXTENSIONS: dict[str, str] = {
    ext: name for name, reader in READERS.items() for ext in reader.extensions
}
"""Lower-case file suffix -> format, for folder scanning and ``auto``."""

_SNIFF_BYTES = 4096


def extensions_for(fmt: str) -> frozenset[str]:
    """Suffixes a folder scan picks up for ``fmt`` (all known ones for ``auto``)."""
    if fmt == "auto":
        return frozenset(EXTENSIONS)
    if fmt in ("rss", "atom"):
        return frozenset(READERS["rss"].extensions + READERS["atom"].extensions)
    return frozenset(READERS[fmt].extensions)


def sniff(head: bytes) -> str | None:
    """The format the first bytes of a file reveal beyond doubt, or None."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if not text.startswith(b"<"):
        return None
    if b"<rss" in text or b"<rdf:rdf" in text:
        return "rss"
    if b"<feed" in text:
        return "atom"
    if b"<html" in text or b"<!doctype html" in text:
        return "html"
    return None


def detect_format(path: Path, requested: str = "auto") -> str:
    """The format to read ``path`` with.

    Args:
        path: The file.
        requested: ``--format``; anything but ``auto`` is taken as is.

    Returns:
        A key of :data:`READERS`.
    """
    if requested != "auto":
        return requested
    by_extension = EXTENSIONS.get(path.suffix.lower())
    head = b""
    try:
        # Only regular files are opened: opening a FIFO would block (its reader says so).
        if stat.S_ISREG(path.stat().st_mode):
            with path.open("rb") as fh:
                head = fh.read(_SNIFF_BYTES)
    except OSError:
        pass  # the reader reports the error
    sniffed = sniff(head)
    if sniffed is not None:
        return sniffed
    if by_extension is None and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    return by_extension or "text"


def read_file(path: Path, options: ReaderOptions, now: datetime) -> ReadResult:
    """Read one file with the reader its format calls for; never raises for bad content.

    Raises:
        Nothing for bad content or unreadable files: both come back as failures.
    """
    try:
        fmt = detect_format(path, options.format)
        return READERS[fmt].read(path, options, now)
    except OSError as exc:
        reason = f"cannot read file: {exc.strerror or exc}"
        return ReadResult(failures=(ParseFailure(path, reason),))
