"""The records that flow through indexing: Article -> Chunk -> RetrievedChunk, and Filters."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Article:
    """One parsed news article.

    Attributes:
        id: Stable id from the epoch and normalised title: not the path, not the body.
        title: Headline as printed on the first line.
        published: Publication time, timezone-aware UTC.
        source: Source/category tag from the last line, e.g. ``toi-allgemeines``.
        caption: Image caption (may be empty).
        paragraphs: Body paragraphs, in order.
        content_hash: Hash of the normalised full text; changes when the text does.
        path: File the article was read from, if any.
    """

    id: str
    title: str
    published: datetime
    source: str
    caption: str
    paragraphs: tuple[str, ...]
    content_hash: str
    path: Path | None = None

    @property
    def text(self) -> str:
        """The body as one string, paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive sentences of one article, the unit of retrieval.

    Attributes:
        id: ``{article_id}-{position:04d}-{hash8}``; stable while the text is.
        article_id: Id of the article the chunk belongs to.
        position: 0-based index of the chunk within its article.
        text: The chunk's own sentences.
        title: Article title (kept for embedding context and citations).
        published: Article publication time (UTC).
        source: Article source tag.
    """

    id: str
    article_id: str
    position: int
    text: str
    title: str
    published: datetime
    source: str

    @property
    def context_text(self) -> str:
        """Text that is embedded and lexically indexed: title and date give context."""
        return f"{self.title} ({self.published:%Y-%m-%d})\n{self.text}"


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk returned by a search, with how it scored.

    Attributes:
        chunk: The chunk itself.
        score: Final score used for ordering (higher is better).
        dense_score: Cosine similarity from the vector search, if it found the chunk.
        lexical_score: BM25 score, if the lexical search found the chunk.
    """

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "gte": operator.ge,
    "lte": operator.le,
    "eq": operator.eq,
}


@dataclass(frozen=True)
class Condition:
    """One clause of a filter over a chunk's stored metadata.

    Attributes:
        field: ``published`` (whole epoch seconds, as stored) or ``source``.
        op: ``gte``, ``lte`` or ``eq``.
        value: The bound (epoch seconds) or the source tag.
    """

    field: Literal["published", "source"]
    op: Literal["gte", "lte", "eq"]
    value: int | str

    def test(self, value: Any) -> Any:
        """Apply the clause to a value, or elementwise to a numpy array of values.

        Args:
            value: The field's value (an int epoch or a tag), or an array of them.

        Returns:
            A bool, or a bool array for an array input.
        """
        return _OPS[self.op](value, self.value)


@dataclass(frozen=True)
class Filters:
    """Publication-date range (inclusive, UTC) and an exact source tag.

    :meth:`conditions` is the one definition of what passes; the Chroma ``where``
    filter (``index.store.where_of``), the lexical view's row mask
    (``LexicalIndex.filter_mask``) and :meth:`accepts` all evaluate it, so the dense,
    lexical and fallback paths cannot disagree about a boundary.

    Attributes:
        since: Earliest publication time (inclusive), timezone-aware.
        until: Latest publication time (inclusive), timezone-aware.
        source: Exact source tag.
    """

    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return self.since is None and self.until is None and self.source is None

    def conditions(self) -> tuple[Condition, ...]:
        """The filter as clauses that must all hold (none when nothing is filtered).

        Dates become whole epoch seconds, as the store keeps ``published``; truncating
        ``until`` (e.g. 23:59:59.999999) keeps the last second of its day inside.
        """
        out: list[Condition] = []
        if self.since is not None:
            out.append(Condition("published", "gte", int(self.since.timestamp())))
        if self.until is not None:
            out.append(Condition("published", "lte", int(self.until.timestamp())))
        if self.source is not None:
            out.append(Condition("source", "eq", self.source))
        return tuple(out)

    def accepts(self, published: datetime, source: str) -> bool:
        """Whether a chunk published at ``published`` under ``source`` passes.

        Args:
            published: Publication time (timezone-aware).
            source: Source tag.

        Returns:
            True when every condition holds.
        """
        values = {"published": int(published.timestamp()), "source": source}
        return all(bool(c.test(values[c.field])) for c in self.conditions())

    def matches(self, chunk: Chunk) -> bool:
        """Whether a chunk passes (see :meth:`accepts`)."""
        return self.accepts(chunk.published, chunk.source)
