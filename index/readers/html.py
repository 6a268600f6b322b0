"""Saved HTML article pages: main text and metadata by ``trafilatura``, dates by ``htmldate``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from index.articles import MAX_ARTICLE_BYTES, ParseFailure
from index.errors import ArticleFormatError
from index.readers.base import (
    ItemError,
    ReaderOptions,
    ReadItem,
    ReadResult,
    make_article,
    parse_date,
    read_limited,
    slugify,
    text_paragraphs,
)

# Less main text than this is a navigation page, an error page or a teaser list, not an
# article: trafilatura falls back to whatever text there is (menu entries, "Seite nicht
# gefunden"), which would be indexed as an "article".
MIN_ARTICLE_CHARS = 200

# Full timestamps where the page has them (JSON-LD, meta tags); day precision otherwise.
_DATE_PARAMS = {
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    "original_date": True,
    "extensive_search": True,
}


def _find_date(data: bytes) -> str | None:
    """The date htmldate finds, for pages trafilatura found no date in."""
    import htmldate

    try:
        return htmldate.find_date(data, **_DATE_PARAMS)
    except Exception:  # htmldate raises assorted errors on odd markup: no date then
        return None


class HtmlReader:
    """One article per saved page: title, date, site name and boilerplate-free text."""

    name = "html"
    extensions = (".html", ".htm", ".xhtml")

    def read(self, path: Path, options: ReaderOptions, now: datetime) -> ReadResult:
        """Extract the article of one page; a page without one is a failure."""
        import trafilatura

        try:
            data = read_limited(path, MAX_ARTICLE_BYTES)
        except ArticleFormatError as exc:
            return ReadResult(failures=(ParseFailure(path, getattr(exc, "reason", str(exc))),))
        try:
            doc = trafilatura.bare_extraction(
                data,
                with_metadata=True,
                include_comments=False,
                include_tables=False,
                favor_precision=True,
                date_extraction_params=_DATE_PARAMS,
            )
        except Exception as exc:  # lxml/trafilatura errors on broken markup
            return ReadResult(failures=(ParseFailure(path, f"cannot parse the HTML ({exc})"),))
        try:
            article = self._article(doc, data, path, options, now)
        except ItemError as exc:
            return ReadResult(failures=(ParseFailure(path, str(exc)),))
        return ReadResult(items=(ReadItem(article),))

    def _article(
        self, doc: object, data: bytes, path: Path, options: ReaderOptions, now: datetime
    ) -> object:
        text = str(getattr(doc, "text", "") or "") if doc is not None else ""
        title = str(getattr(doc, "title", "") or "") if doc is not None else ""
        paragraphs = list(text_paragraphs(text))
        # trafilatura keeps the page's <h1> as the first line of the text.
        if paragraphs and title and paragraphs[0].casefold() == " ".join(title.split()).casefold():
            paragraphs.pop(0)
        size = sum(len(p) for p in paragraphs)
        if size < MIN_ARTICLE_CHARS:
            raise ItemError(
                None,
                f"no article found in the page (main text is {size} characters, fewer than "
                f"{MIN_ARTICLE_CHARS}: a navigation, error or overview page?)",
            )
        if not title:
            raise ItemError("title", "the page has no title (<title>, og:title or <h1>)")
        found = str(getattr(doc, "date", "") or "") or _find_date(data)
        if found:
            try:
                published = parse_date(found)
            except ValueError as exc:
                raise ItemError("date", str(exc)) from None
        elif options.default_date is not None:
            published = options.default_date
        else:
            raise ItemError(
                "date", "the page has no publication date; give one with --default-date"
            )
        source = options.source
        if source is None:
            site = str(getattr(doc, "sitename", "") or "")
            host = (
                str(getattr(doc, "hostname", "") or "")
                or urlparse(str(getattr(doc, "url", "") or "")).hostname
            )
            source = slugify(site) or slugify((host or "").removeprefix("www."))
        if not source:
            raise ItemError("source", "the page names no site (og:site_name, URL); give --source")
        return make_article(
            title=title,
            published=published,
            source=source,
            paragraphs=paragraphs,
            path=path,
            now=now,
        )
