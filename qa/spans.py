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

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.chunking import split_sentences
from index.language import detect_language
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
# A weekday in a news sentence names one day (resolved against the article's date);
# "tag\b" and "day\b" cover every weekday but Mittwoch.
_DAY_VALUE = re.compile(
    r"\d{1,2}\.\s?\w|\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.|tag\b|day\b|\bmittwoch\b", re.I
)


# A value the clause then denies ("wird das Fenster Ende dieses Jahres nicht nutzen",
# "2027 won't be ready"): a negation within four words, before any comma or conjunction;
# or one right before it ("2027, not 2026").
_NEGATIONS = frozenset({"nicht", "nie", "kein", "keine", "keinen", "not", "never", "won't"})
_CLAUSE_BREAKS = frozenset(
    {"und", "and", "aber", "but", "sondern", "oder", "or", "dass", "that", "while", "während"}
)


def _negated(value: Value, sentence: str) -> bool:
    before = sentence[max(0, value.start - 12) : value.start].lower().split()
    if before and before[-1] in _NEGATIONS:
        return True  # "…, nicht 2026" (but "nicht vor 2030" is a date)
    rest = re.split(r"[,;:.!?\d]", sentence[value.end : value.end + 80])[0]
    for word in rest.lower().split()[:4]:
        if word in _CLAUSE_BREAKS:
            return False
        if word in _NEGATIONS:
            return True
    return False


def fits(question: str, slot: Slot, value: Value, sentence: str) -> bool:
    """Whether a value is the kind of thing asked for, beyond its slot.

    * a value the clause denies right after it is not the answer;
    * what it counts or measures must agree ("how many employees" is not "650 MW");
    * "on which day" wants a day, not a year;
    * a count is a whole number.
    """
    if slot.numeric and _negated(value, sentence):
        return False
    if slot is Slot.DATE and _DAY_ASKED.search(question):
        return bool(_DAY_VALUE.search(value.text))
    if slot is Slot.COUNT and re.fullmatch(r"\d+[.,]\d{1,2}", value.text.strip()):
        return False
    if slot is Slot.DATE and _YEAR_ASKED.search(question) and _year_named(question, value):
        return False  # "after the delay to 2028, in which year …" is not "Ende 2028"
    if slot is Slot.PLACE and _NARROW_PLACE.search(question):
        return not lexicon.is_broad_place(value.text)
    if slot is Slot.PLACE and _COUNTRY_ASKED.search(question):
        return lexicon.is_broad_place(value.text)  # "which country" is not "Frankfurt"
    if slot in (Slot.COUNT, Slot.QUANTITY):
        asked = unit_class(question)
        # What follows the value, up to the next number (whose unit is its own).
        around = re.split(r"\s\d", sentence[value.start : value.end + 25][len(value.text) :])[0]
        around = value.text + around
        found = unit_class(around)
        if asked and found and asked != found:
            return False
        if slot is Slot.COUNT and found in _MEASURES and asked != found:
            return False  # "25 Kilometer" counts no graves
        if asked == "clock" and found != "clock":
            return False  # "um wie viel Uhr" wants a time of day, not "150 Mio. Euro"
        if asked == "age" and not _AGE_VALUE.search(
            sentence[max(0, value.start - 15) : value.end + 15]
        ):
            return False  # "how old" wants "71-jähriger", not any number
        if asked == "people" and not _same_people(question, sentence, value):
            return False
        if slot is Slot.COUNT and asked is None and not _same_noun(question, sentence, value):
            return False
    return True


_COUNTED_ASKED = re.compile(r"\b(?i:wie viele)\s(?:[a-zäöüß]\w*\s){0,2}([A-ZÄÖÜ][\w\-]+)")
_COUNTED_FOUND = re.compile(r"\s*(?:[a-zäöüß][\w\-]*\s+){0,2}([A-ZÄÖÜ][\w\-]+)")


def _same_noun(question: str, sentence: str, value: Value) -> bool:
    """In German, "wie viele Drohnen" is not answered by "neun Anrainerstaaten".

    Both sides write the counted noun, so they can be compared word for word; a
    compound counts as its last part ("Unterwasserdrohnen" ~ "Drohnen"). English
    questions are not compared (no dictionary to cross the language).
    """
    asked = _COUNTED_ASKED.search(question)
    if not asked:
        return True
    inside = re.search(r"([A-ZÄÖÜ][\w\-]+)$", value.text)  # "85.000 Haushalte"
    found = inside or _COUNTED_FOUND.match(sentence, value.end)
    if not found:
        return True
    a, f = lexicon.fold(asked.group(1)), lexicon.fold(found.group(1))
    return a[-5:] in f or f[-5:] in a or a[:5] == f[:5]


_COMPARISON = re.compile(
    r"\b(or|oder|vs\.?|versus|than|als|compared|verglichen|gegenüber)\b", re.IGNORECASE
)

# "Which country" is answered by a country, not by a city.
_COUNTRY_ASKED = re.compile(
    r"\b(which|what) (country|nation)\b|\bcountry's\b|\bwelche[ms]? (land|staat)\b|"
    r"\bwelchem (land|staat)\b",
    re.IGNORECASE,
)
_YEAR_ASKED = re.compile(
    r"\b(which|what|in which|in what) year\b|\bwelche[mn]? jahr\b|\bin welchem jahr\b", re.I
)


# "Which city or region" is not answered by a country or a continent.
_NARROW_PLACE = re.compile(
    r"\b(city|town|village|region|province|state|district|county|stadt|ort|ortschaft|region|"
    r"provinz|bundesland|gemeinde|kreis|landkreis|dorf)\b",
    re.IGNORECASE,
)
_MEASURES = frozenset({"power", "energy", "area", "length", "weight", "speed", "clock"})
_AGE_VALUE = re.compile(
    r"jährig|jahre alt|years? old|\(\d+\)|im alter von|aged\s\d|(millionen|milliarden) jahre",
    re.I,
)

# Who is counted, finer than "people": the dead are not the injured, nor the helpers.
_PEOPLE_ROLES: dict[str, re.Pattern[str]] = {
    "dead": re.compile(
        r"\b(dead|deaths?|died|killed|fatalities|victims|tote\w*|todesopfer|ums leben|"
        r"gestorben|getötet|starben)\b", re.I
    ),
    "injured": re.compile(r"\b(injured|hurt|wounded|verletzt\w*)\b", re.I),
    "helpers": re.compile(
        r"\b(rescue\w*|rescuers?|helpers?|firefighters?|rettungskräfte|helfer\w*|"
        r"einsatzkräfte|feuerwehrleute|retter\w*)\b", re.I
    ),
    "staff": re.compile(
        r"\b(employees?|staff|workers?|jobs?|mitarbeite\w*|beschäftigte\w*|arbeitsplätze|"
        r"stellen)\b", re.I
    ),
    "evacuated": re.compile(r"\b(evacuat\w*|evakuiert\w*|in sicherheit)\b", re.I),
    "arrested": re.compile(r"\b(arrest\w*|detained|festgenommen\w*|verhaftet\w*)\b", re.I),
}  # fmt: skip


def _people_roles(text: str) -> set[str]:
    return {name for name, pattern in _PEOPLE_ROLES.items() if pattern.search(text)}


def _same_people(question: str, sentence: str, value: Value) -> bool:
    """A count of people answers only when it counts the same people the question asks about.

    When the question names who (the arrested, the dead), the sentence must say so near
    the value: "14 Löschflugzeuge" or "4.500 Menschen" count no arrests.
    """
    asked = _people_roles(question)
    found = _people_roles(sentence[max(0, value.start - 40) : value.end + 50])
    return not asked or bool(asked & found)


# "laut dem Artikel vom März 2025", "the September 2025 report": when it was said, not
# what it is about.
_ARTICLE_DATE = re.compile(
    r"\b(?:(?:article|report|story|piece|artikel|bericht|meldung|beitrag)\s(?:of|from|vom|von|aus|"
    r"in)?\s?(?:the\s)?(?:\d{1,2}\.?\s)?(?:\w+\s)?(?:19|20)\d\d|(?:\w+\s)?(?:19|20)\d\d\s"
    r"(?:article|report|story|artikel|bericht|meldung))\b",
    re.IGNORECASE,
)
_QUESTION_YEAR = re.compile(r"(?<![\d.,])(?:19|20)\d\d(?![\d.,]\d)")


def _asked_years(question: str) -> set[str]:
    """The years a question asks about (not the date of the article it cites)."""
    return set(_QUESTION_YEAR.findall(_ARTICLE_DATE.sub(" ", question)))


def _year_named(question: str, value: Value) -> bool:
    """Whether the value's year is a year the question itself names."""
    return bool(_asked_years(question) & set(_QUESTION_YEAR.findall(value.text)))


def _other_year(question: str, sentence: ScoredSentence) -> bool:
    """Whether a sentence dates itself to other years than all the ones the question asks about.

    "How many died in the 2024 floods" is not answered by "in May 2023 … 17 dead".
    A sentence without a year may still be about the asked one.
    """
    asked = _asked_years(question)
    if not asked:
        return False
    said = set(_QUESTION_YEAR.findall(sentence.text))
    if not said:
        return False
    # One asked year is enough: "from 1995 to 2000 compared to 2000 to 2005" is often
    # told one period per sentence.
    return not asked & (said | set(_QUESTION_YEAR.findall(previous_sentence(sentence))))


def _months(text: str) -> set[str]:
    words = {lexicon.fold(w) for w in re.findall(r"\w+", text)}
    return {en for de, en in lexicon.MONTHS.items() if lexicon.fold(de) in words or en in words}


def _asked_months(question: str) -> set[str]:
    # "may" is a month only after a preposition ("in May"), not as the verb.
    asked = _months(_ARTICLE_DATE.sub(" ", question)) - {"may"}
    if re.search(r"\b(in|im|of|des) (May|Mai)\b", question):
        asked.add("may")
    return asked


def _in_asked_month(question: str, value: Value, sentence: ScoredSentence) -> bool:
    """A date answering "which day in May" must fall in May.

    A weekday ("am Dienstag") is dated by its article, which is at most days away.
    """
    asked = _asked_months(question)
    if not asked:
        return True
    said = _months(value.text)
    if not said and re.search(r"tag\b|day\b", value.text, re.IGNORECASE):
        said = {_ENGLISH_MONTH_NAMES[sentence.hit.chunk.published.month - 1]}
    return not said or bool(said & asked)


_ENGLISH_MONTH_NAMES = list(dict.fromkeys(lexicon.MONTHS.values()))


def _other_month(question: str, sentence: ScoredSentence) -> bool:
    """Like :func:`_other_year`, for months: "which day in May" is not "5. März"."""
    asked = _asked_months(question)
    if not asked:
        return False
    said = _months(sentence.text)
    return bool(said) and not asked <= said | _months(previous_sentence(sentence))


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "erste": 1, "zweite": 2,
             "dritte": 3, "vierte": 4}  # fmt: skip
_QUARTER = re.compile(
    r"\b(?:Q([1-4])|([1-4])\.\s?Quartals?|(first|second|third|fourth)\s(?:quarter|qtr)|"
    r"(erste[nm]?|zweite[nm]?|dritte[nm]?|vierte[nm]?)\s(?:Quartals?|Jahresviertels?))\b",
    re.IGNORECASE,
)


def _quarters(text: str) -> set[int]:
    found = set()
    for m in _QUARTER.finditer(text):
        digit = m.group(1) or m.group(2)
        word = (m.group(3) or m.group(4) or "").lower()
        # "dritten"/"drittem" -> "dritte"
        found.add(int(digit) if digit else _ORDINALS.get(word, _ORDINALS.get(word[:-1], 0)))
    return found - {0}


def _other_quarter(question: str, sentence: ScoredSentence) -> bool:
    """Like :func:`_other_year`, for quarters: Q3 revenue is not the Q4 outlook."""
    asked = _quarters(question)
    said = _quarters(sentence.text)
    return bool(asked) and bool(said) and not asked & said


def _roles_agree(question: str, sentence: ScoredSentence) -> bool:
    """A role the question names ("deputy head", "foreign minister") must be in the sentence."""
    roles = [r for r in question_roles(question)]
    if not roles:
        return True
    context = f"{previous_sentence(sentence)} {sentence.text}"
    return all(role_supported(r, context) for r in roles)


_WHO_DID = re.compile(r"^\W*(?:who|wer)\s+(?!is\b|was\b|are\b|were\b|ist\b|war\b|sind\b)", re.I)
_PERSON_WORDS = re.compile(
    r"\b(person|man|woman|player|athlete|coach|candidate|runner|scientist|politician|"
    r"spieler\w*|athlet\w*|trainer\w*|kandidat\w*|läufer\w*|forscher\w*|politiker\w*|"
    r"mann|frau|\w+erin|led|leads|headed|heads|leitete|leitet|said|sagte|wrote|schrieb)\b",
    re.I,
)


def asks_for_agent(question: str, slot: Slot) -> bool:
    """Whether "who" asks who did something, which a team or a company may have done.

    "Who won Super Bowl XLIX?" is answered by "New England Patriots"; "Who is the CEO
    of X?" and "Who was the top scorer?" ask for a person (a role or "is/was").
    """
    if slot is not Slot.PERSON or not _WHO_DID.search(question):
        return False
    return not question_roles(question) and not _PERSON_WORDS.search(question)


def slot_values(question: str, slot: Slot, text: str) -> list[Value]:
    """The values of the question's slot in ``text`` (see :func:`asks_for_agent`)."""
    return find_values(text, slot, agents=asks_for_agent(question, slot))


def repeats_question(question: str, text: str) -> bool:
    """Whether an answer only repeats the question ("Rosatom", or "EIB" for an EIB).

    Every word of it is in the question, or it is the initials of the question's
    capitalised words.

    Args:
        question: The standalone question.
        text: The proposed answer span.

    Returns:
        True when the answer tells the asker nothing new.
    """
    words = [w for w in re.findall(r"\w+", text) if not lexicon.is_function_word(w)]
    if not words:
        return False
    asked = {lexicon.fold(w) for w in re.findall(r"\w+", question)}
    if all(lexicon.fold(w) in asked for w in words):
        return True
    if len(words) == 1 and re.fullmatch(r"[A-Z]{2,6}", words[0]):
        initials = "".join(w[0] for w in re.findall(r"\b[A-Z]\w*", question))
        return words[0] in initials
    return False


def excluded_by(question: str, slot: Slot) -> Callable[[Value], bool]:
    """A test for values the question itself names.

    A year or a name in the question is not its answer ("Who is Putin's envoy?" is not
    answered by "Vladimir Putin").
    """
    named = {lexicon.fold(v.text) for v in slot_values(question, slot, question)}
    words = {lexicon.fold(w) for w in re.findall(r"\w+", re.sub(r"['’]s\b", "", question))}

    def excluded(value: Value) -> bool:
        if lexicon.fold(value.text) in named:
            return True
        if slot.numeric:
            return False
        if repeats_question(question, value.text):
            return True  # "EIB" when the question names the European Investment Bank
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
        text = _readable_day(resolved[0][1])  # "Ende nächsten Jahres" -> "Ende 2026"
    return to_english(text) if lang == "en" else text


_GERMAN_MONTHS = [m for m in lexicon.MONTHS if m != "jänner"]
_GERMAN_WEEKDAYS = list(lexicon.WEEKDAYS)


def _readable_day(resolved: str) -> str:
    """A resolved day as a reader writes it: "2026-05-13" -> "Mittwoch, 13. Mai 2026".

    German, like the sentence it came from; :func:`to_english` renders it for an
    English question ("Wednesday, 13 May 2026").
    """
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", resolved)
    if not m:
        return resolved
    day = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    weekday = _GERMAN_WEEKDAYS[day.weekday()].capitalize()
    return f"{weekday}, {day.day}. {_GERMAN_MONTHS[day.month - 1].capitalize()} {day.year}"


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
    # Number words (lower case only: "Elf" is a football team, "elf" eleven).
    "zwei": "two", "drei": "three", "vier": "four", "fünf": "five", "sechs": "six",
    "sieben": "seven", "acht": "eight", "neun": "nine", "zehn": "ten", "elf": "eleven",
    "zwölf": "twelve", "zwanzig": "twenty", "dreißig": "thirty", "hundert": "hundred",
    "Dutzend": "dozen", "Dutzende": "dozens",
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


def qualifies(
    question: str, slot: Slot, sentence: ScoredSentence, focus: Sequence[str] | None = None
) -> bool:
    """Whether a sentence is about what the question pins its answer to.

    * the question's focus names (all of them for a number, unless it compares);
    * the asked year, month and quarter, when the sentence dates itself;
    * the asked role, for a person.

    Args:
        question: The standalone question.
        slot: What it asks for.
        sentence: A candidate evidence sentence.
        focus: The question's :func:`focus_names`, when the caller has them already.

    Returns:
        False when the sentence's value would be about something else.
    """
    focus = focus_names(question) if focus is None else focus
    every = slot.numeric and not _COMPARISON.search(question)
    if focus and not about(sentence, focus, every=every):
        return False  # a value about something else ("0.5 MW" of another plant)
    if slot is not Slot.DATE and _other_year(question, sentence):
        return False  # the 2023 figure, when 2024 was asked for
    if _other_month(question, sentence) or _other_quarter(question, sentence):
        return False
    return slot is not Slot.PERSON or _roles_agree(question, sentence)


def _naming_the_measure(
    question: str, slot: Slot, window: list[ScoredSentence]
) -> list[ScoredSentence]:
    """The sentences that name the figure's asked measure ("Umsatz" for revenue).

    A question that names none keeps the whole window. One that names a measure is not
    answered by another measure's figure: "Wie viel Fördergeld …" is not the project's
    cost. Sentences naming it come first, then those whose previous sentence names it
    ("Der Umsatz stieg …; er …").
    """
    # Every measure listed is an amount or a rate: a count ("wie viele Mitarbeiter") or a
    # date keeps its window whatever else a follow-up's rewrite carries along.
    stems = lexicon.measure_stems(question) if slot in (Slot.MONEY, Slot.PERCENT) else ()
    if not stems:
        return window

    def names(text: str) -> bool:
        return any(stem in lexicon.fold(text) for stem in stems)

    own = [s for s in window if names(s.text)]
    return own + [s for s in window if s not in own and names(previous_sentence(s))]


def evidence_focus(question: str, evidence: Sequence[ScoredSentence]) -> list[str]:
    """The question's focus names that some evidence sentence mentions (else all of them).

    A name no sentence (nor its title) mentions cannot tell sentences apart: mostly it
    is translated ("European Convention on Human Rights" is "Europäische
    Menschenrechtskonvention", "Treaty" is "Vertrag"), so requiring it would refuse
    answers the evidence gives. Places and demonyms are always kept (they are checked
    in German too). When no name is left, all are kept: the question is about
    something the articles do not cover.
    """
    focus = focus_names(question)
    present = [
        name for name in focus if _translatable(name) or any(about(s, [name]) for s in evidence)
    ]
    return present or focus


def _translatable(name: str) -> bool:
    # Places and demonyms are checked in German too ("Finland" in "Finnland"): their
    # absence from a sentence is evidence, not a translation gap.
    return any(lexicon.place_key(word) or word.lower() in lexicon.DEMONYMS for word in name.split())


def locate(
    question: str,
    slot: Slot,
    scored: Sequence[ScoredSentence],
    lang: str,
    focus: Sequence[str] | None = None,
) -> AnswerSpan | None:
    """The answer span: a value of the question's slot in one of the best sentences.

    Args:
        question: The standalone question.
        slot: What it asks for (``Slot.OTHER`` finds nothing).
        scored: Evidence sentences, best first.
        lang: The question's language, for the rendering.
        focus: The names the sentence must be about (default:
            :func:`evidence_focus` over ``scored``).

    Returns:
        The span, or None when no good sentence holds a value of the slot.
    """
    if not slot.typed or not scored:
        return None
    excluded = excluded_by(question, slot)
    terms = set(tokenize(question))
    floor = scored[0].score - SPAN_MARGIN
    window = [s for s in scored[:SPAN_SENTENCES] if s.score >= floor]
    if focus is None:
        focus = evidence_focus(question, scored)
    for sentence in _naming_the_measure(question, slot, window):
        values = [
            v
            for v in slot_values(question, slot, sentence.text)
            if not excluded(v) and fits(question, slot, v, sentence.text)
        ]
        if slot is Slot.DATE:
            values = [v for v in values if _in_asked_month(question, v, sentence)]
        if not values or not qualifies(question, slot, sentence, focus):
            continue
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
     "the", "a", "an", "auf", "im", "bei", "nach", "seit", "bis", "von", "zu", "i", "you",
     "we", "they", "he", "she", "ich", "du", "sie", "er", "es", "wir", "ihr"}
)  # fmt: skip

# A word that opens a sentence is capitalised whatever it is ("Before answering, ...").
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)$")


# Months and weekdays in both languages, which a question capitalises but are no names.
_CALENDAR = frozenset(
    [*lexicon.MONTHS, *lexicon.MONTHS.values(), *lexicon.WEEKDAYS, *lexicon.WEEKDAYS.values()]
)


def focus_names(question: str) -> list[str]:
    """Distinctive names the question is about ("Zeus", "Nordlicht").

    Capitalised words that are not question words, roles, months or, in German,
    ordinary nouns.

    A German question capitalises every noun, so only words that are typed names
    (first names, places, acronyms, CamelCase brands) or that are unusual as nouns
    (hyphenated, with digits) count there.
    """
    german = detect_language(question) == "de"
    out: list[str] = []
    previous_end = -2
    joinable = False  # whether the next adjacent word continues the last name
    for m in re.finditer(r"[A-ZÄÖÜ][\w\-]*(?:['’]s)?", question):
        w = re.sub(r"['’]s$", "", m.group(0))
        low = w.lower()
        adjacent = joinable and m.start() == previous_end + 1
        if (
            low in _NOT_FOCUS
            or lexicon.is_title(w)
            or _SENTENCE_START.search(question[: m.start()])
        ):
            continue
        if low in _CALENDAR or re.fullmatch(r"[IVX]+|[QH][1-4]", w):
            continue
        after_first_name = adjacent and out[-1].split(" ")[-1].lower() in lexicon.FIRST_NAMES
        if german and not (
            after_first_name  # "Jonas Hartwig": the surname of a known first name
            or low in lexicon.FIRST_NAMES
            or lexicon.place_key(w)
            or re.fullmatch(r"[A-ZÄÖÜ]{2,}\w*|[A-Z][a-z]+[A-Z]\w*", w)
            or re.search(r"\d", w)
        ):
            continue
        if adjacent:
            out[-1] = f"{out[-1]} {w}"  # "Baltic Sea", "Kandilli Observatory": one name
        else:
            out.append(w)
        previous_end = m.end()
        joinable = w == m.group(0)  # "Musk's SpaceX" is two names
    return out


def about(sentence: ScoredSentence, focus: Sequence[str], *, every: bool = False) -> bool:
    """Whether a sentence is about the question's focus names.

    Args:
        sentence: The candidate sentence.
        focus: The question's focus names.
        every: Require all of them, not just one. A number is only about the asked
            thing when everything the question pins it to is there: "how much steel
            from China" is not answered by India's total imports.

    Returns:
        Whether the sentence, the one before it or its article's title mentions one
        (or every) focus name.
    """
    context = f"{sentence.hit.chunk.title} {previous_sentence(sentence)} {sentence.text}"
    if every:
        return all(mentions_any(context, [name]) for name in focus if not _adjective(name))
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
    for full in names:
        key = lexicon.place_key(full)
        if key and lexicon.fold(key) in folded:
            return True
        if any(_mentions(folded, word) for word in _distinctive_words(full)):
            return True
    return False


def _adjective(name: str) -> bool:
    """An English adjective the glossary doesn't know ("Sardinian"): no name to require."""
    low = name.lower()
    return (
        " " not in name
        and low not in lexicon.DEMONYMS
        and not lexicon.place_key(name)
        and bool(re.search(r"(ian|ish|ese|ean|ic)$", low))
    )


def _distinctive_words(name: str) -> list[str]:
    """The words of a name that must be written: "Baltic" of "Baltic Sea", a surname."""
    words = name.split(" ")
    if len(words) == 1:
        return words
    if words[0].lower() in lexicon.FIRST_NAMES:
        return [words[-1]]  # "Hartwig" is written without "Jonas"
    return [words[0], words[-1]]


def _mentions(folded: str, name: str) -> bool:
    """Whether folded text mentions one word of a name (German forms of English ones too)."""
    key = lexicon.place_key(name)
    if key and lexicon.fold(key) in folded:
        return True
    stems = lexicon.DEMONYMS.get(name.lower(), ())
    if any(lexicon.fold(stem) in folded for stem in stems):
        return True  # "Baltic" in "Ostsee", "Russian" in "russische"
    stem = lexicon.fold(name)[: max(4, len(name) - 2)]
    return bool(stem) and stem in folded
