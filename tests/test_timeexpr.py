"""Unit tests of qa.timeexpr: every rule, weekday back-dating, month and year wrap."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qa.timeexpr import annotate, resolve

# A Wednesday.
PUBLISHED = datetime(2025, 3, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Der Bau soll bis Ende nächsten Jahres dauern.", ("Ende nächsten Jahres", "Ende 2026")),
        (
            "Anfang des kommenden Jahres beginnt der Umbau.",
            ("Anfang des kommenden Jahres", "Anfang 2026"),
        ),
        ("Mitte dieses Jahres fällt die Entscheidung.", ("Mitte dieses Jahres", "Mitte 2025")),
        ("bis Ende des laufenden Jahres", ("Ende des laufenden Jahres", "Ende 2025")),
        ("ende diesen jahres", ("ende diesen jahres", "Ende 2025")),
        ("Im nächsten Jahr wird gewählt.", ("Im nächsten Jahr", "2026")),
        ("Nächstes Jahr wird gewählt.", ("Nächstes Jahr", "2026")),
        ("Die Preise stiegen im vergangenen Jahr deutlich.", ("im vergangenen Jahr", "2024")),
        ("die Bilanz des letzten Jahres", ("letzten Jahres", "2024")),
        ("Letztes Jahr kamen weniger Gäste.", ("Letztes Jahr", "2024")),
        ("In diesem Jahr rechnet die Stadt mit mehr Gästen.", ("In diesem Jahr", "2025")),
        ("Dieses Jahr fällt das Fest aus.", ("Dieses Jahr", "2025")),
        ("Im kommenden Monat öffnet das Bad.", ("Im kommenden Monat", "April 2025")),
        ("Im vorigen Monat schloss die Filiale.", ("Im vorigen Monat", "Februar 2025")),
        ("In diesem Monat wird gebaut.", ("In diesem Monat", "März 2025")),
        ("Der Rat tagte am Montag.", ("am Montag", "2025-03-24")),
        ("Gestern meldete die Polizei einen Unfall.", ("Gestern", "2025-03-25")),
        ("Heute beginnt der Prozess.", ("Heute", "2025-03-26")),
    ],
)
def test_each_rule(text: str, expected: tuple[str, str]) -> None:
    assert resolve(text, PUBLISHED) == [expected]


def test_weekdays_mean_the_last_such_day_on_or_before_publication() -> None:
    days = "am Montag, am Dienstag, am Mittwoch, am Donnerstag, am Freitag, am Samstag, am Sonntag"
    assert [meaning for _, meaning in resolve(days, PUBLISHED)] == [
        "2025-03-24",
        "2025-03-25",
        "2025-03-26",  # the publication day itself
        "2025-03-20",
        "2025-03-21",
        "2025-03-22",
        "2025-03-23",
    ]
    # Back across a year boundary: published Thursday 2026-01-01.
    assert resolve("am Sonntag", datetime(2026, 1, 1, tzinfo=UTC)) == [("am Sonntag", "2025-12-28")]


def test_weekday_rule_needs_lowercase_am() -> None:
    # The rule is case-sensitive: only a lowercase, mid-sentence "am <weekday>" counts.
    assert resolve("Am Freitag wird gestreikt.", PUBLISHED) == []


def test_months_wrap_across_years() -> None:
    december = datetime(2025, 12, 3, tzinfo=UTC)
    january = datetime(2026, 1, 15, tzinfo=UTC)
    assert resolve("im nächsten Monat", december) == [("im nächsten Monat", "Januar 2026")]
    assert resolve("im letzten Monat", january) == [("im letzten Monat", "Dezember 2025")]
    assert resolve("gestern", january.replace(day=1)) == [("gestern", "2025-12-31")]
    assert resolve("Ende nächsten Jahres", december) == [("Ende nächsten Jahres", "Ende 2026")]


def test_several_expressions_come_in_text_order() -> None:
    text = "Gestern kündigte die Firma an, Ende nächsten Jahres zu schließen; im vergangenen Jahr lief es gut."
    assert resolve(text, PUBLISHED) == [
        ("Gestern", "2025-03-25"),
        ("Ende nächsten Jahres", "Ende 2026"),
        ("im vergangenen Jahr", "2024"),
    ]


def test_nothing_relative() -> None:
    text = "Die Stadt plant für 2027 einen neuen Bahnhof; das Jahresende ist offen."
    assert resolve(text, PUBLISHED) == []
    assert annotate(text, PUBLISHED) == text


def test_annotate_inserts_each_meaning_after_its_expression() -> None:
    text = "Gestern hieß es, der Windpark gehe bis Ende nächsten Jahres ans Netz."
    assert annotate(text, PUBLISHED) == (
        "Gestern [= 2025-03-25] hieß es, der Windpark gehe bis "
        "Ende nächsten Jahres [= Ende 2026] ans Netz."
    )


def test_words_inside_other_words_are_not_expressions() -> None:
    # "heute" and "gestern" only as whole words.
    assert resolve("die Heutegruppe und das Gesternland", PUBLISHED) == []
