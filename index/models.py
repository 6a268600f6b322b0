"""The records that flow through indexing: Article -> Chunk -> RetrievedChunk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


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
