"""Unit tests of ui.format: escaping, markers, sources block, errors, tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from index.models import Article, Chunk, RetrievedChunk
from qa.types import Answer, Citation, FallbackReason
from ui import format as fmt

XSS = "<img src=x onerror=alert(1)>"
PUBLISHED = datetime.fromtimestamp(1743141444, UTC)  # 2025-03-28 05:57:24 UTC
QUOTE = (
    "In einem Posten auf X erwähnte er, dass menschliche Landungen auf dem Mars "
    "bereits 2029 auftreten könnten, obwohl 2031 wahrscheinlicher war."
)
CHUNK_TEXT = (
    "Musk sagte kürzlich, dass SpaceX ‚Starship -Rakete von SpaceX bis Ende nächsten "
    "Jahres auf den Mars starten wird.\n" + QUOTE + "\nMusk hat auch darüber gesprochen."
)


def chunk(chunk_id: str = "art1-0003-abcd", text: str = CHUNK_TEXT, title: str = "T") -> Chunk:
    return Chunk(chunk_id, "art1", 3, text, title, PUBLISHED, "toi-allgemeines")


def citation(marker: int = 1, title: str = "Mars-Mission", **kw: object) -> Citation:
    values = {
        "marker": marker,
        "article_id": f"art{marker}",
        "title": title,
        "published": PUBLISHED,
        "source": "toi-allgemeines",
        "chunk_id": "art1-0003-abcd",
        "quote": QUOTE,
    }
    values.update(kw)
    return Citation(**values)  # type: ignore[arg-type]


def answer(
    text: str = "Landings could happen in 2029 [1].",
    citations: tuple[Citation, ...] | None = None,
    **kw: object,
) -> Answer:
    return Answer(
        text=text,
        citations=(citation(),) if citations is None else citations,
        chunks=(RetrievedChunk(chunk(), 0.9),),
        generator=str(kw.pop("generator", "extractive")),
        **kw,  # type: ignore[arg-type]
    )


# --- escaping -------------------------------------------------------------------------


def test_escape_html_tag_shows_literally() -> None:
    escaped = fmt.escape_text(XSS)
    assert "<" not in escaped and ">" not in escaped
    assert escaped == "&lt;img src=x onerror=alert\\(1\\)&gt;"


@pytest.mark.parametrize(
    "text",
    [
        "**bold** and _italic_ and `code`",
        "[link](http://evil.example) ![img](x)",
        "# heading\n- bullet\n+ plus\n2029. not a list\n=====",
        "www.example.com and https://example.com and a@b.de",
        "    indented code block",
        "pipes | and ~~strike~~ and $5 and \\ backslash",
    ],
)
def test_escape_neutralises_markdown(text: str) -> None:
    escaped = fmt.escape_text(text)
    # No unescaped syntax character remains.
    assert not re.search(r"(?<!\\)[*_`\[\]()#|~!$]", escaped.replace("\\\\", ""))
    assert not re.search(r"(?m)^[-+=]|^\d+[.)]|^\s", escaped)
    assert not re.search(r"www\.|(?<!\\)://|(?<!\\)@", escaped)


@pytest.mark.parametrize(
    "text",
    [XSS, "a * b _c_ [1] (x) \\ # ~ | $ ! ` { }", "- x\n2029. y\n+ z", "www.a.de a@b.de http://x"],
)
def test_unescape_inverts_escape(text: str) -> None:
    assert fmt.unescape_text(fmt.escape_text(text)) == text


# --- answers and markers --------------------------------------------------------------


def test_markers_become_links_to_source_anchors() -> None:
    md = fmt.format_answer_text(
        "In 2029 [1], maybe 2031 [2].", [citation(1), citation(2)], prefix="a3"
    )
    assert '[\\[1\\]](#a3-src-1 "Mars-Mission (2025-03-28)")' in md
    assert "(#a3-src-2 " in md


def test_combined_and_unknown_markers() -> None:
    md = fmt.format_answer_text("Both [1, 2]; bogus [7].", [citation(1), citation(2)], prefix="a1")
    assert md.count("](#a1-src-") == 2
    assert "\\[7\\]" in md and "#a1-src-7" not in md


def test_marker_tooltip_escapes_title() -> None:
    md = fmt.format_answer_text("x [1]", [citation(1, title=f'{XSS} "q" \\')], prefix="a1")
    assert "<img" not in md
    assert "&quot;q&quot;" in md
    # The link still parses back to its marker.
    assert fmt.unescape_text(md) == "x [1]"


def test_answer_messages_text_and_sources() -> None:
    messages = fmt.answer_messages(answer(), prefix="a1")
    assert len(messages) == 2
    body, sources = messages
    assert body["role"] == "assistant" and "2029" in body["content"]
    assert "(#a1-src-1 " in body["content"]
    assert sources["metadata"]["title"] == fmt.SOURCES_TITLE
    assert sources["metadata"]["log"] == "extractive"
    content = sources["content"]
    assert '<span id="a1-src-1"></span>' in content
    assert "**\\[1\\] Mars-Mission** — 2025-03-28 · *toi-allgemeines*" in content
    assert "<mark>In einem Posten" in content and "wahrscheinlicher war.</mark>" in content


def test_sources_escape_xss_title_and_source() -> None:
    xss_citation = citation(title=XSS, source=XSS)
    content = fmt.format_sources(answer(citations=(xss_citation,)), prefix="a1")
    assert "<img" not in content
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in content


def test_excerpt_highlights_quote_with_context() -> None:
    excerpt = fmt.format_excerpt(CHUNK_TEXT, QUOTE)
    before, rest = excerpt.split("<mark>")
    quoted, after = rest.split("</mark>")
    assert "Starship" in before and "gesprochen" in after
    assert "2029" in quoted
    assert "\n" not in excerpt


def test_excerpt_is_shortened_around_quote() -> None:
    long_text = "Wort " * 200 + QUOTE + " Ende" * 200
    excerpt = fmt.format_excerpt(long_text, QUOTE)
    assert excerpt.startswith("… ") and excerpt.endswith(" …")
    assert len(excerpt) < len(QUOTE) + 2 * 200


def test_excerpt_finds_quote_despite_whitespace_and_falls_back() -> None:
    assert "<mark>" in fmt.format_excerpt("A  b\nC d. E f.", "b C d.")
    assert fmt.format_excerpt(None, "*quote*") == "<mark>\\*quote\\*</mark>"
    assert fmt.format_excerpt("unrelated text", "missing") == "<mark>missing</mark>"


def test_abstention_is_readable_without_sources() -> None:
    messages = fmt.answer_messages(answer(text="", citations=(), abstained=True))
    assert messages == [{"role": "assistant", "content": fmt.ABSTAIN_TEXT}]
    own = fmt.answer_messages(answer(text="Dazu sagen die Artikel nichts.", citations=()))
    assert own[0]["content"] == "Dazu sagen die Artikel nichts."


def test_fallback_generator_is_mentioned() -> None:
    fallen = answer(
        fallback=FallbackReason.UNAVAILABLE, fallback_detail="llm unavailable: no model"
    )
    body = fmt.answer_messages(fallen)[0]["content"]
    assert "fallback: unavailable" in body and "llm unavailable: no model" in body
    assert "fallback" not in fmt.answer_messages(answer())[0]["content"]


def test_the_answer_span_is_highlighted_inside_its_quote() -> None:
    quote = "Landungen könnten bereits 2029 auftreten, obwohl 2031 wahrscheinlicher war."
    start = quote.index("bereits")
    end = quote.index(" war")
    cited = citation(quote=quote, span=(start, end))
    sources = fmt.format_sources(answer(citations=(cited,)), prefix="a1")
    assert "<mark>bereits 2029 auftreten, obwohl 2031 wahrscheinlicher</mark> war." in sources
    assert "Landungen könnten <mark>" in sources


def test_answer_text_from_generator_is_escaped() -> None:
    body = fmt.answer_messages(answer(text=f"{XSS} [1]"))[0]["content"]
    assert "<img" not in body


def test_answer_prefix_counts_answers() -> None:
    history = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": "s", "metadata": {"title": "Sources"}},
    ]
    assert fmt.answer_prefix([]) == "a1"
    assert fmt.answer_prefix(history) == "a2"


# --- errors and history ---------------------------------------------------------------


def test_error_text_is_readable_and_escaped() -> None:
    text = fmt.error_text("the question is empty: type <b>a</b> question")
    assert text.startswith(fmt.ERROR_PREFIX)
    assert "The question is empty" in text
    assert "<b>" not in text
    assert "Traceback" not in fmt.error_text("")
    assert fmt.error_text("") == fmt.ERROR_PREFIX + fmt.escape_text(fmt.GENERIC_ERROR)


def test_history_for_qa_plain_text_without_sources_and_errors() -> None:
    first = fmt.answer_messages(answer(text="In 2029 [1]. Cost: $5 *a*"), prefix="a1")
    history = [
        {"role": "user", "content": "When could humans land on Mars?"},
        *first,
        {"role": "user", "content": [{"type": "text", "text": "bad question"}]},
        {"role": "assistant", "content": fmt.error_text("the index is empty")},
        {"role": "user", "content": "And 2031?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Maybe \\[2\\]."}]},
    ]
    assert fmt.history_for_qa(history) == [
        {"role": "user", "content": "When could humans land on Mars?"},
        {"role": "assistant", "content": "In 2029 [1]. Cost: $5 *a*"},
        {"role": "user", "content": "And 2031?"},
        {"role": "assistant", "content": "Maybe [2]."},
    ]


# --- filters --------------------------------------------------------------------------


def test_build_filters() -> None:
    assert fmt.build_filters("", None, "  ") is None
    assert fmt.build_filters(" 2025-01-01 ", "2025-12-31", " toi-allgemeines ") == {
        "since": date(2025, 1, 1),
        "until": date(2025, 12, 31),
        "source": "toi-allgemeines",
    }


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2025/01/01", "", "YYYY-MM-DD"),
        ("", "2025-02-30", "not a valid calendar date"),
        ("2025-03-01", "2025-02-01", "after"),
    ],
)
def test_build_filters_rejects_bad_dates(since: str, until: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fmt.build_filters(since, until, "")


# --- index report, status, article view -----------------------------------------------


@dataclass
class _File:
    path: Path
    status: str
    reason: str
    article_id: str | None


@dataclass
class _Report:
    files: tuple[_File, ...]
    added: int = 1
    updated: int = 0
    unchanged: int = 1
    removed: int = 0
    failed: int = 1


def test_report_rows_and_summary() -> None:
    report = _Report(
        (
            _File(Path("/tmp/x/neu.txt"), "added", "", "a"),
            _File(Path("/tmp/x/alt.txt"), "unchanged", "", "b"),
            _File(Path("/tmp/x/kaputt.txt"), "failed", "line 3: negative epoch -5", None),
        )
    )
    assert fmt.report_rows(report) == [
        ["neu.txt", "added", ""],
        ["alt.txt", "unchanged", ""],
        ["kaputt.txt", "failed", "line 3: negative epoch -5"],
    ]
    assert fmt.report_summary(report) == (
        "1 added · 0 updated · 1 unchanged · 0 removed · 1 failed"
    )


@dataclass
class _Status:
    articles: int
    chunks: int
    embedder: str
    generator: str
    location: str = "/tmp"


def test_status_line() -> None:
    line = fmt.status_line(_Status(42, 310, "e5", "llm"))
    assert line == "42 articles · 310 chunks · embedder e5 · generator llm"
    assert fmt.status_line(_Status(1, 1, "e5", "llm")).startswith("1 article · 1 chunk ·")


def test_article_view_escapes_everything() -> None:
    article = Article(
        id="x",
        title=XSS,
        published=PUBLISHED,
        source="toi-allgemeines",
        caption="Bild: *Mars*",
        paragraphs=("Erster Absatz <script>alert(1)</script>.", "2029. Zweiter"),
        content_hash="h",
    )
    view = fmt.article_view(article)
    assert "<img" not in view and "<script" not in view
    assert view.startswith("### &lt;img")
    assert "2025-03-28" in view
    assert "2029\\. Zweiter" in view


def test_article_choices_unique_in_marker_order() -> None:
    cits = (
        citation(1, title="A"),
        citation(2, title="B"),
        citation(3, title="A2", article_id="art1"),
    )
    assert fmt.article_choices(answer(citations=cits)) == [
        ("[1] A (2025-03-28)", "art1"),
        ("[2] B (2025-03-28)", "art2"),
    ]
