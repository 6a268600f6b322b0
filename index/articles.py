"""Read news-article text files into :class:`~index.models.Article` records.

An article file looks like this (blank lines shown as ``·``)::

    Bundestag beschließt „historisches“ Gesetz             <- title
    ·
    1743000000 Bundestag beschliesst historisches Gesetz   <- epoch + ASCII-folded title
    ·
    Abgeordnete im Plenarsaal (Archivbild)                 <- image caption
    ·
    Der Bundestag hat am Donnerstag …                      <- body, one paragraph per line
    Die Opposition kündigte …
    ·
    …
    ·
    toi-allgemeines                                        <- source/category tag

Parsing works on the *non-empty* lines, so CRLF/CR line ends, a UTF-8 BOM,
trailing whitespace and extra blank lines anywhere do not change the result
(nor the article's ``id`` or ``content_hash``).  Every non-empty body line is
one paragraph; the blank lines that group body lines carry no meaning for
retrieval and are dropped.

Identity: ``id`` hashes the epoch and the normalised title, so a moved file is
the same article and an edited body is an *update* of the same article
(same ``id``, different ``content_hash``).  Changing the title or the epoch
makes it a different article.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import ArticleFormatError
from index.models import Article

if TYPE_CHECKING:
    from index.readers import ReaderOptions

# Largest article file accepted, in bytes.  Real articles are a few KB; the
# limit keeps a stray log dump or video from being decoded and embedded.
MAX_ARTICLE_BYTES = 2_000_000

# How far in the future a publication time may lie; allows for clock skew and
# time zones of the feed, but catches epochs in milliseconds or typos.
MAX_FUTURE_SKEW = timedelta(days=2)

# Longest title accepted, in characters.  Real headlines stay well under 200; a
# longer "title" is a body pasted onto the title line (or a mapped column holding
# the body), and would be quoted in every answer and dominate every chunk's vector.
MAX_TITLE_CHARS = 300

# Share of control characters above which a decodable file is taken to be
# binary data rather than text with a few stray control bytes (which are stripped).
MAX_CONTROL_CHAR_RATIO = 0.25

_SOURCE_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# Epoch line: ASCII digits only (``int`` would also accept other scripts' digits).
_EPOCH_LINE_RE = re.compile(r"^(-?)([0-9]+)(?:\s+(.*))?$", re.ASCII | re.DOTALL)
# A title may start with a number ("2024 war ..."), but not with a 10-digit one.
_LOOKS_LIKE_EPOCH_RE = re.compile(r"^-?[0-9]{8,}(?:\s|$)", re.ASCII)
# C0/C1 control characters except \t and \n (\r is gone after line-end normalisation).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Epochs with more digits than this are beyond year 30000: no need to int() them.
_MAX_EPOCH_DIGITS = 12

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class ParseFailure:
    """A file that could not be loaded as an article.

    Attributes:
        path: The file.
        reason: What is wrong with it, e.g. ``line 3: negative epoch -5``.
    """

    path: Path
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """Outcome of :func:`load_articles`.

    Attributes:
        articles: Articles that loaded, in file order, one per article id.
        failures: Files that were skipped and why, in file order.
    """

    articles: tuple[Article, ...]
    failures: tuple[ParseFailure, ...]


def _format_error(reason: str, path: Path | None) -> ArticleFormatError:
    """Build an ArticleFormatError; the bare reason is kept for :func:`load_articles`."""
    err = ArticleFormatError(f"{path}: {reason}" if path is not None else reason)
    # ``load_articles`` reports the path separately, so it wants the reason alone.
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _preview(text: str, limit: int = 40) -> str:
    """Shorten a line for an error message."""
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def _fmt_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _normalise(text: str) -> str:
    """NFC and single spaces: the form hashed, so layout changes are not content changes."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _identity_key(text: str) -> str:
    """Normalised and casefolded, so a re-capitalised title keeps its article id."""
    return unicodedata.normalize("NFC", _normalise(text).casefold())


def title_too_long(title: str) -> str:
    """The reason given for a title over :data:`MAX_TITLE_CHARS` (one wording for all formats)."""
    return (
        f"title is {len(title):,} characters long, more than the limit of {MAX_TITLE_CHARS}: "
        f"is body text on the title line? ('{_preview(title)}')"
    )


def _sha16(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def article_id(epoch: int, title: str) -> str:
    """Stable id of a story: its publication epoch and normalised title.

    Args:
        epoch: Publication time, seconds since 1970-01-01 UTC.
        title: The article title (line 1).

    Returns:
        First 16 hex digits of the SHA-256 of the epoch and the title key.
    """
    return _sha16(f"{epoch}\n{_identity_key(title)}")


def content_hash(
    title: str, epoch: int, caption: str, paragraphs: Iterable[str], source: str
) -> str:
    """Hash of an article's normalised text: changes when (and only when) the content does.

    Every reader uses it, so a story's hash depends on its text, not on its file format.
    """
    # JSON keeps field boundaries unambiguous (a caption can't turn into a paragraph).
    payload = json.dumps(
        [
            _normalise(title),
            epoch,
            _normalise(caption),
            [_normalise(p) for p in paragraphs],
            source,
        ],
        ensure_ascii=False,
    )
    return _sha16(payload)


def _decode(data: bytes, path: Path | None) -> str:
    """Check size and encoding and return the text (BOM removed, line ends LF)."""
    if len(data) > MAX_ARTICLE_BYTES:
        raise _format_error(
            f"file is {len(data):,} bytes, larger than the limit of {MAX_ARTICLE_BYTES:,} bytes",
            path,
        )
    if data.startswith(_UTF16_BOMS):
        raise _format_error("file is UTF-16 encoded; articles must be UTF-8", path)
    offset = 0
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
        offset = len(_UTF8_BOM)
    nul = data.find(b"\x00")
    if nul != -1:
        raise _format_error(f"binary data, not text (NUL byte at byte offset {nul + offset})", path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : min(exc.end, exc.start + 4)].hex(" ")
        raise _format_error(
            f"invalid UTF-8 at byte offset {exc.start + offset} (bytes {bad})", path
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean_lines(text: str, path: Path | None) -> list[tuple[int, str]]:
    """Non-empty lines as ``(1-based line number, text)``, control characters removed."""
    if not text.strip():
        raise _format_error("file is empty or contains only whitespace", path)
    cleaned = _CONTROL_RE.sub("", text)
    removed = len(text) - len(cleaned)
    ratio = removed / len(text)
    if ratio > MAX_CONTROL_CHAR_RATIO:
        raise _format_error(
            f"binary data, not text ({ratio:.0%} of characters are control characters)",
            path,
        )
    lines = [
        (number, unicodedata.normalize("NFC", line.strip()))
        for number, line in enumerate(cleaned.split("\n"), start=1)
    ]
    non_empty = [(number, line) for number, line in lines if line]
    if not non_empty:
        raise _format_error("file contains no text once control characters are removed", path)
    return non_empty


def _parse_epoch(line_no: int, line: str, now: datetime, path: Path | None) -> tuple[int, datetime]:
    """Validate the ``<unix-epoch> <title>`` line and return the epoch and its UTC time."""
    match = _EPOCH_LINE_RE.match(line)
    if match is None:
        raise _format_error(
            f"line {line_no}: expected '<unix-epoch> <title>', got '{_preview(line)}'", path
        )
    sign, digits = match.group(1), match.group(2)
    if sign and digits.strip("0"):
        raise _format_error(
            f"line {line_no}: negative epoch -{_preview(digits, 20)}; "
            "publication time must not be before 1970-01-01",
            path,
        )
    limit = now + MAX_FUTURE_SKEW
    significant = digits.lstrip("0") or "0"
    epoch = int(significant) if len(significant) <= _MAX_EPOCH_DIGITS else None
    if epoch is None or epoch > limit.timestamp():
        try:
            when = _fmt_time(datetime.fromtimestamp(epoch, tz=UTC)) if epoch is not None else ""
        except (OverflowError, ValueError, OSError):
            when = ""
        when = when or "a date after the year 9999"
        raise _format_error(
            f"line {line_no}: epoch {_preview(digits, 20)} is {when}, more than "
            f"{MAX_FUTURE_SKEW.days} days after now ({_fmt_time(now)})",
            path,
        )
    return epoch, datetime.fromtimestamp(epoch, tz=UTC)


def parse_article(data: bytes, *, path: Path | None = None, now: datetime | None = None) -> Article:
    """Parse the bytes of one article file.

    Args:
        data: Raw file content (UTF-8, optionally with BOM; any line ends).
        path: Where the data came from; stored on the article and named in errors.
        now: Reference time for the "not in the future" check; defaults to the
            current time. A naive datetime is taken as UTC.

    Returns:
        The parsed article.

    Raises:
        ArticleFormatError: The data is not a well-formed article; the message
            says what is wrong and, where it applies, on which line or byte offset.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)

    lines = _clean_lines(_decode(data, path), path)

    title_no, title = lines[0]
    if (
        _LOOKS_LIKE_EPOCH_RE.match(title)
        and len(lines) > 1
        and not _EPOCH_LINE_RE.match(lines[1][1])
    ):
        # The file starts with what looks like the epoch line: the title is missing.
        raise _format_error(
            f"line {title_no}: missing title; the file starts with the epoch line "
            f"'{_preview(title)}'",
            path,
        )
    if len(title) > MAX_TITLE_CHARS:
        raise _format_error(
            f"line {title_no}: {title_too_long(title)}",
            path,
        )
    if len(lines) < 2:
        raise _format_error(
            f"missing epoch line: expected '<unix-epoch> <title>' after the title "
            f"on line {title_no}",
            path,
        )
    epoch_no, epoch_line = lines[1]
    epoch, published = _parse_epoch(epoch_no, epoch_line, now, path)

    tag_no, tag = lines[-1]
    if len(lines) == 2:
        raise _format_error(
            f"missing source tag: the file ends after the epoch line (line {epoch_no})", path
        )
    if not _SOURCE_TAG_RE.match(tag):
        raise _format_error(
            f"line {tag_no}: missing source tag; the last non-empty line must be a tag like "
            f"'toi-allgemeines' (lowercase letters, digits, '.', '_', '-'), got '{_preview(tag)}'",
            path,
        )
    if len(lines) == 3:
        raise _format_error(
            f"no body text: only the source tag (line {tag_no}) follows the epoch line", path
        )
    caption_no, caption = lines[2]
    paragraphs = tuple(line for _, line in lines[3:-1])
    if not paragraphs:
        raise _format_error(
            f"no body text: nothing between the image caption (line {caption_no}) "
            f"and the source tag (line {tag_no})",
            path,
        )

    return Article(
        id=article_id(epoch, title),
        title=title,
        published=published,
        source=tag,
        caption=caption,
        paragraphs=paragraphs,
        content_hash=content_hash(title, epoch, caption, paragraphs, tag),
        path=path,
    )


def read_article(path: Path, *, now: datetime | None = None) -> Article:
    """Read and parse one article file.

    The size is checked with ``stat`` first, so an oversized file is rejected
    without reading it.

    Args:
        path: The article file.
        now: Reference time for the future-date check (see :func:`parse_article`).

    Returns:
        The parsed article, with ``path`` set.

    Raises:
        ArticleFormatError: The file is too large, not a regular file, or malformed.
        OSError: The file cannot be read (missing, permissions, ...).
    """
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        # Reading a FIFO or device could block forever or never end.
        raise _format_error("not a regular file", path)
    if info.st_size > MAX_ARTICLE_BYTES:
        raise _format_error(
            f"file is {info.st_size:,} bytes, larger than the limit of {MAX_ARTICLE_BYTES:,} bytes",
            path,
        )
    with path.open("rb") as fh:
        # One byte over the limit is enough to detect a file that grew after stat.
        data = fh.read(MAX_ARTICLE_BYTES + 1)
    return parse_article(data, path=path, now=now)


# Longest path the kernel accepts (PATH_MAX); deeper files cannot be opened by name.
MAX_PATH_CHARS = 4096


@dataclass(frozen=True)
class ScanResult:
    """Outcome of :func:`scan_article_files`.

    Attributes:
        files: Files to read, in the order described there.
        failures: Folders (or given paths) that could not be searched, and why.
    """

    files: tuple[Path, ...]
    failures: tuple[ParseFailure, ...]


def _folder_error(folder: Path, exc: OSError, what: str = "folder") -> ParseFailure:
    size = len(os.fsencode(folder))
    if exc.errno == errno.ENAMETOOLONG or size >= MAX_PATH_CHARS:
        return ParseFailure(
            folder,
            f"cannot read {what}: path is {size:,} bytes long, the system limit is "
            f"{MAX_PATH_CHARS:,} ({exc.strerror or exc}); nothing in it is indexed — move it "
            "to a shorter path",
        )
    return ParseFailure(
        folder, f"cannot read {what}: {exc.strerror or exc}; nothing in it is indexed"
    )


def scan_article_files(
    paths: Iterable[Path], *, extensions: Iterable[str] | None = None
) -> ScanResult:
    """List the article files under the given paths, and the folders that could not be read.

    A file is taken as given (whatever its name).  A folder is searched
    recursively for files with one of ``extensions`` (compared case-insensitively;
    default: every format's, see :data:`index.readers.EXTENSIONS`), skipping
    hidden files and hidden folders; each given folder's files come sorted.  A
    file reached twice (given twice, inside a given folder too, or through a
    symlink) is listed once, at its first position.

    Nothing is skipped silently: a folder that cannot be listed (permissions, a
    path longer than the system's limit of 4096 bytes, ...) is a failure.
    Symlinked folders are followed; a symlink back to a folder being searched (a
    loop) is reported as a failure and not followed, and a folder reached again
    through another symlink is searched only once.

    Args:
        paths: Files and/or folders.
        extensions: Suffixes (with the dot) to pick up inside folders.

    Returns:
        The files and the folder failures.

    Raises:
        FileNotFoundError: One of ``paths`` does not exist (names it).
    """
    if extensions is None:
        from index.readers import EXTENSIONS

        extensions = EXTENSIONS
    wanted = {e.lower() for e in extensions}
    found: list[Path] = []
    failures: list[ParseFailure] = []
    seen: set[str] = set()
    searched: set[str] = set()

    def add(file: Path) -> None:
        try:
            key = os.path.realpath(file)
        except OSError:
            key = str(file)
        if key not in seen:
            seen.add(key)
            found.append(file)

    def walk(folder: Path, ancestors: tuple[str, ...], matches: list[Path]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            failures.append(_folder_error(folder, exc))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .git, .venv, editor backups
            child = Path(folder, entry.name)
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError as exc:
                failures.append(_folder_error(child, exc, "path"))
                continue
            if is_dir:
                real = os.path.realpath(child)
                if real in ancestors:
                    failures.append(
                        ParseFailure(
                            child,
                            f"symlink loop: points back to {real}, which is being searched; "
                            "not followed",
                        )
                    )
                elif real not in searched:
                    searched.add(real)
                    walk(child, (*ancestors, real), matches)
            elif os.path.splitext(entry.name)[1].lower() in wanted:
                matches.append(child)

    for given in paths:
        given = Path(given)
        try:
            info = given.stat()
        except FileNotFoundError:
            if given.is_symlink():
                add(given)  # a broken link: reading it reports the failure
                continue
            raise FileNotFoundError(2, f"No such file or directory: {given}", str(given)) from None
        except OSError as exc:
            failures.append(_folder_error(given, exc, "path"))
            continue
        if stat.S_ISDIR(info.st_mode):
            real = os.path.realpath(given)
            searched.add(real)
            matches: list[Path] = []
            walk(given, (real,), matches)
            for file in sorted(matches):
                add(file)
        else:
            add(given)
    return ScanResult(tuple(found), tuple(failures))


def find_article_files(
    paths: Iterable[Path], *, extensions: Iterable[str] | None = None
) -> list[Path]:
    """The files of :func:`scan_article_files` (folder failures left out).

    Raises:
        FileNotFoundError: One of ``paths`` does not exist (names it).
    """
    return list(scan_article_files(paths, extensions=extensions).files)


def load_articles(
    paths: Iterable[Path], *, now: datetime | None = None, options: ReaderOptions | None = None
) -> LoadResult:
    """Load every article under ``paths``; bad files and bad items are reported, not fatal.

    Each file is read by the reader of its format (:mod:`index.readers`); a feed or
    an export gives many articles, and its bad items are failures of their own
    (``row 7: field 'date': ...``) while the good ones load.

    Duplicates: when two articles have the same article id, the first one (in
    :func:`scan_article_files` order, then item order) is kept and the later one is
    reported as a failure, ``duplicate of <first path> (...)``.  This happens even
    when the two have identical content, so the user learns about the redundant
    copy; the reason says whether the content is identical or differs (in which
    case the user must decide which version is current).

    Args:
        paths: Files and/or folders (see :func:`scan_article_files`).
        now: Reference time for the future-date check (see :func:`parse_article`).
        options: How to read the files (format, field mapping, ...).

    Returns:
        Loaded articles and per-file / per-item failures (folders that could not be
        searched included).

    Raises:
        FileNotFoundError: One of ``paths`` does not exist; raised before any
            file is read, since it is a mistake in the request, not a bad file.
    """
    from index.readers import ReaderOptions as _Options
    from index.readers import extensions_for, read_file

    options = options or _Options()
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    scan = scan_article_files(paths, extensions=extensions_for(options.format))
    articles: list[Article] = []
    failures: list[ParseFailure] = list(scan.failures)
    first_by_id: dict[str, tuple[Article, str]] = {}
    for file in scan.files:
        result = read_file(file, options, now)
        failures.extend(result.failures)
        for item in result.items:
            article = item.article
            first = first_by_id.get(article.id)
            if first is not None:
                kept, kept_where = first
                same = (
                    "identical content"
                    if kept.content_hash == article.content_hash
                    else "different content; only the first is loaded"
                )
                original = f"{kept.path} {kept_where}" if kept_where else f"{kept.path}"
                prefix = f"{item.where}: " if item.where else ""
                failures.append(
                    ParseFailure(
                        file,
                        f"{prefix}duplicate of {original} (same article id {article.id}, {same})",
                    )
                )
                continue
            first_by_id[article.id] = (article, item.where)
            articles.append(article)
    return LoadResult(articles=tuple(articles), failures=tuple(failures))
