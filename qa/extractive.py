"""The extractive generator: the fact located in the best sentences, quoted, no LLM.

Decision, in order:

1. nothing scores above the abstention threshold -> not found;
2. the question asks for a typed slot (a date, an amount, a person …) and no good
   sentence holds such a value about the question's topic -> missing detail, quoting
   the closest sentence;
3. otherwise the located span leads; a close runner-up from another article with a
   different value is named too, newest first (news updates older news).
"""

from __future__ import annotations

from collections.abc import Sequence

from qa import lexicon
from qa.drafts import Draft, Finding
from qa.evidence import ScoredSentence
from qa.slots import Slot
from qa.spans import AnswerSpan, evidence_focus, locate
from qa.types import Outcome

# A second sentence from another article is quoted too when it scores nearly as well:
# that is how updates ("latest") and contradictions surface without an LLM.
SECOND_SOURCE_MARGIN = 0.015
# For a typed slot the runner-up must also hold a different value, so it may score a
# little lower.
SECOND_VALUE_MARGIN = 0.02


def pick_sentences(scored: Sequence[ScoredSentence]) -> list[ScoredSentence]:
    """The best sentence, plus a close runner-up from a different article, newest first."""
    if not scored:
        return []
    best = scored[0]
    picks = [best]
    for s in scored[1:]:
        if s.score < best.score - SECOND_SOURCE_MARGIN:
            break
        if s.hit.chunk.article_id != best.hit.chunk.article_id:
            picks.append(s)
            break
    return sorted(picks, key=lambda s: s.hit.chunk.published, reverse=True)


def finding(span: AnswerSpan) -> Finding:
    """The finding of a located span."""
    return Finding(span.sentence, (span.start, span.end), span.short)


def with_update(
    lead: AnswerSpan, question: str, slot: Slot, scored: Sequence[ScoredSentence], lang: str
) -> tuple[Finding, ...]:
    """The lead finding and, when another article gives a different value, that one too.

    Args:
        lead: The located span.
        question: The standalone question.
        slot: Its slot.
        scored: Evidence sentences, best first.
        lang: Question language.

    Returns:
        One or two findings, newest article first.
    """
    article = lead.sentence.hit.chunk.article_id
    floor = lead.sentence.score - SECOND_VALUE_MARGIN
    others = [s for s in scored if s.hit.chunk.article_id != article and s.score >= floor]
    # The names to be about come from all the evidence, not from the runner-ups alone.
    focus = evidence_focus(question, scored)
    other = locate(question, slot, others, lang, focus) if others else None
    if other is None or lexicon.fold(other.short) == lexicon.fold(lead.short):
        return (finding(lead),)
    pair = sorted((lead, other), key=lambda s: s.sentence.hit.chunk.published, reverse=True)
    return tuple(finding(s) for s in pair)


def extractive_draft(
    question: str,
    scored: Sequence[ScoredSentence],
    *,
    slot: Slot,
    lang: str,
    threshold: float,
) -> Draft:
    """Decide and locate the answer from scored sentences.

    Args:
        question: The standalone question.
        scored: Evidence sentences, best first.
        slot: What the question asks for.
        lang: Question language (``en``/``de``).
        threshold: Best-sentence score below which nothing is relevant.

    Returns:
        The draft (see the module docstring for the decision).
    """
    if not scored or scored[0].score < threshold:
        return Draft(Outcome.NOT_FOUND, slot=slot)
    if not slot.typed:
        picks = pick_sentences(scored)
        return Draft(Outcome.ANSWERED, tuple(Finding(s, None, s.text) for s in picks), slot)
    span = locate(question, slot, scored, lang)
    if span is None:
        # Name detection is heuristic (a person without a known first name, a place
        # outside the gazetteer): not finding a name is weaker evidence than not
        # finding a number, so that refusal is worded as "I could not find" (unsure).
        # Quoting the best sentence as the answer instead answered near-misses with
        # someone else's name (gold dev abstention recall 0.407 vs 0.519).
        closest = (Finding(scored[0], None, scored[0].text),)
        return Draft(Outcome.MISSING_DETAIL, closest, slot, unsure=not slot.numeric)
    return Draft(Outcome.ANSWERED, with_update(span, question, slot, scored, lang), slot)
