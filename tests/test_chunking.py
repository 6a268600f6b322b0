"""Tests for index.chunking: German sentence splitting and chunk packing."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from index.articles import article_id, read_article
from index.chunking import (
    CHUNKER_VERSION,
    chunk_article,
    chunker_signature,
    split_sentences,
)
from index.models import Article

SEED = Path("/work/shared/seeds/000_cd5ef53cfbdaf56f.txt")

# --- sentence splitting ---------------------------------------------------------

# Each entry is one sentence; the test joins them with spaces and expects
# exactly these sentences back.
GERMAN_SENTENCES = [
    "Am 28. März spielte der 1. FC Köln gegen den Spitzenreiter der 2. Bundesliga.",
    "Der Verein belegt nach dem 3. Spieltag den 3. Platz der Tabelle.",
    "Laut Dr. Anna Schmidt und Prof. Bernd Weber vom St. Georg Klinikum kostet der Umbau "
    "ca. 3.5 Mio. Euro bzw. 0.4 Mrd. Euro für das ganze Land.",
    "Viele Gäste, z. B. Familien aus Bonn, d. h. aus der Region, u. a. Schulklassen, reisten an.",
    "Schreibweisen wie z.B. Kurzformen oder d.h. Erklärungen bleiben erhalten.",
    "Der Autor J. R. R. Tolkien wurde am 3. Jan. 1892 geboren, vgl. Nr. 7 der Liste.",
    "US-Präsident Donald J. Trump sprach über Zölle.",
    "Für Stahl, Aluminium etc. Zölle zu erheben, sei falsch.",
    "Bücher, Hefte usw. Material für die Schule lag bereit.",
    "Er sagte: „Wir haben gewonnen.“",
    "Dann feierten alle bis 2 Uhr!",
    "Wer zahlt das?",
    'Sie rief: "Kommt alle mit!"',
    "Die Gruppe folgte ihr.",
    "Das Projekt endet 2029.",
    "2030 beginnt ein neues.",
    "Er nickte.",
    "„Das stimmt“, sagte sie, „aber es ist teuer.“",
    "Die Inflation lag bei 2.7 Prozent im Jahr.",
]


def test_split_german_paragraph_with_abbreviations_ordinals_and_quotes() -> None:
    assert split_sentences(" ".join(GERMAN_SENTENCES)) == GERMAN_SENTENCES


@pytest.mark.parametrize(
    "text",
    [
        "Die Sitzung am 1. Okt. Beginn 9 Uhr wurde verlegt.",
        "Er traf Prof. Dr. med. Weber in der Klinik.",
        "Der Preis lag bei ca. 12 Euro.",
        "Vgl. Abb. 3 auf der nächsten Seite.",
        "Siehe (vgl. Nr. 4) Die Liste.",
        "Die Zahl stieg um 3.5 Prozent.",
        "Kinder, z.\u00a0B. Schüler, kamen.",  # non-breaking space, as typeset
        "Was nun? fragte er.",  # lowercase after '?' is no new sentence
        "Er sagte „Hilfe!“, und rannte.",
    ],
)
def test_no_split_inside(text: str) -> None:
    assert split_sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Es regnet. Die Straße ist nass.", ["Es regnet.", "Die Straße ist nass."]),
        ("Wirklich?! Ja.", ["Wirklich?!", "Ja."]),
        ("Er zögerte … Dann ging er.", ["Er zögerte …", "Dann ging er."]),
        ("Das war 2022. 2023 wurde es besser.", ["Das war 2022.", "2023 wurde es besser."]),
        ("Er ging. (Sie blieb.)", ["Er ging.", "(Sie blieb.)"]),
        ("Sie schwieg. »Warum?« Er lachte.", ["Sie schwieg.", "»Warum?«", "Er lachte."]),
        ("Ende. Über alles.", ["Ende.", "Über alles."]),
    ],
)
def test_splits(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_paragraph_breaks_end_sentences() -> None:
    text = (
        "Überschrift ohne Punkt\nErster Satz. Zweiter Satz\n\n\n"
        "  Dritter Absatz, auch ohne Punkt  \n"
    )
    assert split_sentences(text) == [
        "Überschrift ohne Punkt",
        "Erster Satz.",
        "Zweiter Satz",
        "Dritter Absatz, auch ohne Punkt",
    ]


def test_split_empty_text() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t ") == []


def test_split_keeps_all_text() -> None:
    text = " ".join(GERMAN_SENTENCES)
    assert "".join(split_sentences(text)).replace(" ", "") == text.replace(" ", "")


# --- chunking -------------------------------------------------------------------


def make_article(
    paragraphs: tuple[str, ...], caption: str = "Ein Bild vom Hafen in Hamburg"
) -> Article:
    title = "Hafen meldet Rekordumschlag"
    epoch = 1_700_000_000
    return Article(
        id=article_id(epoch, title),
        title=title,
        published=datetime.fromtimestamp(epoch, tz=UTC),
        source="ndr-wirtschaft",
        caption=caption,
        paragraphs=paragraphs,
        content_hash="0" * 16,
    )


def numbered_sentences(count: int) -> list[str]:
    """Distinct sentences of varying length (about 50-120 chars)."""
    fillers = ["", " im Vergleich zum Vorjahr", " nach Angaben der Hafenbehörde und des Senats"]
    return [
        f"Im Quartal {i} stieg der Umschlag um {i + 2} Prozent{fillers[i % 3]}."
        for i in range(count)
    ]


def long_article(count: int = 60) -> tuple[Article, list[str]]:
    sentences = numbered_sentences(count)
    # Paragraphs of 1-4 sentences.
    paragraphs: list[str] = []
    i = 0
    while i < len(sentences):
        size = 1 + i % 4
        paragraphs.append(" ".join(sentences[i : i + size]))
        i += size
    return make_article(tuple(paragraphs)), sentences


def units_of(chunk_text: str) -> list[str]:
    return split_sentences(chunk_text)


@pytest.mark.parametrize(
    ("target", "maximum", "overlap"),
    [(700, 1200, 1), (300, 500, 1), (200, 200, 2), (400, 600, 2), (400, 800, 0)],
)
def test_chunk_sizes_and_overlap(target: int, maximum: int, overlap: int) -> None:
    article, sentences = long_article()
    chunks = chunk_article(
        article, target_chars=target, max_chars=maximum, overlap_sentences=overlap
    )
    assert len(chunks) > 2
    caption_and_sentences = [article.caption, *sentences]
    for previous, chunk in itertools.pairwise(chunks):
        prev_units, units = units_of(previous.text), units_of(chunk.text)
        shared = max(j for j in range(overlap + 1) if j == 0 or units[:j] == prev_units[-j:])
        if shared < overlap:
            # Less overlap only where one more repeated unit would break max_chars.
            wider = [*prev_units[-(shared + 1) :], units[shared]]
            assert len(" ".join(wider)) > maximum
        if overlap == 0:
            assert units[0] != prev_units[-1]
        else:
            assert shared >= 1
        # Every chunk adds something new.
        assert units[-1] not in prev_units
    for chunk in chunks:
        assert len(chunk.text) <= maximum
    # Without a long sentence, greedy packing stays within the target too, and
    # no chunk but the last is much smaller than it.
    longest = max(len(s) for s in caption_and_sentences)
    for chunk in chunks[:-1]:
        assert target - longest - 1 <= len(chunk.text) <= target
    # Together the chunks cover every unit, in order, without gaps.
    seen: list[str] = []
    for chunk in chunks:
        for unit in units_of(chunk.text):
            if not seen or unit not in seen[-overlap - 1 :]:
                seen.append(unit)
    assert seen == caption_and_sentences


def test_caption_is_first_unit_and_optional() -> None:
    article, sentences = long_article(10)
    assert chunk_article(article)[0].text.startswith(article.caption + "\n" + sentences[0])
    without = chunk_article(replace(article, caption=""))
    assert without[0].text.startswith(sentences[0])


def test_paragraphs_joined_by_newline_sentences_by_space() -> None:
    article = make_article(("Erster Satz. Zweiter Satz.", "Neuer Absatz."), caption="Bild")
    (chunk,) = chunk_article(article)
    assert chunk.text == "Bild\nErster Satz. Zweiter Satz.\nNeuer Absatz."


def test_small_chunk_may_grow_past_target_up_to_max() -> None:
    long_sentence = "Der Senat " + "berät sehr lange " * 30 + "über den Hafen."
    assert 400 < len(long_sentence) < 700
    article = make_article(("Kurz.", long_sentence), caption="")
    chunks = chunk_article(article, target_chars=300, max_chars=800, overlap_sentences=1)
    # "Kurz." is under half the target, so the long sentence joins it.
    assert [c.text for c in chunks] == [f"Kurz.\n{long_sentence}"]


def test_overlap_is_dropped_when_it_would_exceed_max() -> None:
    a, b = "A" * 10 + " eins.", "Zwei " + "b" * 280 + "."
    article = make_article((a, b), caption="")
    chunks = chunk_article(article, target_chars=200, max_chars=300, overlap_sentences=1)
    assert [c.text for c in chunks] == [a, b]


def test_sentence_longer_than_max_is_split_on_word_boundaries() -> None:
    words = [f"Wort{i}" for i in range(400)]
    sentence = " ".join(words) + "."
    article = make_article((sentence, "Danach ein kurzer Satz."), caption="")
    chunks = chunk_article(article, target_chars=300, max_chars=500, overlap_sentences=0)
    assert len(chunks) > 3
    assert all(len(c.text) <= 500 for c in chunks)
    # No word is cut: rejoining the pieces gives the sentence back.
    rejoined = " ".join(c.text for c in chunks).replace("\n", " ")
    assert rejoined == sentence + " Danach ein kurzer Satz."


def test_single_huge_word_is_cut_hard() -> None:
    url = "https://example.org/" + "x" * 3000
    article = make_article((f"Quelle: {url}",), caption="")
    chunks = chunk_article(article, target_chars=700, max_chars=1200, overlap_sentences=1)
    assert all(len(c.text) <= 1200 for c in chunks)
    assert "".join(c.text.replace(" ", "") for c in chunks).count("x") >= 3000


def test_chunks_carry_article_metadata_and_stable_ids() -> None:
    article, _ = long_article()
    first, second = chunk_article(article), chunk_article(article)
    assert first == second
    assert len({c.id for c in first}) == len(first)
    for position, chunk in enumerate(first):
        assert chunk.position == position
        assert chunk.article_id == article.id
        assert (chunk.title, chunk.published, chunk.source) == (
            article.title,
            article.published,
            article.source,
        )
        assert re.fullmatch(rf"{article.id}-{position:04d}-[0-9a-f]{{8}}", chunk.id)
        assert chunk.context_text.startswith(f"{article.title} (2023-11-14)\n")


def test_editing_the_end_keeps_earlier_chunk_ids() -> None:
    article, _ = long_article()
    edited = replace(article, paragraphs=(*article.paragraphs[:-1], "Ein ganz neuer Schluss."))
    before, after = chunk_article(article), chunk_article(edited)
    assert [c.id for c in before[:3]] == [c.id for c in after[:3]]
    assert before[-1].id != after[-1].id


def test_empty_article_has_no_chunks() -> None:
    assert chunk_article(make_article((), caption="")) == ()


@pytest.mark.parametrize(
    "params",
    [
        {"target_chars": 0},
        {"target_chars": 800, "max_chars": 700},
        {"overlap_sentences": -1},
    ],
)
def test_invalid_parameters(params: dict[str, int]) -> None:
    article, _ = long_article(5)
    with pytest.raises(ValueError, match="target_chars"):
        chunk_article(article, **params)


def test_chunker_signature() -> None:
    default = chunker_signature()
    assert default == chunker_signature(700, 1200, 1)
    assert CHUNKER_VERSION in default
    assert (
        len(
            {
                default,
                chunker_signature(600),
                chunker_signature(700, 1000),
                chunker_signature(700, 1200, 2),
            }
        )
        == 4
    )


# --- the seed -------------------------------------------------------------------


@pytest.fixture
def seed_article() -> Article:
    if not SEED.is_file():
        pytest.skip(f"seed article {SEED} is not available on this machine")
    return read_article(SEED)


@pytest.mark.parametrize(
    ("target", "maximum", "overlap"),
    [(700, 1200, 1), (300, 600, 1), (150, 300, 0), (1000, 2000, 2)],
)
def test_seed_sentence_with_2029_is_inside_one_chunk(
    seed_article: Article, target: int, maximum: int, overlap: int
) -> None:
    (sentence,) = [s for s in split_sentences(seed_article.text) if "2029" in s]
    # A whole sentence: starts with a capital, ends with a full stop, and also
    # holds the later year mentioned in it.
    assert sentence[0].isupper() and sentence.endswith(".") and "2031" in sentence
    chunks = chunk_article(
        seed_article, target_chars=target, max_chars=maximum, overlap_sentences=overlap
    )
    assert any(sentence in chunk.text for chunk in chunks)
    assert all(len(c.text) <= maximum for c in chunks)


def test_seed_sentences_are_plausible(seed_article: Article) -> None:
    sentences = split_sentences(seed_article.text)
    # Every paragraph ends a sentence; quotes open new ones.
    assert len(sentences) > len(seed_article.paragraphs)
    for sentence in sentences:
        assert sentence[0].isupper() or sentence[0] == "„"
        assert sentence[-1] in ".!?“"
