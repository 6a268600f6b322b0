"""Small English/German word lists the answer rules need: names, places, roles, cues.

Kept in one module so that the span locator, the claim check and the renderer agree
on what a person, a place or a role is. The lists are general (not taken from the
sample corpus): common first names, countries, large cities and regions, job titles
and organisation words in both languages, and translations of the qualifiers that
stand next to numbers and dates ("bereits" -> "as early as").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# fmt: off
_FUNCTION_WORDS = frozenset("""
der die das den dem des ein eine einer eines einem einen und oder aber auch als am an auf
aus bei bis da dann dass dies diese dieser dieses doch durch er es für hat ich ihr im in ist
mit nach nicht noch nur sein sich sie sind so um und von vom vor war wie wir wird wurde zu
zum zur zwar trotz laut seit nachdem während wenn weil ob obwohl insbesondere außerdem
zudem jedoch damit darüber daher deshalb dort hier heute gestern morgen bereits nun jetzt
man mehr viele einige alle kein keine unter über gegen ohne sowie beim ins the a an of in on
at to for and or but with by from as is was were are it its this that these those he she they
his her their we our you i after before when where who what which how why while since
despite according also mr mrs ms dr prof sagte sagt erklärte teilte meldete berichtete
""".split())

# Titles and roles that stand before a name and are not part of it.
_TITLES = frozenset("""
präsident präsidentin kanzler kanzlerin minister ministerin ministerpräsident
ministerpräsidentin bürgermeister bürgermeisterin oberbürgermeister oberbürgermeisterin
gouverneur gouverneurin chef chefin ceo cfo cto gründer gründerin trainer trainerin
sprecher sprecherin direktor direktorin professor professorin dr prof herr frau kapitän
kapitänin leiter leiterin vorsitzende vorsitzender gesandte gesandter sondergesandte
sondergesandter botschafter botschafterin berater beraterin außenminister außenministerin
innenminister innenministerin finanzminister finanzministerin wirtschaftsminister
verteidigungsminister regierungschef regierungschefin premierminister premierministerin
generalsekretär generalsekretärin abgeordnete abgeordneter senator senatorin richter
richterin staatsanwalt staatsanwältin forscher forscherin wissenschaftler wissenschaftlerin
spieler spielerin stürmer torhüter läuferin läufer athletin athlet weltmeister weltmeisterin
olympiasiegerin olympiasieger kommissar kommissarin polizeichef vorstandschef konzernchef
geschäftsführer geschäftsführerin bundeskanzler bundeskanzlerin bundespräsident papst
könig königin prinz prinzessin us-präsident ex-präsident ehemalige ehemaliger frühere
früherer president chancellor prime secretary mayor governor chief executive founder coach
spokesman spokeswoman spokesperson director head leader envoy ambassador adviser advisor
senator judge minister general admiral captain king queen prince princess pope sir
""".split())

FIRST_NAMES = frozenset("""
adam adrian ahmed alan albert alexander alexandra alexei alexej ali alice alina amelie ana
anastasia andrea andreas andrei andrej andrew angela angelika anna anne annette anton antonio
barack ben benjamin bernd bill boris brigitte bruno carl carla carlos caroline catherine
charles charlotte chen chris christian christina christine christoph christopher claudia
daniel daniela david denis dieter dmitri dmitrij dmitry donald elena elias elisabeth elizabeth
elon emil emily emma emmanuel eric erik ernst eva fabian felix florian francesco frank franz
friedrich gabriel georg george gerhard giorgia giuseppe greta gregor günter hannah hans harald
heike heinrich heinz helena helga helmut henrik henry hiroshi holger horst hugo igor ilona
ingrid irina isabel isabella ivan jacob jakob james jan jana jane janet jens jessica joachim
joe johann johanna johannes john jonas jonathan jörg josef joseph julia julian juliane jürgen
justin karin karl kamala katarina katharina kathrin katja kerstin kevin kim kirill klaus
konrad kristina lars laura lea lena leon leonie liam lisa lorenz louis luca lucas ludwig luis
luise lukas lutz magdalena maja manfred manuel marc marco marcus margarete maria marie marina
mario mark markus marta martin martina mary mateo matthias max maximilian mehmet melanie
michael michaela michel miguel mike mila mohammed moritz nadine natalia natalie nicolas nicole
niklas nikolai nikolaj nina noah norbert olaf olga oliver olivia oscar oskar otto pablo patrick
paul paula pedro peter petra philipp pierre rafael ralf rainer ralph raphael rebecca reinhard
richard rishi robert roland roman rosa ruth sabine sahra sandra sara sarah sascha sebastian
sergei sergej sergey simon simone sofia sophia sophie stefan stefanie stephan steffen steven
susanne svenja sven tanja thomas tim timo tobias tom torsten ulrich ursula uwe valentin
vanessa vera viktor viktoria vincent vladimir wang werner wilhelm william wladimir wolfgang
xi yann yuri yusuf zoe jewgeni jewgenij juri dmitrijew emmanuel recep narendra justin keir
friedrich annalena robert christian markus hendrik lars nancy hubertus karl-heinz
hanna miriam yvonne johanna agnes aleksandra alessandro amir anja ann annika antje arne
astrid axel bärbel beate benedikt bettina birgit björn carina carsten christa cornelia
dagmar detlef dirk doris edith elke emine enrico erika esther fatima frauke friederike
gabriele gerd gisela gudrun hanne hannes hartmut heiko helene henning ilse inge ines
jakub jasmin jochen joscha jost judith jutta kai karsten katrin klara kurt lea leonard
linda lothar lucia luisa lutz malte mareike margot marianne marion marlene mathias
matteo mia michelle monika nils nora ole paulina pia rainer regina renate rene robin
rüdiger sabrina silke sina sonja stella susanne tatjana thea theo thorsten till ulla ulrike
ute verena viola walter wiebke wilfried yasmin yvette zeynep ahmet ayse emre murat
giulia giovanni lorenzo marta jean jacques louise camille sergio javier carmen elena
olga pavel petr tomas jiri mateusz piotr katarzyna agnieszka ewa magnus erik ingrid
astrid sven anders henrik mikko juha ana joão raj priya arjun li wei zhang liu yuki
kenji hiroko ethan noah olivia ava isabella sophia mason logan lucas harper amelia evelyn
""".split())
# Endings of German role nouns ("Vorstandschefin", "Projektleiter", "Läuferin").
_TITLE_SUFFIXES = tuple("""
chef chefin leiter leiterin sprecher sprecherin minister ministerin präsident präsidentin
direktor direktorin intendant intendantin trainer trainerin manager managerin vorsitzende
vorsitzender läufer läuferin spieler spielerin forscher forscherin professor professorin
meister meisterin gründer gründerin kanzler kanzlerin berater beraterin experte expertin
analyst analystin ökonom ökonomin archäologe archäologin biologe biologin geologe geologin
vorstand vorständin botschafter botschafterin gesandte gesandter sieger siegerin
kommissar kommissarin ingenieur ingenieurin führer führerin geschäftsführer
""".split())

# German name -> English name (and identical names); both directions are looked up.
_COUNTRIES = {
    "deutschland": "germany", "österreich": "austria", "schweiz": "switzerland",
    "frankreich": "france", "italien": "italy", "spanien": "spain", "portugal": "portugal",
    "niederlande": "netherlands", "belgien": "belgium", "luxemburg": "luxembourg",
    "dänemark": "denmark", "schweden": "sweden", "norwegen": "norway", "finnland": "finland",
    "island": "iceland", "irland": "ireland", "großbritannien": "britain",
    "vereinigtes königreich": "united kingdom", "england": "england", "schottland": "scotland",
    "polen": "poland", "tschechien": "czech republic", "slowakei": "slovakia",
    "ungarn": "hungary", "rumänien": "romania", "bulgarien": "bulgaria",
    "griechenland": "greece", "türkei": "turkey", "zypern": "cyprus", "kroatien": "croatia",
    "serbien": "serbia", "slowenien": "slovenia", "bosnien": "bosnia", "albanien": "albania",
    "ukraine": "ukraine", "russland": "russia", "belarus": "belarus", "weißrussland": "belarus",
    "litauen": "lithuania", "lettland": "latvia", "estland": "estonia", "moldau": "moldova",
    "georgien": "georgia", "armenien": "armenia", "aserbaidschan": "azerbaijan",
    "kasachstan": "kazakhstan", "usa": "usa", "vereinigte staaten": "united states",
    "amerika": "america", "kanada": "canada", "mexiko": "mexico", "brasilien": "brazil",
    "argentinien": "argentina", "chile": "chile", "kolumbien": "colombia", "peru": "peru",
    "venezuela": "venezuela", "kuba": "cuba", "china": "china", "japan": "japan",
    "indien": "india", "pakistan": "pakistan", "indonesien": "indonesia",
    "südkorea": "south korea", "nordkorea": "north korea", "korea": "korea",
    "vietnam": "vietnam", "thailand": "thailand", "philippinen": "philippines",
    "malaysia": "malaysia", "singapur": "singapore", "australien": "australia",
    "neuseeland": "new zealand", "iran": "iran", "irak": "iraq", "israel": "israel",
    "syrien": "syria", "libanon": "lebanon", "jordanien": "jordan", "saudi-arabien":
    "saudi arabia", "katar": "qatar", "ägypten": "egypt", "marokko": "morocco",
    "algerien": "algeria", "tunesien": "tunisia", "libyen": "libya", "nigeria": "nigeria",
    "südafrika": "south africa", "kenia": "kenya", "äthiopien": "ethiopia", "taiwan": "taiwan",
    "afghanistan": "afghanistan", "bangladesch": "bangladesh", "mongolei": "mongolia",
    "grönland": "greenland",
}

# Continents, seas, regions and cities.
_OTHER_PLACES = {
    "europa": "europe", "asien": "asia", "afrika": "africa",
    "antarktis": "antarctica", "arktis": "arctic", "nordamerika": "north america",
    "südamerika": "south america", "mond": "moon", "mars": "mars", "ostsee": "baltic sea",
    "nordsee": "north sea", "mittelmeer": "mediterranean", "atlantik": "atlantic",
    "pazifik": "pacific", "alpen": "alps", "bayern": "bavaria", "sachsen": "saxony",
    "hessen": "hesse", "thüringen": "thuringia", "niedersachsen": "lower saxony",
    "nordrhein-westfalen": "north rhine-westphalia", "brandenburg": "brandenburg",
    "baden-württemberg": "baden-württemberg", "rheinland-pfalz": "rhineland-palatinate",
    "schleswig-holstein": "schleswig-holstein", "mecklenburg-vorpommern":
    "mecklenburg-western pomerania", "sachsen-anhalt": "saxony-anhalt", "saarland": "saarland",
    "sizilien": "sicily", "sardinien": "sardinia", "korsika": "corsica", "kreta": "crete",
    "piemont": "piedmont", "toskana": "tuscany", "lombardei": "lombardy", "katalonien":
    "catalonia", "lausitz": "lusatia", "azoren": "azores", "kanaren": "canary islands",
    "washington": "washington", "moskau": "moscow", "peking": "beijing", "rom": "rome",
    "wien": "vienna", "prag": "prague", "warschau": "warsaw", "brüssel": "brussels",
    "lissabon": "lisbon", "athen": "athens", "kopenhagen": "copenhagen", "köln": "cologne",
    "münchen": "munich", "nürnberg": "nuremberg", "genf": "geneva", "zürich": "zurich",
    "mailand": "milan", "neapel": "naples", "venedig": "venice", "florenz": "florence",
    "turin": "turin", "kiew": "kyiv", "sankt petersburg": "saint petersburg",
    "tokio": "tokyo", "neu-delhi": "new delhi", "delhi": "delhi", "mumbai": "mumbai",
    "kairo": "cairo", "teheran": "tehran", "jerusalem": "jerusalem", "istanbul": "istanbul",
    "ankara": "ankara", "london": "london", "paris": "paris", "madrid": "madrid",
    "barcelona": "barcelona", "berlin": "berlin", "hamburg": "hamburg", "bremen": "bremen",
    "frankfurt": "frankfurt", "stuttgart": "stuttgart", "düsseldorf": "düsseldorf",
    "dortmund": "dortmund", "essen": "essen", "leipzig": "leipzig", "dresden": "dresden",
    "hannover": "hanover", "karlsruhe": "karlsruhe", "mannheim": "mannheim", "bonn": "bonn",
    "kiel": "kiel", "rostock": "rostock", "potsdam": "potsdam", "ingolstadt": "ingolstadt",
    "augsburg": "augsburg", "freiburg": "freiburg", "heidelberg": "heidelberg",
    "regensburg": "regensburg", "würzburg": "würzburg", "erfurt": "erfurt", "jena": "jena",
    "magdeburg": "magdeburg", "mainz": "mainz", "wiesbaden": "wiesbaden", "saarbrücken":
    "saarbrücken", "new york": "new york", "los angeles": "los angeles", "chicago": "chicago",
    "san francisco": "san francisco", "boston": "boston", "texas": "texas",
    "kalifornien": "california", "florida": "florida", "houston": "houston",
    "toronto": "toronto", "sydney": "sydney", "shanghai": "shanghai", "hongkong": "hong kong",
    "seoul": "seoul", "dubai": "dubai", "visby": "visby", "gotland": "gotland",
    "stockholm": "stockholm", "oslo": "oslo", "helsinki": "helsinki", "riga": "riga",
    "tallinn": "tallinn", "vilnius": "vilnius", "danzig": "gdansk", "stettin": "szczecin",
    "van": "van", "ankara-provinz": "ankara province", "rügen": "rügen", "sylt": "sylt",
    "usedom": "usedom", "ostdeutschland": "eastern germany", "westdeutschland": "western germany",
}

# Organisation words: a name next to one of these is an organisation.
_ORG_CUES = frozenset("""
ag gmbh se kg inc inc. corp corp. ltd ltd. plc group konzern bank agentur nachrichtenagentur
unternehmen firma behörde ministerium institut universität hochschule partei verein club
stiftung gewerkschaft verband zeitung sender rundfunk fluggesellschaft werft reederei
holding energie stadtwerke kommission rat gericht bundesamt amt agency company corporation
institute university party foundation union association newspaper broadcaster airline
commission council court ministry authority
""".split())

_NOT_ORG_ACRONYMS = frozenset("""
CEO CFO CTO COO USA US UK II III IV VI VII VIII IX XI XII KI AG SE GMBH MW GW KW KWH MWH GWH
TWH CO2 OK TV PS PC EUR USD CHF KM KG UTC
""".split())

# Roles, for the claim check: canonical name -> English forms, German word stems.
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "foreign minister": (("foreign minister", "foreign secretary"), ("außenminister",)),
    "interior minister": (("interior minister", "home secretary"), ("innenminister",)),
    "finance minister": (("finance minister", "treasury secretary"), ("finanzminister",)),
    "economy minister": (("economy minister", "economics minister"), ("wirtschaftsminister",)),
    "defence minister": (
        ("defence minister", "defense minister", "defense secretary"),
        ("verteidigungsminister",),
    ),
    "prime minister": (
        ("prime minister", "premier", "head of government"),
        ("premierminister", "ministerpräsident", "regierungschef"),
    ),
    "minister": (("minister",), ("minister",)),
    "envoy": (("envoy", "special envoy", "emissary"), ("gesandte", "sondergesandte")),
    "ambassador": (("ambassador",), ("botschafter",)),
    "president": (("president",), ("präsident",)),
    "chancellor": (("chancellor",), ("kanzler",)),
    "mayor": (("mayor", "lord mayor"), ("bürgermeister",)),
    "governor": (("governor",), ("gouverneur",)),
    "ceo": (
        ("ceo", "chief executive", "chief executive officer", "boss"),
        ("ceo", "vorstandschef", "konzernchef", "chef", "vorstandsvorsitzende"),
    ),
    "chairman": (("chairman", "chairwoman", "chair"), ("vorsitzende", "aufsichtsratschef")),
    "cfo": (
        ("cfo", "chief financial officer", "finance director", "finance chief"),
        ("finanzvorstand", "finanzchef", "finanzvorständin", "cfo"),
    ),
    "head": (
        ("head", "heads", "chief", "leader", "leads", "director"),
        ("leiter", "leitet", "chef", "vorsitzende", "direktor", "führung", "spitze"),
    ),
    "spokesperson": (
        ("spokesperson", "spokesman", "spokeswoman"),
        ("sprecher",),
    ),
    "founder": (("founder", "co-founder"), ("gründer", "mitgründer")),
    "coach": (("coach", "manager", "trainer"), ("trainer",)),
    "adviser": (("adviser", "advisor", "counsellor"), ("berater",)),
    "secretary general": (("secretary general", "secretary-general"), ("generalsekretär",)),
    "judge": (("judge",), ("richter",)),
    "prosecutor": (("prosecutor",), ("staatsanwalt", "anklage")),
    "former": (("former", "ex-"), ("ehemalig", "ex-", "einstig")),
    "deputy": (("deputy", "vice"), ("stellvertret", "vize")),
}

# Qualifiers next to numbers and dates, German -> English.
QUALIFIERS_DE_EN: dict[str, str] = {
    "bereits": "as early as", "schon": "as early as", "frühestens": "at the earliest",
    "spätestens": "at the latest", "wahrscheinlicher": "more likely",
    "wahrscheinlich": "probably", "rund": "about", "etwa": "about", "ca.": "about",
    "circa": "about", "knapp": "almost", "fast": "almost", "nahezu": "nearly",
    "mehr als": "more than", "über": "over", "weniger als": "less than", "unter": "under",
    "bis zu": "up to", "mindestens": "at least", "höchstens": "at most", "bis": "by",
    "ab": "from", "seit": "since", "zwischen": "between", "ursprünglich": "originally",
    "zuletzt": "most recently", "nun": "now", "jetzt": "now", "erst": "only",
}

NEGATIONS_EN = frozenset({"not", "no", "never", "none", "neither", "nor", "without", "n't"})
NEGATIONS_DE = frozenset(
    {"nicht", "kein", "keine", "keinen", "keiner", "keinem", "keines", "nie", "niemals",
     "ohne", "weder", "nirgends"}
)

# What a figure measures, as a question names it (English or German) and as German news
# writes it (folded stems): "revenue" is "Umsatz", not the "Nettogewinn" next to it.
MEASURES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(question, re.IGNORECASE), stems)
    for question, stems in (
        (r"\b(revenue|sales|turnover|umsatz\w*|erl[öo]s\w*)\b", ("umsatz", "erlos", "einnahmen")),
        (
            r"\b(profit|earnings|income|\w*gewinn\w*|überschuss\w*)\b",
            ("gewinn", "uberschuss", "verdien"),
        ),
        (r"\b(loss|losses|verlust\w*)\b", ("verlust", "minus")),
        (r"\b(damage|damages|sch[aä]d\w*)\b", ("schaden",)),
        (r"\b(aid|relief|\w*hilfe\w*)\b", ("hilfe", "unterstutz")),
        (r"\b(subsid\w*|funding|förder\w*|gefördert)\b", ("forder", "zuschuss", "subvention")),
        (r"\b(investment|invest\w*)\b", ("investition", "investier", "invest")),
        (r"\b(unemployment|arbeitslos\w*)\b", ("arbeitslos",)),
    )
)


def measure_stems(question: str) -> tuple[str, ...]:
    """Folded German stems of what the question's figure measures (empty if none named)."""
    return tuple(stem for pattern, stems in MEASURES if pattern.search(question) for stem in stems)


MONTHS = {
    "januar": "january", "jänner": "january", "februar": "february", "märz": "march",
    "april": "april", "mai": "may", "juni": "june", "juli": "july", "august": "august",
    "september": "september", "oktober": "october", "november": "november",
    "dezember": "december",
}
WEEKDAYS = {
    "montag": "monday", "dienstag": "tuesday", "mittwoch": "wednesday",
    "donnerstag": "thursday", "freitag": "friday", "samstag": "saturday",
    "sonntag": "sunday",
}
NUMBER_WORDS = {
    "zwei": "2", "drei": "3", "vier": "4", "fünf": "5", "sechs": "6", "sieben": "7",
    "acht": "8", "neun": "9", "zehn": "10", "elf": "11", "zwölf": "12", "zwanzig": "20",
    "dreißig": "30", "hundert": "100", "tausend": "1000", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30",
    "hundred": "100", "thousand": "1000",
}
SCALES = {
    "million": "million", "millionen": "million", "mio": "million", "mio.": "million",
    "billion": "billion", "milliarde": "billion", "milliarden": "billion", "mrd": "billion",
    "mrd.": "billion", "bn": "billion", "thousand": "thousand", "tausend": "thousand",
    "trillion": "trillion", "billionen": "trillion",
}
# fmt: on

# English demonyms -> German word stems that express the same place (and the machine
# translation's slips of names: "Elon Musk" came out as "Elon Moschus").
DEMONYMS: dict[str, tuple[str, ...]] = {
    "greens": ("grün",), "green": ("grün",), "roman": ("röm",), "antarctic": ("antarkt",),
    "lunar": ("mond",), "ecb": ("ezb",), "musk": ("musk", "moschus"),
    "kremlin": ("kreml",),
    "un": ("uno", "un-", "vereinte nationen"),
    "imf": ("iwf",), "who": ("who", "weltgesundheit"), "nato": ("nato",),
    "russian": ("russ",), "chinese": ("chin",), "german": ("deutsch",),
    "american": ("amerikan", "us-", "usa"), "french": ("franz", "frankreich"),
    "british": ("brit", "großbritann"), "italian": ("ital",), "ukrainian": ("ukrain",),
    "european": ("europ", "eu-", "eu"), "indian": ("indi",), "japanese": ("japan",),
    "turkish": ("türk",), "polish": ("poln", "polen"), "spanish": ("span",),
    "swedish": ("schwed",), "danish": ("dän",), "norwegian": ("norw",),
    "finnish": ("finn",), "dutch": ("niederl", "holländ"), "austrian": ("österr",),
    "swiss": ("schweiz",), "greek": ("griech",), "israeli": ("israel",),
    "iranian": ("iran",), "egyptian": ("ägypt",), "brazilian": ("brasil",),
    "canadian": ("kanad",), "korean": ("korea",), "baltic": ("balt", "ostsee"),
    "arctic": ("arkt",), "soviet": ("sowjet",), "portuguese": ("portug",),
    "belgian": ("belg",), "czech": ("tschech",), "hungarian": ("ungar",),
    "romanian": ("rumän",), "bavarian": ("bayer",), "saxon": ("sächs", "sachsen"),
}  # fmt: skip

_CONTINENTS = frozenset(
    {"europa", "asien", "afrika", "antarktis", "arktis", "nordamerika", "südamerika", "amerika"}
)

_PLACES: dict[str, str] = {}
for _de, _en in (_COUNTRIES | _OTHER_PLACES).items():
    _PLACES[_de] = _de
    _PLACES[_en] = _de
_PLACE_RE = re.compile(
    r"(?<![\w-])("
    + "|".join(sorted((re.escape(p) for p in _PLACES), key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)


def fold(text: str) -> str:
    """Lowercase without diacritics (ä -> a): for comparing names across spellings."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_FOLDED_PLACES = {fold(k): v for k, v in _PLACES.items()}


def is_function_word(word: str) -> bool:
    """Whether a (capitalised) word is a function word, not a name."""
    return word.lower().strip(",.;:") in _FUNCTION_WORDS


def is_title(word: str) -> bool:
    """Whether a word is a title or role before a name ("CEO", "Vorstandschefin", "Dr.")."""
    low = word.lower().strip(",.;:")
    return low in _TITLES or (len(low) > 6 and low.endswith(_TITLE_SUFFIXES))


def place_key(name: str) -> str | None:
    """The canonical (German) key of a known place in either language, else None."""
    return _PLACES.get(name.lower()) or _FOLDED_PLACES.get(fold(name))


def is_broad_place(name: str) -> bool:
    """Whether a place is a country or a continent (too broad for "which city or region")."""
    key = place_key(name)
    return key is not None and (key in _COUNTRIES or key in _CONTINENTS)


def place_mentions(text: str) -> Iterator[re.Match[str]]:
    """Known places (countries, regions, large cities) written in ``text``."""
    for m in _PLACE_RE.finditer(text):
        # Only capitalised mentions: "essen" (to eat) is not Essen.
        if m.group(0)[0].isupper():
            yield m


# Words that put the name after them in a place: "Strand von X", "the town of X".
_PLACE_CUES = frozenset(
    {
        "stadt", "dorf", "gemeinde", "ortschaft", "ortsteil", "stadtteil", "provinz",
        "bezirk", "landkreis", "strand", "küste", "insel", "hafen", "nähe", "nahe", "town",
        "city", "village", "province", "district", "island", "beach", "coast", "port",
        "near", "outskirts", "stadtrand",
    }
)  # fmt: skip


def looks_like_org_acronym(token: str) -> bool:
    """Whether an all-caps or CamelCase token is probably an organisation (RIA, ESA, SpaceX)."""
    if token.upper() in _NOT_ORG_ACRONYMS or place_key(token):
        return False
    return not re.fullmatch(r"[IVXLC]+", token)


def _words_before(text: str, start: int, n: int = 3) -> list[str]:
    return [w.lower().strip(",.;:„“\"'()") for w in text[:start].split()[-n:]]


def name_kind(name: str, text: str, start: int) -> str:
    """Classify a capitalised word run as ``person``, ``org``, ``place`` or ``unknown``.

    Args:
        name: The run of capitalised words (titles already trimmed).
        text: The sentence it stands in.
        start: Offset of ``name`` in ``text``.

    Returns:
        The kind, from first-name, gazetteer and cue-word evidence.
    """
    words = name.split()
    lowered = [w.lower().strip(",.;:") for w in words]
    if all(part in _ORG_CUES for w in lowered for part in w.split("-") if part):
        return "unknown"  # "Unternehmen", "Gericht": the kind of organisation, not a name
    if any(w in _ORG_CUES for w in lowered) or any(w.split("-")[-1] in _ORG_CUES for w in lowered):
        return "org"
    if place_key(name) or (len(words) == 1 and place_key(words[0])):
        return "place"
    if lowered[0] in FIRST_NAMES and len(words) >= 2:
        return "person"
    if any(w in FIRST_NAMES for w in lowered[:-1]):
        return "person"
    before = _words_before(text, start)
    if before and any(is_title(w) for w in before[-2:]) and len(words) <= 3:
        return "person"
    if before and any(w in _ORG_CUES for w in before[-2:]):
        return "org"
    if before and any(w in _PLACE_CUES for w in before[-2:]):
        return "place"  # "vom Strand von Cala Gonone": a place the gazetteer lacks
    if len(words) == 1 and re.fullmatch(r"[A-Z][a-z]+[A-Z]\w*", words[0]):
        return "org"  # CamelCase brand: SpaceX, OpenAI
    return "unknown"
