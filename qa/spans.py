"""Locate the answer span inside the evidence sentences, and say it in the question's language.

The span locator looks at the best-scoring sentences, finds values of the question's
slot (:mod:`qa.slots`) that the question does not already name, and picks the value
closest to the question's own words. Values joined by "und", "bis", "obwohl" … (an
early and a more likely date, a range) are taken together, with the qualifiers that
stand next to them ("bereits 2029", "2031 wahrscheinlicher"). The span is verbatim
text of the sentence with its offsets, so a citation can highlight exactly it; the
short answer renders it in the question's language (dates and numbers are language
neutral, qualifiers are translated with a small glossary).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.chunking import split_sentences
from index.lexical import tokenize
from qa import lexicon
from qa.claims import question_roles, role_supported
from qa.evidence import ScoredSentence
from qa.slots import Slot, Value, find_values, unit_class
from qa.timeexpr import resolve

# Sentences scoring within this margin of the best one may supply the span: the best
# sentence by similarity is often the topic sentence, and the fact one sentence later.
SPAN_MARGIN = 0.08
# How many of the best sentences are searched for a span.
SPAN_SENTENCES = 8
# Values this close to each other and joined by a connective are one answer.
_JOIN_GAP = 60
_JOINERS = re.compile(
    r"\b(und|oder|bis|obwohl|aber|sowie|and|or|to|although|but|while|statt|instead)\b|[–/]"
)


@dataclass(frozen=True)
class AnswerSpan:
    """The fact that answers a question, located in one evidence sentence.

    Attributes:
        sentence: The evidence sentence holding the span.
        start: Start of the span in ``sentence.text``.
        end: End of the span (exclusive).
        values: The slot values inside the span.
        short: The short answer, in the question's language.
    """

    sentence: ScoredSentence
    start: int
    end: int
    values: tuple[Value, ...]
    short: str

    @property
    def text(self) -> str:
        """The span, verbatim."""
        return self.sentence.text[self.start : self.end]


_DAY_ASKED = re.compile(
    r"\b(what|which|on which|on what) (date|day)\b|\ban welchem tag\b|\bwelches datum\b|"
    r"\bam wievielten\b",
    re.IGNORECASE,
)
_DAY_VALUE = re.compile(r"\d{1,2}\.\s?\w|\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.|tag\b|day\b", re.I)


def fits(question: str, slot: Slot, value: Value, sentence: str) -> bool:
    """Whether a value is the kind of thing asked for, beyond its slot.

    * what it counts or measures must agree ("how many employees" is not "650 MW");
    * "on which day" wants a day, not a year;
    * a count is a whole number.
    """
    if slot is Slot.DATE and _DAY_ASKED.search(question):
        return bool(_DAY_VALUE.search(value.text))
    if slot is Slot.COUNT and re.fullmatch(r"\d+[.,]\d{1,2}", value.text.strip()):
        return False
    if slot in (Slot.COUNT, Slot.QUANTITY):
        asked = unit_class(question)
        around = sentence[value.start : value.end + 25]
        found = unit_class(around)
        if asked and found and asked != found:
            return False
    return True


def _roles_agree(question: str, sentence: ScoredSentence) -> bool:
    """A role the question names ("deputy head", "foreign minister") must be in the sentence."""
    roles = [r for r in question_roles(question)]
    if not roles:
        return True
    context = f"{previous_sentence(sentence)} {sentence.text}"
    return all(role_supported(r, context) for r in roles)


def excluded_by(question: str, slot: Slot) -> Callable[[Value], bool]:
    """A test for values the question itself names.

    A year or a name in the question is not its answer ("Who is Putin's envoy?" is not
    answered by "Vladimir Putin").
    """
    named = {lexicon.fold(v.text) for v in find_values(question, slot)}
    words = {lexicon.fold(w) for w in re.findall(r"\w+", re.sub(r"['’]s\b", "", question))}

    def excluded(value: Value) -> bool:
        if lexicon.fold(value.text) in named:
            return True
        if slot.numeric:
            return False
        return any(
            any(q.startswith(lexicon.fold(w)) or lexicon.fold(w).startswith(q) for q in words)
            for w in re.findall(r"\w+", value.text)
            if len(w) > 3
        )

    return excluded


def _distance_to_terms(sentence: str, value: Value, terms: set[str]) -> int:
    """Characters between ``value`` and the nearest word the question shares."""
    best = len(sentence)
    for m in re.finditer(r"\w+", sentence):
        if m.start() >= value.start and m.end() <= value.end:
            continue
        stem = tokenize(m.group(0))
        if stem and stem[0] in terms:
            gap = value.start - m.end() if m.end() <= value.start else m.start() - value.end
            best = min(best, max(gap, 0))
    return best


def _group(sentence: str, values: list[Value], pick: int) -> list[Value]:
    """The picked value plus neighbours joined to it by a connective ("2029 … obwohl 2031")."""
    group = [values[pick]]
    for step in (-1, 1):
        i = pick + step
        while 0 <= i < len(values):
            a, b = (values[i], group[0]) if step < 0 else (group[-1], values[i])
            between = sentence[a.end : b.start]
            if len(between) > _JOIN_GAP or not _JOINERS.search(between) or "." in between:
                break
            if step < 0:
                group.insert(0, values[i])
            else:
                group.append(values[i])
            i += step
    return group


def _qualifier_before(sentence: str, value: Value) -> tuple[str, int]:
    """A qualifier word right before a value ("bereits", "rund", "mehr als"), and its start."""
    head = sentence[: value.start]
    for cue in sorted(lexicon.QUALIFIERS_DE_EN, key=len, reverse=True):
        m = re.search(rf"(?<![\w]){re.escape(cue)}\s+$", head, re.IGNORECASE)
        if m:
            return cue, m.start()
    return "", value.start


def _qualifier_after(sentence: str, value: Value) -> tuple[str, int]:
    """A comparative right after a value ("2031 wahrscheinlicher war"), and its end."""
    m = re.match(r"\s+(wahrscheinlicher|später|früher|more likely|later|earlier)\b",
                 sentence[value.end :], re.IGNORECASE)  # fmt: skip
    if m:
        return m.group(1), value.end + m.end()
    return "", value.end


def _render_value(value: Value, sentence: ScoredSentence, lang: str) -> str:
    text = value.text
    resolved = resolve(text, sentence.hit.chunk.published) if value.slot is Slot.DATE else []
    if resolved:
        text = resolved[0][1]  # "Ende nächsten Jahres" -> "Ende 2026"
    return to_english(text) if lang == "en" else text


_EN_WORDS = {
    "Millionen": "million", "Million": "million", "Mio.": "million", "Milliarden": "billion",
    "Milliarde": "billion", "Mrd.": "billion", "Prozentpunkte": "percentage points",
    "Prozent": "percent", "Jahre": "years", "Jahren": "years", "Jahr": "year",
    "Monate": "months", "Monaten": "months", "Wochen": "weeks", "Tage": "days",
    "Tagen": "days", "Stunden": "hours", "Minuten": "minutes", "Menschen": "people",
    "Personen": "people", "Einwohner": "residents", "Mitarbeiter": "employees",
    "Mitarbeitende": "employees", "Arbeitsplätze": "jobs", "Stellen": "jobs",
    "Haushalte": "households", "Sitze": "seats", "Stimmen": "votes", "Tonnen": "tonnes",
    "Grad": "degrees", "Ende": "end of", "Anfang": "beginning of", "Mitte": "mid",
    "Herbst": "autumn", "Frühjahr": "spring", "Sommer": "summer", "Winter": "winter",
    "zwischen": "between", "und": "and", "Euro": "euros", "Dollar": "dollars",
    "US-Dollar": "US dollars", "am": "on", "Stärke": "magnitude",
}  # fmt: skip


def to_english(text: str) -> str:
    """A German number/date value in English ("2,5 Millionen Euro" -> "2.5 million euros")."""
    out = re.sub(r"(?<=\d),(?=\d)", ".", text)
    out = re.sub(r"(?<=\d)\.(?=\d{3}\b)", ",", out)
    for de, en in lexicon.MONTHS.items():
        out = re.sub(rf"\b{de}\b", en.capitalize(), out, flags=re.IGNORECASE)
    for de, en in lexicon.WEEKDAYS.items():
        out = re.sub(rf"\b{de}\b", en.capitalize(), out, flags=re.IGNORECASE)
    out = re.sub(r"\b(\d{1,2})\.\s?(?=[A-Z][a-z]+)", r"\1 ", out)  # "28. März" -> "28 March"
    for de, en in sorted(_EN_WORDS.items(), key=lambda kv: -len(kv[0])):
        out = re.sub(rf"(?<![\w-]){re.escape(de)}(?![\w-])", en, out)
    return out


def render(group: Sequence[Value], sentence: ScoredSentence, lang: str) -> tuple[str, int, int]:
    """The short answer for a group of values, and the verbatim span it comes from.

    Args:
        group: Values of one sentence, in text order.
        sentence: The sentence.
        lang: ``en`` or ``de`` (the question's language).

    Returns:
        ``(short, start, end)``: the rendering and the span's offsets in the sentence.
    """
    parts: list[str] = []
    start, end = group[0].start, group[-1].end
    text = sentence.text
    for value in group:
        before, b_start = _qualifier_before(text, value)
        after, a_end = _qualifier_after(text, value)
        start, end = min(start, b_start), max(end, a_end)
        shown = _render_value(value, sentence, lang)
        if lang == "en":
            before = lexicon.QUALIFIERS_DE_EN.get(before.lower(), before) if before else ""
            after = lexicon.QUALIFIERS_DE_EN.get(after.lower(), after) if after else ""
        parts.append(" ".join(p for p in (before, shown, after) if p))
    short = "; ".join(parts) if len(parts) > 1 and group[0].slot.numeric else ", ".join(parts)
    return short, start, end


def locate(
    question: str, slot: Slot, scored: Sequence[ScoredSentence], lang: str
) -> AnswerSpan | None:
    """The answer span: a value of the question's slot in one of the best sentences.

    Args:
        question: The standalone question.
        slot: What it asks for (``Slot.OTHER`` finds nothing).
        scored: Evidence sentences, best first.
        lang: The question's language, for the rendering.

    Returns:
        The span, or None when no good sentence holds a value of the slot.
    """
    if not slot.typed or not scored:
        return None
    excluded = excluded_by(question, slot)
    terms = set(tokenize(question))
    floor = scored[0].score - SPAN_MARGIN
    focus = focus_names(question)
    for sentence in scored[:SPAN_SENTENCES]:
        if sentence.score < floor:
            break
        values = [
            v
            for v in find_values(sentence.text, slot)
            if not excluded(v) and fits(question, slot, v, sentence.text)
        ]
        if not values:
            continue
        if focus and not about(sentence, focus):
            continue  # a value about something else ("0.5 MW" of another plant)
        if slot is Slot.PERSON and not _roles_agree(question, sentence):
            continue  # the head, when the deputy head was asked for
        pick = min(
            range(len(values)), key=lambda i: _distance_to_terms(sentence.text, values[i], terms)
        )
        group = _group(sentence.text, values, pick)
        short, start, end = render(group, sentence, lang)
        # The first (best-scoring) sentence with a value wins.
        return AnswerSpan(sentence, start, end, tuple(group), short)
    return None


# Capitalised question words that are not topic names.
_NOT_FOCUS = frozenset(
    {"what", "when", "who", "where", "which", "how", "why", "was", "wann", "wer", "wo", "wie",
     "welche", "welcher", "welches", "welchen", "welchem", "warum", "wieviel", "and", "und",
     "according", "laut", "is", "are", "did", "does", "do", "has", "have", "will", "in", "for",
     "the", "a", "an", "auf", "im", "bei", "nach", "seit", "bis", "von", "zu"}
)  # fmt: skip


def focus_names(question: str) -> list[str]:
    """Distinctive names the question is about ("Zeus", "Nordlicht").

    Capitalised words that are not question words, roles, months or, in German,
    ordinary nouns.

    A German question capitalises every noun, so only words that are typed names
    (first names, places, acronyms, CamelCase brands) or that are unusual as nouns
    (hyphenated, with digits) count there.
    """
    words = re.findall(r"[A-ZÄÖÜ][\w\-]*", question)
    german = bool(re.search(r"\b(der|die|das|und|ist|wer|wann|wie|welche\w*|was)\b", question))
    out: list[str] = []
    for i, w in enumerate(words):
        low = w.lower()
        if low in _NOT_FOCUS or lexicon.is_title(w) or low in lexicon.MONTHS:
            continue
        if question.startswith(w) and i == 0:
            continue
        if german and not (
            low in lexicon.FIRST_NAMES
            or lexicon.place_key(w)
            or re.fullmatch(r"[A-ZÄÖÜ]{2,}\w*|[A-Z][a-z]+[A-Z]\w*", w)
            or re.search(r"\d", w)
        ):
            continue
        out.append(w.rstrip("s") if w.endswith("'s") else w)
    return out


def about(sentence: ScoredSentence, focus: Sequence[str]) -> bool:
    """Whether a sentence is about the question's focus names.

    True when it, the sentence before it or its article's title mentions one of them.
    """
    context = f"{sentence.hit.chunk.title} {previous_sentence(sentence)} {sentence.text}"
    return mentions_any(context, focus)


def previous_sentence(sentence: ScoredSentence) -> str:
    """The sentence before ``sentence`` in its chunk ("er" in a sentence points there)."""
    if sentence.position == 0:
        return ""
    sentences = split_sentences(sentence.hit.chunk.text)
    return sentences[sentence.position - 1] if sentence.position <= len(sentences) else ""


def mentions_any(text: str, names: Sequence[str]) -> bool:
    """Whether ``text`` mentions at least one of ``names`` (case- and accent-insensitive).

    English place names match their German form ("Russia" in "Russland").
    """
    folded = lexicon.fold(text)
    for name in names:
        key = lexicon.place_key(name)
        if key and lexicon.fold(key) in folded:
            return True
        stems = lexicon.DEMONYMS.get(name.lower(), ())
        if any(lexicon.fold(stem) in folded for stem in stems):
            return True  # "Baltic" in "Ostsee", "Russian" in "russische"
        stem = lexicon.fold(name)[: max(4, len(name) - 2)]
        if stem and stem in folded:
            return True
    return False
