"""The web chat's "Library" tab: a searchable table of indexed articles, open and remove.

Kept apart from :mod:`ui.app` so the chat page's layout and this tab change separately.
Removing articles is disabled (in the page and in the handler) when the UI is served
beyond loopback without ``QA_UI_AUTH``: anyone who reaches it could empty the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from qa.api import ArticleInfo, get_article, list_articles, remove_articles
from qa.engine import Engine
from qa.errors import IndexNotBuiltError, QAError
from qa.settings import Settings
from ui import format as fmt

logger = logging.getLogger(__name__)

LIBRARY_HEADERS = ["Title", "Date", "Source", "Chunks", "Id"]
# A table (and picker) of tens of thousands of rows would stall the browser; the
# search narrows it down.
MAX_ROWS = 500
REMOVAL_DISABLED = (
    "Removing articles is disabled: this UI is served beyond loopback without a login "
    "(set QA_UI_AUTH=user:password)."
)


def library_rows(articles: Sequence[ArticleInfo]) -> list[list[Any]]:
    """Table rows for the library (newest first, as listed)."""
    return [
        [a.title, fmt.format_date(a.published), a.source, a.chunks, a.id]
        for a in articles[:MAX_ROWS]
    ]


def library_choices(articles: Sequence[ArticleInfo]) -> list[tuple[str, str]]:
    """Picker entries ``(label, article id)``."""
    return [
        (f"{a.title} ({fmt.format_date(a.published)}, {a.source})", a.id)
        for a in articles[:MAX_ROWS]
    ]


def library_summary(shown: int, total: int, search: str) -> str:
    """One line above the table."""
    if total == 0:
        return "No articles match." if search else "No articles are indexed yet."
    more = f" (showing the newest {shown}; search to narrow down)" if total > shown else ""
    return f"{total} article{'s' if total != 1 else ''}{more}."


def add_library_tab(
    demo: gr.Blocks,
    settings: Settings,
    *,
    removal_allowed: bool,
    on_change: tuple[Callable[[], Any], list[Any]] | None = None,
    engine: Engine | None = None,
) -> None:
    """Add the Library tab to the Blocks being built.

    Args:
        demo: The Blocks being built (the table is filled when a page loads).
        settings: Where the index lives.
        removal_allowed: Whether articles may be removed from this UI.
        on_change: ``(function, outputs)`` run after a removal (e.g. the status line).
        engine: Reads the articles (default: the default engine for ``settings``).
    """

    def load(search: str | None) -> tuple[Any, Any, str]:
        try:
            found = list_articles(settings, search=search or None)
        except IndexNotBuiltError:
            found = []
        except QAError as exc:
            return gr.skip(), gr.skip(), fmt.error_text(str(exc))
        except Exception:
            logger.exception("Listing the library failed")
            return gr.skip(), gr.skip(), fmt.error_text("The library could not be read.")
        rows = library_rows(found)
        return (
            rows,
            gr.update(choices=library_choices(found), value=None),
            library_summary(len(rows), len(found), search or ""),
        )

    def show(article_id: str | None) -> tuple[str, Any]:
        if not article_id:
            return "", gr.update(interactive=False)
        try:
            view = fmt.article_view(get_article(article_id, settings=settings, engine=engine))
        except QAError as exc:
            view = fmt.error_text(str(exc.args[0] if exc.args else exc))
        except Exception:
            logger.exception("Loading article %r failed", article_id)
            view = fmt.error_text("The article could not be loaded.")
        return view, gr.update(interactive=removal_allowed)

    def ask_confirmation(article_id: str | None) -> tuple[Any, str]:
        if not removal_allowed:
            return gr.update(visible=False), REMOVAL_DISABLED
        if not article_id:
            return gr.update(visible=False), "Pick an article first."
        return (
            gr.update(visible=True),
            f"Remove this article (id `{article_id}`) from the index? Its chunks and search "
            "entries are deleted; indexing its file again adds it back.",
        )

    def remove(article_id: str | None, search: str | None) -> tuple[Any, Any, Any, str, str]:
        hidden = gr.update(visible=False)
        if not removal_allowed:  # the API is reachable even when the button is disabled
            return hidden, gr.skip(), gr.skip(), REMOVAL_DISABLED, ""
        if not article_id:
            return hidden, gr.skip(), gr.skip(), "Pick an article first.", ""
        try:
            [removed] = remove_articles([article_id], settings=settings)
        except QAError as exc:
            message = fmt.error_text(str(exc.args[0] if exc.args else exc))
            return hidden, gr.skip(), gr.skip(), message, ""
        except Exception:
            logger.exception("Removing article %r failed", article_id)
            return hidden, gr.skip(), gr.skip(), fmt.error_text("Removing failed."), ""
        rows, choices, summary = load(search)
        done = f"Removed “{fmt.escape_text(removed.title)}” ({removed.chunks} chunks). {summary}"
        return hidden, rows, choices, done, ""

    with gr.Tab("Library", elem_id="qa-library") as tab:
        with gr.Row():
            search = gr.Textbox(
                label="Search",
                placeholder="Title, source or id",
                elem_id="qa-library-search",
                scale=4,
            )
            refresh = gr.Button("Refresh", elem_id="qa-library-refresh", scale=1)
        summary = gr.Markdown(elem_id="qa-library-summary")
        table = gr.Dataframe(
            headers=LIBRARY_HEADERS,
            datatype=["str", "str", "str", "number", "str"],
            interactive=False,
            wrap=True,
            elem_id="qa-library-table",
        )
        picker = gr.Dropdown(
            choices=[], value=None, label="Open an article", elem_id="qa-library-picker"
        )
        remove_btn = gr.Button(
            "Remove this article…",
            variant="stop",
            interactive=False,
            elem_id="qa-library-remove",
        )
        if not removal_allowed:
            gr.Markdown(REMOVAL_DISABLED, elem_id="qa-library-remove-disabled")
        message = gr.Markdown(elem_id="qa-library-message")
        with gr.Row(visible=False) as confirm_row:
            confirm_btn = gr.Button("Yes, remove it", variant="stop", elem_id="qa-library-confirm")
            cancel_btn = gr.Button("Cancel", elem_id="qa-library-cancel")
        article_md = gr.Markdown(elem_id="qa-library-article")

    listing = [table, picker, summary]
    hidden = {"api_visibility": "private"}
    demo.load(load, search, listing, **hidden)
    tab.select(load, search, listing, **hidden)
    search.submit(load, search, listing, **hidden)
    refresh.click(load, search, listing, **hidden)
    picker.change(show, picker, [article_md, remove_btn], **hidden)
    remove_btn.click(ask_confirmation, picker, [confirm_row, message], **hidden)
    cancel_btn.click(lambda: (gr.update(visible=False), ""), None, [confirm_row, message], **hidden)
    event = confirm_btn.click(
        remove, [picker, search], [confirm_row, table, picker, message, article_md], **hidden
    )
    if on_change is not None:
        function, outputs = on_change
        event.then(function, None, outputs, **hidden)
