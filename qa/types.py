"""The records the answering layer returns: Answer and Citation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from index.models import RetrievedChunk


@dataclass(frozen=True)
class Citation:
    """One numbered source behind an answer.

    Attributes:
        marker: The number used in the answer text, ``[marker]``.
        article_id: Id of the cited article.
        title: Article title.
        published: Article publication time (UTC).
        source: Article source tag.
        chunk_id: Id of the retrieved chunk the quote comes from.
        quote: The sentence(s) of the chunk that support the claim.
    """

    marker: int
    article_id: str
    title: str
    published: datetime
    source: str
    chunk_id: str
    quote: str


@dataclass(frozen=True)
class Answer:
    """A complete answer.

    Attributes:
        text: Answer text with inline markers ``[1]``, ``[2]``.
        citations: Sources, one per marker, in marker order.
        chunks: The retrieved chunks (best first) with their scores.
        generator: Which generator produced the text (``llm``, ``openai``,
            ``extractive``, or ``extractive (fallback: …)``).
        abstained: True when the articles do not contain the answer.
        question: The question as asked.
        standalone_question: The question rewritten without the chat history.
        timings: Seconds per stage (``retrieve``, ``generate``, ``first_token``, ``total``…).
    """

    text: str
    citations: tuple[Citation, ...]
    chunks: tuple[RetrievedChunk, ...]
    generator: str
    abstained: bool = False
    question: str = ""
    standalone_question: str = ""
    timings: dict[str, float] = field(default_factory=dict)
