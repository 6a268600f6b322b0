"""``ask`` and ``stream``: from a question (and chat history) to a cited Answer.

The answer is built in typed steps, each its own function:

1. :func:`prepare` — validate the question and filters, make it standalone, read its
   language and its slot (what it asks for);
2. :func:`gather_evidence` — hybrid retrieval, sentence scoring and reranking;
3. a generator strategy (:class:`ExtractiveGenerator`, :class:`ChatGenerator` for the
   local LLM or an OpenAI-compatible server) turns the evidence into a
   :class:`~qa.drafts.Draft`, verified against the shown sentences;
4. :func:`qa.drafts.render` words the draft; one fallback path answers extractively
   when the chosen generator is unavailable, fails, is too slow or unverifiable, and
   the Answer says why (``fallback``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from index.lexical import tokenize
from index.models import RetrievedChunk
from qa.drafts import Draft, render
from qa.errors import GeneratorUnavailableError, ModelNotInstalledError, QuestionError
from qa.evidence import ScoredSentence, score_sentences
from qa.extractive import extractive_draft
from qa.filters import Filters, parse_filters
from qa.followup import format_history, is_followup, previous_questions, rewrite_heuristic
from qa.language import detect_language
from qa.llm_extract import (
    SCHEMA,
    draft_from_reply,
    extraction_prompt,
    format_sentences,
    language_name,
    shown_sentences,
)
from qa.prompting import REWRITE_PROMPT
from qa.resources import OpenIndex
from qa.retrieval import RetrievalParams, search
from qa.settings import Settings
from qa.slots import Slot, question_slot
from qa.types import Answer, FallbackReason, GeneratorName, Outcome

if TYPE_CHECKING:
    from qa.engine import Engine

log = logging.getLogger(__name__)

Turn = Mapping[str, str]

# Reranking looks at this many fused candidates per answer slot. Every sentence of
# every candidate is scored, so the pool sets the cost of a new question. On the dev
# split, 2 scored as well as 3 (MRR 0.942 vs 0.938, recall@5 1.000 both).
RERANK_POOL = 2
# Retrieval ranks at least this many chunks, so the answer's own ranking can be scored
# ten deep (recall@10) by the eval; only the rerank pool is scored by sentence.
RANKED_DEPTH = 10
# Tokens the model may write: the JSON object with a span and a short answer.
EXTRACTION_MAX_TOKENS = 120


class _DeadlineExceeded(Exception):
    """The generator did not finish its answer within ``Settings.llm_deadline``."""


def validate_question(question: str, max_chars: int) -> str:
    """The question stripped, or a QuestionError naming the problem."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    q = question.strip()
    if not q:
        raise QuestionError("the question is empty: type a question about the indexed articles")
    if len(q) > max_chars:
        raise QuestionError(
            f"the question is {len(q)} characters long; the limit is {max_chars} "
            "(QA_MAX_QUESTION_CHARS)"
        )
    if not any(ch.isalnum() for ch in q):
        raise QuestionError("the question has no letters or digits")
    return q


# ------------------------------------------------------------------------ step 1


@dataclass(frozen=True)
class Prepared:
    """A validated question, ready for retrieval.

    Attributes:
        question: The question as asked (stripped).
        standalone: The question rewritten without the chat history.
        lang: ``en`` or ``de``.
        slot: What it asks for.
        filters: Validated date/source filters.
    """

    question: str
    standalone: str
    lang: str
    slot: Slot
    filters: Filters


def prepare(
    question: str,
    history: Sequence[Turn],
    filters: Mapping[str, Any] | Filters | None,
    settings: Settings,
    chat_model: Any = None,
) -> Prepared:
    """Validate the question and filters and make the question standalone.

    Raises:
        QuestionError: Empty, too long, or no words.
        FilterError: Unknown filter keys or bad dates.
    """
    q = validate_question(question, settings.max_question_chars)
    flt = parse_filters(filters)
    standalone = _standalone(q, tuple(history), chat_model)
    lang = detect_language(q)
    return Prepared(
        q, standalone, lang if lang != "unknown" else "en", question_slot(standalone), flt
    )


# ------------------------------------------------------------------------ step 2


@dataclass(frozen=True)
class Evidence:
    """What retrieval found for a question.

    Attributes:
        hits: The ``top_k`` chunks an answer may use, best first.
        scored: Their sentences, scored against the question, best first.
        ranked: Retrieval's whole ranking (reranked pool, then the other candidates).
    """

    hits: tuple[RetrievedChunk, ...]
    scored: tuple[ScoredSentence, ...]
    ranked: tuple[RetrievedChunk, ...]


def _rerank(
    hits: Sequence[RetrievedChunk], scored: Sequence[ScoredSentence]
) -> list[RetrievedChunk]:
    """Order chunks by their best sentence (sentence-level similarity rescoring)."""
    best: dict[str, float] = {}
    for s in scored:
        best.setdefault(s.hit.chunk.id, s.score)
    n = len(hits)
    # The fused rank breaks near-ties: it carries BM25 evidence the sentence score lacks.
    key = {h.chunk.id: best.get(h.chunk.id, 0.0) + 0.01 * (n - i) / n for i, h in enumerate(hits)}
    return sorted(hits, key=lambda h: key[h.chunk.id], reverse=True)


def gather_evidence(
    question: str,
    *,
    index: OpenIndex,
    settings: Settings,
    filters: Filters = Filters(),  # noqa: B008 - frozen
    params: RetrievalParams | None = None,
    timings: dict[str, float] | None = None,
) -> Evidence:
    """Retrieve, score sentences and (optionally) rerank: the chunks an answer uses.

    Args:
        question: Standalone question.
        index: The opened index.
        settings: ``top_k`` and ``rerank`` are used.
        filters: Date range and source.
        params: Retrieval knobs.
        timings: Filled with seconds per stage when given.

    Returns:
        The evidence: ``top_k`` chunks, their scored sentences and the whole ranking.
    """
    timings = {} if timings is None else timings
    t = time.perf_counter()
    pool = settings.top_k * (RERANK_POOL if settings.rerank else 1)
    candidates = search(
        question,
        index=index,
        k=max(pool, RANKED_DEPTH),
        filters=filters,
        params=params or RetrievalParams(),
    )
    timings["retrieve"] = time.perf_counter() - t
    t = time.perf_counter()
    pooled = candidates[:pool]
    scored = score_sentences(
        question,
        pooled,
        index.embedder,
        question_vector=index.queries.get(question),
        sentence_vectors=index.store.sentence_vectors([h.chunk.id for h in pooled]),
        cache=index.sentences,
    )
    ranked = _rerank(pooled, scored) if settings.rerank else list(pooled)
    hits = ranked[: settings.top_k]
    kept = {h.chunk.id for h in hits}
    scored = [s for s in scored if s.hit.chunk.id in kept]
    timings["evidence"] = time.perf_counter() - t
    return Evidence(tuple(hits), tuple(scored), tuple(ranked + candidates[pool:]))


# ------------------------------------------------------------------------ step 3


class Generator(Protocol):
    """A strategy that turns evidence into a draft."""

    name: GeneratorName
    #: The chat model behind the generator (also rewrites follow-ups), or None.
    chat_model: Any
    #: Seconds a model ran for the last answer; None when none was asked.
    model_seconds: float | None

    def draft(self, prepared: Prepared, evidence: Evidence, settings: Settings) -> Draft | None:
        """The draft, or None when the generator's answer cannot be verified.

        Raises:
            Exception: The generator failed (server down, too slow …); the caller
                falls back to the extractive generator.
        """
        ...


class ExtractiveGenerator:
    """Rules only: the fact located in the best sentences (:mod:`qa.extractive`)."""

    name: GeneratorName = "extractive"
    chat_model: Any = None
    model_seconds: float | None = None

    def draft(self, prepared: Prepared, evidence: Evidence, settings: Settings) -> Draft:
        """See :func:`qa.extractive.extractive_draft`."""
        return extractive_draft(
            prepared.standalone,
            evidence.scored,
            slot=prepared.slot,
            lang=prepared.lang,
            threshold=settings.abstain_threshold,
        )


class ChatGenerator:
    """A LangChain chat model that extracts (sentence, span, answer) as JSON.

    Args:
        chat_model: The local llama.cpp model or an OpenAI-compatible client.
        name: ``llm`` or ``openai``.
    """

    def __init__(self, chat_model: Any, name: GeneratorName) -> None:
        self.chat_model = chat_model
        self.name = name
        #: Seconds the model ran for this answer; None when it was not asked.
        self.model_seconds: float | None = None

    def draft(self, prepared: Prepared, evidence: Evidence, settings: Settings) -> Draft | None:
        """Ask the model, then verify its reply (:func:`qa.llm_extract.draft_from_reply`).

        Raises:
            _DeadlineExceeded: No complete reply within ``settings.llm_deadline``.
        """
        scored = evidence.scored
        if not scored or scored[0].score < settings.abstain_threshold:
            # Nothing relevant: no need to ask the model.
            return extractive_draft(
                prepared.standalone,
                scored,
                slot=prepared.slot,
                lang=prepared.lang,
                threshold=settings.abstain_threshold,
            )
        shown = shown_sentences(scored)
        reply = self._reply(
            {
                "sentences": format_sentences(shown),
                "question": prepared.standalone,
                "language": language_name(prepared.lang),
            },
            settings.llm_deadline,
        )
        return draft_from_reply(
            reply,
            shown,
            question=prepared.standalone,
            slot=prepared.slot,
            lang=prepared.lang,
            scored=scored,
            threshold=settings.abstain_threshold,
        )

    def _reply(self, inputs: dict[str, str], deadline_s: float) -> str:
        model = self.chat_model.bind(response_format={"type": "json_object", "schema": SCHEMA})
        # QA_OPENAI_TIMEOUT bounds each read only; the deadline bounds the whole reply,
        # checked per token, so the overrun is at most one token's wait.
        started = time.perf_counter()
        deadline = started + deadline_s
        parts: list[str] = []
        # closing(): stopping early must end the HTTP stream / release the local
        # model's lock now, not whenever the generator is garbage-collected.
        with contextlib.closing((extraction_prompt() | model).stream(inputs)) as pieces:
            for piece in pieces:
                if time.perf_counter() > deadline:
                    raise _DeadlineExceeded(
                        f"no complete answer within {deadline_s:g} s (QA_LLM_DEADLINE)"
                    )
                parts.append(piece.content if hasattr(piece, "content") else str(piece))
        self.model_seconds = time.perf_counter() - started
        return "".join(parts)


def _choose_generator(
    settings: Settings, engine: Engine
) -> tuple[Generator, FallbackReason | None, str]:
    """The configured generator, or the extractive one when it cannot be loaded."""
    if settings.generator == "extractive":
        return ExtractiveGenerator(), None, ""
    try:
        chat_model = engine.chat_model(
            settings.generator, max_tokens=EXTRACTION_MAX_TOKENS, settings=settings
        )
        return (
            ChatGenerator(chat_model, settings.generator),
            None,
            "",
        )
    except (ModelNotInstalledError, GeneratorUnavailableError, ImportError, ValueError) as exc:
        log.warning("falling back to extractive answers: %s", exc)
        detail = f"{settings.generator} unavailable: {exc}"
        return ExtractiveGenerator(), FallbackReason.UNAVAILABLE, detail


def _run(
    generator: Generator, prepared: Prepared, evidence: Evidence, settings: Settings
) -> tuple[Draft, GeneratorName, FallbackReason | None, str]:
    """Run a generator with the one fallback path: extractive, and why."""
    fallback: FallbackReason | None
    try:
        draft = generator.draft(prepared, evidence, settings)
        if draft is not None:
            return draft, generator.name, None, ""
        fallback, detail = FallbackReason.UNVERIFIED, f"unverified {generator.name} answer"
    except Exception as exc:  # a server that is down, times out or is too slow: answer anyway
        log.warning("generator %s failed, answering extractively: %s", generator.name, exc)
        too_slow = isinstance(exc, _DeadlineExceeded)
        fallback = FallbackReason.TOO_SLOW if too_slow else FallbackReason.FAILED
        detail = f"{generator.name} {fallback.value}: {exc}"
    return ExtractiveGenerator().draft(prepared, evidence, settings), "extractive", fallback, detail


# ------------------------------------------------------------------------ ask / stream


def stream(
    question: str,
    *,
    history: Sequence[Turn] = (),
    filters: Mapping[str, Any] | Filters | None = None,
    settings: Settings | None = None,
    retrieval: RetrievalParams | None = None,
) -> Iterator[str | Answer]:
    """Answer a question, yielding text and finally the complete Answer.

    Runs on the default engine for these settings (:func:`qa.engine.default_engine`);
    hold an :class:`qa.engine.Engine` to choose the lifetime of models and index.

    Args:
        question: The question, English or German.
        history: Earlier turns, ``{"role": "user"|"assistant", "content": str}``.
        filters: ``since``/``until`` (dates) and ``source`` (tag).
        settings: Configuration; defaults to ``Settings.from_env()``.
        retrieval: Retrieval knobs (the eval suite varies them).

    Yields:
        The answer text once it is verified (``str``), then the Answer.

    Raises:
        QuestionError: Empty, too long, or no words.
        FilterError: Unknown filter keys or bad dates.
        IndexNotBuiltError: Nothing indexed yet.
        StoreUnavailableError: The Chroma server is down.
        EmbeddingModelMismatchError: The index was built with another model.
    """
    from qa.engine import default_engine  # the engine runs this module's steps

    settings = settings or Settings.from_env()
    yield from default_engine(settings).stream(
        question, history=history, filters=filters, settings=settings, retrieval=retrieval
    )


def answer_stream(
    engine: Engine,
    question: str,
    *,
    history: Sequence[Turn],
    filters: Mapping[str, Any] | Filters | None,
    settings: Settings,
    retrieval: RetrievalParams | None,
) -> Iterator[str | Answer]:
    """The answer path on an engine's index and models; see :func:`stream`."""
    t0 = time.perf_counter()
    # Bad input is refused before the index is opened or a model loaded; `prepare`
    # validates again (cheaply) because it is a step of its own.
    validate_question(question, settings.max_question_chars)
    parse_filters(filters)
    index = engine.index()
    timings: dict[str, float] = {}
    generator, fallback, detail = _choose_generator(settings, engine)
    t = time.perf_counter()
    prepared = prepare(question, history, filters, settings, generator.chat_model)
    timings["rewrite"] = time.perf_counter() - t
    evidence = gather_evidence(
        prepared.standalone,
        index=index,
        settings=settings,
        filters=prepared.filters,
        params=retrieval,
        timings=timings,
    )
    t = time.perf_counter()
    draft, name, run_fallback, run_detail = _run(generator, prepared, evidence, settings)
    timings["generate"] = time.perf_counter() - t
    if generator.model_seconds is not None:
        timings["llm"] = generator.model_seconds  # the model ran to the end
    text, short, citations = render(draft, prepared.question, prepared.lang)
    timings["first_token"] = time.perf_counter() - t0
    yield text
    timings["total"] = time.perf_counter() - t0
    yield Answer(
        text=text,
        citations=citations,
        chunks=evidence.hits,
        generator=name,
        abstained=draft.outcome is not Outcome.ANSWERED,
        question=prepared.question,
        standalone_question=prepared.standalone,
        timings=dict(timings),
        short=short,
        outcome=draft.outcome,
        fallback=fallback or run_fallback,
        fallback_detail=detail or run_detail,
        ranked=evidence.ranked,
    )


def ask(
    question: str,
    *,
    history: Sequence[Turn] = (),
    filters: Mapping[str, Any] | Filters | None = None,
    settings: Settings | None = None,
    retrieval: RetrievalParams | None = None,
) -> Answer:
    """Answer a question; see :func:`stream` for arguments and errors.

    Returns:
        The complete answer with citations, retrieved chunks and timings.
    """
    answer = None
    for item in stream(
        question, history=history, filters=filters, settings=settings, retrieval=retrieval
    ):
        if isinstance(item, Answer):
            answer = item
    assert answer is not None  # stream always ends with an Answer
    return answer


def warm_up(settings: Settings) -> None:
    """Load the local LLM and evaluate the extraction prompt's fixed prefix ahead of time.

    llama.cpp reuses an evaluated prefix, so after this the first question waits only
    for its own tokens. Does nothing unless ``settings.generator`` is ``llm``. Runs on
    the default engine (:meth:`qa.engine.Engine.warm_up` on one's own).

    Raises:
        ModelNotInstalledError: The local model is missing or fails its checksum.
    """
    from qa.engine import default_engine

    default_engine(settings).warm_up(settings)


def prime(chat_model: Any) -> None:
    """Evaluate the extraction prompt's fixed prefix on a local chat model (loading it)."""
    messages = extraction_prompt().format_messages(sentences="", question="", language="English")
    chat_model.warm_up(messages)


def _standalone(question: str, history: Sequence[Turn], chat_model: Any) -> str:
    if not is_followup(question, history):
        return question
    fallback = rewrite_heuristic(question, history)
    if chat_model is not None:
        try:
            reply = (REWRITE_PROMPT | chat_model).invoke(
                {"history": format_history(history), "question": question}
            )
            lines = str(getattr(reply, "content", reply)).strip().splitlines()
            rewritten = lines[0].strip() if lines else ""
            # A rewrite must carry the topic over from the earlier question; small
            # models sometimes answer instead, or drop the topic.
            earlier = set(tokenize(previous_questions(history)[-1])) - set(tokenize(question))
            if 3 <= len(rewritten) <= 400 and earlier & set(tokenize(rewritten)):
                return rewritten
            log.info("LLM rewrite %r rejected; using the heuristic", rewritten)
        except Exception as exc:  # the heuristic is a fine answer too
            log.warning("LLM rewrite failed, using the heuristic: %s", exc)
    return fallback
