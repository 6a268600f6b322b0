"""Tests for index.articles: parsing, identity, file discovery and batch loading."""

from __future__ import annotations

import contextlib
import random
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from index.articles import (
    MAX_ARTICLE_BYTES,
    LoadResult,
    ParseFailure,
    find_article_files,
    load_articles,
    parse_article,
    read_article,
)
from index.errors import ArticleFormatError

SEED = Path("/work/shared/seeds/000_cd5ef53cfbdaf56f.txt")
NOW = datetime(2025, 4, 1, 12, 0, 0, tzinfo=UTC)
EPOCH = 1_743_000_000  # 2025-03-26 14:40:00 UTC, before NOW

TITLE = "Bundestag beschließt „historisches“ Gesetz zur Energiewende"
CAPTION = "Abgeordnete im Plenarsaal (Archivbild)"
PARAGRAPHS = (
    "Der Bundestag hat am Donnerstag ein Gesetz zur Energiewende beschlossen.",
    "Die Kosten liegen laut Dr. Müller bei ca. 3,5 Mrd. Euro. Kritiker sprachen von einem Fehler.",
    "Die Opposition kündigte Widerstand im Bundesrat an.",
)
TAG = "dpa-politik"


def make_text(
    *,
    title: str = TITLE,
    epoch_line: str | None = None,
    caption: str = CAPTION,
    paragraphs: tuple[str, ...] = PARAGRAPHS,
    tag: str = TAG,
) -> str:
    """An article in the canonical layout (title, blank, epoch, blank, caption, blank, body)."""
    if epoch_line is None:
        epoch_line = f"{EPOCH} Bundestag beschliesst historisches Gesetz"
    body = "\n".join(paragraphs)
    return f"{title}\n\n{epoch_line}\n\n{caption}\n\n{body}\n\n{tag}\n"


def parse(text: str | bytes, **kwargs: object) -> object:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_article(data, now=NOW, **kwargs)  # type: ignore[arg-type]


def format_error(text: str | bytes) -> str:
    with pytest.raises(ArticleFormatError) as info:
        parse(text)
    return str(info.value)


# --- the seed -----------------------------------------------------------------


@pytest.fixture
def seed_bytes() -> bytes:
    if not SEED.is_file():
        pytest.skip(f"seed article {SEED} is not available on this machine")
    return SEED.read_bytes()


def test_seed_parses(seed_bytes: bytes) -> None:
    article = parse_article(seed_bytes, path=SEED)
    assert article.published == datetime(2025, 3, 28, 5, 57, 24, tzinfo=UTC)
    assert article.published.utcoffset() == timedelta(0)
    assert article.source == "toi-allgemeines"
    assert article.caption == "Wladimir Putin (links) und Elon Moschus"
    assert article.title.startswith("Russland k")
    assert "Elon Musk" in article.title
    # Seven body lines, none of them the caption, the epoch line or the tag.
    assert len(article.paragraphs) == 7
    assert all(p and p != article.source and not p[0].isdigit() for p in article.paragraphs)
    assert article.path == SEED
    assert len(article.id) == 16 and int(article.id, 16) >= 0
    assert len(article.content_hash) == 16 and article.content_hash != article.id


def test_seed_line_end_variants_keep_identity(seed_bytes: bytes) -> None:
    clean = parse_article(seed_bytes)
    crlf = parse_article(b"\xef\xbb\xbf" + seed_bytes.replace(b"\n", b"\r\n"))
    assert (crlf.id, crlf.content_hash, crlf.paragraphs) == (
        clean.id,
        clean.content_hash,
        clean.paragraphs,
    )


# --- well-formed input ----------------------------------------------------------


def test_clean_article_fields() -> None:
    article = parse(make_text())
    assert article.title == TITLE
    assert article.caption == CAPTION
    assert article.paragraphs == PARAGRAPHS
    assert article.source == TAG
    assert article.published == datetime.fromtimestamp(EPOCH, tz=UTC)
    assert article.published.tzinfo is not None
    assert article.path is None


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.replace("\n", "\r"), id="cr"),
        pytest.param(lambda t: "\ufeff" + t, id="bom"),
        pytest.param(lambda t: "\ufeff" + t.replace("\n", "\r\n"), id="bom+crlf"),
        pytest.param(lambda t: t.replace("\n", "  \t\n"), id="trailing-whitespace"),
        pytest.param(lambda t: "\n\n  \n" + t.replace("\n\n", "\n\n\n \n") + "\n\n\n", id="blanks"),
        pytest.param(lambda t: t.rstrip("\n"), id="no-final-newline"),
        pytest.param(lambda t: unicodedata.normalize("NFD", t), id="decomposed-umlauts"),
    ],
)
def test_layout_variants_keep_id_and_content_hash(variant) -> None:
    clean = parse(make_text())
    other = parse(variant(make_text()))
    assert other.id == clean.id
    assert other.content_hash == clean.content_hash
    assert (other.title, other.caption, other.paragraphs, other.source) == (
        clean.title,
        clean.caption,
        clean.paragraphs,
        clean.source,
    )


def test_control_characters_are_stripped_but_tabs_kept() -> None:
    article = parse(make_text(title="Eil\x07meldung:\x0b Sturm\x1f"))
    assert article.title == "Eilmeldung: Sturm"
    body = parse(make_text(paragraphs=("Wind\x1b mit\x7f 120\u0085 km/h\tin Böen.",)))
    assert body.paragraphs == ("Wind mit 120 km/h\tin Böen.",)


def test_rtl_html_and_markdown_are_kept_as_text() -> None:
    paragraphs = (
        "Der Sprecher sagte auf Arabisch: مرحبا بالعالم und auf Hebräisch: שלום.",
        "<b>Fett</b> & <script>alert(1)</script> bleibt Text.",
        "**Wichtig:** [Link](http://example.org) und # keine Überschrift",
    )
    article = parse(make_text(paragraphs=paragraphs, title="<i>Titel</i> mit **Markdown**"))
    assert article.paragraphs == paragraphs
    assert article.title == "<i>Titel</i> mit **Markdown**"


def test_epoch_one_day_ahead_is_accepted() -> None:
    epoch = int((NOW + timedelta(days=1)).timestamp())
    article = parse(make_text(epoch_line=f"{epoch} Titel"))
    assert article.published == NOW + timedelta(days=1)


def test_epoch_line_without_folded_title_is_accepted() -> None:
    assert parse(make_text(epoch_line=str(EPOCH))).published == datetime.fromtimestamp(
        EPOCH, tz=UTC
    )


def test_default_now_is_the_current_time() -> None:
    future = int((datetime.now(UTC) + timedelta(days=3)).timestamp())
    with pytest.raises(ArticleFormatError, match="more than 2 days after now"):
        parse_article(make_text(epoch_line=f"{future} x").encode())


# --- malformed input ------------------------------------------------------------


def test_empty_file() -> None:
    assert "empty" in format_error(b"")


def test_whitespace_only_file() -> None:
    assert "empty or contains only whitespace" in format_error(b"\xef\xbb\xbf \r\n\t\n  \n")


def test_binary_with_nul_bytes() -> None:
    message = format_error(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "binary" in message and "byte offset 8" in message


def test_binary_mostly_control_characters() -> None:
    data = bytes(range(1, 32)) * 20 + b"Text"
    message = format_error(data)
    assert "binary" in message and "control characters" in message


def test_invalid_utf8_names_byte_offset() -> None:
    good = make_text().encode("utf-8")
    broken = good[:25] + b"\xff\xfe" + good[25:]
    assert "invalid UTF-8 at byte offset 25" in format_error(broken)
    # The offset counts from the start of the file, BOM included.
    assert "invalid UTF-8 at byte offset 28" in format_error(b"\xef\xbb\xbf" + broken)


def test_latin1_file_is_invalid_utf8() -> None:
    message = format_error(make_text().encode("latin-1", errors="replace"))
    assert "invalid UTF-8 at byte offset" in message


def test_utf16_file_is_rejected_with_encoding_named() -> None:
    assert "UTF-16" in format_error(make_text().encode("utf-16"))


def test_oversized_data_rejected_before_decoding() -> None:
    # Invalid UTF-8 at offset 0: if the size were not checked first, the error
    # would be about the encoding.
    data = b"\xff" + b"a" * 10_000_000
    message = format_error(data)
    assert "invalid UTF-8" not in message, message
    assert "larger than the limit" in message and f"{MAX_ARTICLE_BYTES:,}" in message


def test_missing_epoch_line() -> None:
    text = f"{TITLE}\n\n{CAPTION}\n\n{PARAGRAPHS[0]}\n\n{TAG}\n"
    message = format_error(text)
    assert "line 3: expected '<unix-epoch> <title>', got 'Abgeordnete im Plenarsaal" in message


def test_non_numeric_epoch() -> None:
    message = format_error(make_text(epoch_line="abc Bundestag beschliesst historisches Gesetz"))
    assert message.startswith("line 3: expected '<unix-epoch> <title>', got 'abc Bundestag")
    assert message.endswith("…'")  # long lines are shortened


@pytest.mark.parametrize("epoch_line", ["1743000000.5 Titel", "17430000x0 Titel", "١٧٤٣ Titel"])
def test_malformed_epoch_numbers(epoch_line: str) -> None:
    assert "line 3: expected '<unix-epoch> <title>'" in format_error(
        make_text(epoch_line=epoch_line)
    )


def test_negative_epoch() -> None:
    assert "line 3: negative epoch -5" in format_error(make_text(epoch_line="-5 Titel"))


def test_future_epoch_names_the_date() -> None:
    future = int((NOW + timedelta(days=3)).timestamp())
    message = format_error(make_text(epoch_line=f"{future} Titel"))
    assert "line 3" in message
    assert "2025-04-04 12:00:00 UTC" in message
    assert "more than 2 days after now (2025-04-01 12:00:00 UTC)" in message


def test_epoch_in_milliseconds_is_far_future() -> None:
    message = format_error(make_text(epoch_line=f"{EPOCH}000 Titel"))
    assert "after the year 9999" in message


def test_absurdly_long_epoch_is_rejected_cleanly() -> None:
    message = format_error(make_text(epoch_line="9" * 5000 + " Titel"))
    assert "after the year 9999" in message and len(message) < 300


def test_title_only() -> None:
    assert "missing epoch line" in format_error(f"{TITLE}\n")


def test_missing_title() -> None:
    text = make_text().split("\n", 2)[2]  # drop the title and the blank line after it
    assert "line 1: missing title" in format_error(text)


def test_missing_source_tag() -> None:
    text = f"{TITLE}\n\n{EPOCH} x\n\n{CAPTION}\n\n" + "\n".join(PARAGRAPHS) + "\n"
    message = format_error(text)
    assert "line 9: missing source tag" in message
    assert "Die Opposition" in message


@pytest.mark.parametrize("tag", ["TOI-Allgemeines", "-dpa", "a", "dpa politik", "x" * 65])
def test_malformed_source_tag(tag: str) -> None:
    assert "missing source tag" in format_error(make_text(tag=tag))


def test_file_ends_after_epoch_line() -> None:
    assert "missing source tag" in format_error(f"{TITLE}\n\n{EPOCH} x\n")


def test_no_body_text() -> None:
    message = format_error(f"{TITLE}\n\n{EPOCH} x\n\n{CAPTION}\n\n{TAG}\n")
    assert "no body text" in message and "line 5" in message and "line 7" in message


def test_only_tag_after_epoch() -> None:
    assert "no body text" in format_error(f"{TITLE}\n\n{EPOCH} x\n\n{TAG}\n")


def test_error_message_names_path() -> None:
    with pytest.raises(ArticleFormatError, match=r"^/some/where\.txt: file is empty"):
        parse_article(b"", path=Path("/some/where.txt"), now=NOW)


def test_random_bytes_only_raise_article_format_error() -> None:
    rng = random.Random(1234)
    valid = make_text().encode("utf-8")
    for _ in range(300):
        if rng.random() < 0.5:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        else:  # mutate a valid article a little
            buf = bytearray(valid)
            for _ in range(rng.randrange(1, 6)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            data = bytes(buf)
        # Anything but ArticleFormatError (e.g. IndexError, ValueError) fails the test.
        with contextlib.suppress(ArticleFormatError):
            parse_article(data, now=NOW)


# --- identity -------------------------------------------------------------------


def test_moved_file_is_same_article(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    second = tmp_path / "archiv" / "2025" / "umbenannt.txt"
    second.parent.mkdir(parents=True)
    first.write_text(make_text(), encoding="utf-8")
    second.write_text(make_text(), encoding="utf-8")
    a, b = read_article(first, now=NOW), read_article(second, now=NOW)
    assert (a.id, a.content_hash) == (b.id, b.content_hash)
    assert (a.path, b.path) == (first, second)


def test_edited_body_is_update_of_same_article() -> None:
    original = parse(make_text())
    edited = parse(make_text(paragraphs=(*PARAGRAPHS[:2], "Die Opposition stimmte zu.")))
    assert edited.id == original.id
    assert edited.content_hash != original.content_hash


@pytest.mark.parametrize(
    "changes",
    [
        {"caption": "Ein anderes Bild"},
        {"tag": "dpa-wirtschaft"},
        {"title": TITLE.upper()},  # case is content, though not identity
    ],
)
def test_content_hash_tracks_every_field(changes: dict[str, str]) -> None:
    assert parse(make_text(**changes)).content_hash != parse(make_text()).content_hash


def test_id_ignores_title_case_and_spacing_but_not_title_or_epoch() -> None:
    base = parse(make_text()).id
    assert parse(make_text(title="  " + TITLE.upper().replace(" ", "   "))).id == base
    assert parse(make_text(title=TITLE + " (aktualisiert)")).id != base
    assert parse(make_text(epoch_line=f"{EPOCH + 1} x")).id != base


def test_folded_title_on_epoch_line_is_not_identity() -> None:
    a = parse(make_text(epoch_line=f"{EPOCH} eine Fassung"))
    b = parse(make_text(epoch_line=f"{EPOCH} andere Fassung, gekuerzt"))
    assert (a.id, a.content_hash) == (b.id, b.content_hash)


# --- reading files --------------------------------------------------------------


def test_read_article_rejects_huge_file_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "gross.txt"
    with big.open("wb") as fh:
        fh.truncate(10_000_000)  # sparse: 10 MB of NULs on disk in no time

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file must not be opened")

    monkeypatch.setattr(Path, "open", no_open)
    with pytest.raises(ArticleFormatError) as info:
        read_article(big)
    assert str(info.value).startswith(str(big))
    assert "10,000,000 bytes, larger than the limit" in str(info.value)


def test_read_article_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_article(tmp_path / "fehlt.txt")


def test_read_article_rejects_directory(tmp_path: Path) -> None:
    with pytest.raises(ArticleFormatError, match="not a regular file"):
        read_article(tmp_path)


# --- finding files --------------------------------------------------------------


def test_find_article_files(tmp_path: Path) -> None:
    for name in [
        "b.txt",
        "a.txt",
        "notiz.md",
        ".versteckt.txt",
        "sub/c.txt",
        "sub/GROSS.TXT",
        ".git/d.txt",
        "sub/.cache/e.txt",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    extra = tmp_path / "einzeln.dat"
    extra.write_text("x")

    found = find_article_files([extra, tmp_path, tmp_path / "a.txt"])
    assert found == [
        extra,  # given explicitly: taken whatever its suffix, in argument order
        tmp_path / "a.txt",
        tmp_path / "b.txt",
        tmp_path / "sub" / "GROSS.TXT",
        tmp_path / "sub" / "c.txt",
    ]  # and a.txt is not listed a second time


def test_find_article_files_explicit_hidden_file_is_taken(tmp_path: Path) -> None:
    hidden = tmp_path / ".entwurf.txt"
    hidden.write_text("x")
    assert find_article_files([hidden]) == [hidden]


def test_find_article_files_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "gibt-es-nicht"
    with pytest.raises(FileNotFoundError, match="gibt-es-nicht"):
        find_article_files([tmp_path, missing])


# --- loading batches ------------------------------------------------------------


def test_load_articles_reports_bad_files_and_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "1_gut.txt").write_text(make_text(), encoding="utf-8")
    (tmp_path / "2_leer.txt").write_bytes(b"")
    (tmp_path / "3_kaputt.txt").write_bytes(b"Titel\n\n\xff\xfe\n")
    other = make_text(title="Ein ganz anderer Artikel", epoch_line=f"{EPOCH - 60} x")
    (tmp_path / "4_gut.txt").write_text(other, encoding="utf-8")

    result = load_articles([tmp_path], now=NOW)

    assert isinstance(result, LoadResult)
    assert [a.path for a in result.articles] == [tmp_path / "1_gut.txt", tmp_path / "4_gut.txt"]
    assert [f.path for f in result.failures] == [tmp_path / "2_leer.txt", tmp_path / "3_kaputt.txt"]
    assert "empty" in result.failures[0].reason
    assert "invalid UTF-8 at byte offset 7" in result.failures[1].reason
    # The path is a separate field, not repeated in the reason.
    assert str(tmp_path) not in result.failures[0].reason


def test_load_articles_duplicates(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    copy = tmp_path / "b.txt"
    edited = tmp_path / "c.txt"
    first.write_text(make_text(), encoding="utf-8")
    copy.write_text(make_text().replace("\n", "\r\n"), encoding="utf-8")
    edited.write_text(make_text(caption="Neues Bild"), encoding="utf-8")

    result = load_articles([tmp_path], now=NOW)

    assert [a.path for a in result.articles] == [first]
    assert result.failures == (
        ParseFailure(
            copy,
            f"duplicate of {first} (same article id {result.articles[0].id}, identical content)",
        ),
        ParseFailure(
            edited,
            f"duplicate of {first} (same article id {result.articles[0].id}, "
            "different content; only the first is loaded)",
        ),
    )


def test_load_articles_unreadable_file_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "gut.txt").write_text(make_text(), encoding="utf-8")
    dangling = tmp_path / "link.txt"
    dangling.symlink_to(tmp_path / "ziel-fehlt.txt")

    result = load_articles([tmp_path], now=NOW)

    assert len(result.articles) == 1
    assert result.failures[0].path == dangling
    assert result.failures[0].reason.startswith("cannot read file")


def test_load_articles_missing_argument_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fehlt"):
        load_articles([tmp_path / "fehlt"], now=NOW)


def test_load_articles_seed_folder() -> None:
    if not SEED.is_file():
        pytest.skip(f"seed article {SEED} is not available on this machine")
    result = load_articles([SEED.parent])
    assert SEED in [a.path for a in result.articles]
