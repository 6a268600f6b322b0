"""Readers of real archive formats (index.readers) on files written for these tests.

Pure parsing: no model, no store. The files live in tests/data/archives/ (broken ones
in its broken/ folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from index.articles import (
    MAX_TITLE_CHARS,
    content_hash,
    load_articles,
    parse_article,
    scan_article_files,
)
from index.readers import (
    READERS,
    ReaderOptions,
    detect_format,
    parse_date,
    parse_field_map,
    slugify,
)

ARCHIVES = Path(__file__).resolve().parent / "data" / "archives"
BROKEN = ARCHIVES / "broken"
FEED = ARCHIVES / "marlinger-bote-lokales.xml"
ATOM = ARCHIVES / "nordsee-kurier.atom"
PAGES = [ARCHIVES / "radwege-marlingen.html", ARCHIVES / "hafen-elsfeld.htm"]
NEWSROOM = ARCHIVES / "newsroom-export.csv"
CATEGORIES = ARCHIVES / "artikel-kategorien.csv"
AGENCY = ARCHIVES / "agentur-export.jsonl"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NEWSROOM_MAP = parse_field_map("title=headline,date=published,body=text,source=section")


def load(*paths: Path, **options: object):
    return load_articles(list(paths), now=NOW, options=ReaderOptions(**options))  # type: ignore[arg-type]


def reasons(result) -> list[str]:
    return [f"{f.path.name}: {f.reason}" for f in result.failures]


# --- RSS 2.0 ----------------------------------------------------------------------


def test_rss_feed_gives_one_article_per_item_with_utc_dates_and_plain_text() -> None:
    result = load(FEED)
    assert result.failures == ()
    articles = result.articles
    assert len(articles) == 20
    assert len({a.id for a in articles}) == 20
    first = articles[0]
    assert first.title == "Stadtrat beschließt vier neue Radwege"
    # pubDate "Mon, 14 Apr 2025 09:30:00 +0200" is 07:30 UTC.
    assert first.published == datetime(2025, 4, 14, 7, 30, tzinfo=UTC)
    # Winter time items: "+0100".
    assert articles[11].published == datetime(2025, 3, 27, 2, 40, tzinfo=UTC)
    assert {a.source for a in articles} == {"marlinger-bote-lokales"}
    # The figure caption becomes the caption; the script and all markup are gone.
    assert first.caption == "Radweg an der Ilm (Archivbild)"
    assert first.paragraphs[0].startswith("Der Stadtrat von Marlingen hat am Montagabend")
    assert len(first.paragraphs) == 2
    for article in articles:
        text = " ".join((article.caption, *article.paragraphs))
        assert "<" not in text and "trackView" not in text and "&amp;" not in text
    # content:encoded (full text) wins over the one-sentence description teaser.
    assert "3,2 Mio. Euro" in first.paragraphs[1]
    # <strong> inside a paragraph does not split it; <br> does.
    assert articles[1].paragraphs[0].endswith("länger geschlossen als geplant.")
    assert articles[1].paragraphs[-2:] == ("Mehr zum Thema:", "Bäder in Marlingen")
    # The last item has only an HTML description (escaped): still its full text.
    assert articles[19].paragraphs == (
        "Wegen einer Baustelle auf der B 16 zwischen Marlingen und Elsfeld kommt es im "
        "Berufsverkehr zu langen Staus.",
        "Das Staatliche Bauamt rät Pendlern, die Strecke bis Ende März zu meiden.",
    )
    assert all(a.path == FEED for a in articles)


def test_ids_and_hashes_are_stable_across_re_reads_and_moves(tmp_path: Path) -> None:
    moved = tmp_path / "kopie" / "feed.rss"
    moved.parent.mkdir()
    shutil.copy(FEED, moved)
    sources = [FEED, ATOM, *PAGES, AGENCY]
    first = load(*sources, field_map=parse_field_map("title=headline,date=meta.published"))
    again = load(*sources, field_map=parse_field_map("title=headline,date=meta.published"))
    assert [(a.id, a.content_hash) for a in first.articles] == [
        (a.id, a.content_hash) for a in again.articles
    ]
    from_copy = load(moved)
    feed_items = [a for a in first.articles if a.path == FEED]
    assert [(a.id, a.content_hash) for a in from_copy.articles] == [
        (a.id, a.content_hash) for a in feed_items
    ]


def test_source_option_replaces_the_feed_title() -> None:
    result = load(FEED, source="bote-lokal")
    assert {a.source for a in result.articles} == {"bote-lokal"}
    # The source is part of the content: another tag is an update, not another story.
    plain = load(FEED)
    assert [a.id for a in result.articles] == [a.id for a in plain.articles]
    assert result.articles[0].content_hash != plain.articles[0].content_hash


def test_feed_items_without_a_date_fail_per_item_unless_a_default_is_given(
    tmp_path: Path,
) -> None:
    text = FEED.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "<pubDate>" not in line or "Hallenbad" in line]
    # Keep the pubDate of item 1 only.
    first_date = next(line for line in text.splitlines() if "<pubDate>" in line)
    body = "\n".join(lines).replace(
        '<guid isPermaLink="false">mb-1001</guid>',
        '<guid isPermaLink="false">mb-1001</guid>\n' + first_date,
        1,
    )
    feed = tmp_path / "ohne-daten.xml"
    feed.write_text(body, encoding="utf-8")

    result = load(feed)
    assert len(result.articles) == 1
    assert len(result.failures) == 19
    assert result.failures[0].reason.startswith("item 2: field 'date': the item has no ")
    assert "--default-date" in result.failures[0].reason

    with_default = load(feed, default_date=datetime(2025, 4, 1, tzinfo=UTC))
    assert (len(with_default.articles), with_default.failures) == (20, ())
    assert with_default.articles[5].published == datetime(2025, 4, 1, tzinfo=UTC)


def test_truncated_feed_is_one_failure_naming_line_and_column() -> None:
    result = load(BROKEN / "truncated-feed.xml")
    assert result.articles == ()
    [failure] = result.failures
    assert failure.reason.startswith("not well-formed XML (line ")
    assert "truncated" in failure.reason


def test_html_entities_in_a_feed_are_not_damage(tmp_path: Path) -> None:
    feed = tmp_path / "entities.rss"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Bote</title><item>'
        "<title>Stadtrat&nbsp;tagt</title><pubDate>Mon, 14 Apr 2025 09:30:00 +0200</pubDate>"
        "<description>Der Stadtrat tagt am Montag&hellip;</description></item></channel></rss>",
        encoding="utf-8",
    )
    result = load(feed)
    assert result.failures == ()
    assert result.articles[0].title == "Stadtrat tagt"
    assert result.articles[0].paragraphs == ("Der Stadtrat tagt am Montag…",)


def test_feed_items_with_the_same_story_are_duplicates_naming_the_item(tmp_path: Path) -> None:
    text = FEED.read_text(encoding="utf-8")
    start = text.index("  <item>")
    end = text.index("</item>", start) + len("</item>")
    doubled = text.replace("</channel>", text[start:end] + "\n</channel>")
    feed = tmp_path / "doppelt.xml"
    feed.write_text(doubled, encoding="utf-8")
    result = load(feed)
    assert len(result.articles) == 20
    [failure] = result.failures
    assert failure.reason.startswith(f"item 21: duplicate of {feed} item 1 (same article id ")
    assert "identical content" in failure.reason


# --- Atom ---------------------------------------------------------------------------


def test_atom_feed_with_html_xhtml_and_summary_entries() -> None:
    result = load(ATOM)
    assert result.failures == ()
    faehre, sturmflut, krabben = result.articles
    assert faehre.source == "nordsee-kurier-kueste"
    # "published" wins over "updated"; +02:00 becomes UTC.
    assert faehre.published == datetime(2025, 5, 5, 12, 30, tzinfo=UTC)
    assert faehre.paragraphs[1].endswith("mehr Tagesgäste & Übernachtungen.")
    # An HTML title loses its markup; an entry with only "updated" uses it.
    assert sturmflut.title == "Sturmflut: Deich bei Husum hält stand"
    assert sturmflut.published == datetime(2025, 5, 3, 6, 15, tzinfo=UTC)
    assert len(sturmflut.paragraphs) == 2
    assert krabben.paragraphs[0].startswith("Die Krabbenfischer an der Nordseeküste")


# --- HTML pages ---------------------------------------------------------------------


def test_html_pages_give_main_text_title_json_ld_date_and_site_name() -> None:
    result = load(*PAGES)
    assert result.failures == ()
    radwege, hafen = result.articles
    assert radwege.title == "Stadtrat beschließt Radwege-Paket"
    # JSON-LD datePublished 2025-04-15T06:45:00+02:00, with its time.
    assert radwege.published == datetime(2025, 4, 15, 4, 45, tzinfo=UTC)
    assert radwege.source == "marlinger-bote"
    body = "\n".join(radwege.paragraphs)
    assert body.startswith("Marlingen bekommt bis 2027 vier neue Radwege.")
    assert "überfälligen Schritt" in body
    for boilerplate in ("Startseite", "Anzeige", "Cookies", "Impressum", "Meistgelesen"):
        assert boilerplate not in body, boilerplate
    # The headline is the title, not the first paragraph too.
    assert radwege.paragraphs[0] != radwege.title

    assert hafen.title == "Hafen Elsfeld: Neues Terminal für Containerschiffe"
    assert hafen.published == datetime(2024, 11, 20, 13, 5, tzinfo=UTC)
    assert hafen.source == "elsfelder-zeitung"
    assert len(hafen.paragraphs) == 3
    assert "Newsletter" not in " ".join(hafen.paragraphs)


def test_html_page_without_an_article_fails_with_a_reason() -> None:
    result = load(BROKEN / "startseite-ohne-artikel.html")
    assert result.articles == ()
    [failure] = result.failures
    assert failure.reason.startswith("no article found in the page")


def test_html_page_without_any_date_needs_a_default_date(tmp_path: Path) -> None:
    page = tmp_path / "ohne-datum.html"
    text = PAGES[1].read_text(encoding="utf-8")
    start = text.index('<script type="application/ld+json">')
    end = text.index("</script>", start) + len("</script>")
    page.write_text(text[:start] + text[end:], encoding="utf-8")
    result = load(page)
    assert result.articles == ()
    assert "field 'date': the page has no publication date" in result.failures[0].reason
    fixed = load(page, default_date=datetime(2024, 11, 1, tzinfo=UTC))
    assert fixed.articles[0].published == datetime(2024, 11, 1, tzinfo=UTC)


# --- CSV ------------------------------------------------------------------------------


def test_csv_with_bom_quoted_multiline_fields_and_three_date_formats() -> None:
    result = load(NEWSROOM, field_map=NEWSROOM_MAP)
    assert result.failures == ()
    faust, kita, rennen, arzt = result.articles
    # The BOM did not become part of the first column's name ("headline" was found).
    assert faust.title == 'Theater Marlingen zeigt "Faust" in neuer Inszenierung'
    # A quoted field with line breaks (CRLF) and a blank line: three paragraphs.
    assert len(faust.paragraphs) == 3
    assert faust.paragraphs[0].endswith('Goethes "Faust" gezeigt.')
    assert faust.published == datetime(2025, 2, 14, 18, 30, tzinfo=UTC)  # ISO with offset
    assert kita.published == datetime.fromtimestamp(1739350800, tz=UTC)  # epoch seconds
    assert rennen.published == datetime(2025, 3, 8, tzinfo=UTC)  # DD.MM.YYYY
    assert arzt.published == datetime(2025, 3, 20, tzinfo=UTC)  # ISO date
    assert [a.source for a in result.articles] == ["kultur", "politik", "sport", "wirtschaft"]


def test_semicolon_category_text_csv_needs_title_from_body_and_a_default_date() -> None:
    mapping = parse_field_map("source=category,body=text")
    without = load(CATEGORIES, field_map=mapping)
    assert without.articles == ()
    [failure] = without.failures
    assert "field 'title': column 'title'" in failure.reason
    assert "field 'date': column 'date'" in failure.reason
    assert "columns: 'category', 'text'" in failure.reason

    result = load(
        CATEGORIES,
        field_map=mapping,
        title_from_body=True,
        default_date=datetime(2016, 1, 1, tzinfo=UTC),
    )
    assert result.failures == ()
    assert [a.source for a in result.articles] == ["politik", "sport", "wirtschaft", "kultur"]
    first = result.articles[0]
    # The first sentence; "1.500" does not end it.
    assert first.title == (
        "Die Landesregierung will die Zahl der Lehrerstellen bis 2028 um 1.500 erhöhen."
    )
    # The ';' delimiter was found although the text is full of commas, and the
    # single-quoted cell lost its quotes.
    assert result.articles[2].paragraphs[0].startswith("Der Maschinenbauer Hollerbach")
    assert result.articles[2].title.endswith("verlagert.")


def test_given_delimiter_overrides_sniffing(tmp_path: Path) -> None:
    export = tmp_path / "pipes.csv"
    export.write_text(
        "title|date|body\nPipes als Trenner|2025-01-05|Ein Text, mit Kommas; und Semikolons.\n",
        encoding="utf-8",
    )
    result = load(export, delimiter="|", source="test-export")
    assert result.failures == ()
    assert result.articles[0].paragraphs == ("Ein Text, mit Kommas; und Semikolons.",)
    assert result.articles[0].source == "test-export"


def test_csv_missing_mapped_column_is_one_failure_naming_it() -> None:
    result = load(BROKEN / "fehlende-spalte.csv", field_map=NEWSROOM_MAP)
    assert result.articles == ()
    [failure] = result.failures
    assert failure.reason.startswith("field 'date': column 'published' not in the header")
    assert "'headline', 'text', 'section'" in failure.reason


def test_csv_bad_dates_fail_per_row_with_file_row_and_field() -> None:
    result = load(BROKEN / "falsche-daten.csv", field_map=NEWSROOM_MAP)
    assert [a.title for a in result.articles] == [
        "Gültiges Datum im deutschen Format",
        "Noch ein gültiges Datum",
    ]
    got = reasons(result)
    assert got[0] == (
        "falsche-daten.csv: row 2: field 'date': '31.02.2024' is not a date "
        "(use ISO 8601, epoch seconds or DD.MM.YYYY)"
    )
    assert got[1].startswith("falsche-daten.csv: row 3: field 'date': 'gestern' is not a date")
    assert "row 4: field 'date': epoch 1740826800000 is beyond the year 9999" in got[2]
    assert "row 5: field 'date': 2099-01-01 00:00:00 UTC is more than 2 days after now" in got[3]
    assert got[4] == "falsche-daten.csv: row 6: field 'date': empty (give one with --default-date)"
    assert len(got) == 5


def test_csv_bytes_that_are_not_utf8_fail_only_their_row(tmp_path: Path) -> None:
    export = tmp_path / "latin1.csv"
    good = "title,date,body\nErste Zeile,2025-01-01,Ein gültiger Text in UTF-8.\n"
    export.write_bytes(
        good.encode() + "Zweite,2025-01-02,Stra\xdfe\nDritte,2025-01-03,Gut.\n".encode("latin-1")
    )
    result = load(export, source="test")
    assert [a.title for a in result.articles] == ["Erste Zeile", "Dritte"]
    assert reasons(result) == [
        "latin1.csv: row 2: column 'body': invalid UTF-8 (byte 0xdf at character 5); "
        "exports must be UTF-8"
    ]


# --- JSON Lines -------------------------------------------------------------------------


def test_jsonl_with_nested_keys_lists_html_and_epoch_numbers() -> None:
    mapping = parse_field_map("title=headline,date=meta.published,source=meta.desk")
    result = load(AGENCY, field_map=mapping)
    assert result.failures == ()
    bahn, salz, arzt = result.articles
    assert (
        bahn.paragraphs[0]
        == "Die Bahnstrecke zwischen Marlingen und Elsfeld wird bis 2029 elektrifiziert."
    )
    assert bahn.source == "verkehr"
    assert salz.published == datetime.fromtimestamp(1736845200, tz=UTC)
    assert len(salz.paragraphs) == 2 and "<p>" not in salz.paragraphs[0]
    assert arzt.published == datetime(2025, 2, 3, tzinfo=UTC)
    assert len(arzt.paragraphs) == 2


def test_jsonl_bad_lines_fail_per_line_and_the_good_ones_load() -> None:
    result = load(BROKEN / "kaputte-zeilen.jsonl")
    assert [a.title for a in result.articles] == [
        "Gute Zeile vor den kaputten",
        "Gute Zeile nach den kaputten",
    ]
    got = reasons(result)
    assert got[0].startswith("kaputte-zeilen.jsonl: line 2: not valid JSON (")
    assert got[1] == "kaputte-zeilen.jsonl: line 3: expected a JSON object, got list"
    assert got[2] == "kaputte-zeilen.jsonl: line 4: field 'date': key 'date' is missing"
    assert got[3].startswith("kaputte-zeilen.jsonl: line 5: field 'date': True is not a date")


# --- one article, any format ------------------------------------------------------------


def test_the_same_story_as_text_and_as_csv_has_the_same_id_and_hash(tmp_path: Path) -> None:
    text = (
        "Stadtrat beschließt neue Radwege\n\n1744615800 Stadtrat beschliesst neue Radwege\n\n"
        "Radweg an der Ilm\n\nDer Stadtrat hat am Montag vier Radwege beschlossen.\n"
        "Die Kosten liegen bei 3,2 Mio. Euro.\n\nmarlinger-bote\n"
    )
    from_text = parse_article(text.encode(), now=NOW)
    export = tmp_path / "ein-artikel.csv"
    export.write_text(
        "title,date,caption,body,source\n"
        'Stadtrat beschließt neue Radwege,1744615800,Radweg an der Ilm,"Der Stadtrat hat am '
        'Montag vier Radwege beschlossen.\nDie Kosten liegen bei 3,2 Mio. Euro.",marlinger-bote\n',
        encoding="utf-8",
    )
    [from_csv] = load(export).articles
    assert (from_csv.id, from_csv.content_hash) == (from_text.id, from_text.content_hash)
    assert from_csv.content_hash == content_hash(
        from_text.title, 1744615800, from_text.caption, from_text.paragraphs, "marlinger-bote"
    )


# --- title cap (issue 16 item 10) --------------------------------------------------------


def test_titles_over_the_cap_are_rejected_in_every_format(tmp_path: Path) -> None:
    long_title = "Sehr langer Titel " * 3000  # ~54 KB
    text = tmp_path / "lang.txt"
    text.write_text(
        f"{long_title}\n\n1744615800 x\n\nBild\n\nEin kurzer Text.\n\nmarlinger-bote\n",
        encoding="utf-8",
    )
    export = tmp_path / "lang.csv"
    export.write_text(
        f"title,date,body\n{long_title},2025-01-01,Ein kurzer Text.\n"
        "Kurzer Titel,2025-01-02,Noch ein kurzer Text.\n",
        encoding="utf-8",
    )
    feed = tmp_path / "lang.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Test</title><item>'
        f"<title>{long_title}</title><pubDate>Mon, 14 Apr 2025 09:30:00 +0200</pubDate>"
        "<description>Text.</description></item></channel></rss>",
        encoding="utf-8",
    )
    result = load(text, export, feed, source="test-tag")
    assert [a.title for a in result.articles] == ["Kurzer Titel"]
    got = reasons(result)
    assert len(got) == 3
    assert got[0].startswith("lang.txt: line 1: title is 53,999 characters long, more than")
    assert got[1].startswith("lang.csv: row 1: field 'title': title is 53,999 characters long")
    assert got[2].startswith("lang.xml: item 1: field 'title': title is 53,999 characters")
    assert f"limit of {MAX_TITLE_CHARS}" in got[0]


def test_a_derived_title_is_shortened_to_the_cap(tmp_path: Path) -> None:
    sentence = "Ein Satz ohne Ende " * 40 + "endet hier."
    export = tmp_path / "ohne-titel.jsonl"
    export.write_text(f'{{"date": "2025-01-01", "body": "{sentence} Zweiter Satz."}}\n')
    [article] = load(export, title_from_body=True, source="test").articles
    assert len(article.title) <= MAX_TITLE_CHARS
    assert article.title.endswith("…") and article.title.startswith("Ein Satz ohne Ende")


# --- formats, options, dates ------------------------------------------------------------


def test_format_is_chosen_by_extension_and_content(tmp_path: Path) -> None:
    assert detect_format(FEED) == "rss"
    assert detect_format(ATOM) == "atom"
    assert detect_format(PAGES[0]) == "html" and detect_format(PAGES[1]) == "html"
    assert detect_format(NEWSROOM) == "csv" and detect_format(AGENCY) == "jsonl"
    saved_as_txt = tmp_path / "feed.txt"
    shutil.copy(FEED, saved_as_txt)
    assert detect_format(saved_as_txt) == "rss"  # the content wins
    no_suffix = tmp_path / "export"
    shutil.copy(AGENCY, no_suffix)
    assert detect_format(no_suffix) == "jsonl"
    assert detect_format(saved_as_txt, "csv") == "csv"  # --format wins
    assert len(load(saved_as_txt).articles) == 20


def test_format_override_reads_a_txt_file_as_csv(tmp_path: Path) -> None:
    export = tmp_path / "export.txt"
    shutil.copy(NEWSROOM, export)
    result = load(export, format="csv", field_map=NEWSROOM_MAP)
    assert len(result.articles) == 4
    # A folder scan with --format csv picks up only CSV files.
    shutil.copy(FEED, tmp_path / "feed.xml")
    shutil.copy(NEWSROOM, tmp_path / "b.csv")
    folder = load(tmp_path, format="csv", field_map=NEWSROOM_MAP)
    assert {a.path.name for a in folder.articles} == {"b.csv"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-05", datetime(2025, 3, 5, tzinfo=UTC)),
        ("2025-03-05T10:00:00Z", datetime(2025, 3, 5, 10, tzinfo=UTC)),
        ("2025-03-05 10:00:00+01:00", datetime(2025, 3, 5, 9, tzinfo=UTC)),
        ("1741168800", datetime(2025, 3, 5, 10, tzinfo=UTC)),
        (1741168800, datetime(2025, 3, 5, 10, tzinfo=UTC)),
        ("05.03.2025", datetime(2025, 3, 5, tzinfo=UTC)),
        ("5.3.2025 10:30", datetime(2025, 3, 5, 10, 30, tzinfo=UTC)),
    ],
)
def test_parse_date_forms(value: object, expected: datetime) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["31.02.2024", "gestern", "2025-13-01", "", True, [2025]])
def test_parse_date_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown field 'headline'"):
        parse_field_map("headline=title")
    with pytest.raises(ValueError, match="field=column"):
        parse_field_map("title")
    with pytest.raises(ValueError, match="source tag"):
        ReaderOptions(source="Nicht Gültig!")
    with pytest.raises(ValueError, match="one character"):
        ReaderOptions(delimiter=";;")
    with pytest.raises(ValueError, match="unknown format"):
        ReaderOptions(format="pdf")
    assert set(READERS) == {"text", "rss", "atom", "html", "csv", "jsonl"}


def test_slugify() -> None:
    assert slugify("Marlinger Bote – Lokales") == "marlinger-bote-lokales"
    assert slugify("Süddeutsche Straße") == "sueddeutsche-strasse"
    assert slugify("Web/Netzpolitik") == "web-netzpolitik"
    assert slugify("!") == ""


# --- folder scanning (issue 16 item 7) -------------------------------------------------


def test_folder_scan_finds_every_format(tmp_path: Path) -> None:
    for source in [FEED, ATOM, *PAGES, NEWSROOM, AGENCY]:
        shutil.copy(source, tmp_path / source.name)
    (tmp_path / "notiz.md").write_text("x")
    (tmp_path / "bild.png").write_bytes(b"\x89PNG")
    names = [p.name for p in scan_article_files([tmp_path]).files]
    assert names == sorted(
        [FEED.name, ATOM.name, PAGES[0].name, PAGES[1].name, NEWSROOM.name, AGENCY.name]
    )


def test_symlinked_folders_are_followed_and_loops_reported(tmp_path: Path) -> None:
    real = tmp_path / "echt"
    (real / "sub").mkdir(parents=True)
    shutil.copy(ATOM, real / "sub" / "kurier.atom")
    corpus = tmp_path / "korpus"
    corpus.mkdir()
    (corpus / "verlinkt").symlink_to(real)
    (real / "sub" / "schleife").symlink_to(real)  # points back up: a loop

    scan = scan_article_files([corpus])
    assert scan.files == (corpus / "verlinkt" / "sub" / "kurier.atom",)
    [loop] = scan.failures
    assert loop.path == corpus / "verlinkt" / "sub" / "schleife"
    assert loop.reason.startswith("symlink loop: points back to ")
    result = load_articles([corpus], now=NOW)
    assert len(result.articles) == 3
    assert [f.path for f in result.failures] == [loop.path]


def _make_long_path(root: Path) -> Path:
    """A file below a path of more than 4096 bytes (built with dir fds: open() can't)."""
    fd = os.open(root, os.O_RDONLY)
    parts = []
    try:
        for i in range(45):
            name = f"{i:02d}" + "x" * 98
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
            parts.append(name)
        file_fd = os.open("tief.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd)
        os.write(file_fd, b"x")
        os.close(file_fd)
    finally:
        os.close(fd)
    return root.joinpath(*parts)


def test_path_over_4096_bytes_is_reported_not_skipped(tmp_path: Path) -> None:
    root = tmp_path / "lang"
    root.mkdir()
    deep = _make_long_path(root)
    assert len(os.fsencode(deep)) > 4096
    scan = scan_article_files([root])
    assert scan.files == ()
    [failure] = scan.failures
    assert "cannot read folder: path is" in failure.reason
    assert "system limit is 4,096" in failure.reason
    # Given directly, too.
    result = load_articles([deep / "tief.txt"], now=NOW)
    assert result.articles == ()
    [failure] = result.failures
    assert failure.reason.startswith("cannot read path: path is ")
    shutil.rmtree(root)  # fd-based: works below PATH_MAX too
    assert not root.exists()


def test_unreadable_subfolder_is_reported_not_skipped() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)
        shutil.copy(ATOM, base / "lesbar.atom")
        locked = base / "gesperrt"
        locked.mkdir()
        shutil.copy(FEED, locked / "feed.xml")
        os.chmod(base / "lesbar.atom", 0o644)
        os.chmod(locked, 0o000)
        code = (
            "import sys; from pathlib import Path; from index.articles import scan_article_files;"
            f"s = scan_article_files([Path({str(base)!r})]);"
            "print([p.name for p in s.files]); print([(f.path.name, f.reason) for f in s.failures])"
        )
        command = [sys.executable, "-c", code]
        if os.geteuid() == 0:
            # Root reads any folder: drop the capabilities that let it (a real EACCES then).
            command = [
                "setpriv",
                "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-all",
                *command,
            ]
        try:
            out = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parent.parent,
            ).stdout.splitlines()
        finally:
            os.chmod(locked, 0o755)
    assert out[0] == "['lesbar.atom']"
    assert out[1] == (
        "[('gesperrt', 'cannot read folder: Permission denied; nothing in it is indexed')]"
    )
