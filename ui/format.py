"""Pure conversions between ``qa`` results and what the Gradio UI shows.

Nothing here imports Gradio or touches the index, so every function is unit-testable.

All text that comes from articles (titles, quotes, chunk text, source tags) and from the
generator (whose output repeats article text) is untrusted.  The chatbot renders Markdown
and, after sanitising, HTML: a title such as ``<img src=x onerror=alert(1)>`` would vanish
and make the browser fetch ``/x``.  :func:`escape_text` therefore HTML-escapes and
neutralises Markdown syntax so such text shows literally.  Only the markup built here
(marker links, anchors, emphasis) is live.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from qa.types import Answer, Citation

#: Title of the collapsible chat message holding the sources of an answer.
SOURCES_TITLE = "Sources"
#: Start of every error message shown in the chat; also how history skips them.
ERROR_PREFIX = "⚠️ "
#: Shown when the answer is an abstention without its own text.
ABSTAIN_TEXT = "The indexed articles do not contain an answer to this question."
#: Shown for unexpected failures; the details go to the log, never into the page.
GENERIC_ERROR = "Something went wrong while answering. The error was logged; please try again."
#: Column headers of the per-file indexing table.
REPORT_HEADERS = ["File", "Result", "Details"]

# Characters that Markdown (CommonMark + GFM as rendered by the chatbot) may treat as
# syntax anywhere in a line.  ``<``, ``>`` and ``&`` are handled by html.escape.
_MD_INLINE = re.compile(r"([\\`*_{}\[\]()#|~!$])")
# Syntax that only counts at the start of a line: list bullets, setext underlines,
# ordered lists ("2029. Mars" would become a list item numbered 2029).
_MD_LINE_START = re.compile(r"^([-+=])", re.MULTILINE)
_MD_ORDERED = re.compile(r"^(\d+)([.)])", re.MULTILINE)
# GFM turns bare URLs and e-mail addresses into links; break the triggers.
_MD_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)|@")
# Indented lines would become code blocks.
_LEADING_WS = re.compile(r"^[ \t]+", re.MULTILINE)

# A marker as it looks after escape_text: \[1\] or \[1, 2\].
_ESCAPED_MARKER = re.compile(r"\\\[(\d+(?:\s*,\s*\d+)*)\\\]")
# A marker link built by _marker_link, for turning it back into [n].
_MARKER_LINK = re.compile(r'\[\\\[(\d+)\\\]\]\(#[\w-]+(?: "(?:[^"\\]|\\.)*")?\)')
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_HTML_ANCHOR = re.compile(r'<span id="[\w-]+"></span>')
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Characters of context shown on each side of a quote in the sources block.
_EXCERPT_CONTEXT = 160


class _FileResultLike(Protocol):
    path: Any
    status: str
    reason: str


class _ReportLike(Protocol):
    files: Sequence[_FileResultLike]
    added: int
    updated: int
    unchanged: int
    removed: int
    failed: int


def escape_text(text: str) -> str:
    """Make untrusted text display literally in the chatbot's Markdown.

    Args:
        text: Any text from an article or the generator.

    Returns:
        Markdown that renders as exactly ``text`` (line breaks kept, no HTML, no links,
        no emphasis, no lists or headings).
    """
    text = _LEADING_WS.sub("", text)
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_LINE_START.sub(r"\\\1", text)
    text = _MD_ORDERED.sub(r"\1\\\2", text)
    text = _MD_AUTOLINK.sub(lambda m: "\\" + m.group(0), text)
    # quote=False: quotes are harmless in element text, and "&#x27;" would contain '#'.
    return html.escape(text, quote=False)


def unescape_text(markdown: str) -> str:
    """Undo :func:`escape_text` and the marker links of :func:`format_answer_text`.

    Used to pass earlier answers back to the library as plain chat history.

    Args:
        markdown: Text of an assistant message as shown in the chatbot.

    Returns:
        The plain text, with markers back in their ``[n]`` form.
    """
    text = _MARKER_LINK.sub(r"[\1]", markdown)
    text = _HTML_ANCHOR.sub("", text)
    text = _BACKSLASH_ESCAPE.sub(r"\1", text)
    return html.unescape(text)


def format_date(moment: datetime | date) -> str:
    """Publication date as ``YYYY-MM-DD`` (UTC for aware datetimes)."""
    return f"{moment:%Y-%m-%d}"


def source_anchor(prefix: str, marker: int) -> str:
    """HTML id of the sources entry for ``marker`` (prefix keeps answers apart)."""
    return f"{prefix}-src-{marker}"


def _marker_link(marker: int, citation: Citation | None, prefix: str) -> str:
    if citation is None:
        # A marker without a citation is left as plain text rather than a dead link.
        return f"\\[{marker}\\]"
    tooltip = f"{citation.title} ({format_date(citation.published)})"
    # Link titles are attribute text: escape quotes and backslashes for Markdown, and
    # HTML-escape so the sanitiser never sees markup.
    tooltip = html.escape(tooltip, quote=True).replace("\\", "\\\\")
    return f'[\\[{marker}\\]](#{source_anchor(prefix, marker)} "{tooltip}")'


def format_answer_text(text: str, citations: Sequence[Citation], *, prefix: str) -> str:
    """Escape an answer and turn its ``[n]`` markers into links to the sources entries.

    Args:
        text: Answer text with inline markers.
        citations: The answer's citations.
        prefix: Anchor prefix shared with :func:`format_sources` for the same answer.

    Returns:
        Markdown for the chatbot.  ``[1, 2]`` becomes two links ``[1][2]``.
    """
    by_marker = {c.marker: c for c in citations}

    def link(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        return "".join(_marker_link(n, by_marker.get(n), prefix) for n in numbers)

    return _ESCAPED_MARKER.sub(link, escape_text(text))


def _shorten(text: str, limit: int, *, from_end: bool) -> tuple[str, bool]:
    """Cut ``text`` to about ``limit`` characters at a word boundary."""
    if len(text) <= limit:
        return text, False
    if from_end:
        cut = text[-limit:]
        space = cut.find(" ")
        return (cut[space + 1 :] if 0 <= space < limit // 2 else cut), True
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut), True


def _find_quote(haystack: str, quote: str) -> tuple[int, int] | None:
    """Span of ``quote`` in ``haystack``, tolerant of whitespace and case differences."""
    quote = quote.strip()
    if not quote:
        return None
    start = haystack.find(quote)
    if start >= 0:
        return start, start + len(quote)
    pattern = r"\s+".join(re.escape(word) for word in quote.split())
    match = re.search(pattern, haystack, re.IGNORECASE)
    return match.span() if match else None


def _highlight(quote: str, span: tuple[int, int] | None) -> str:
    """The quote, escaped, with its answer span (or, without one, all of it) in <mark>."""
    if span is None or not 0 <= span[0] < span[1] <= len(quote):
        return f"<mark>{escape_text(quote)}</mark>" if quote else ""
    before, fact, after = quote[: span[0]], quote[span[0] : span[1]], quote[span[1] :]

    def part(text: str) -> str:
        # escape_text drops leading spaces (indented Markdown is code); keep the edges.
        lead = " " if text[:1].isspace() else ""
        trail = " " if text[-1:].isspace() and text.strip() else ""
        return lead + escape_text(text.strip()) + trail if text.strip() else lead

    # <mark> rather than **…**: emphasis delimiters next to punctuation may not close.
    return f"{part(before)}<mark>{escape_text(fact)}</mark>{part(after)}"


def format_excerpt(chunk_text: str | None, quote: str, span: tuple[int, int] | None = None) -> str:
    """A short excerpt of the chunk with the quote in it, as escaped Markdown.

    Args:
        chunk_text: Full text of the chunk the quote comes from, if known.
        quote: The supporting sentence.
        span: Offsets of the answer's fact inside ``quote``; that part is highlighted
            (without a span, the whole quote is).

    Returns:
        ``… context quote-with-<mark>fact</mark> context …``; only the quote when it
        cannot be located in the chunk.
    """
    # One line: the excerpt sits in a block quote, and paragraph breaks add nothing here.
    if span is not None:
        # Offsets refer to the quote as given; keep them valid while squashing spaces.
        head, fact, tail = quote[: span[0]], quote[span[0] : span[1]], quote[span[1] :]
        head, fact, tail = (" ".join(p.split()) for p in (head, fact, tail))
        head = head + " " if head and quote[span[0] - 1 : span[0]].isspace() else head
        tail = " " + tail if tail and quote[span[1] : span[1] + 1].isspace() else tail
        quote = head + fact + tail
        span = (len(head), len(head) + len(fact))
    else:
        quote = " ".join(quote.split())
    chunk_text = " ".join(chunk_text.split()) if chunk_text is not None else None
    where = _find_quote(chunk_text or "", quote)
    if chunk_text is None or where is None:
        return _highlight(quote, span)
    start, end = where
    before, cut_before = _shorten(chunk_text[:start].rstrip(), _EXCERPT_CONTEXT, from_end=True)
    after, cut_after = _shorten(chunk_text[end:].lstrip(), _EXCERPT_CONTEXT, from_end=False)
    parts = []
    if before:
        parts.append(("… " if cut_before else "") + escape_text(before))
    parts.append(
        _highlight(chunk_text[start:end], span if chunk_text[start:end] == quote else None)
    )
    if after:
        parts.append(escape_text(after) + (" …" if cut_after else ""))
    # Joined with spaces: the cuts above removed the whitespace around the quote.
    return " ".join(parts)


def format_sources(answer: Answer, *, prefix: str) -> str:
    """The sources block: per citation its number, title, date, source tag and excerpt.

    Args:
        answer: The complete answer.
        prefix: Anchor prefix shared with :func:`format_answer_text`.

    Returns:
        Markdown (with ``<span id>`` anchors the marker links point to), or an empty
        string when the answer has no citations.
    """
    chunk_texts = {rc.chunk.id: rc.chunk.text for rc in answer.chunks}
    entries = []
    for citation in answer.citations:
        header = (
            f'<span id="{source_anchor(prefix, citation.marker)}"></span>'
            f"**\\[{citation.marker}\\] {escape_text(citation.title)}** — "
            f"{format_date(citation.published)} · *{escape_text(citation.source)}*"
        )
        excerpt = format_excerpt(chunk_texts.get(citation.chunk_id), citation.quote, citation.span)
        entries.append(f"{header}\n\n> {excerpt}" if excerpt else header)
    return "\n\n".join(entries)


def answer_prefix(history: Sequence[Mapping[str, Any]]) -> str:
    """Anchor prefix for the next answer, unique within the conversation."""
    answers = sum(
        1
        for m in history
        if m.get("role") == "assistant" and (m.get("metadata") or {}).get("title") is None
    )
    return f"a{answers + 1}"


def answer_messages(answer: Answer, *, prefix: str = "a1") -> list[dict[str, Any]]:
    """Chat messages (Gradio messages format) for a complete answer.

    Args:
        answer: The complete answer.
        prefix: Anchor prefix, see :func:`answer_prefix`.

    Returns:
        The answer message, then (when there are citations) an assistant message
        titled :data:`SOURCES_TITLE` holding the sources block.
    """
    text = answer.text.strip()
    if answer.abstained and not text:
        text = ABSTAIN_TEXT
    body = format_answer_text(text, answer.citations, prefix=prefix)
    if answer.fallback is not None:
        # The user asked for the LLM; say why they got extracted sentences instead.
        body += f"\n\n*{escape_text(answer.fallback_note)}*"
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": body}]
    if answer.citations:
        metadata: dict[str, Any] = {"title": SOURCES_TITLE, "log": answer.generator}
        if "total" in answer.timings:
            metadata["duration"] = round(answer.timings["total"], 2)
        messages.append(
            {
                "role": "assistant",
                "content": format_sources(answer, prefix=prefix),
                "metadata": metadata,
            }
        )
    return messages


def streaming_text(partial: str) -> str:
    """The answer so far, escaped; markers become links only once the answer is complete."""
    return escape_text(partial)


def error_text(message: str) -> str:
    """A readable chat message for an error (the message is escaped, no traceback)."""
    message = " ".join(message.split()) or GENERIC_ERROR
    # Library messages start lower-case ("the question is empty: …"); chat replies don't.
    return ERROR_PREFIX + escape_text(message[0].upper() + message[1:])


def _message_text(content: Any) -> str:
    """Plain text of a chat message's content (str, or Gradio 6's list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return str(content.get("text", "")) if content.get("type", "text") == "text" else ""
    if isinstance(content, Iterable):
        return "\n".join(_message_text(part) for part in content).strip()
    return ""


def history_for_qa(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Turn the chatbot's messages into the history ``qa.stream`` expects.

    Sources blocks and other titled messages are dropped, failed turns (an error
    reply and the question it answered) are dropped, and answer Markdown is turned
    back into plain text.

    Args:
        messages: The chatbot value (Gradio messages format).

    Returns:
        ``[{"role": "user" | "assistant", "content": str}, …]``.
    """
    result: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        if role not in ("user", "assistant") or (message.get("metadata") or {}).get("title"):
            continue
        text = _message_text(message.get("content"))
        if role == "assistant":
            if text.startswith(ERROR_PREFIX.strip()):
                if result and result[-1]["role"] == "user":
                    result.pop()
                continue
            text = unescape_text(text)
        if text.strip():
            result.append({"role": role, "content": text})
    return result


def _parse_day(value: str | None, label: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    if not _ISO_DATE.match(value):
        raise ValueError(f"{label} must be a date like 2025-03-28 (YYYY-MM-DD), not {value!r}.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{label} {value!r} is not a valid calendar date.") from None


def build_filters(
    since: str | None, until: str | None, source: str | None
) -> dict[str, Any] | None:
    """Filters for ``qa.stream`` from the filter inputs (empty inputs are ignored).

    Args:
        since: Earliest publication date, ``YYYY-MM-DD`` or empty.
        until: Latest publication date, ``YYYY-MM-DD`` or empty.
        source: Source tag or empty.

    Returns:
        A dict with some of ``since``, ``until`` (``date``) and ``source``, or None.

    Raises:
        ValueError: A date is malformed or ``since`` is after ``until``; the message is
            meant for the user.
    """
    filters: dict[str, Any] = {}
    start = _parse_day(since, "“From” date")
    end = _parse_day(until, "“Until” date")
    if start and end and start > end:
        raise ValueError(f"The “From” date {start} is after the “Until” date {end}.")
    if start:
        filters["since"] = start
    if end:
        filters["until"] = end
    if source and source.strip():
        filters["source"] = source.strip()
    return filters or None


def report_rows(report: _ReportLike) -> list[list[str]]:
    """One table row per file of an index report: file name, result, details."""
    return [[f.path.name, f.status, f.reason or ""] for f in report.files]


def report_summary(report: _ReportLike) -> str:
    """One line of counts for an index report."""
    return (
        f"{report.added} added · {report.updated} updated · {report.unchanged} unchanged · "
        f"{report.removed} removed · {report.failed} failed"
    )


def status_line(status: Any) -> str:
    """``42 articles · 310 chunks · embedder … · generator …`` from an IndexStatus."""
    articles = f"{status.articles} article{'' if status.articles == 1 else 's'}"
    chunks = f"{status.chunks} chunk{'' if status.chunks == 1 else 's'}"
    return (
        f"{articles} · {chunks} · embedder {escape_text(str(status.embedder))} · "
        f"generator {escape_text(str(status.generator))}"
    )


def article_choices(answer: Answer) -> list[tuple[str, str]]:
    """(label, article id) per cited article, in marker order, each article once.

    Labels are plain text: Gradio shows dropdown choices as text, not Markdown.
    """
    seen: dict[str, str] = {}
    for c in answer.citations:
        if c.article_id not in seen:
            seen[c.article_id] = f"[{c.marker}] {c.title} ({format_date(c.published)})"
    return [(label, article_id) for article_id, label in seen.items()]


def article_view(article: Any) -> str:
    """Markdown for the full text of an article (title, date, source, caption, body)."""
    lines = [
        f"### {escape_text(article.title)}",
        f"{format_date(article.published)} · *{escape_text(article.source)}*",
    ]
    if getattr(article, "caption", ""):
        lines.append(f"*{escape_text(article.caption)}*")
    lines.extend(escape_text(p) for p in article.paragraphs)
    return "\n\n".join(lines)
