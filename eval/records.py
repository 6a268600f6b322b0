"""The evaluation's records: gold questions and per-question results.

Kept apart from the loaders (:mod:`eval.dataset`) and the scoring
(:mod:`eval.metrics`) so neither has to import the other; both re-export what
they used to define here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.types import Answer

__all__ = ["EvalRecord", "GoldQuestion", "Turn"]


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation (for follow-up questions).

    Attributes:
        role: ``user`` or ``assistant``.
        content: The message text.
    """

    role: str
    content: str


@dataclass(frozen=True)
class GoldQuestion:
    """One gold question.

    Attributes:
        id: Unique question id, e.g. ``a-001``.
        question: The question as a user would ask it.
        lang: ``en`` or ``de``.
        type: Question type, one of :data:`eval.dataset.QUESTION_TYPES`.
        answer: Short canonical answer; ``""`` when unanswerable.
        variants: Further accepted answers.
        articles: Gold article references as written in the file (file names in
            the corpus folder); for SQuAD, the in-memory article ids.
        evidence: Exact gold evidence sentence(s).
        history: Earlier conversation turns (follow-up questions).
        article_ids: The gold articles' ids as the indexer assigns them.
        split: ``dev`` or ``test`` (see :func:`eval.dataset.split_of`).
    """

    id: str
    question: str
    lang: str
    type: str
    answer: str
    variants: tuple[str, ...]
    articles: tuple[str, ...]
    evidence: tuple[str, ...]
    history: tuple[Turn, ...]
    article_ids: tuple[str, ...]
    split: str

    @property
    def unanswerable(self) -> bool:
        """True when the corpus does not contain the answer."""
        return self.type == "unanswerable"

    @property
    def golds(self) -> tuple[str, ...]:
        """The answer and its variants, non-empty and without duplicates."""
        return tuple(dict.fromkeys(g for g in (self.answer, *self.variants) if g.strip()))

    def history_messages(self) -> list[dict[str, str]]:
        """The history as chat messages, ``[{"role": ..., "content": ...}, ...]``."""
        return [{"role": t.role, "content": t.content} for t in self.history]


@dataclass(frozen=True)
class EvalRecord:
    """Everything needed to score one question, as filled in by the runner.

    Attributes:
        question_id: Gold question id.
        type: Question type (``factoid``, ``number``, ``unanswerable``…).
        lang: Question language (``en`` or ``de``).
        unanswerable: True when the corpus does not contain the answer.
        retrieved_article_ids: Article id of every retrieved chunk, best first.
        retrieved_chunk_texts: Text of every retrieved chunk, best first.
        answer: The answer text (with citation markers).
        abstained: True when the system said it cannot answer.
        citation_quotes: Quote of each citation, in marker order.
        ttft_s: Seconds to the first token, ``None`` if not measured.
        total_s: Seconds for the whole answer, ``None`` if not measured.
        gold_answer: Canonical gold answer (``""`` when unanswerable).
        gold_variants: Further accepted answers.
        gold_evidence: Gold evidence sentences.
        gold_articles: Ids of the gold articles.
        question: The question text (for reports).
        split: ``dev`` or ``test``.
        generator: Which generator answered (for reports).
        error: Error message if answering failed (then the answer is empty).
        short: The answer's lead fact (``Answer.short``); EM/F1 and the language check
            score it when present, since the rest of the answer is quoted evidence.
        gold_translations: The gold answer in the question's language when the gold
            spans are in another (XQuAD en-de: the English answers); scored as
            ``em_translated``/``f1_translated``.
    """

    question_id: str
    type: str
    lang: str
    unanswerable: bool
    retrieved_article_ids: tuple[str, ...]
    retrieved_chunk_texts: tuple[str, ...]
    answer: str
    abstained: bool
    citation_quotes: tuple[str, ...]
    ttft_s: float | None
    total_s: float | None
    gold_answer: str
    gold_variants: tuple[str, ...] = ()
    gold_evidence: tuple[str, ...] = ()
    gold_articles: tuple[str, ...] = ()
    question: str = ""
    split: str = ""
    generator: str = ""
    error: str | None = None
    short: str = ""
    gold_translations: tuple[str, ...] = ()

    @property
    def golds(self) -> tuple[str, ...]:
        """The gold answer and its variants, non-empty and without duplicates."""
        return tuple(dict.fromkeys(g for g in (self.gold_answer, *self.gold_variants) if g.strip()))

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready plain data (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalRecord:
        """Rebuild a record from :meth:`to_dict` output (e.g. a ``result.json``).

        Args:
            data: Mapping with the record's fields; unknown keys are ignored.

        Returns:
            The record.
        """
        names = cls.__dataclass_fields__
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**values)

    @classmethod
    def from_question(
        cls,
        question: GoldQuestion,
        *,
        answer: str = "",
        abstained: bool = False,
        retrieved_article_ids: Sequence[str] = (),
        retrieved_chunk_texts: Sequence[str] = (),
        citation_quotes: Sequence[str] = (),
        ttft_s: float | None = None,
        total_s: float | None = None,
        generator: str = "",
        error: str | None = None,
        short: str = "",
    ) -> EvalRecord:
        """Build a record from a gold question and what the system under test did.

        The gold fields (id, type, language, answers, evidence, articles, split)
        come from ``question``; everything the system produced is passed in and
        defaults to "nothing" (no answer, no retrieval, no timing).

        Args:
            question: The gold question (``eval.dataset.GoldQuestion``).
            answer: The answer text.
            abstained: True when the system said it cannot answer.
            retrieved_article_ids: Article id of every retrieved chunk, best first.
            retrieved_chunk_texts: Text of every retrieved chunk, best first.
            citation_quotes: Quote of each citation, in marker order.
            ttft_s: Seconds to the first token.
            total_s: Seconds for the whole answer.
            generator: Which generator answered.
            error: Error message, if answering failed.
            short: The answer's lead fact.

        Returns:
            The record.
        """
        return cls(
            question_id=question.id,
            type=question.type,
            lang=question.lang,
            unanswerable=question.unanswerable,
            retrieved_article_ids=tuple(retrieved_article_ids),
            retrieved_chunk_texts=tuple(retrieved_chunk_texts),
            answer=answer,
            abstained=abstained,
            citation_quotes=tuple(citation_quotes),
            ttft_s=ttft_s,
            total_s=total_s,
            gold_answer=question.answer,
            gold_variants=question.variants,
            gold_evidence=question.evidence,
            gold_articles=question.article_ids,
            question=question.question,
            split=question.split,
            generator=generator,
            error=error,
            short=short,
        )

    @classmethod
    def from_answer(
        cls, question: GoldQuestion, answer: Answer, *, error: str | None = None
    ) -> EvalRecord:
        """Build a record from a gold question and the assistant's answer.

        Args:
            question: The gold question (``eval.dataset.GoldQuestion``).
            answer: What ``qa.ask`` returned (``qa.types.Answer``).
            error: Error message, if answering failed.

        Returns:
            The record; latencies come from ``answer.timings["first_token"]`` and
            ``answer.timings["total"]``.
        """
        ranked = answer.ranked or answer.chunks
        generator = answer.generator
        if answer.fallback is not None:
            generator = f"{generator} (fallback: {answer.fallback.value})"
        return cls.from_question(
            question,
            answer=answer.text,
            abstained=answer.abstained,
            retrieved_article_ids=[rc.chunk.article_id for rc in ranked],
            retrieved_chunk_texts=[rc.chunk.text for rc in ranked],
            citation_quotes=[c.quote for c in answer.citations],
            ttft_s=answer.timings.get("first_token"),
            total_s=answer.timings.get("total"),
            generator=generator,
            error=error,
            short=answer.short,
        )
