"""What a question asks for (its answer slot) and where such values stand in a sentence.

A question's *slot* is the kind of fact that answers it: a date, a count, an amount of
money, a person… It is read from English and German question words ("when", "wie
viele", "which news agency", "wer") and from head nouns ("what is the cost" asks for
money). :func:`find_values` finds the values of a slot in a (German or English)
sentence as character spans, so answers can lead with the exact fact and highlight
it, and abstention can ask "does the evidence contain the asked-for slot at all?".

Everything here is pure rules over text: fast (microseconds per sentence), language
neutral for dates and numbers, and deliberately conservative for names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from qa import lexicon


class Slot(Enum):
    """The kind of fact a question asks for."""

    DATE = "date"
    DURATION = "duration"
    PERCENT = "percent"
    MONEY = "money"
    COUNT = "count"
    QUANTITY = "quantity"
    PERSON = "person"
    ORG = "org"
    PLACE = "place"
    OTHER = "other"

    @property
    def numeric(self) -> bool:
        """Whether values of this slot are numbers (language neutral)."""
        return self in _NUMERIC_SLOTS

    @property
    def typed(self) -> bool:
        """Whether the slot has a value detector (every slot but OTHER)."""
        return self is not Slot.OTHER


_NUMERIC_SLOTS = frozenset(
    {Slot.DATE, Slot.DURATION, Slot.PERCENT, Slot.MONEY, Slot.COUNT, Slot.QUANTITY}
)

# ------------------------------------------------------------------ question slots
# Two tiers. Interrogatives that name the kind of answer ("when", "wie viele", "which
# news agency", "wer") decide first; head nouns ("what is the cost", "wie hoch ist die
# Quote") decide only when the question word itself is neutral ("what", "wie hoch").
_Q = re.IGNORECASE
_UNITS_OF_TIME = (
    r"(years?|months?|weeks?|days?|hours?|minutes?|decades?|jahre\w*|monate\w*|wochen|"
    r"tage\w*|stunden|minuten|jahrzehnte\w*)"
)
_ORG_NOUNS = (
    r"(company|companies|agency|organi[sz]ation|party|institute|bank|firm|group|team|club|"
    r"authority|ministry|broadcaster|newspaper|airline|carrier|operator|university|"
    r"manufacturer|court|body|unternehmen|firma|konzern|agentur|nachrichtenagentur|"
    r"organisation|partei|institut|gruppe|verein|behörde|ministerium|sender|zeitung|"
    r"fluggesellschaft|betreiber|universität|hersteller|gericht|chiphersteller\w*|firms|firmen|"
    r"banken|journal|magazine|zeitschrift|fachzeitschrift|fachjournal|\w*betreiber|reederei)"
)
_PLACE_NOUNS = (
    r"(city|country|countries|town|region|state|village|island|place|province|county|"
    r"district|port|location|site|stadt|land|länder|ländern|ort|region|gemeinde|insel|provinz|"
    r"bundesland|staat|hafen|kreis|standort)"
)
_PERSON_NOUNS = (
    r"(person|politician|minister|player|athlete|scientist|official|man|woman|coach|manager|"
    r"candidate|runner|politiker\w*|minister\w*|spieler\w*|athlet\w*|forscher\w*|"
    r"trainer\w*|kandidat\w*|mann|frau|läufer\w*)"
)
_DATE_NOUNS = (
    r"(year|date|day|month|evening|morning|night|weekday|week|season|jahr|datum|tag|"
    r"monat|abend|morgen|nacht|wochentag)"
)
_INTERROGATIVES: tuple[tuple[Slot, re.Pattern[str]], ...] = (
    (Slot.COUNT, re.compile(r"\bhow old\b|\bwie alt\b|\bat what age\b", _Q)),  # an age
    (Slot.DURATION, re.compile(r"\bhow much time\b|\bwie viel zeit\b", _Q)),
    (
        Slot.OTHER,
        re.compile(
            (
                r"^\W*(why|warum|weshalb|wieso|how did|how does|how do|how is|how was|wie (hat|"
                r"haben|hatte|ist|war|wird|wurde|beschrieb|begründet\w*))\b|\b(what|which|"
                r"welche\w*) (reasons?|gründe?|grund)\b"
            ),
            _Q,
        ),
    ),
    (
        Slot.DURATION,
        re.compile(
            (
                rf"\bhow long (did|does|do|will|would|has|have|had|is|was)\b|\bwie lange\b|"
                rf"\b(how many|wie ?viele|um wie ?viele) {_UNITS_OF_TIME}\b"
            ),
            _Q,
        ),
    ),
    (
        Slot.PERCENT,
        re.compile(
            (
                r"\b(what|which) (percentage|share|proportion)\b|\bhow many percent|"
                r"\bby how much percent|\bwie ?viele? prozent|\bum wie ?viel prozent|"
                r"\bwelchen anteil"
            ),
            _Q,
        ),
    ),
    (
        Slot.MONEY,
        re.compile(
            (
                r"\bhow much (money|did|does|do|will|would|is|was|are|were|has|have|"
                r"had)\b.*\b(cost|costs|pay|paid|spend|spent|invest\w*|earn\w*|worth|fee|price)\b|"
                r"\bhow much (money|\w+ aid|aid|funding|subsid\w*|damage)\b|\bwas kost|"
                r"\bwie teuer\b|\bwie ?viel (\w*geld\w*|kostet|kosten|zahlt\w*|verdien\w*|"
                r"investier\w*|\w*hilfe|f[öo]rder\w*)|\bwie ?viel\b.*\b(gekostet|kosten|kostet)\b|"
                r"\bwie hoch (ist|war|sind|waren|wird|werden) (der|die|das) "
                r"\w*(sch[äa]d\w*|kosten)\b"
            ),
            _Q,
        ),
    ),
    (
        Slot.DATE,
        re.compile(
            (
                # "when" asks for a date at the start or before an auxiliary ("and when
                # did"), not in a clause ("how old was he when he played").
                rf"^\W*when\b|\bwhen (did|does|do|is|was|were|will|would|could|can|has|have|"
                rf"had|should|might|must)\b|\b(what|which|on which|in which|in what) "
                rf"{_DATE_NOUNS}\b|"
                rf"\bsince when\b|\buntil when\b|\bby when\b|\bwann\b|"
                rf"\bwelche[mnrs]? {_DATE_NOUNS}\b|\bwelches datum\b|\bab wann\b|\bseit wann\b|"
                rf"\bbis wann\b"
            ),
            _Q,
        ),
    ),
    (
        Slot.COUNT,
        re.compile(
            r"\bhow many\b|\bnumber of\b|\b(what|which) number\b|\bwie ?viele\b|\banzahl\b|"
            r"\bzahl der\b",
            _Q,
        ),
    ),
    (
        Slot.ORG,
        re.compile(
            (
                rf"\b(which|what|by which|from which|in which) (\w+ )?{_ORG_NOUNS}s?\b|"
                rf"\b(von |bei |für |in )?welche[mnrs]? (\w+ ){{0,2}}{_ORG_NOUNS}\b|"
                rf"\bname of the (\w+ )?{_ORG_NOUNS}\b"
            ),
            _Q,
        ),
    ),
    (
        Slot.PLACE,
        re.compile(
            (
                rf"\bwhere\b|\b(which|what|in which|in what) (\w+ )?{_PLACE_NOUNS}\b|\bwo\b|"
                rf"\bwohin\b|\bwoher\b|\b(in |aus |nach )?welche[mnrs]? (\w+ ){{0,2}}"
                rf"{_PLACE_NOUNS}\b"
            ),
            _Q,
        ),
    ),
    (
        Slot.PERSON,
        re.compile(
            (
                rf"\bwho\b|\bwhom\b|\bwhose\b|\b(which|what) {_PERSON_NOUNS}\b|\bwer\b|\bwem\b|"
                rf"\bwen\b|\bwessen\b|\bwelche[mnrs]? {_PERSON_NOUNS}\b|\bname of the (person|man|"
                rf"woman|ceo|president|minister|head|chief|leader)\b|\bwie hei(ß|ss)t (der|die) "
                rf"(\w+ ){{0,2}}\w*(minister|chef|präsident|sprecher|leiter|trainer)\w*\b"
            ),
            _Q,
        ),
    ),
)
# A head noun names the slot only in the phrase the question asks about ("what was the
# inflation rate"), not in a clause after it: "what is the name of the area", "the loss
# of biodiversity is the result of what" and "what compiles data about the size of
# firms" ask for no measure. So the noun must follow a question word (or a leading
# "und"/"and") within four words, none of them a preposition or relative word.
_ASKED = (
    r"(?:^\W*(?:und|and)\b|\b(?:what|which|how \w+|wie \w+|welche[mnrs]?|was|wessen)\b)"
    r"(?:\s+(?!(?:of|in|on|at|for|from|about|with|by|that|which|who|whose|to|into|than|"
    r"von|vom|im|über|aus|für|mit|bei|nach|dass|als|zu|zur|zum|seit|um|an|auf)\b)\S+){0,4}?"
    r"\s+"
)


def _head(nouns: str, free: str = "") -> re.Pattern[str]:
    """A head-noun pattern: ``nouns`` in the asked phrase, or ``free`` anywhere."""
    return re.compile(rf"{_ASKED}{nouns}\b" + (f"|{free}" if free else ""), _Q)


_HEAD_NOUNS: tuple[tuple[Slot, re.Pattern[str]], ...] = (
    (
        Slot.PERCENT,
        _head(
            r"(\w*rate|percentage|share|quote|anteil|prozentsatz|\w*quote|\w*zins\w*|turnout|"
            r"\w*beteiligung|interest)"
        ),
    ),
    (
        Slot.MONEY,
        _head(
            r"(cost|costs|price|budget|revenue|profit|loss|turnover|salary|fee|fine|damage|"
            r"investment|worth|value|sales|compensation|transfer|kosten|preis|budget|umsatz|"
            r"gewinn|verlust|schaden|investition\w*|gehalt|strafe|summe|betrag|wert|"
            r"mehrkosten|ablöse\w*|fördermittel|förderung)"
        ),
    ),
    (
        Slot.QUANTITY,
        _head(
            r"(output|capacity|length|area|height|depth|distance|speed|magnitude|size|extent|"
            r"thickness|dicke|ausdehnung|\w*geschwindigkeit|"
            r"weight|temperature|population|volume|leistung|kapazität|länge|fläche|höhe|tiefe|"
            r"entfernung|stärke|größe|gewicht|temperatur|einwohner\w*|menge|volumen)",
            r"\bhow (high|tall|deep|far|big|large|heavy|fast|strong|long|wide|much|thick)\b|"
            r"\bwie (hoch|tief|weit|groß|gross|schwer|schnell|stark|lang|breit|viel)\b",
        ),
    ),
)


# "Who" capitalised inside a question is a name ("Doctor Who", "The Who"), not "who".
_NAMED_WHO = re.compile(r"(?<=\w )Who\b")


def question_slot(question: str) -> Slot:
    """The slot a question asks for.

    Args:
        question: An English or German question.

    Returns:
        The slot its interrogative names, else the one its head noun names, else
        ``Slot.OTHER``.
    """
    asked = _NAMED_WHO.sub("", question)
    for slot, pattern in (*_INTERROGATIVES, *_HEAD_NOUNS):
        if pattern.search(asked):
            return slot
    return Slot.OTHER


# ------------------------------------------------------------------ value detectors


@dataclass(frozen=True)
class Value:
    """A value of some slot found in a text.

    Attributes:
        start: Start offset in the text.
        end: End offset in the text (exclusive).
        text: ``text[start:end]``.
        slot: What kind of value it is.
    """

    start: int
    end: int
    text: str
    slot: Slot


_NUM = r"\d{1,3}(?:[.,' ]\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?"
_NUM_WORD = (
    r"(?:ein(?:e|er|en|em)?|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|"
    r"zwanzig|dreißig|vierzig|fünfzig|hundert|tausend|dutzend\w*|one|two|three|four|five|six|"
    r"seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|thousand|dozen)"
)
_SCALE = (
    r"(?:\s?(?:Millionen|Million|Mio\.?|Milliarden|Milliarde|Mrd\.?|Billionen|Tausend|"
    r"million|billion|trillion|thousand|bn|m))?"
)
_CURRENCY = (
    r"(?:Euro|EUR|€|US-Dollar|Dollar|USD|\$|Franken|CHF|Pfund|£|Rubel|Yuan|Kronen|Yen|"
    r"Rupien|Rupees|dollars|euros|pounds)"
)
_NUMBER_RE = re.compile(rf"(?<![\w.,])(?:{_NUM})(?![\w])|\b{_NUM_WORD}\b", re.IGNORECASE)
_MONEY_RE = re.compile(
    rf"(?:{_CURRENCY}\s?(?:{_NUM}){_SCALE})|(?:(?:{_NUM}|\b{_NUM_WORD}){_SCALE}\s?{_CURRENCY})",
    re.IGNORECASE,
)
_PERCENT_RE = re.compile(
    rf"(?:{_NUM}|{_NUM_WORD})\s?(?:%|Prozentpunkte\w*|Prozent|percentage points|per ?cent)",
    re.IGNORECASE,
)
_DURATION_RE = re.compile(
    rf"(?:{_NUM}|{_NUM_WORD}|mehrere|einige|several|a few)\s(?:Jahrzehnte\w*|Jahre\w*|Jahr|"
    r"Monate\w*|Monat|Wochen|Woche|Tage\w*|Tag|Stunden|Stunde|Minuten|Sekunden|decades?|"
    r"years?|months?|weeks?|days?|hours?|minutes?|seconds?)\b",
    re.IGNORECASE,
)
_UNIT = (
    r"(?:Megawatt|MW|Gigawatt|GW|Kilowatt|kW|kWh|MWh|GWh|TWh|Meter|m|Kilometer|km|Zentimeter|"
    r"cm|Millimeter|mm|Quadratkilometer|km²|Quadratmeter|m²|Hektar|Tonnen|t|Kilogramm|kg|"
    r"Grad|°C|Knoten|km/h|Liter|Kubikmeter|Einwohner\w*|Mitarbeiter\w*|Menschen|Personen|"
    r"Haushalte|Sitze|Stimmen|Punkte|metres|meters|kilometres|kilometers|tonnes|tons|degrees|"
    r"hectares|people|residents|employees|seats|votes|points|magnitude)"
)
# A number word needs a space before its unit: "eine m" inside "einem" is no quantity.
_QUANTITY_RE = re.compile(
    rf"(?:(?:{_NUM}){_SCALE}\s?|\b{_NUM_WORD}{_SCALE}\s){_UNIT}(?![\w])|Stärke\s(?:{_NUM})|"
    rf"magnitude\s(?:{_NUM})",
    re.IGNORECASE,
)
_MONTH = (
    r"(?:Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|"
    r"Dezember|January|February|March|May|June|July|October|December|Jan\.|Feb\.|Aug\.|"
    r"Sept?\.|Okt\.|Oct\.|Nov\.|Dez\.|Dec\.)"
)
_YEAR = r"(?:1[6-9]\d\d|20\d\d|21\d\d)"
_DATE_RE = re.compile(
    rf"(?:\d{{1,2}}\.\s?{_MONTH}(?:\s{_YEAR})?)|(?:{_MONTH}\s\d{{1,2}},?\s{_YEAR})|"
    rf"(?:{_MONTH}\s{_YEAR})|(?:(?:Ende|Anfang|Mitte|Herbst|Frühjahr|Frühling|Sommer|Winter|"
    rf"end of|early|mid|late|spring|summer|autumn|fall|winter)\s(?:des Jahres\s)?{_YEAR})|"
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}})|(?:\d{{1,2}}\.\d{{1,2}}\.{_YEAR})|"
    rf"(?:(?:zwischen|between)\s{_YEAR}\s(?:und|and)\s{_YEAR})|(?<![\d.,]){_YEAR}(?![\d.,]\d)|"
    r"\bam (?:Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag)\b|"
    r"\b(?:on )?(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b|"
    r"\b(?:Ende|Anfang|Mitte) (?:des )?(?:nächsten|kommenden|dieses|diesen|vergangenen) "
    r"(?:Jahres|Monats)\b|\b(?:im )?(?:nächsten|kommenden|vergangenen|letzten) (?:Jahr|Monat)\b|"
    r"\b(?:gestern|heute|morgen)\b|"
    # A month without a year, when a preposition makes it a date ("im März", "by June");
    # the preposition is not part of the value, "Ende" is.
    rf"(?:(?<=\bim )|(?<=\bin )|(?<=\bseit )|(?<=\bbis )|(?<=\bab )|(?<=\bsince )|"
    rf"(?<=\buntil )|(?<=\bby )|\b(?:Ende|Anfang|Mitte|early|late|mid|end of)\s){_MONTH}"
    rf"(?:\s{_YEAR})?(?!\w)",
    re.IGNORECASE,
)

# Names: runs of capitalised words, optionally joined by name particles.
_CAP = r"[A-ZÄÖÜ][\w'’\-]*[\w]"
_NAME_RUN = re.compile(rf"{_CAP}(?:\s(?:(?:von|van|de|der|da|di|al|bin|el|le|la)\s)?{_CAP})*")
_ACRONYM = re.compile(r"\b[A-ZÄÖÜ][A-Z0-9ÄÖÜ&]{1,6}\b|\b[A-Z][a-z]+[A-Z]\w*\b")


def _spans(pattern: re.Pattern[str], text: str, slot: Slot) -> list[Value]:
    return [Value(m.start(), m.end(), m.group(0), slot) for m in pattern.finditer(text)]


def _without_overlaps(values: list[Value]) -> list[Value]:
    """Longest values first; drop any value overlapping one already kept."""
    kept: list[Value] = []
    for v in sorted(values, key=lambda v: (-(v.end - v.start), v.start)):
        if all(v.end <= k.start or k.end <= v.start for k in kept):
            kept.append(v)
    return sorted(kept, key=lambda v: v.start)


def _is_year(text: str) -> bool:
    return bool(re.fullmatch(_YEAR, text.strip()))


# "1,2 Mio. Solarmodule" counts 1.2 million: the scale word belongs to the number.
_COUNT_SCALE_RE = re.compile(
    rf"(?:{_NUM})\s?(?:Millionen|Million|Mio\.|Milliarden|Milliarde|Mrd\.|Tausend|million|"
    r"billion|thousand)(?![\w])",
    re.IGNORECASE,
)
_ERA = re.compile(r"\s?(?:v\.|n\.)\s?Chr\.|\s?(?:BC|AD|BCE|CE)\b")


def _numeric_values(text: str, slot: Slot) -> list[Value]:
    if slot is Slot.DATE:
        return _without_overlaps(_spans(_DATE_RE, text, slot))
    if slot is Slot.MONEY:
        return _without_overlaps(_spans(_MONEY_RE, text, slot))
    if slot is Slot.PERCENT:
        return _without_overlaps(_spans(_PERCENT_RE, text, slot))
    if slot is Slot.DURATION:
        return _without_overlaps(_spans(_DURATION_RE, text, slot))
    if slot is Slot.QUANTITY:
        found = _spans(_QUANTITY_RE, text, slot) + _spans(_MONEY_RE, text, slot)
        return _without_overlaps(found)
    # COUNT: any number that is not a year, a date, a percentage or money.
    taken = [
        *_spans(_DATE_RE, text, Slot.DATE),
        *_spans(_PERCENT_RE, text, Slot.PERCENT),
        *_spans(_MONEY_RE, text, Slot.MONEY),
    ]
    counts = []
    for v in _spans(_NUMBER_RE, text, Slot.COUNT):
        if v.text.lower() in ("ein", "eine", "einer", "einen", "einem", "eines", "one"):
            continue  # the indefinite article, almost always
        if _is_year(v.text) or any(t.start <= v.start < t.end for t in taken):
            continue
        if _ERA.match(text, v.end):
            continue  # "15 v. Chr." is a year
        # Include the counted noun ("12 Menschen") when a quantity pattern covers it.
        q = _QUANTITY_RE.match(text, v.start) or _COUNT_SCALE_RE.match(text, v.start)
        counts.append(Value(v.start, q.end(), text[v.start : q.end()], slot) if q else v)
    return _without_overlaps(counts)


def _segments(text: str, start: int, run: str) -> list[tuple[int, str]]:
    """Split a run of capitalised words at titles, function words and first names.

    "SpaceX CEO Elon Musk" -> "SpaceX", "Elon Musk"; "Die Vorstandschefin" -> nothing.
    """
    out: list[tuple[int, str]] = []
    current: list[tuple[int, str]] = []
    pos = start
    for word in run.split(" "):
        breaks = lexicon.is_function_word(word) or lexicon.is_title(word)
        if breaks or (current and word.lower() in lexicon.FIRST_NAMES):
            if current:
                out.append((current[0][0], " ".join(w for _, w in current)))
            current = [] if breaks else [(pos, word)]
        else:
            current.append((pos, word))
        pos += len(word) + 1
    if current:
        out.append((current[0][0], " ".join(w for _, w in current)))
    return out


def _name_values(text: str, slot: Slot, agents: bool = False) -> list[Value]:
    out: list[Value] = []
    others: list[Value] = []
    for m in _NAME_RUN.finditer(text):
        for start, name in _segments(text, m.start(), m.group(0)):
            kind = lexicon.name_kind(name, text, start)
            if kind == slot.value:
                out.append(Value(start, start + len(name), name, slot))
            elif agents and _agent_name(kind, name):
                others.append(Value(start, start + len(name), name, slot))
    if not out:
        out = others  # a person named beside an organisation is still the likelier "who"
    if slot is Slot.ORG:
        for m in _ACRONYM.finditer(text):
            if lexicon.looks_like_org_acronym(m.group(0)):
                out.append(Value(m.start(), m.end(), m.group(0), slot))
    if slot is Slot.PLACE:
        out.extend(
            Value(m.start(), m.end(), m.group(0), slot) for m in lexicon.place_mentions(text)
        )
    return _without_overlaps(out)


# What a number counts or measures, from the words next to it (value side) and from
# the question (asked side). Values whose class differs from the asked class are not
# answers ("650 Megawatt" does not answer "how many employees").
_UNIT_CLASSES: dict[str, re.Pattern[str]] = {
    # First: "how old was the pedestrian who was killed" asks for an age, not people.
    "age": re.compile(r"\b(how old|wie alt|jährige\w*|years? old|jahre alt|alter|age)\b", re.I),
    "people": re.compile(
        r"\b(people|persons?|dead|deaths?|died|killed|victims?|injured|employees?|workers?|"
        r"staff|residents?|inhabitants?|passengers?|visitors?|participants?|spectators?|"
        r"menschen|personen|tote\w*|todesopfer|opfer|verletzte\w*|mitarbeite\w*|"
        r"beschäftigte\w*|einwohner\w*|fahrgäste\w*|besucher\w*|teilnehme\w*|"
        r"zuschauer\w*|arbeitsplätze|stellen|jobs?)\b",
        re.IGNORECASE,
    ),
    "power": re.compile(
        r"\b(mw|gw|kw|megawatt|gigawatt|kilowatt|output|capacity|leistung)\b", re.I
    ),
    "energy": re.compile(
        r"\b(kwh|mwh|gwh|twh|\w*wattstunden|\w*watt-hours?|\w*watt hours?)\b", re.I
    ),
    "area": re.compile(
        r"\b(hektar|hectares?|quadrat\w*|km²|m²|square|area|fläche|extent|ausdehnung)\b", re.I
    ),
    "length": re.compile(
        r"\b(meter|metres?|meters?|kilometer|kilometres?|kilometers?|km|cm|zentimeter|high|"
        r"deep|depth|far|rise|rose|long|length|tall|height|hoch|tief|tiefe|weit|lang|länge|"
        r"höhe|stieg|anstieg|thick|thickness|dick|dicke|wide|width|breit|breite)\b",
        re.I,
    ),
    "weight": re.compile(r"\b(tonnen|tonnes?|tons?|kilogramm|kg)\b", re.I),
    "temperature": re.compile(r"\b(grad|°c|degrees?|temperatur\w*|temperatures?)\b", re.I),
    "clock": re.compile(r"\b(uhr|o'clock|what time|um wie viel uhr)\b", re.I),
    "speed": re.compile(r"\b(km/h|knoten|knots|speed|geschwindigkeit)\b", re.I),
}


def unit_class(text: str) -> str | None:
    """What a value or a question counts or measures ("people", "power" …), if it says."""
    for name, pattern in _UNIT_CLASSES.items():
        if pattern.search(text):
            return name
    return None


def _agent_name(kind: str, name: str) -> bool:
    """An organisation, or a run of two or more capitalised words of no known kind.

    One capitalised word of unknown kind is usually a German noun ("Fraktionen"); two
    in a row are usually a name ("New England Patriots").
    """
    return kind == "org" or (kind == "unknown" and len(name.split()) >= 2)


def find_values(text: str, slot: Slot, *, agents: bool = False) -> list[Value]:
    """Values of ``slot`` in ``text``, in text order, without overlaps.

    Args:
        text: A sentence (German or English).
        slot: The kind of value wanted; ``Slot.OTHER`` finds nothing.
        agents: For ``Slot.PERSON``: a question that asks who did something without
            naming a role ("Who won the final?") may be answered by an organisation
            or a team, so those names count too.

    Returns:
        The values with their character spans.
    """
    if slot is Slot.OTHER:
        return []
    if slot.numeric:
        return _numeric_values(text, slot)
    return _name_values(text, slot, agents and slot is Slot.PERSON)


def numbers_in(text: str) -> set[str]:
    """Every number written in digits in ``text``, normalised ("1.100" -> "1100", "2,5" -> "2.5").

    Years and other integers keep their digits; German and English separators agree.
    """
    out: set[str] = set()
    for m in re.finditer(_NUM, text):
        out.add(normalise_number(m.group(0)))
    return out


def normalise_number(raw: str) -> str:
    """One spelling for a number written with German or English separators."""
    s = raw.replace("'", "").replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", s):
        return s.replace(".", "").replace(",", "")  # thousands separators only
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+,\d+", s):
        return s.replace(".", "").replace(",", ".")  # German 1.234,5
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+\.\d+", s):
        return s.replace(",", "")  # English 1,234.5
    return s.replace(",", ".")
