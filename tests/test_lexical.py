"""Unit tests of the lexical view: tokenizing, and BM25 search on a tiny built index.

bm25s and the Snowball stemmer are real; no embedding model is involved.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from index.language import DE_STOPWORDS, EN_STOPWORDS, STOPWORDS
from index.lexical import LexicalIndex, tokenize
from index.models import Chunk, Filters


def test_tokenize_lowercases_drops_stopwords_and_stems() -> None:
    assert tokenize("Der Windpark Nordlicht soll 2029 fertig sein.") == [
        "windpark",
        "nordlicht",
        "soll",
        "2029",
        "fertig",
    ]
    # Inflections meet their stem; umlauts fold in the German stemmer.
    assert tokenize("Die Windparks vor der Küste") == ["windpark", "kust"]
    assert tokenize("What will the wind farm cost?") == ["wind", "farm", "cost"]
    assert tokenize("Überschwemmungen im Piemont: 12 Tote") == [
        "uberschwemm",
        "piemont",
        "12",
        "tot",
    ]


def test_tokenize_of_function_words_only_is_empty() -> None:
    assert tokenize("Wann und wo ist das?") == []
    # English words go through the German stemmer too ("there" -> "ther").
    assert tokenize("What is it and who was there when?") == ["ther"]
    assert tokenize("") == []


def test_bm25_stopwords_are_both_languages_lists() -> None:
    assert STOPWORDS == EN_STOPWORDS | DE_STOPWORDS
    assert {"the", "which", "der", "über", "wieviel"} <= STOPWORDS
    # Words that can carry a topic stay searchable.
    assert not {"jahr", "laut", "according", "heute"} & STOPWORDS


def _chunk(n: int, title: str, text: str, published: datetime, source: str) -> Chunk:
    return Chunk(f"art{n}-0000-{n:08x}", f"art{n}", 0, text, title, published, source)


CHUNKS = [
    _chunk(
        1,
        "Windpark Nordlicht wird teurer",
        "Die Kosten für den Windpark vor Rügen steigen auf 2,4 Milliarden Euro.",
        datetime(2025, 3, 4, tzinfo=UTC),
        "toi-wirtschaft",
    ),
    _chunk(
        2,
        "Hochwasser im Piemont",
        "Nach tagelangem Regen traten im Piemont mehrere Flüsse über die Ufer.",
        datetime(2024, 10, 18, tzinfo=UTC),
        "toi-allgemeines",
    ),
    _chunk(
        3,
        "Rono läuft Weltrekord in Berlin",
        "Der Kenianer Daniel Rono gewann den Berlin-Marathon in Weltrekordzeit.",
        datetime(2025, 9, 21, tzinfo=UTC),
        "toi-sport",
    ),
    _chunk(
        4,
        "Neue Windparks in der Ostsee geplant",
        "Das Land plant zwei weitere Windparks; der Bau beginnt frühestens 2027.",
        datetime(2025, 6, 2, tzinfo=UTC),
        "toi-allgemeines",
    ),
]


@pytest.fixture(scope="module")
def view() -> LexicalIndex:
    return LexicalIndex.build(CHUNKS, generation=7)


def _ids(hits) -> list[str]:
    return [h.chunk_id.split("-")[0] for h in hits]


def test_build_keeps_ids_dates_sources_and_generation(view: LexicalIndex) -> None:
    assert len(view) == 4
    assert view.generation == 7
    assert list(view.chunk_ids) == [c.id for c in CHUNKS]
    assert list(view.sources) == [c.source for c in CHUNKS]
    assert list(view.published) == [int(c.published.timestamp()) for c in CHUNKS]
    assert view.row_of(CHUNKS[2].id) == 2
    assert view.row_of("no-such-chunk") is None


def test_search_ranks_matching_chunks_by_bm25(view: LexicalIndex) -> None:
    hits = view.search("Wie viel kostet der Windpark Nordlicht?", k=4)
    # Both windpark chunks match; the one with "Nordlicht" as well ranks first.
    assert _ids(hits) == ["art1", "art4"]
    assert hits[0].score > hits[1].score > 0


def test_search_matches_inflections_and_skips_non_matches(view: LexicalIndex) -> None:
    assert _ids(view.search("Überschwemmung Flüssen Piemont", k=4)) == ["art2"]
    assert view.search("Zugspitze Seilbahn", k=4) == []
    assert view.search("Wann und wo?", k=4) == []  # only stopwords


def test_search_cuts_at_k(view: LexicalIndex) -> None:
    both = view.search("Windparks", k=4)
    assert sorted(_ids(both)) == ["art1", "art4"]
    assert view.search("Windparks", k=1) == both[:1]


def test_search_applies_filters(view: LexicalIndex) -> None:
    query = "Windpark Nordlicht Windparks"
    assert _ids(view.search(query, k=4, filters=Filters(source="toi-allgemeines"))) == ["art4"]
    since = Filters(since=datetime(2025, 6, 1, tzinfo=UTC))
    assert _ids(view.search(query, k=4, filters=since)) == ["art4"]
    until = Filters(until=datetime(2025, 5, 31, 23, 59, 59, tzinfo=UTC))
    assert _ids(view.search(query, k=4, filters=until)) == ["art1"]
    assert view.search(query, k=4, filters=Filters(source="toi-kultur")) == []


def test_empty_view() -> None:
    empty = LexicalIndex.build([], generation=0)
    assert len(empty) == 0
    assert empty.search("Windpark", k=5) == []
    assert empty.filter_mask(Filters()) is None
