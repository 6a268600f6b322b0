"""The claim-check test set and the near-miss questions are well-formed and grounded.

``eval/gold/claims/claims.jsonl`` lives in a subfolder because ``load_dataset`` reads
every ``*.jsonl`` directly in ``eval/gold`` as gold questions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from eval.dataset import LANGS, load_dataset
from index.articles import read_article

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "gold"
CLAIMS = GOLD / "claims" / "claims.jsonl"
NEARMISS = GOLD / "nearmiss.jsonl"
SAMPLES = ROOT / "index" / "samples"
SEED = "000_cd5ef53cfbdaf56f.txt"

SUPPORTED_KINDS = frozenset({"translation", "paraphrase", "multi_fact"})
WRONG_KINDS = frozenset(
    {
        "swapped_role",
        "added_list_member",
        "neighbour_number",
        "other_agency",
        "other_entity",
        "wrong_year",
        "wrong_date",
        "wrong_number",
        "wrong_unit",
        "negation",
    }
)
FIELDS = frozenset({"id", "lang", "claim", "source", "sentence", "supported", "kind"})
SLOTS = frozenset(
    {"cost", "amount", "count", "date", "duration", "percent", "person", "organisation", "place"}
)


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# Small numbers are usually written as words ("zehn Jahre", "ten years"); "one"/"ein" are
# left out because they are mostly articles.
_NUMBER_WORDS = {
    word: str(value)
    for words in (
        "two three four five six seven eight nine ten eleven twelve",
        "zwei drei vier fünf sechs sieben acht neun zehn elf zwölf",
    )
    for value, word in enumerate(words.split(), start=2)
}
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.I)


def _ordered(text: str) -> list[str]:
    # "2,9" / "2.9" and "9.800" / "9,800" are the same figure in German and English.
    return [_NUMBER_WORDS.get(m.lower(), re.sub(r"[.,]", "", m)) for m in _NUMBER_RE.findall(text)]


def _numbers(text: str) -> set[str]:
    return set(_ordered(text))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def claims() -> list[dict]:
    return _lines(CLAIMS)


@pytest.fixture(scope="module")
def article_texts() -> dict[str, str]:
    texts = {}
    for path in sorted(SAMPLES.glob("*.txt")):
        article = read_article(path)
        texts[path.name] = _squash("\n".join((article.title, article.caption, *article.paragraphs)))
    return texts


def test_every_claim_line_is_valid(claims: list[dict], article_texts: dict[str, str]) -> None:
    ids = [c["id"] for c in claims]
    assert len(ids) == len(set(ids))
    for c in claims:
        where = c.get("id")
        assert set(c) == FIELDS, where
        assert re.fullmatch(r"c-\d{3}", c["id"]), where
        assert c["lang"] in LANGS, where
        assert isinstance(c["claim"], str) and c["claim"].strip(), where
        assert isinstance(c["supported"], bool), where
        allowed = SUPPORTED_KINDS if c["supported"] else WRONG_KINDS
        assert c["kind"] in allowed, where
        assert c["source"] in article_texts, where
        assert _squash(c["claim"]) != _squash(c["sentence"]), where


def test_every_sentence_is_verbatim_in_its_source(
    claims: list[dict], article_texts: dict[str, str]
) -> None:
    for c in claims:
        raw = (SAMPLES / c["source"]).read_text(encoding="utf-8")
        assert c["sentence"] in raw, c["id"]
        assert _squash(c["sentence"]) in article_texts[c["source"]], c["id"]
        # One sentence, not a paragraph: at most one line and it ends a sentence.
        assert "\n" not in c["sentence"] and c["sentence"].rstrip('“”"')[-1] in ".!?", c["id"]


def test_numbers_follow_the_kind(claims: list[dict], article_texts: dict[str, str]) -> None:
    for c in claims:
        in_claim = _numbers(c["claim"])
        in_sentence = _numbers(c["sentence"])
        if c["supported"] or c["kind"] == "wrong_unit":
            # A faithful claim (or one with only the unit wrong) states no figure the
            # sentence lacks.
            assert in_claim <= in_sentence, (c["id"], in_claim - in_sentence)
        if c["kind"] == "neighbour_number":
            # The wrong figure belongs to something else in the same article.
            foreign = in_claim - in_sentence
            assert foreign, c["id"]
            assert foreign <= _numbers(article_texts[c["source"]]), (c["id"], foreign)
        if c["kind"] in ("wrong_number", "wrong_year"):
            # A changed figure, or the sentence's figures swapped between their things.
            assert in_claim - in_sentence or _ordered(c["claim"]) != _ordered(c["sentence"]), c[
                "id"
            ]


def test_claim_set_covers_languages_kinds_and_articles(claims: list[dict]) -> None:
    assert len(claims) >= 120
    assert len({c["source"] for c in claims}) >= 15
    langs = Counter(c["lang"] for c in claims)
    assert langs["en"] >= 60 and langs["de"] >= 30
    supported = sum(c["supported"] for c in claims)
    assert 0.4 <= supported / len(claims) <= 0.6
    assert {c["kind"] for c in claims if not c["supported"]} == WRONG_KINDS
    # Wrong claims exist in both languages, not only English over German.
    assert {c["lang"] for c in claims if not c["supported"]} == {"en", "de"}


def test_seed_article_traps_are_covered(claims: list[dict]) -> None:
    seed = [c for c in claims if c["source"] == SEED]
    kinds = {c["kind"] for c in seed if not c["supported"]}
    assert {"swapped_role", "added_list_member", "other_agency"} <= kinds
    # The envoy role, the two-country list and the RIA quote each have a faithful claim too.
    faithful = " ".join(c["claim"] for c in seed if c["supported"])
    assert "envoy" in faithful and "RIA" in faithful and "Russia and China" in faithful
    wrong_agency = [c for c in seed if c["kind"] == "other_agency"]
    assert any("Reuters" in c["claim"] and "RIA" in c["sentence"] for c in wrong_agency)


def test_nearmiss_questions_load_and_name_their_topic(article_texts: dict[str, str]) -> None:
    rows = _lines(NEARMISS)
    assert len(rows) >= 41
    for row in rows:
        assert re.fullmatch(r"n-\d{3}", row["id"]), row["id"]
        assert row["type"] == "unanswerable" and row["answer"] == "" and row["articles"] == []
        assert row["near"] and all(name in article_texts for name in row["near"]), row["id"]
        assert row["slot"] in SLOTS, row["id"]
    langs = Counter(r["lang"] for r in rows)
    assert min(langs["en"], langs["de"]) >= 0.4 * len(rows)
    assert {r["slot"] for r in rows} == SLOTS

    dataset = load_dataset(GOLD)
    loaded = {q.id: q for q in dataset.questions}
    assert {r["id"] for r in rows} <= set(loaded)
    assert all(loaded[r["id"]].unanswerable for r in rows)
    assert sum(q.unanswerable for q in dataset.questions) >= 90
