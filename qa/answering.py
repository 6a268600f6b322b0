"""``ask`` and ``stream``: from a question (and chat history) to a cited Answer."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from index.lexical import tokenize
from index.models import RetrievedChunk
from qa.citations import cite_sentences, finalize
from qa.errors import GeneratorUnavailableError, ModelNotInstalledError, QuestionError
from qa.evidence import ScoredSentence, score_sentences
from qa.extractive import extractive_text, pick_sentences
from qa.filters import Filters, parse_filters
from qa.followup import format_history, is_followup, previous_questions, rewrite_heuristic
from qa.language import detect_language
from qa.prompting import (
    NOT_FOUND,
    REWRITE_PROMPT,
    SYSTEM_PROMPT,
    answer_prompt,
    build_sources,
    format_sources,
    language_name,
)
from qa.resources import OpenIndex, open_index
from qa.retrieval import HybridRetriever, RetrievalParams, from_documents, query_vector
from qa.settings import Settings
from qa.types import Answer

log = logging.getLogger(__name__)

Turn = Mapping[str, str]

# Reranking looks at this many fused candidates per answer slot. Every sentence of
# every candidate is embedded on first sight, so the pool sets the cost of a new
# question. On the dev split, 2 scored as well as 3 (MRR 0.942 vs 0.938, recall@5 1.000
# and contains 0.574 both) with a third fewer sentences to embed.
RERANK_POOL = 2

_ABSTAIN = {
    "en": "The indexed articles don't say this. I found nothing that answers: “{q}”",
    "de": (
        "Die indizierten Artikel sagen dazu nichts. "
        "Ich habe nichts gefunden, das beantwortet: „{q}“"
    ),
}


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


def _chat_model(settings: Settings, generator: str) -> Any:
    from qa.chat_models import make_chat_model  # imports llama_cpp lazily

    return make_chat_model(settings, generator=generator)


def _rerank(
    hits: Sequence[RetrievedChunk], scored: Sequence[ScoredSentence], k: int
) -> list[RetrievedChunk]:
    """Order chunks by their best sentence (sentence-level similarity rescoring)."""
    best: dict[str, float] = {}
    for s in scored:
        best.setdefault(s.hit.chunk.id, s.score)
    n = len(hits)
    # The fused rank breaks near-ties: it carries BM25 evidence the sentence score lacks.
    key = {h.chunk.id: best.get(h.chunk.id, 0.0) + 0.01 * (n - i) / n for i, h in enumerate(hits)}
    return sorted(hits, key=lambda h: key[h.chunk.id], reverse=True)[:k]


def gather_evidence(
    question: str,
    *,
    index: OpenIndex,
    settings: Settings,
    filters: Filters = Filters(),  # noqa: B008 - frozen
    params: RetrievalParams | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[list[RetrievedChunk], list[ScoredSentence]]:
    """Retrieve, score sentences and (optionally) rerank: the chunks an answer uses.

    Args:
        question: Standalone question.
        index: The opened index.
        settings: ``top_k`` and ``rerank`` are used.
        filters: Date range and source.
        params: Retrieval knobs.
        timings: Filled with seconds per stage when given.

    Returns:
        The ``top_k`` chunks, best first, and their sentences scored best first.
    """
    timings = {} if timings is None else timings
    t = time.perf_counter()
    pool = settings.top_k * (RERANK_POOL if settings.rerank else 1)
    retriever = HybridRetriever(
        index=index, k=pool, filters=filters, params=params or RetrievalParams()
    )
    hits = from_documents(retriever.invoke(question))
    timings["retrieve"] = time.perf_counter() - t
    t = time.perf_counter()
    scored = score_sentences(
        question,
        hits,
        index.embedder,
        question_vector=query_vector(index.embedder, question),
        sentence_vectors=index.store.sentence_vectors([h.chunk.id for h in hits]),
    )
    if settings.rerank:
        hits = _rerank(hits, scored, settings.top_k)
        kept = {h.chunk.id for h in hits}
        scored = [s for s in scored if s.hit.chunk.id in kept]
    else:
        hits = list(hits[: settings.top_k])
    timings["evidence"] = time.perf_counter() - t
    return hits, scored


def stream(
    question: str,
    *,
    history: Sequence[Turn] = (),
    filters: Mapping[str, Any] | Filters | None = None,
    settings: Settings | None = None,
    retrieval: RetrievalParams | None = None,
) -> Iterator[str | Answer]:
    """Answer a question, yielding text deltas and finally the complete Answer.

    Args:
        question: The question, English or German.
        history: Earlier turns, ``{"role": "user"|"assistant", "content": str}``.
        filters: ``since``/``until`` (dates) and ``source`` (tag).
        settings: Configuration; defaults to ``Settings.from_env()``.
        retrieval: Retrieval knobs (the eval suite varies them).

    Yields:
        ``str`` deltas of the answer text as it is generated (the raw model text;
        the final Answer's text has checked, renumbered markers), then the Answer.

    Raises:
        QuestionError: Empty, too long, or no words.
        FilterError: Unknown filter keys or bad dates.
        IndexNotBuiltError: Nothing indexed yet.
        StoreUnavailableError: The Chroma server is down.
        EmbeddingModelMismatchError: The index was built with another model.
    """
    t0 = time.perf_counter()
    settings = settings or Settings.from_env()
    q = validate_question(question, settings.max_question_chars)
    flt = parse_filters(filters)
    history = tuple(history)
    index = open_index(settings)
    timings: dict[str, float] = {}

    generator = settings.generator
    chat_model = None
    note = ""
    if generator != "extractive":
        try:
            chat_model = _chat_model(settings, generator)
        except (ModelNotInstalledError, GeneratorUnavailableError, ImportError, ValueError) as exc:
            note = f"extractive (fallback: {generator} unavailable: {exc})"
            log.warning("falling back to extractive answers: %s", exc)

    t = time.perf_counter()
    standalone = _standalone(q, history, chat_model)
    timings["rewrite"] = time.perf_counter() - t
    lang = detect_language(q)
    lang = lang if lang != "unknown" else "en"

    hits, scored = gather_evidence(
        standalone, index=index, settings=settings, filters=flt, params=retrieval, timings=timings
    )

    def done(text: str, citations: tuple, gen: str, abstained: bool = False) -> Answer:
        timings["total"] = time.perf_counter() - t0
        timings.setdefault("first_token", timings["total"])
        return Answer(
            text=text,
            citations=citations,
            chunks=tuple(hits),
            generator=gen,
            abstained=abstained,
            question=q,
            standalone_question=standalone,
            timings=dict(timings),
        )

    if not scored or scored[0].score < settings.abstain_threshold:
        text = _ABSTAIN[lang].format(q=q)
        yield text
        yield done(text, (), note or generator, abstained=True)
        return

    if chat_model is None:
        text, sources = extractive_text(pick_sentences(scored), lang)
        yield text
        citations = cite_sentences([(s.text, s) for s in sources])
        yield done(text, citations, note or "extractive")
        return

    sources = build_sources(hits, scored)
    chain = answer_prompt() | chat_model
    t = time.perf_counter()
    # QA_OPENAI_TIMEOUT bounds each read only: a server that trickles tokens (or a
    # local model on an overloaded CPU) would hold the answer for up to max_tokens
    # steps. The deadline bounds the whole generation; it is checked per token, so
    # the overrun is at most one token's wait (for a server: one read timeout).
    deadline = t + settings.llm_deadline
    raw = ""
    emitted = 0
    try:
        # closing(): stopping early must end the HTTP stream / release the local
        # model's lock now, not whenever the generator is garbage-collected.
        with contextlib.closing(
            chain.stream(
                {
                    "sources": format_sources(sources),
                    "question": standalone,
                    "language": language_name(lang),
                }
            )
        ) as pieces:
            for piece in pieces:
                if time.perf_counter() > deadline:
                    raise _DeadlineExceeded(
                        f"no complete answer within {settings.llm_deadline:g} s (QA_LLM_DEADLINE)"
                    )
                delta = piece.content if hasattr(piece, "content") else str(piece)
                if not delta:
                    continue
                timings.setdefault("first_token", time.perf_counter() - t0)
                raw += delta
                if NOT_FOUND in raw or _recites_prompt(raw):
                    break
                safe = len(raw) - _sentinel_tail(raw)  # hold back a partial "NOT_FOUND"
                if safe > emitted:
                    yield raw[emitted:safe]
                    emitted = safe
    except Exception as exc:  # a server that is down, times out or is too slow: answer anyway
        log.warning("generator %s failed, answering extractively: %s", generator, exc)
        why = "too slow" if isinstance(exc, _DeadlineExceeded) else "failed"
        text, ex_sources = extractive_text(pick_sentences(scored), lang)
        yield ("\n" if emitted else "") + text
        citations = cite_sentences([(s.text, s) for s in ex_sources])
        yield done(text, citations, f"extractive (fallback: {generator} {why}: {exc})")
        return
    timings["generate"] = time.perf_counter() - t

    if NOT_FOUND in raw or not raw.strip() or _recites_prompt(raw):
        text = _ABSTAIN[lang].format(q=q)
        yield text
        yield done(text, (), generator, abstained=True)
        return
    if emitted < len(raw):
        yield raw[emitted:]
    t = time.perf_counter()
    text, citations = finalize(raw.strip(), sources, index.embedder)
    timings["verify"] = time.perf_counter() - t
    if not citations:
        # Not one claim of the model's answer checks out against the sources: show
        # the quoted evidence instead of an unverifiable answer, and say so.
        text, ex_sources = extractive_text(pick_sentences(scored), lang)
        citations = cite_sentences([(s.text, s) for s in ex_sources])
        yield done(text, citations, f"extractive (fallback: unverified {generator} answer)")
        return
    yield done(text, citations, generator)


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
    """Load the local LLM and evaluate the answer prompt's fixed prefix ahead of time.

    The system prompt is a third of a typical prompt (322 of ~830 tokens); llama.cpp
    reuses its evaluated prefix, so after this the first question waits only for its
    own tokens (measured: time to first token 8.1 s cold, 4.9 s warmed). Does nothing
    unless ``settings.generator`` is ``llm``.

    Args:
        settings: The configuration (generator, model, threads).

    Raises:
        ModelNotInstalledError: The local model is missing or fails its checksum.
    """
    if settings.generator != "llm":
        return
    messages = answer_prompt().format_messages(sources="", question="", language="English")
    _chat_model(settings, "llm").warm_up(messages)


# Lines of the system prompt long enough that quoting one is no accident.
_PROMPT_LINES = tuple(
    line.strip("- ").strip() for line in SYSTEM_PROMPT.splitlines() if len(line.strip()) > 40
)


def _recites_prompt(text: str) -> bool:
    """Whether the model is repeating its instructions (a prompt-extraction attempt)."""
    flat = " ".join(text.split())
    return any(line[:40] in flat for line in _PROMPT_LINES)


def _sentinel_tail(text: str) -> int:
    """Length of a suffix of ``text`` that could be the start of NOT_FOUND."""
    for n in range(min(len(NOT_FOUND) - 1, len(text)), 0, -1):
        if NOT_FOUND.startswith(text[-n:]):
            return n
    return 0


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
