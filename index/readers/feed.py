"""RSS 2.0 / RSS 1.0 / Atom feed files (``feedparser``): one article per item."""

from __future__ import annotations

import calendar
import io
import re
import xml.parsers.expat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.articles import ParseFailure, _format_error
from index.errors import ArticleFormatError
from index.readers.base import (
    MAX_FEED_BYTES,
    ItemError,
    ReaderOptions,
    ReadItem,
    ReadResult,
    failure,
    html_paragraphs,
    html_text,
    looks_like_html,
    make_article,
    read_limited,
    slugify,
    text_paragraphs,
)

_NAMED_ENTITY_RE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z][A-Za-z0-9]{1,31};")


def check_well_formed(data: bytes, path: Path) -> None:
    """Refuse a truncated or broken XML file with the line and column of the damage.

    feedparser falls back to a lenient parser and silently returns the items it could
    salvage, the last one possibly cut off mid-text; a damaged feed is reported instead.
    """
    # HTML entities (&nbsp;) are undefined in XML but common in feeds, and feedparser
    # reads them: they are not damage, so the check does not trip over them.
    data = _NAMED_ENTITY_RE.sub(b" ", data)
    parser = xml.parsers.expat.ParserCreate()
    # Never read external DTDs or parameter entities (no file or network access).
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.ErrorString(exc.code)
        raise _format_error(
            f"not well-formed XML (line {exc.lineno}, column {exc.offset + 1}: {message}); "
            "is the file truncated?",
            path,
        ) from None


def _entry_date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            # feedparser normalises every date to a UTC struct_time.
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    return None


def _entry_body(entry: Any) -> tuple[str, tuple[str, ...]]:
    """Caption and paragraphs of the fullest text an item has: content, else summary."""
    candidates: list[tuple[str, str]] = []
    for content in entry.get("content") or ():
        candidates.append((content.get("type", ""), content.get("value", "") or ""))
    if entry.get("summary"):
        detail = entry.get("summary_detail") or {}
        candidates.append((detail.get("type", "text/html"), entry.get("summary") or ""))
    best: tuple[str, tuple[str, ...]] = ("", ())
    for kind, value in candidates:
        if "html" in kind or (kind != "text/plain" and looks_like_html(value)):
            caption, paragraphs = html_text(value)
        else:
            caption, paragraphs = "", text_paragraphs(value)
        if sum(map(len, paragraphs)) > sum(map(len, best[1])):
            best = (caption, paragraphs)
    return best


class FeedReader:
    """RSS/Atom: title, published (or updated) date, body from content or summary."""

    name = "rss"
    extensions = (".xml", ".rss", ".atom")

    def read(self, path: Path, options: ReaderOptions, now: datetime) -> ReadResult:
        """Read every item of a feed; items that fail are reported one by one."""
        import feedparser

        try:
            data = read_limited(path, MAX_FEED_BYTES)
            check_well_formed(data, path)
        except ArticleFormatError as exc:
            return ReadResult(failures=(ParseFailure(path, getattr(exc, "reason", str(exc))),))
        # A stream, not bytes: feedparser would first try bytes as a file name (or URL).
        parsed = feedparser.parse(
            io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False
        )
        if not parsed.get("version"):
            return ReadResult(
                failures=(ParseFailure(path, "not an RSS or Atom feed (no <rss> or <feed>)"),)
            )
        feed_title = str(parsed.feed.get("title") or "")
        source = options.source or slugify(feed_title) or slugify(path.stem)
        items: list[ReadItem] = []
        failures: list[ParseFailure] = []
        if not parsed.entries:
            failures.append(ParseFailure(path, "the feed has no items"))
        for number, entry in enumerate(parsed.entries, start=1):
            where = f"item {number}"
            try:
                published = _entry_date(entry) or options.default_date
                if published is None:
                    raise ItemError(
                        "date",
                        "the item has no pubDate/published/updated date; "
                        "give one with --default-date",
                    )
                if not source:
                    raise ItemError(
                        "source", "the feed has no usable title for a source tag; give --source"
                    )
                title = str(entry.get("title") or "")
                if looks_like_html(title):  # Atom titles may be type="html"
                    title = " ".join(html_paragraphs(title))
                caption, paragraphs = _entry_body(entry)
                article = make_article(
                    title=title,
                    published=published,
                    source=source,
                    paragraphs=paragraphs,
                    caption=caption,
                    path=path,
                    now=now,
                )
            except ItemError as exc:
                failures.append(failure(path, where, str(exc)))
                continue
            items.append(ReadItem(article, where))
        return ReadResult(tuple(items), tuple(failures))


class AtomReader(FeedReader):
    """Atom feeds: the same reader (feedparser reads both)."""

    name = "atom"
