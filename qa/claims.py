"""Does a cited sentence support a claim? A fact-level check that works across languages.

A claim ("Putin's envoy Kirill Dmitriev said Russia could offer a plant [1]") is
supported by a sentence when every *checkable fact* of the claim is in that sentence
(or, for names, in the sentence just before it, which is where "er"/"he" points):

* numbers (digits or number words; German and English separators agree) and their
  scale (million vs. billion) and kind (percent vs. percentage points);
* months and weekdays, in either language;
* roles ("envoy" <-> "Gesandte"; "foreign minister" is not "Gesandte");
* named entities: people (transliterations such as Wladimir/Vladimir agree), places
  (Russia <-> Russland) and their adjectives (Russian <-> russisch), organisations;
* polarity: a claim that negates what the sentence states (or the reverse).

A claim with no checkable fact cannot be decided here (``supported is None``); the
caller decides those by similarity. Measured on ``eval/gold/claims.jsonl`` by
``qa eval --claims`` (see docs/quality.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa import lexicon
from qa.language import detect_language
from qa.slots import numbers_in

_WORD = re.compile(r"[\w'’\-]+", re.UNICODE)
_CAP_RUN = re.compile(r"[A-ZÄÖÜ][\w'’\-]*(?:\s(?:(?:von|van|de|der|al|bin)\s)?[A-ZÄÖÜ][\w'’\-]*)*")


# Words that start English sentences without being names.
_SENTENCE_START_SKIP = frozenset(
    """the a an in on at according after before when while since despite but and however
    meanwhile also some many most all both each every its his her their our we you i one
    two three four five six seven eight nine ten around about more less only even still yet
    now then today yesterday last next first second new former other there these those this
    that he she it they several almost nearly over under up down if although as by for from
    with without so such no not never because during until""".split()
)
# Words of translated organisation names ("Federal Statistical Office"): not checkable
# one by one against the German name ("Statistisches Bundesamt").
_GENERIC_NAME_WORDS = frozenset(
    """institute office observatory ministry agency university federal statistical research
    national state central european news company group party council court foundation
    association union committee commission authority department service station center
    centre museum club team airport port bank police government parliament""".split()
)
_ABBREVIATIONS = {"ecb": "ezb", "un": "uno", "nato": "nato", "us": "usa", "uk": "großbritannien"}
_POINTS = re.compile(r"percentage points?|prozentpunkt", re.IGNORECASE)
_PERCENT = re.compile(r"percent|per cent|prozent|%", re.IGNORECASE)


@dataclass(frozen=True)
class ClaimCheck:
    """The verdict on one claim against one sentence.

    Attributes:
        supported: True when every checkable fact is in the sentence, False when one is
            not, None when the claim has no checkable fact (undecidable here).
        facts: The facts found in the claim, e.g. ``("number 2029", "role envoy")``.
        missing: The facts the sentence does not support.
    """

    supported: bool | None
    facts: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def _number_set(text: str) -> set[str]:
    out = numbers_in(text)
    for word in _WORD.findall(text.lower()):
        if word in lexicon.NUMBER_WORDS:
            out.add(lexicon.NUMBER_WORDS[word])
    return out


def _scales(text: str) -> set[str]:
    return {lexicon.SCALES[w] for w in _WORD.findall(text.lower()) if w in lexicon.SCALES}


# Units a number is given in, English and German forms -> one name ("1 gigawatt" is not
# "1 Megawatt").
_UNITS = {
    "mw": "megawatt", "megawatt": "megawatt", "megawatts": "megawatt",
    "gw": "gigawatt", "gigawatt": "gigawatt", "gigawatts": "gigawatt",
    "kw": "kilowatt", "kilowatt": "kilowatt", "kilowatts": "kilowatt",
    "km": "kilometre", "kilometer": "kilometre", "kilometern": "kilometre",
    "kilometres": "kilometre", "kilometers": "kilometre", "kilometre": "kilometre",
    "tonnen": "tonne", "tonnes": "tonne", "tonne": "tonne", "tons": "tonne", "t": "tonne",
    "hektar": "hectare", "hectares": "hectare", "hectare": "hectare",
    "kg": "kilogram", "kilogramm": "kilogram", "kilograms": "kilogram",
    "sqkm": "square kilometre", "sqm": "square metre",
}  # fmt: skip
# A change's direction: a claim that says "lower" of a sentence saying "höher" is wrong.
_DIRECTIONS = (
    (
        "up",
        re.compile(
            r"\b(higher|up|upwards?|rose|risen|rises|increased?|grew|höher|nach oben|"
            r"gestiegen|stieg|steigt|erhöht\w*|zugelegt|wuchs|gewachsen)\b",
            re.I,
        ),
    ),
    (
        "down",
        re.compile(
            r"\b(lower|down|downwards?|fell|fallen|falls|decreased?|declined?|dropped|"
            r"niedriger|nach unten|gesunken|sank|sinkt|gesenkt|zurückgegangen|gefallen|fiel)\b",
            re.I,
        ),
    ),
)


# Square units first, so "square kilometres" is not read as kilometres.
_SQUARE = ((re.compile(r"square kilomet\w*|quadratkilomet\w*|km²", re.I), " sqkm "),
           (re.compile(r"square met\w*|quadratmet\w*|m²", re.I), " sqm "))  # fmt: skip


def _units(text: str) -> set[str]:
    for pattern, unit in _SQUARE:
        text = pattern.sub(unit, text)
    return {_UNITS[w] for w in _WORD.findall(text.lower()) if w in _UNITS}


def _directions(text: str) -> set[str]:
    return {name for name, pattern in _DIRECTIONS if pattern.search(text)}


def _months(text: str, *, compounds: bool = False) -> set[str]:
    """Months and weekdays named in ``text``, as English names.

    With ``compounds`` also inside German compounds ("Montagabend", "Märzdaten").
    """
    words = set(_WORD.findall(text.lower()))
    lowered = text.lower()
    out: set[str] = set()
    for table in (lexicon.MONTHS, lexicon.WEEKDAYS):
        for de, en in table.items():
            if de in words or en in words or (compounds and de in lowered):
                out.add(en)
    return out


def _translit(word: str) -> str:
    s = lexicon.fold(word)
    for a, b in (("ij", "i"), ("iy", "i"), ("w", "v"), ("j", "y"), ("kh", "ch"), ("ks", "x")):
        s = s.replace(a, b)
    return s


def _edit_distance(a: str, b: str) -> int:
    if abs(len(a) - len(b)) > 2:
        return 3
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _name_in(token: str, words: set[str]) -> bool:
    """Whether a name token occurs among ``words`` (folded, transliteration-tolerant)."""
    t = _translit(token)
    if len(t) < 3:
        return t in words
    for w in words:
        if w == t or (len(t) >= 4 and (w.startswith(t) or t.startswith(w)) and len(w) >= 4):
            return True
        limit = 1 if len(t) < 8 else 2
        if len(t) >= 5 and _edit_distance(w, t) <= limit:
            return True
    return False


def question_roles(text: str) -> list[str]:
    """Canonical roles named in ``text`` (longest forms first, each span used once).

    Args:
        text: A claim or a question, English or German.

    Returns:
        Role names as keys of :data:`qa.lexicon.ROLES`, in the order found.
    """
    lowered = f" {text.lower()} "
    found: list[str] = []
    forms = sorted(
        ((form, name) for name, (en, de) in lexicon.ROLES.items() for form in (*en, *de)),
        key=lambda fn: -len(fn[0]),
    )
    for form, name in forms:
        if form.endswith("-"):
            pattern = rf"(?<![\w]){re.escape(form)}"
        elif form in lexicon.ROLES[name][1]:
            # German stems sit inside compounds: "Sondergesandte", "Bundesaußenministerin".
            pattern = rf"{re.escape(form)}\w*"
        else:
            pattern = rf"(?<![\w]){re.escape(form)}(?![\w])"
        m = re.search(pattern, lowered)
        if m:
            if name not in found:
                found.append(name)
            lowered = lowered[: m.start()] + " " * (m.end() - m.start()) + lowered[m.end() :]
    return found


def role_supported(role: str, window: str) -> bool:
    """Whether ``window`` names ``role`` in English or German (compounds included)."""
    en, de = lexicon.ROLES[role]
    lowered = window.lower()
    if any(re.search(rf"(?<![\w]){re.escape(f)}(?![\w])", lowered) for f in en):
        return True
    # German compounds: "Sondergesandte" holds "gesandte"; "Außenminister" holds "minister"
    # only for the generic role, which is why specific roles are matched first.
    return any(stem in lowered for stem in de)


def _entities(claim: str) -> list[str]:
    """Capitalised runs of the claim that name something (not roles, months, words)."""
    runs: list[str] = []
    for m in _CAP_RUN.finditer(claim):
        words = m.group(0).split()
        # A sentence-initial capital is not evidence of a name.
        at_start = m.start() == 0 or claim[: m.start()].rstrip().endswith((".", "!", "?", ":"))
        kept = []
        for i, w in enumerate(words):
            low = w.lower().strip("'’")
            if (
                lexicon.is_function_word(w)
                or lexicon.is_title(w)
                or low in lexicon.MONTHS.values()
                or low in lexicon.MONTHS
                or low in lexicon.WEEKDAYS.values()
                or low in lexicon.WEEKDAYS
                or low in _SENTENCE_START_SKIP
                or low in ("i", "ceo")
                or low in _GENERIC_NAME_WORDS
                or (i == 0 and at_start and not _is_namey(w))
            ):
                if kept:
                    runs.append(" ".join(kept))
                    kept = []
                continue
            word = w[:-2] if w.endswith(("'s", "’s")) else w
            if kept and lexicon.place_key(f"{kept[-1]} {word}"):
                kept[-1] = f"{kept[-1]} {word}"  # "South Korea" is one place, not two names
                continue
            if lexicon.place_key(word) or low in lexicon.DEMONYMS:
                # "Austrian Lukas Pichler", "Germany THW": the place is a fact of its own.
                if kept:
                    runs.append(" ".join(kept))
                    kept = []
                runs.append(word)
                continue
            kept.append(word)
        if kept:
            runs.append(" ".join(kept))
    return runs


def _is_namey(word: str) -> bool:
    """A sentence-initial word that is still a name: a first name, place or acronym."""
    low = word.lower()
    return (
        low in lexicon.FIRST_NAMES
        or lexicon.place_key(word) is not None
        or low in lexicon.DEMONYMS
        or bool(re.fullmatch(r"[A-Z]{2,}|[A-Z][a-z]+[A-Z]\w*", word))
    )


def _german_claim(claim: str) -> bool:
    return detect_language(claim) == "de"


def _entity_supported(entity: str, window_words: set[str], window: str) -> bool:
    lowered = window.lower()
    key = lexicon.place_key(entity)
    if key is not None:
        mentioned = {lexicon.place_key(m.group(0)) for m in lexicon.place_mentions(window)}
        # "Hamburg" is also in "Hamburger": the name as a word prefix counts.
        return key in mentioned or _name_in(key, window_words) or _name_in(entity, window_words)
    low = entity.lower()
    if low in _ABBREVIATIONS and _ABBREVIATIONS[low] in window_words:
        return True
    if low in lexicon.DEMONYMS:
        return any(stem in lowered for stem in lexicon.DEMONYMS[low])
    tokens = entity.split()

    def named(token: str) -> bool:
        forms = lexicon.DEMONYMS.get(token.lower(), ())  # "Musk" written "Moschus"
        return _name_in(token, window_words) or any(form in lowered for form in forms)

    # A person is supported by the surname; other names by every token.
    if len(tokens) >= 2 and tokens[0].lower() in lexicon.FIRST_NAMES:
        return named(tokens[-1])
    return all(named(t) for t in tokens if len(t) > 1)


_NOT_NEGATION = re.compile(
    r"\b(no|not) (less|more|fewer|later|earlier|only)\b|\bnicht (nur|weniger|mehr als)\b", re.I
)


def _negated(text: str) -> bool:
    text = _NOT_NEGATION.sub(" ", text.lower())
    words = set(_WORD.findall(text)) | ({"n't"} if "n't" in text else set())
    return bool(words & (lexicon.NEGATIONS_EN | lexicon.NEGATIONS_DE))


def check_claim(claim: str, sentence: str, context: str = "") -> ClaimCheck:
    """Check every fact of ``claim`` against ``sentence``.

    Args:
        claim: One answer sentence (markers are ignored), English or German.
        sentence: The cited sentence (German, usually).
        context: Text just before the sentence in its article: names a pronoun in the
            sentence refers to may stand there. Numbers, dates and roles must be in the
            sentence itself.

    Returns:
        The verdict, with the facts found and those missing.
    """
    claim = re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", "", claim)
    facts: list[str] = []
    missing: list[str] = []

    def need(fact: str, ok: bool) -> None:
        facts.append(fact)
        if not ok:
            missing.append(fact)

    sentence_numbers = _number_set(sentence)
    for n in sorted(_number_set(claim)):
        need(f"number {n}", n in sentence_numbers)
    sentence_scales = _scales(sentence)
    for s in sorted(_scales(claim) - {"thousand"}):
        need(f"scale {s}", s in sentence_scales)
    sentence_units = _units(sentence)
    for u in sorted(_units(claim)):
        need(f"unit {u}", u in sentence_units)
    claimed, stated = _directions(claim), _directions(sentence)
    if len(claimed) == 1 and stated and not claimed & stated:
        need(f"direction {next(iter(claimed))}", False)
    if _POINTS.search(claim):
        need("percentage points", bool(_POINTS.search(sentence)))
    elif _PERCENT.search(claim):
        need("percent", bool(_PERCENT.search(sentence)) and not _POINTS.search(sentence))
    sentence_months = _months(sentence, compounds=True)
    for m in sorted(_months(claim)):
        need(f"date {m}", m in sentence_months)
    claim_roles = question_roles(claim)
    for role in claim_roles:
        need(f"role {role}", role_supported(role, f"{context} {sentence}"))
    if claim_roles and "former" not in claim_roles and "former" in question_roles(sentence):
        need("role former", False)  # "the current head" of a "ehemalige Leiter"

    window = f"{context} {sentence}"
    window_words = {_translit(w) for w in _WORD.findall(window)}
    window_words |= {_translit(p) for w in _WORD.findall(window) if "-" in w for p in w.split("-")}
    german = _german_claim(claim)
    for entity in _entities(claim):
        if german and not _checkable_in_german(entity, claim):
            continue  # German capitalises every noun: only typed names are facts
        need(f"name {entity}", _entity_supported(entity, window_words, window))
    if _negated(claim) and not _negated(sentence):
        # Only this direction: a sentence's "nicht" often sits in a clause the claim
        # leaves out, while a claim that negates a plain statement is always wrong.
        need("polarity", False)

    if not facts:
        return ClaimCheck(None)
    return ClaimCheck(not missing, tuple(facts), tuple(missing))


def _checkable_in_german(entity: str, claim: str) -> bool:
    words = entity.split()
    if lexicon.place_key(entity) or words[0].lower() in lexicon.FIRST_NAMES:
        return True
    if re.fullmatch(r"[A-ZÄÖÜ]{2,}\w*|[A-Z][a-z]+[A-Z]\w*", words[0]):
        return True
    start = claim.find(entity)
    return lexicon.name_kind(entity, claim, max(start, 0)) in ("person", "org", "place")
