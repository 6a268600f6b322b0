"""CSV and JSON Lines exports: one article per row, fields found through a mapping.

Both are streamed, so an export of many thousands of articles is not held in memory
twice. Fields: ``title``, ``date``, ``body`` (required; ``title`` may be derived with
``--title-from-body`` and ``date`` may come from ``--default-date``), ``source`` and
``caption`` (optional). ``--map title=headline,...`` names the columns (CSV) or keys
(JSON, dotted for nested objects) that hold them; unmapped fields use their own name.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from index.articles import MAX_ARTICLE_BYTES, ParseFailure, _preview
from index.errors import ArticleFormatError
from index.readers.base import (
    MAX_EXPORT_BYTES,
    ItemError,
    ReaderOptions,
    ReadItem,
    ReadResult,
    body_paragraphs,
    check_regular,
    failure,
    first_sentence,
    make_article,
    parse_date,
    shorten_title,
    slugify,
)

_DELIMITERS = ",;\t|"
# Bytes that are not UTF-8 are decoded to lone surrogates ("surrogateescape"), so one
# bad cell fails its row instead of ending the file where the decoder stopped.
_BAD_BYTES_RE = re.compile(r"[\udc80-\udcff]")
_SNIFF_CHARS = 64_000

Lookup = Callable[[str], Any]
"""Returns the value of a column/key, or raises KeyError when the row has none."""


def _row_article(
    lookup: Lookup, path: Path, options: ReaderOptions, now: datetime, fallback_source: str
) -> Any:
    """Build the article of one row (CSV) or object (JSONL)."""

    def get(name: str) -> Any:
        try:
            value = lookup(options.column(name))
        except KeyError:
            return None
        return value

    raw_body = get("body")
    if isinstance(raw_body, list) and all(isinstance(p, str) for p in raw_body):
        paragraphs: tuple[str, ...] = tuple(p for part in raw_body for p in body_paragraphs(part))
    elif raw_body is None or isinstance(raw_body, str):
        paragraphs = body_paragraphs(raw_body or "")
    else:
        raise ItemError("body", f"expected text, got a JSON {type(raw_body).__name__}")
    if not paragraphs:
        raise ItemError("body", "empty")

    title = get("title")
    if not isinstance(title, str | None):
        raise ItemError("title", f"expected text, got a JSON {type(title).__name__}")
    if not (title or "").strip():
        if not options.title_from_body:
            raise ItemError("title", "empty (use --title-from-body to take the first sentence)")
        title = shorten_title(first_sentence(paragraphs))

    raw_date = get("date")
    if raw_date is None or (isinstance(raw_date, str) and not raw_date.strip()):
        if options.default_date is None:
            raise ItemError("date", "empty (give one with --default-date)")
        published = options.default_date
    else:
        try:
            published = parse_date(raw_date)
        except ValueError as exc:
            raise ItemError("date", str(exc)) from None

    raw_source = get("source")
    if isinstance(raw_source, str) and raw_source.strip():
        source = slugify(raw_source)
        if not source:
            raise ItemError("source", f"'{_preview(raw_source)}' gives no usable source tag")
    elif raw_source is not None and not isinstance(raw_source, str):
        raise ItemError("source", f"expected text, got a JSON {type(raw_source).__name__}")
    else:
        source = fallback_source
    if not source:
        raise ItemError("source", "empty (give a tag with --source)")

    caption = get("caption")
    return make_article(
        title=title or "",
        published=published,
        source=source,
        paragraphs=paragraphs,
        caption=caption if isinstance(caption, str) else "",
        path=path,
        now=now,
    )


def _utf8_reason(char: str, offset: int) -> str:
    byte = ord(char) - 0xDC00
    return f"invalid UTF-8 (byte 0x{byte:02x} at character {offset + 1}); exports must be UTF-8"


def _check_utf8(column: str, value: str) -> None:
    bad = _BAD_BYTES_RE.search(value)
    if bad:
        raise ItemError(None, f"column {column!r}: {_utf8_reason(bad.group(), bad.start())}")


def _required_fields(options: ReaderOptions) -> list[str]:
    required = ["body"]
    if not options.title_from_body:
        required.append("title")
    if options.default_date is None:
        required.append("date")
    return required


def _fallback_source(path: Path, options: ReaderOptions) -> str:
    return options.source or slugify(path.stem)


def _file_failure(path: Path, exc: ArticleFormatError) -> ReadResult:
    return ReadResult(failures=(ParseFailure(path, getattr(exc, "reason", str(exc))),))


# -------------------------------------------------------------------------- CSV


def _choose_dialect(sample: str, path: Path, options: ReaderOptions) -> type[csv.Dialect] | Any:
    """The CSV dialect for a file.

    The delimiter is the given one, else the one that splits the header line into the
    mapped column names, else ``csv.Sniffer``'s guess; the quoting is sniffed.
    """
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    delimiter = options.delimiter
    if delimiter is None:
        wanted = {options.column(name) for name in ("title", "date", "body", "source")}
        header_line = sample.split("\n", 1)[0]
        best, best_hits = None, 0
        for candidate in _DELIMITERS:
            cells = next(csv.reader([header_line], delimiter=candidate), [])
            hits = len(wanted & {c.strip() for c in cells})
            if hits > best_hits:
                best, best_hits = candidate, hits
        delimiter = best or dialect.delimiter

    class Chosen(csv.Dialect):
        quotechar = getattr(dialect, "quotechar", '"') or '"'
        doublequote = getattr(dialect, "doublequote", True)
        escapechar = getattr(dialect, "escapechar", None)
        skipinitialspace = getattr(dialect, "skipinitialspace", False)
        lineterminator = "\n"
        quoting = csv.QUOTE_MINIMAL

    Chosen.delimiter = delimiter
    return Chosen


class CsvReader:
    """CSV exports with a header row; delimiter and quoting sniffed or given."""

    name = "csv"
    extensions = (".csv", ".tsv")

    def read(self, path: Path, options: ReaderOptions, now: datetime) -> ReadResult:
        """Read every data row; rows that fail are reported with their field."""
        try:
            check_regular(path, MAX_EXPORT_BYTES)
        except ArticleFormatError as exc:
            return _file_failure(path, exc)
        # A field may hold a whole article; the csv module's default limit is 128 KB.
        csv.field_size_limit(max(csv.field_size_limit(), MAX_ARTICLE_BYTES * 2))
        items: list[ReadItem] = []
        failures: list[ParseFailure] = []
        row_no = 0
        try:
            # utf-8-sig drops a BOM; newline="" lets quoted fields hold line breaks.
            with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
                sample = fh.read(_SNIFF_CHARS)
                if not sample.strip():
                    return ReadResult(failures=(ParseFailure(path, "file is empty"),))
                if "\x00" in sample:
                    return ReadResult(failures=(ParseFailure(path, "binary data, not CSV"),))
                fh.seek(0)
                reader = csv.reader(fh, dialect=_choose_dialect(sample, path, options))
                header = [cell.strip() for cell in next(reader)]
                columns = {name: i for i, name in reversed(list(enumerate(header)))}
                problem = _missing_columns(columns, options, header)
                if problem:
                    return ReadResult(failures=(ParseFailure(path, problem),))
                fallback = _fallback_source(path, options)
                for row in reader:
                    if not any(cell.strip() for cell in row):
                        continue  # blank line
                    row_no += 1
                    where = f"row {row_no}"

                    def lookup(key: str, row: list[str] = row) -> str:
                        index = columns[key]
                        value = row[index] if index < len(row) else ""
                        _check_utf8(key, value)
                        return value

                    try:
                        article = _row_article(lookup, path, options, now, fallback)
                    except ItemError as exc:
                        failures.append(failure(path, where, str(exc)))
                        continue
                    items.append(ReadItem(article, where))
        except csv.Error as exc:
            failures.append(
                ParseFailure(
                    path, f"row {row_no + 1}: broken CSV ({exc}); the rest of the file was not read"
                )
            )
        except StopIteration:
            failures.append(ParseFailure(path, "file has no header row"))
        return ReadResult(tuple(items), tuple(failures))


def _missing_columns(columns: Mapping[str, int], options: ReaderOptions, header: list[str]) -> str:
    """Why the header cannot serve the mapping, or "" when it can."""
    missing = []
    for name in ("title", "date", "body", "source", "caption"):
        column = options.column(name)
        explicit = name in options.field_map
        if column not in columns and (explicit or name in _required_fields(options)):
            missing.append(f"field {name!r}: column {column!r}")
    if not missing:
        return ""
    shown = ", ".join(repr(h) for h in header[:20]) + (", …" if len(header) > 20 else "")
    return (
        f"{'; '.join(missing)} not in the header (columns: {shown}); "
        "map the fields with --map title=COLUMN,date=COLUMN,body=COLUMN"
    )


# ------------------------------------------------------------------------ JSONL


def _dotted(obj: Mapping[str, Any], key: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"`` (an exact key ``"a.b"`` wins)."""
    if key in obj:
        return obj[key]
    value: Any = obj
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(key)
        value = value[part]
    return value


class JsonlReader:
    """JSON Lines exports: one JSON object per line."""

    name = "jsonl"
    extensions = (".jsonl", ".ndjson")

    def read(self, path: Path, options: ReaderOptions, now: datetime) -> ReadResult:
        """Read every line; bad JSON and bad fields are reported per line."""
        try:
            check_regular(path, MAX_EXPORT_BYTES)
        except ArticleFormatError as exc:
            return _file_failure(path, exc)
        items: list[ReadItem] = []
        failures: list[ParseFailure] = []
        fallback = _fallback_source(path, options)
        with path.open(encoding="utf-8-sig", errors="surrogateescape") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"line {number}"
                bad = _BAD_BYTES_RE.search(line)
                if bad:
                    reason = _utf8_reason(bad.group(), bad.start())
                    failures.append(failure(path, where, reason))
                    continue
                try:
                    obj = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    reason = str(getattr(exc, "msg", "nested too deeply")).removesuffix(" at")
                    column = getattr(exc, "colno", None)
                    at = f" at column {column}" if column else ""
                    failures.append(failure(path, where, f"not valid JSON ({reason}{at})"))
                    continue
                if not isinstance(obj, dict):
                    kind = type(obj).__name__
                    failures.append(failure(path, where, f"expected a JSON object, got {kind}"))
                    continue
                try:
                    for name in _required_fields(options):
                        try:
                            _dotted(obj, options.column(name))
                        except KeyError:
                            raise ItemError(
                                name, f"key {options.column(name)!r} is missing"
                            ) from None
                    article = _row_article(
                        lambda key, obj=obj: _dotted(obj, key), path, options, now, fallback
                    )
                except ItemError as exc:
                    failures.append(failure(path, where, str(exc)))
                    continue
                items.append(ReadItem(article, where))
        if not items and not failures:
            failures.append(ParseFailure(path, "file is empty"))
        return ReadResult(tuple(items), tuple(failures))
