"""What every reader shares: options, results, the Article builder, dates, tags, HTML text.

A reader turns one file into articles and per-item failures. Items are located by
``item N`` (feeds), ``row N`` (CSV data rows, the header not counted) or ``line N``
(JSON Lines); a failure's reason starts with that locator and names the field, e.g.
``row 7: field 'date': '31.02.2024' is not a date (...)``.
"""

from __future__ import annotations

import html
import re
import stat
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Protocol

from index.articles import (
    _CONTROL_RE,
    _SOURCE_TAG_RE,
    MAX_ARTICLE_BYTES,
    MAX_FUTURE_SKEW,
    MAX_TITLE_CHARS,
    ParseFailure,
    _format_error,
    _preview,
    article_id,
    content_hash,
    title_too_long,
)
from index.models import Article

FORMATS = ("auto", "text", "rss", "atom", "html", "csv", "jsonl")
"""Values of ``--format``; ``auto`` picks by extension and content."""

FIELDS = ("title", "date", "body", "source", "caption")
"""Article fields a CSV/JSONL column can be mapped to (``--map field=column``)."""

# Feeds and exports hold many articles: larger files than one article, but bounded so a
# stray database dump is refused instead of filling memory (CSV/JSONL are streamed).
MAX_FEED_BYTES = 64_000_000
MAX_EXPORT_BYTES = 1_000_000_000


@dataclass(frozen=True)
class ReaderOptions:
    """How files are read (``qa index --format/--map/--delimiter/...``).

    Attributes:
        format: One of :data:`FORMATS`; ``auto`` chooses per file.
        field_map: Article field -> CSV column / JSON key (dotted for nested keys), for
            the fields that differ from their own name; see :func:`parse_field_map`.
        delimiter: CSV delimiter; None sniffs it from the header and a sample.
        default_date: Publication time for items without one (feeds, exports);
            without it such items fail.
        title_from_body: CSV/JSONL rows without a title get the body's first sentence
            (shortened to :data:`~index.articles.MAX_TITLE_CHARS`).
        source: Source tag for every article of a feed or HTML page (instead of the
            slugified feed title / site name), and for export rows without one.
    """

    format: str = "auto"
    field_map: Mapping[str, str] = field(default_factory=dict)
    delimiter: str | None = None
    default_date: datetime | None = None
    title_from_body: bool = False
    source: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        unknown = sorted(set(self.field_map) - set(FIELDS))
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)} in the field map; "
                f"fields are {', '.join(FIELDS)}"
            )
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"the delimiter must be one character, got {self.delimiter!r}")
        if self.source is not None and not _SOURCE_TAG_RE.match(self.source):
            raise ValueError(
                f"source tag {self.source!r} is not valid: use 2-64 lowercase letters, digits, "
                "'.', '_' or '-', starting with a letter or digit (e.g. 'dpa-politik')"
            )
        if self.default_date is not None and self.default_date.tzinfo is None:
            object.__setattr__(self, "default_date", self.default_date.replace(tzinfo=UTC))

    def column(self, name: str) -> str:
        """The column / key that holds article field ``name``."""
        return self.field_map.get(name, name)


def parse_field_map(text: str) -> dict[str, str]:
    """Parse ``title=headline,date=published,...`` (``--map``).

    Raises:
        ValueError: An entry is not ``field=column``, names an unknown field or
            repeats one.
    """
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, column = part.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ValueError(f"--map entry {part.strip()!r} must look like field=column")
        if name not in FIELDS:
            raise ValueError(f"--map: unknown field {name!r}; fields are {', '.join(FIELDS)}")
        if name in mapping:
            raise ValueError(f"--map: field {name!r} is mapped twice")
        mapping[name] = column
    return mapping


@dataclass(frozen=True)
class ReadItem:
    """One article read from a file and where in the file it was."""

    article: Article
    where: str = ""  # "item 3", "row 7", "line 4"; "" for a one-article file


@dataclass(frozen=True)
class ReadResult:
    """What a reader got from one file: articles and per-item (or whole-file) failures."""

    items: tuple[ReadItem, ...] = ()
    failures: tuple[ParseFailure, ...] = ()


class Reader(Protocol):
    """Reads one file format into articles."""

    name: str
    extensions: tuple[str, ...]

    def read(self, path: Path, options: ReaderOptions, now: datetime) -> ReadResult:
        """Read ``path``; never raises for bad content, only reports it."""
        ...


class ItemError(ValueError):
    """One item of a file is unusable; ``str()`` is the reason (without the locator)."""

    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(f"field {field_name!r}: {message}" if field_name else message)


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file no larger than ``limit``.

    Raises:
        ArticleFormatError: Not a regular file, or too large (checked before reading).
        OSError: The file cannot be read.
    """
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        # Reading a FIFO or device could block forever or never end.
        raise _format_error("not a regular file", path)
    if info.st_size > limit:
        raise _format_error(
            f"file is {info.st_size:,} bytes, larger than the limit of {limit:,} bytes", path
        )
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _format_error(f"file grew past the limit of {limit:,} bytes while read", path)
    return data


def check_regular(path: Path, limit: int) -> None:
    """Like :func:`read_limited` without reading: for readers that stream the file."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise _format_error("not a regular file", path)
    if info.st_size > limit:
        raise _format_error(
            f"file is {info.st_size:,} bytes, larger than the limit of {limit:,} bytes", path
        )


def clean_text(text: str) -> str:
    """NFC, control characters removed, ends trimmed (inner layout kept)."""
    return unicodedata.normalize("NFC", _CONTROL_RE.sub("", text.replace("\r\n", "\n"))).strip()


# ------------------------------------------------------------------------ dates

_GERMAN_DATE_RE = re.compile(
    r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$", re.ASCII
)
_EPOCH_RE = re.compile(r"^-?\d{1,16}(?:\.\d+)?$", re.ASCII)
DATE_HINT = "use ISO 8601, epoch seconds or DD.MM.YYYY"


def parse_date(value: object) -> datetime:
    """A publication time from an export cell: ISO 8601, epoch seconds or ``DD.MM.YYYY``.

    Times without a zone are taken as UTC.

    Args:
        value: A string, or a number of epoch seconds (JSON).

    Returns:
        The time, timezone-aware UTC.

    Raises:
        ValueError: The value is none of the accepted forms, or no real date
            (``31.02.2024``).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date ({DATE_HINT})")
    if isinstance(value, int | float):
        return _from_epoch(float(value), repr(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a date, got a JSON {type(value).__name__}")
    text = value.strip()
    shown = _preview(text)
    if not text:
        raise ValueError("empty")
    if _EPOCH_RE.match(text):
        return _from_epoch(float(text), shown)
    match = _GERMAN_DATE_RE.match(text)
    try:
        if match:
            day, month, year, hour, minute, second = match.groups()
            moment = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{shown}' is not a date ({DATE_HINT})") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_epoch(seconds: float, shown: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise ValueError(
            f"epoch {shown} is beyond the year 9999 (milliseconds instead of seconds?)"
        ) from None


def _fmt_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# ------------------------------------------------------------------------- tags


_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})


def slugify(text: str) -> str:
    """A source tag from a name: ``Marlinger Bote – Politik`` -> ``marlinger-bote-politik``.

    Returns:
        The tag, or "" when the name has fewer than two usable characters.
    """
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9._]+", "-", ascii_text).strip("-._")
    slug = slug[:64].rstrip("-._")
    return slug if _SOURCE_TAG_RE.match(slug) else ""


# ------------------------------------------------------------------- HTML text

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_SKIP_TAGS = frozenset(("script", "style", "noscript", "template", "iframe", "svg", "object"))
_TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")


class _TextExtractor(HTMLParser):
    """Text of an HTML fragment, with a paragraph break at every block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.captions: list[str] = []
        self._skip = 0
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "figcaption":
            self._caption = []
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "figcaption" and self._caption is not None:
            self.captions.append(" ".join("".join(self._caption).split()))
            self._caption = None
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        # Image captions are the article's caption, not body text.
        (self._caption if self._caption is not None else self.parts).append(data)


def looks_like_html(text: str) -> bool:
    """Whether a body holds HTML markup (tags), rather than plain text."""
    return bool(_TAG_RE.search(text))


def html_text(fragment: str) -> tuple[str, tuple[str, ...]]:
    """The first image caption and the paragraphs of an HTML fragment.

    Tags are stripped, entities decoded, scripts and styles dropped; every block
    element (``<p>``, ``<br>``, ``<li>``, ...) starts a paragraph.
    """
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    caption = next((c for c in parser.captions if c), "")
    return caption, text_paragraphs("".join(parser.parts))


def html_paragraphs(fragment: str) -> tuple[str, ...]:
    """The paragraphs of an HTML fragment (see :func:`html_text`); captions are dropped."""
    return html_text(fragment)[1]


def text_paragraphs(text: str) -> tuple[str, ...]:
    """Paragraphs of plain text: every non-empty line (as in the article format)."""
    lines = (" ".join(line.split()) for line in clean_text(html.unescape(text)).split("\n"))
    return tuple(line for line in lines if line)


def body_paragraphs(body: str) -> tuple[str, ...]:
    """Paragraphs of a body that may be HTML or plain text."""
    return html_paragraphs(body) if looks_like_html(body) else text_paragraphs(body)


# ---------------------------------------------------------------------- articles


def shorten_title(text: str) -> str:
    """A derived title that fits :data:`MAX_TITLE_CHARS`, cut at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= MAX_TITLE_CHARS:
        return text
    cut = text[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


def first_sentence(paragraphs: Iterable[str]) -> str:
    """The first sentence of a body (German sentence rules of the chunker)."""
    from index.chunking import split_sentences

    for paragraph in paragraphs:
        sentences = split_sentences(paragraph)
        if sentences:
            return sentences[0]
    return ""


def make_article(
    *,
    title: str,
    published: datetime,
    source: str,
    paragraphs: Iterable[str],
    caption: str = "",
    path: Path | None,
    now: datetime,
) -> Article:
    """Build an Article the way every format does: same checks, same id, same hash.

    Args:
        title: Headline (whitespace is normalised).
        published: Publication time (aware; converted to UTC, whole seconds).
        source: Source tag (must already be a valid tag).
        paragraphs: Body paragraphs.
        caption: Image caption, may be empty.
        path: The file the article came from.
        now: Reference time for the "not in the future" check (aware).

    Returns:
        The article.

    Raises:
        ItemError: A field is missing or out of range (names the field).
    """
    title = " ".join(clean_text(title).split())
    if not title:
        raise ItemError("title", "empty")
    if len(title) > MAX_TITLE_CHARS:
        raise ItemError("title", title_too_long(title))
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    epoch = int(published.timestamp() // 1)
    if epoch < 0:
        raise ItemError(
            "date", f"{_fmt_time(published)} is before 1970-01-01, which is not accepted"
        )
    if published > now + MAX_FUTURE_SKEW:
        raise ItemError(
            "date",
            f"{_fmt_time(published)} is more than {MAX_FUTURE_SKEW.days} days after now "
            f"({_fmt_time(now)})",
        )
    if not _SOURCE_TAG_RE.match(source):
        raise ItemError("source", f"'{_preview(source)}' is not a valid source tag")
    body = tuple(p for p in (" ".join(clean_text(p).split()) for p in paragraphs) if p)
    if not body:
        raise ItemError("body", "no body text")
    size = sum(len(p) for p in body)
    if size > MAX_ARTICLE_BYTES:
        raise ItemError(
            "body", f"{size:,} characters, more than the limit of {MAX_ARTICLE_BYTES:,}"
        )
    caption = " ".join(clean_text(caption).split())
    return Article(
        id=article_id(epoch, title),
        title=title,
        published=datetime.fromtimestamp(epoch, tz=UTC),
        source=source,
        caption=caption,
        paragraphs=body,
        content_hash=content_hash(title, epoch, caption, body, source),
        path=path,
    )


def failure(path: Path, where: str, reason: str) -> ParseFailure:
    """A per-item failure: ``row 7: field 'date': ...``."""
    return ParseFailure(path, f"{where}: {reason}" if where else reason)
