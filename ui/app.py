"""The Gradio web UI: a thin adapter over the ``qa`` library.

``create_app`` builds the page (no network activity); ``main`` launches it on loopback.
The chat endpoint is published as ``/chat`` for API clients::

    from gradio_client import Client
    job = Client("http://127.0.0.1:7860/").submit(
        "When could humans land on Mars?",  # message
        "",  # since: earliest publication date, YYYY-MM-DD or ""
        "",  # until: latest publication date, YYYY-MM-DD or ""
        "",  # source: source tag such as "toi-allgemeines", or "" for all
        "extractive",  # mode: "extractive" or the configured LLM generator ("llm"/"openai")
        api_name="/chat",
    )

While the answer streams, each job output is ``(text_so_far, article_picker_update)``;
the last one holds the list of messages: the answer (markers linked to the sources)
and the message titled "Sources".  The client's session keeps the conversation, so
follow-up questions see the history.  Errors come back as one readable message that
starts with "⚠️".  ``/index`` takes a list of article files of any format
:mod:`index.readers` reads (``.txt``, feeds, HTML pages, CSV/JSONL exports;
``gradio_client.handle_file``) and returns the per-file (per-item) result table.
"""

from __future__ import annotations

import os

# Before gradio is imported: gradio reads it when it sets up its analytics.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import contextlib
import ipaddress
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

import qa
from index.readers import EXTENSIONS
from qa.api import index_uploads
from qa.engine import Engine, default_engine
from qa.errors import IndexNotBuiltError, QAError
from qa.settings import Settings
from qa.types import Answer
from ui import format as fmt
from ui.library import add_library_tab

logger = logging.getLogger(__name__)

EXAMPLES = (
    "When could humans land on Mars?",
    "Was bot Russland für die Mars-Mission an?",
)
EXTRACTIVE = "extractive"
UPLOAD_HINT = (
    "You can also add articles (.txt, RSS/Atom feeds, HTML pages, CSV/JSONL exports) "
    "under “Add articles” below."
)
# Every format index.readers reads (by extension; the content decides when ambiguous).
UPLOAD_TYPES = sorted(EXTENSIONS)
NO_INDEX_TEXT = "No articles are indexed yet. " + UPLOAD_HINT
# How many uploaded files' articles are looked up to learn their source tags.
_MAX_SOURCE_LOOKUPS = 50


def _llm_generator(settings: Settings) -> str:
    """The generator behind the "LLM" choice: the configured one unless that is extractive."""
    return settings.generator if settings.generator != EXTRACTIVE else "llm"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """Split ``QA_UI_AUTH`` (``user:password``) into Gradio's auth tuple.

    Raises:
        ValueError: The value has no ``:`` or an empty user or password.
    """
    if value is None or value == "":
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("QA_UI_AUTH must look like user:password")
    return user, password


class LoginLimiter:
    """Per-client lock-out after repeated failed logins (pure logic, injectable clock).

    After ``max_failures`` wrong passwords in a row a client is locked out for
    ``lockout_s`` seconds, doubling with each further failure up to ``max_lockout_s``.
    While locked out even the right password is refused, so guessing costs time.
    A successful login resets the client's count.

    Args:
        max_failures: Failed attempts allowed before the first lock-out.
        lockout_s: Length of the first lock-out in seconds.
        max_lockout_s: Longest lock-out in seconds.
        clock: Monotonic time source (tests pass a fake one).
        max_clients: Clients remembered at most (the oldest are forgotten), which
            bounds memory under a flood of addresses.
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        lockout_s: float = 30.0,
        max_lockout_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.max_lockout_s = max_lockout_s
        self._clock = clock
        self._max_clients = max_clients
        self._lock = threading.Lock()
        # client -> (failures in a row, locked until)
        self._state: dict[str, tuple[int, float]] = {}

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when it may try now)."""
        with self._lock:
            _failures, until = self._state.get(client, (0, 0.0))
            return max(0.0, until - self._clock())

    def failed(self, client: str) -> None:
        """Record a wrong password from ``client``."""
        with self._lock:
            failures, until = self._state.pop(client, (0, 0.0))
            failures += 1
            if failures >= self.max_failures:
                extra = failures - self.max_failures
                wait = min(self.max_lockout_s, self.lockout_s * 2 ** min(extra, 32))
                until = self._clock() + wait
            self._state[client] = (failures, until)  # re-inserted: newest last
            while len(self._state) > self._max_clients:
                self._state.pop(next(iter(self._state)))

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures after a correct login."""
        with self._lock:
            self._state.pop(client, None)


class LoginThrottle:
    """ASGI middleware applying a :class:`LoginLimiter` to Gradio's ``POST /login``.

    Gradio's ``auth`` callable does not see who is calling, so the limit sits in
    front of the route: a locked-out client gets HTTP 429 with ``Retry-After``
    without its password being checked; otherwise the route's answer (200 or 400)
    is recorded. Clients are told apart by their address, so behind a reverse proxy
    all users share one counter.
    """

    def __init__(self, app: Any, limiter: LoginLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Handle one ASGI event; only ``POST .../login`` is looked at."""
        path = str(scope.get("path", "")).rstrip("/")
        if scope["type"] != "http" or scope.get("method") != "POST" or not path.endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.limiter.retry_after(client)
        if wait > 0:
            body = json.dumps(
                {"detail": f"Too many failed logins; try again in {math.ceil(wait)} s."}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", str(math.ceil(wait)).encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    self.limiter.succeeded(client)
                elif message["status"] in (400, 401):
                    self.limiter.failed(client)
            await send(message)

        await self.app(scope, receive, recording_send)


def launch_options(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch``: loopback, no share link, optional auth.

    Args:
        settings: Supplies host, port, auth and the upload size limit.
        host: Overrides ``settings.ui_host``.
        port: Overrides ``settings.ui_port``.

    Raises:
        ValueError: ``settings.ui_auth`` is malformed.
    """
    server_name = host or settings.ui_host or "127.0.0.1"
    auth = parse_auth(settings.ui_auth)
    if auth is None and not _is_loopback(server_name):
        logger.warning(
            "Serving on %s without a password: anyone who can reach it can query and "
            "add articles. Set QA_UI_AUTH=user:password.",
            server_name,
        )
    return {
        "server_name": server_name,
        "server_port": port or settings.ui_port,
        "share": False,
        "auth": auth,
        "max_file_size": settings.max_upload_bytes,
        # Server-side rendering would need Node and a second port.
        "ssr_mode": False,
        "show_error": False,
        "mcp_server": False,
        # The run-history page can upload runs to a Hugging Face bucket: not offline.
        "run_history": False,
        "footer_links": ["api", "settings"],
        # Repeated wrong passwords lock the client out for a while (see LoginLimiter).
        "app_kwargs": {"middleware": [Middleware(LoginThrottle, limiter=LoginLimiter())]}
        if auth is not None
        else {},
    }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _chat_error(message: str) -> tuple[str, Any]:
    return fmt.error_text(message), gr.skip()


def create_app(settings: Settings, *, engine: Engine | None = None) -> gr.Blocks:
    """Build the web UI (chat, filters, mode switch, uploads, article viewer, status).

    Args:
        settings: Configuration; the UI's mode switch overrides only ``generator``.
        engine: Answers the questions and reads the index, for every session (default:
            the default engine for ``settings``); the caller closes it.

    Returns:
        The Blocks app with its queue configured; call ``launch`` to serve it.
    """
    engine = engine or default_engine(settings)
    llm_generator = _llm_generator(settings)
    modes = {llm_generator, EXTRACTIVE}
    # Shared by all sessions: sources learnt from the status and from uploads.
    known_sources: set[str] = set()

    def source_choices() -> list[tuple[str, str]]:
        return [("All sources", ""), *((s, s) for s in sorted(known_sources))]

    def refresh_status() -> tuple[str, Any]:
        try:
            current = qa.status(settings, engine=engine)
        except IndexNotBuiltError:
            return NO_INDEX_TEXT, gr.skip()
        except QAError as exc:
            return fmt.error_text(str(exc)), gr.skip()
        except Exception:
            logger.exception("Reading the index status failed")
            return fmt.error_text("The index status could not be read."), gr.skip()
        # IndexStatus may list its source tags; without them the dropdown takes free text.
        known_sources.update(getattr(current, "sources", None) or ())
        return fmt.status_line(current), gr.update(choices=source_choices())

    def respond(
        message: str,
        history: list[dict[str, Any]],
        since: str | None,
        until: str | None,
        source: str | None,
        mode: str | None,
    ) -> Iterator[tuple[Any, Any]]:
        """Stream the answer to ``message``; finally the answer and sources messages."""
        # The library checks the question itself (empty, too long) with readable errors.
        mode = mode or settings.generator
        if mode not in modes:
            yield _chat_error(f"Unknown mode {mode!r}; use one of {', '.join(sorted(modes))}.")
            return
        try:
            filters = fmt.build_filters(since, until, source)
        except ValueError as exc:
            yield _chat_error(str(exc))
            return
        run_settings = settings if mode == settings.generator else settings.with_(generator=mode)
        prefix = fmt.answer_prefix(history)
        text = ""
        answer: Answer | None = None
        try:
            # closing(): when the user presses Stop, Gradio closes this generator and the
            # library's generation must stop too.
            with contextlib.closing(
                engine.stream(
                    message,
                    history=fmt.history_for_qa(history),
                    filters=filters,
                    settings=run_settings,
                )
            ) as parts:
                for part in parts:
                    if isinstance(part, Answer):
                        answer = part
                    else:
                        text += part
                        yield fmt.streaming_text(text), gr.skip()
            if answer is None:
                raise RuntimeError("the answer stream ended without an Answer")
        except IndexNotBuiltError as exc:
            yield _chat_error(f"{exc} {UPLOAD_HINT}")
            return
        except QAError as exc:
            yield _chat_error(str(exc))
            return
        except Exception:
            logger.exception("Answering %r failed", message)
            yield _chat_error(fmt.GENERIC_ERROR)
            return
        choices = fmt.article_choices(answer)
        yield (
            fmt.answer_messages(answer, prefix=prefix),
            gr.update(choices=choices, value=None, interactive=bool(choices)),
        )

    def show_article(article_id: str | None) -> str:
        if not article_id:
            return ""
        try:
            return fmt.article_view(qa.get_article(article_id, settings=settings, engine=engine))
        except QAError as exc:
            return fmt.error_text(str(exc))
        except Exception:
            logger.exception("Loading article %r failed", article_id)
            return fmt.error_text("The article could not be loaded.")

    def index_files(
        files: Sequence[str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio injects it this way
    ) -> tuple[Any, str, str, Any]:
        paths = [Path(f) for f in files or ()]
        rejected: list[list[str]] = []
        accepted: list[Path] = []
        for path in paths:
            if path.suffix.lower() not in UPLOAD_TYPES:
                rejected.append(
                    [path.name, "failed", f"accepted file types: {', '.join(UPLOAD_TYPES)}"]
                )
            elif path.stat().st_size > settings.max_upload_bytes:
                rejected.append(
                    [
                        path.name,
                        "failed",
                        f"larger than the limit of {settings.max_upload_bytes:,} bytes",
                    ]
                )
            else:
                accepted.append(path)
        if not accepted:
            summary = "No article files to index." if not rejected else "Nothing was indexed."
            status, sources = refresh_status()
            return rejected, summary, status, sources

        def report_progress(done: int, total: int, message: str) -> None:
            progress((done, total), desc=message, unit="articles")

        progress(0, desc="Loading the embedding model…")
        try:
            # Indexed from copies in the data dir: Gradio's temp folder may be cleared
            # (a reboot empties /tmp/gradio), and `qa index --prune` would drop them.
            report = index_uploads(
                accepted, settings=settings, progress=report_progress, engine=engine
            )
        except QAError as exc:
            status, sources = refresh_status()
            return rejected, fmt.error_text(str(exc)), status, sources
        except Exception:
            logger.exception("Indexing %d uploaded files failed", len(accepted))
            status, sources = refresh_status()
            failure = fmt.error_text("Indexing failed; the error was logged.")
            return rejected, failure, status, sources
        new_ids = [
            f.article_id for f in report.files if f.status in ("added", "updated") and f.article_id
        ]
        for article_id in new_ids[:_MAX_SOURCE_LOOKUPS]:
            with contextlib.suppress(Exception):
                known_sources.add(
                    qa.get_article(article_id, settings=settings, engine=engine).source
                )
        status, sources = refresh_status()
        return fmt.report_rows(report) + rejected, fmt.report_summary(report), status, sources

    with gr.Blocks(title="News QA", analytics_enabled=False) as demo:
        gr.Markdown(
            "## News QA\nAsk questions about the indexed news articles, in English or German. "
            "Answers cite their sources with [1], [2]."
        )
        status_md = gr.Markdown("Reading the index…", elem_id="qa-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=240):
                mode = gr.Radio(
                    choices=[
                        ("LLM (written answer)", llm_generator),
                        ("Extractive (quoted sentences, fast)", EXTRACTIVE),
                    ],
                    value=settings.generator,
                    label="Answer mode",
                    elem_id="qa-mode",
                )
                with gr.Accordion("Filters", open=True):
                    since = gr.Textbox(
                        label="From (YYYY-MM-DD)", placeholder="e.g. 2025-01-01", elem_id="qa-since"
                    )
                    until = gr.Textbox(
                        label="Until (YYYY-MM-DD)",
                        placeholder="e.g. 2025-12-31",
                        elem_id="qa-until",
                    )
                    source = gr.Dropdown(
                        choices=source_choices(),
                        value="",
                        label="Source",
                        allow_custom_value=True,
                        elem_id="qa-source",
                    )
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    height=560,
                    # News text is full of "$"; nothing here is LaTeX.
                    latex_delimiters=[],
                    feedback_options=None,
                    elem_id="qa-chatbot",
                    placeholder="Ask a question or pick an example.",
                )
                question = gr.Textbox(
                    placeholder="Ask about the news, in English or German…",
                    max_length=settings.max_question_chars,
                    submit_btn="Send",
                    stop_btn="Stop",
                    autofocus=True,
                    elem_id="qa-question",
                )
                # Rendered further down, but filled by the chat function.
                article_picker = gr.Dropdown(
                    choices=[],
                    value=None,
                    label="Cited articles",
                    info="Pick a source of the last answer to read the whole article.",
                    interactive=False,
                    elem_id="qa-article-picker",
                    render=False,
                )
                gr.ChatInterface(
                    respond,
                    chatbot=chatbot,
                    textbox=question,
                    additional_inputs=[since, until, source, mode],
                    additional_outputs=[article_picker],
                    examples=[[q, None, None, None, None] for q in EXAMPLES],
                    api_name="chat",
                    api_description=(
                        "Answer a question from the indexed articles. Inputs: message; since "
                        "and until (YYYY-MM-DD or empty); source tag (or empty); mode "
                        f"({', '.join(sorted(modes))}). Streams the growing answer text, "
                        "then the answer and sources messages."
                    ),
                    # "full" shows the queue position while another answer is generated.
                    show_progress="full",
                    fill_height=False,
                )
        with gr.Row(equal_height=False):
            with gr.Column(), gr.Accordion("Read a cited article", open=True):
                article_picker.render()
                article_md = gr.Markdown(elem_id="qa-article")
            with gr.Column(), gr.Accordion("Add articles", open=True):
                uploads = gr.File(
                    label="Article files (.txt, feeds, HTML pages, CSV/JSONL exports)",
                    file_count="multiple",
                    file_types=UPLOAD_TYPES,
                    type="filepath",
                    elem_id="qa-upload",
                )
                summary_md = gr.Markdown(elem_id="qa-index-summary")
                report_table = gr.Dataframe(
                    headers=fmt.REPORT_HEADERS,
                    datatype=["str", "str", "str"],
                    label="Indexing result",
                    interactive=False,
                    wrap=True,
                    elem_id="qa-index-report",
                )

        article_picker.change(
            show_article, article_picker, article_md, api_visibility="undocumented"
        )
        uploads.upload(
            index_files,
            uploads,
            [report_table, summary_md, status_md, source],
            api_name="index",
            concurrency_limit=1,
        )
        demo.load(refresh_status, None, [status_md, source], api_visibility="undocumented")
        add_library_tab(
            demo,
            settings,
            engine=engine,
            # Anyone who reaches an open UI beyond loopback could empty the index.
            removal_allowed=bool(settings.ui_auth) or _is_loopback(settings.ui_host or "127.0.0.1"),
            on_change=(refresh_status, [status_md, source]),
        )

    # One generation at a time: the local LLM uses every core; others wait in the queue.
    demo.queue(default_concurrency_limit=1)
    return demo


def main(host: str | None = None, port: int | None = None) -> None:
    """Serve the UI until interrupted (``qa ui [--host H] [--port P]``).

    Args:
        host: Interface to bind; default ``QA_UI_HOST`` or 127.0.0.1.
        port: Port; default ``QA_UI_PORT`` or 7860.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    if host:
        # The Library tab's removal depends on where the UI listens.
        settings = settings.with_(ui_host=host)
    # The one engine of the process: every session's questions share its models.
    engine = Engine(settings)
    app = create_app(settings, engine=engine)
    # The LLM loads and evaluates its system prompt while the server starts, so the
    # first question does not pay for it; a missing model is reported when asked.
    options = launch_options(settings, host=host, port=port)
    _check_port_free(options["server_name"], options["server_port"])
    threading.Thread(target=_warm_up, args=(engine,), name="llm-warm-up", daemon=True).start()
    try:
        app.launch(**options)
    except OSError as exc:  # lost a race for the port after the check
        message = _port_message(options["server_name"], options["server_port"], exc)
        raise SystemExit(message) from None
    finally:
        engine.close()


def _port_message(host: str, port: int, exc: BaseException) -> str:
    return (
        f"error: cannot serve the web chat on {host}:{port} ({exc}); is another `qa ui` "
        "running? Choose another port with QA_UI_PORT or `qa ui --port`."
    )


def _check_port_free(host: str, port: int) -> None:
    """Exit with one clear line when the UI's port is taken.

    Gradio itself raises a traceback that names its own GRADIO_SERVER_PORT variable.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SystemExit(_port_message(host, port, exc)) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # Like uvicorn, which Gradio uses: a port in TIME_WAIT is still free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise SystemExit(_port_message(host, port, exc.strerror or exc)) from None


def _warm_up(engine: Engine) -> None:
    try:
        engine.warm_up()
    except Exception:  # the chat still works (extractive fallback); say why in the log
        logger.warning("LLM warm-up failed", exc_info=True)
