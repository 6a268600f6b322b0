"""The records the answering layer returns: Answer and Citation, and their typed outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal

from index.models import RetrievedChunk

GeneratorName = Literal["llm", "openai", "extractive"]
"""Which generator wrote an answer."""


class FallbackReason(Enum):
    """Why an answer came from the extractive generator although another was asked for."""

    UNAVAILABLE = "unavailable"  # the model is not installed / the server is not configured
    FAILED = "failed"  # the generator raised (server down, time-out)
    TOO_SLOW = "too slow"  # no complete answer within QA_LLM_DEADLINE
    UNVERIFIED = "unverified"  # its answer could not be found in the shown sentences


class Outcome(Enum):
    """What kind of answer this is."""

    ANSWERED = "answered"
    NOT_FOUND = "not found"  # the articles say nothing about the question
    MISSING_DETAIL = "missing detail"  # on topic, but the asked-for detail is not given


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
        quote: The sentence of the chunk that supports the claim, verbatim.
        span: ``(start, end)`` of the answer's fact inside ``quote`` (verbatim there), or
            None when the whole quote is the evidence.
    """

    marker: int
    article_id: str
    title: str
    published: datetime
    source: str
    chunk_id: str
    quote: str
    span: tuple[int, int] | None = None

    @property
    def span_text(self) -> str:
        """The highlighted fact, verbatim from the quote ("" without a span)."""
        return self.quote[self.span[0] : self.span[1]] if self.span else ""


@dataclass(frozen=True)
class Answer:
    """A complete answer.

    Attributes:
        text: Answer text with inline markers ``[1]``: the short answer first, then the
            quoted evidence.
        citations: Sources, one per marker, in marker order.
        chunks: The chunks shown to the generator (best first) with their scores.
        generator: Which generator produced the text.
        abstained: True when the articles do not contain the answer (``outcome`` is
            ``NOT_FOUND`` or ``MISSING_DETAIL``).
        question: The question as asked.
        standalone_question: The question rewritten without the chat history.
        timings: Seconds per stage (``retrieve``, ``evidence``, ``generate``, ``llm`` — only
            when a model ran —, ``first_token``, ``total``).
        short: The fact that answers the question, in the question's language ("" when
            abstaining).
        outcome: Answered, nothing found, or on topic without the asked-for detail.
        fallback: Why the extractive generator answered instead of the one asked for.
        fallback_detail: The error behind ``fallback``, for the log and the UI.
        ranked: Every chunk retrieval ranked for this answer (at least ten deep when
            the index has them): what retrieval metrics score.
    """

    text: str
    citations: tuple[Citation, ...]
    chunks: tuple[RetrievedChunk, ...]
    generator: GeneratorName
    abstained: bool = False
    question: str = ""
    standalone_question: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    short: str = ""
    outcome: Outcome | None = None
    fallback: FallbackReason | None = None
    fallback_detail: str = ""
    ranked: tuple[RetrievedChunk, ...] = ()

    def __post_init__(self) -> None:
        if self.outcome is None:
            derived = Outcome.NOT_FOUND if self.abstained else Outcome.ANSWERED
            object.__setattr__(self, "outcome", derived)
        elif self.abstained != (self.outcome is not Outcome.ANSWERED):
            raise ValueError(f"abstained={self.abstained} contradicts outcome={self.outcome}")

    @property
    def fallback_note(self) -> str:
        """One line saying why the answer is extractive ("" when it is not a fallback)."""
        if self.fallback is None:
            return ""
        note = f"extractive answer (fallback: {self.fallback.value})"
        return f"{note}: {self.fallback_detail}" if self.fallback_detail else note
