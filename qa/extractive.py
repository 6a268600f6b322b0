"""Extractive answers: the best supporting sentences, quoted with citations, no LLM."""

from __future__ import annotations

from collections.abc import Sequence

from qa.evidence import ScoredSentence
from qa.prompting import Source
from qa.timeexpr import resolve

# A second sentence from another article is quoted too when it scores nearly as well:
# that is how updates ("latest") and contradictions surface without an LLM.
SECOND_SOURCE_MARGIN = 0.015


def pick_sentences(scored: Sequence[ScoredSentence]) -> list[ScoredSentence]:
    """The best sentence, plus a close runner-up from a different article."""
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
    # Newest first: news updates older news.
    return sorted(picks, key=lambda s: s.hit.chunk.published, reverse=True)


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


def extractive_text(picks: Sequence[ScoredSentence], lang: str) -> tuple[str, list[Source]]:
    """Answer text quoting the picked sentences, and the sources behind its markers."""
    sources = [Source(i + 1, s.hit, s.text) for i, s in enumerate(picks)]
    lines = []
    for i, s in enumerate(picks):
        c = s.hit.chunk
        when = f"{c.published:%Y-%m-%d}"
        note = _resolved_note(s, lang)
        if lang == "de":
            lead = f"Laut „{c.title}“ ({when})" if i == 0 else f"Ein älterer Artikel ({when}) sagt"
        else:
            lead = (
                f'According to "{c.title}" ({when})'
                if i == 0
                else f"An older article ({when}) says"
            )
        lines.append(f"{lead}: „{s.text}“{note} [{i + 1}]")
    return "\n".join(lines), sources
