"""What a generator decides, before it is worded: the Draft, and how drafts become Answers.

Both generators (extractive rules and the LLM) produce a :class:`Draft`: the outcome
and the *findings* — evidence sentences, each with the verbatim span of its fact and
the short answer rendered in the question's language. :func:`render` words every
draft the same way, so the two generators differ only in how they find the fact:

* answered: the short answer first, with its marker, then each quoted sentence;
* an update or contradiction: the newest source leads, the older one is named;
* missing detail: "the articles don't say when …; the closest they come is: …";
* not found: "the indexed articles don't say this".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.evidence import ScoredSentence
from qa.slots import Slot
from qa.timeexpr import resolve
from qa.types import Citation, Outcome


@dataclass(frozen=True)
class Finding:
    """One evidence sentence behind an answer.

    Attributes:
        sentence: The sentence (with its chunk).
        span: ``(start, end)`` of the fact in ``sentence.text``, or None for the whole.
        short: The fact, in the question's language.
    """

    sentence: ScoredSentence
    span: tuple[int, int] | None
    short: str


@dataclass(frozen=True)
class Draft:
    """A generator's decision.

    Attributes:
        outcome: Answered, not found, or missing the asked-for detail.
        findings: The lead finding first, then older/other sources (answered), or the
            closest sentence (missing detail).
        slot: What the question asked for (worded in a missing-detail answer).
        unsure: A missing detail the code could not rule out: no name of the asked
            kind was recognised, which is weaker evidence than a missing number, so
            the answer says it found none instead of saying the articles lack one.
    """

    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    slot: Slot = Slot.OTHER
    unsure: bool = False


_NOT_FOUND = {
    "en": "The indexed articles don't say this. I found nothing that answers: “{q}”",
    "de": (
        "Die indizierten Artikel sagen dazu nichts. "
        "Ich habe nichts gefunden, das beantwortet: „{q}“"
    ),
}
_MISSING = {
    "en": "The articles don't say {what}. The closest they come to it is",
    "de": "Die Artikel sagen nicht, {what}. Am nächsten kommt dem",
}
_UNSURE = {
    "en": "The articles may not say {what}: I found no name that answers it. The closest "
    "they come to it is",
    "de": "Die Artikel sagen womöglich nicht, {what}: Ich habe keinen passenden Namen "
    "gefunden. Am nächsten kommt dem",
}
_WHAT = {
    Slot.DATE: ("when", "wann"),
    Slot.DURATION: ("how long", "wie lange"),
    Slot.PERCENT: ("what the percentage is", "wie hoch der Anteil ist"),
    Slot.MONEY: ("what the amount is", "wie hoch der Betrag ist"),
    Slot.COUNT: ("how many", "wie viele"),
    Slot.QUANTITY: ("what the figure is", "wie groß der Wert ist"),
    Slot.PERSON: ("who", "wer"),
    Slot.ORG: ("which organisation", "welche Organisation"),
    Slot.PLACE: ("where", "wo"),
    Slot.OTHER: ("that", "das"),
}


def _quote_line(finding: Finding, marker: int, lang: str, lead: bool) -> str:
    c = finding.sentence.hit.chunk
    when = f"{c.published:%Y-%m-%d}"
    note = _resolved_note(finding.sentence, lang)
    if lang == "de":
        frame = f"Laut „{c.title}“ ({when})" if lead else f"Zitat aus „{c.title}“ ({when})"
    else:
        frame = (
            f'According to "{c.title}" ({when})' if lead else f'Quoted from "{c.title}" ({when})'
        )
    return f"{frame}: „{finding.sentence.text}“{note} [{marker}]"


def _resolved_note(sentence: ScoredSentence, lang: str) -> str:
    found = resolve(sentence.text, sentence.hit.chunk.published)
    if not found:
        return ""
    said = f"{sentence.hit.chunk.published:%Y-%m-%d}"
    if lang == "de":
        parts = "; ".join(f"„{expr}“ = {meaning}" for expr, meaning in found)
        return f" ({parts}, gesagt am {said})"
    parts = "; ".join(f'"{expr}" = {meaning}' for expr, meaning in found)
    return f" ({parts}, said on {said})"


def _citation(marker: int, finding: Finding) -> Citation:
    c = finding.sentence.hit.chunk
    return Citation(
        marker=marker,
        article_id=c.article_id,
        title=c.title,
        published=c.published,
        source=c.source,
        chunk_id=c.id,
        quote=finding.sentence.text,
        span=finding.span,
    )


def _lead(findings: Sequence[Finding], lang: str) -> str:
    first = findings[0]
    lead = f"{first.short} [1]"
    if len(findings) > 1:
        older = findings[1]
        new_day = f"{first.sentence.hit.chunk.published:%Y-%m-%d}"
        old_day = f"{older.sentence.hit.chunk.published:%Y-%m-%d}"
        if lang == "de":
            lead += (
                f" (Stand {new_day}; ein älterer Artikel vom {old_day} nannte {older.short} [2])"
            )
        else:
            lead += f" (as of {new_day}; an older article of {old_day} said {older.short} [2])"
    return lead


def render(draft: Draft, question: str, lang: str) -> tuple[str, str, tuple[Citation, ...]]:
    """Word a draft: the answer text, the short answer and the citations.

    Args:
        draft: What the generator found.
        question: The question as asked (quoted when nothing is found).
        lang: ``en`` or ``de``.

    Returns:
        ``(text, short, citations)``; markers in ``text`` are the citations' markers.
    """
    lang = lang if lang in _NOT_FOUND else "en"
    if draft.outcome is Outcome.NOT_FOUND or not draft.findings:
        return _NOT_FOUND[lang].format(q=question), "", ()
    if draft.outcome is Outcome.MISSING_DETAIL:
        closest = draft.findings[0]
        what = _WHAT[draft.slot][1 if lang == "de" else 0]
        head = (_UNSURE if draft.unsure else _MISSING)[lang].format(what=what)
        c = closest.sentence.hit.chunk
        text = f"{head} „{c.title}“ ({c.published:%Y-%m-%d}): „{closest.sentence.text}“ [1]"
        return text, "", (_citation(1, closest),)
    findings = draft.findings
    citations = tuple(_citation(i + 1, f) for i, f in enumerate(findings))
    if findings[0].span is None:
        # No typed fact to lead with: the quoted sentence is the answer.
        lines = [_quote_line(f, i + 1, lang, lead=True) for i, f in enumerate(findings)]
        if len(findings) > 1:
            lines[1] = (
                lines[1]
                .replace("According to", "An older article,", 1)
                .replace("Laut", "Ein älterer Artikel,", 1)
            )
        return "\n".join(lines), findings[0].short, citations
    lines = [_lead(findings, lang)]
    lines += [_quote_line(f, i + 1, lang, lead=False) for i, f in enumerate(findings)]
    return "\n".join(lines), findings[0].short, citations
