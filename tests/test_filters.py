"""Filters: parsing user input, and one predicate for Chroma, the lexical view and Python.

The agreement test writes a few literal chunks with hand-made vectors into a real Chroma
store in a temp dir (no embedding model) and checks that the store's ``where`` filter,
the lexical view's row mask and ``Filters.matches`` pick the same chunks, boundaries
included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from index.lexical import LexicalIndex
from index.models import Article, Chunk, Filters
from index.store import StoreLocation, open_store, where_of
from qa.errors import FilterError
from qa.filters import Filters as ReexportedFilters
from qa.filters import parse_filters

# ------------------------------------------------------------------ parse_filters


def test_reexport_is_the_index_record() -> None:
    assert ReexportedFilters is Filters


def test_nothing_to_filter() -> None:
    assert parse_filters(None) == Filters()
    assert parse_filters({}) == Filters()
    assert parse_filters({"since": "", "until": None, "source": "  "}) == Filters()
    assert Filters().empty
    assert not Filters(source="x").empty


def test_filters_pass_through_unchanged() -> None:
    f = Filters(source="toi-sport")
    assert parse_filters(f) is f


def test_dates_from_strings_cover_whole_days() -> None:
    f = parse_filters({"since": "2025-03-01", "until": "2025-03-31"})
    assert f.since == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    # until includes its whole day.
    assert f.until == datetime(2025, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
    same_day = parse_filters({"since": " 2025-03-05 ", "until": "2025-03-05"})
    assert same_day.since is not None and same_day.until is not None
    assert same_day.until - same_day.since == timedelta(days=1, microseconds=-1)


def test_dates_from_date_and_datetime_objects() -> None:
    f = parse_filters({"since": date(2024, 2, 29), "until": date(2024, 3, 1)})
    assert f.since == datetime(2024, 2, 29, tzinfo=UTC)
    assert f.until == datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
    naive = parse_filters({"until": datetime(2025, 1, 2, 12, 30)})
    assert naive.until == datetime(2025, 1, 2, 12, 30, tzinfo=UTC)  # a time is kept as given
    cet = timezone(timedelta(hours=1))
    aware = parse_filters({"since": datetime(2025, 1, 2, 8, 0, tzinfo=cet)})
    assert aware.since == datetime(2025, 1, 2, 7, 0, tzinfo=UTC)
    iso_time = parse_filters({"until": "2025-01-02T12:00:00"})
    assert iso_time.until == datetime(2025, 1, 2, 12, 0, tzinfo=UTC)


def test_source_is_a_trimmed_tag() -> None:
    assert parse_filters({"source": " toi-sport "}).source == "toi-sport"
    with pytest.raises(FilterError, match=r"'source'.*tag string.*int"):
        parse_filters({"source": 5})


def test_unknown_keys_are_named() -> None:
    with pytest.raises(FilterError, match=r"unknown filter key\(s\) 'author', 'from'"):
        parse_filters({"from": "2025-01-01", "author": "x", "source": "toi"})


@pytest.mark.parametrize("value", ["31.03.2025", "2025-13-01", "gestern"])
def test_unparsable_dates(value: str) -> None:
    with pytest.raises(FilterError, match=r"filter 'since'.*not a date \(use YYYY-MM-DD\)"):
        parse_filters({"since": value})


def test_date_of_wrong_type() -> None:
    with pytest.raises(FilterError, match=r"filter 'until': expected a date.*got int"):
        parse_filters({"until": 20250101})


def test_since_after_until() -> None:
    with pytest.raises(
        FilterError, match=r"'since' \(2025-04-01\) is after 'until' \(2025-03-31\)"
    ):
        parse_filters({"since": "2025-04-01", "until": "2025-03-31"})


# ------------------------------------------------------------------ one predicate


def _chunk(n: int, published: datetime, source: str) -> Chunk:
    return Chunk(
        id=f"art{n}-0000-{n:08x}",
        article_id=f"art{n}",
        position=0,
        text=f"Meldung {n}: Der Gemeinderat beschloss am Abend den Haushalt.",
        title=f"Meldung {n}",
        published=published,
        source=source,
    )


CHUNKS = [
    _chunk(1, datetime(2025, 3, 1, 0, 0, 0, tzinfo=UTC), "toi-allgemeines"),  # since's first second
    _chunk(2, datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC), "toi-sport"),  # until's last second
    _chunk(3, datetime(2025, 4, 1, 0, 0, 0, tzinfo=UTC), "toi-allgemeines"),  # one second later
    _chunk(4, datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC), "toi-sport"),  # one second earlier
    _chunk(5, datetime(2025, 3, 15, 9, 30, tzinfo=UTC), "toi-wirtschaft"),
]

MARCH = parse_filters({"since": "2025-03-01", "until": "2025-03-31"})
CASES = {
    "march": (MARCH, {1, 2, 5}),
    "since": (parse_filters({"since": "2025-03-15"}), {2, 3, 5}),
    "until": (parse_filters({"until": "2025-02-28"}), {4}),
    "source": (parse_filters({"source": "toi-sport"}), {2, 4}),
    "march+source": (
        parse_filters({"since": "2025-03-01", "until": "2025-03-31", "source": "toi-allgemeines"}),
        {1},
    ),
    "nothing": (parse_filters({"source": "toi-kultur"}), set()),
}


def _numbers(ids) -> set[int]:
    return {int(str(cid).split("-")[0][3:]) for cid in ids}


def test_where_filter_shapes() -> None:
    assert where_of(Filters()) is None
    assert where_of(Filters(source="toi-sport")) == {"source": "toi-sport"}
    since = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())
    until = int(datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC).timestamp())  # microseconds dropped
    assert where_of(MARCH) == {
        "$and": [{"published": {"$gte": since}}, {"published": {"$lte": until}}]
    }


@pytest.mark.parametrize("case", list(CASES))
def test_predicate_and_mask_agree(case: str) -> None:
    filters, expected = CASES[case]
    assert {n for n, c in enumerate(CHUNKS, 1) if filters.matches(c)} == expected
    view = LexicalIndex.build(CHUNKS, generation=1)
    mask = view.filter_mask(filters)
    assert mask is not None and mask.dtype == bool
    assert _numbers(view.chunk_ids[mask]) == expected
    # The lexical search applies the same mask: "Gemeinderat" is in every chunk.
    assert (
        _numbers(h.chunk_id for h in view.search("Gemeinderat", k=10, filters=filters)) == expected
    )


def test_mask_is_none_without_filters() -> None:
    view = LexicalIndex.build(CHUNKS, generation=1)
    assert view.filter_mask(Filters()) is None
    assert len(view.search("Gemeinderat", k=10)) == len(CHUNKS)


def test_store_where_agrees_with_the_predicate(tmp_path: Path) -> None:
    store = open_store(StoreLocation(tmp_path), embedder_identity="fake-4d", create=True)
    articles = [
        Article(c.article_id, c.title, c.published, c.source, "", (c.text,), f"h{i}")
        for i, c in enumerate(CHUNKS)
    ]
    rng = np.random.default_rng(0)
    vectors = {
        c.id: v / np.linalg.norm(v) for c, v in zip(CHUNKS, rng.normal(size=(5, 4)), strict=True)
    }
    store.write_articles(articles, {c.article_id: [c] for c in CHUNKS}, vectors, chunker="test")
    query = np.ones(4) / 2
    for case, (filters, expected) in CASES.items():
        hits = store.query(query, k=10, where=where_of(filters))
        assert _numbers(h.chunk.id for h in hits) == expected, case
        assert all(filters.matches(h.chunk) for h in hits), case
