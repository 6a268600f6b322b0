"""The ``qa`` command: a thin layer over the library.

``qa index``, ``qa articles`` and ``qa ask`` live here. ``qa ui``, ``qa eval``
and ``qa bench`` are registered by the ``ui`` and ``eval`` packages through the
``qa.commands`` entry point group, so imports keep flowing one way (index <- qa <- ui/eval).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from enum import Enum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.settings import Settings

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3

#: Commands that were removed, with what to use instead (argparse would only list the
#: commands that exist).
RETIRED_COMMANDS = {
    "embed-server": (
        "`qa embed-server` was retired. To embed on other machines while indexing, use a "
        "Ray cluster (`qa index PATH... --ray ADDRESS`); to embed through a server, run an "
        "OpenAI-compatible embeddings server (vLLM, Infinity, TEI, Ollama, llama.cpp) and "
        "set QA_EMBEDDER=openai and QA_EMBEDDINGS_BASE_URL (see the README, Scaling out)"
    ),
}


# Characters that move the cursor, change colours, reorder text or end the line when
# printed: C0/C1 controls, DEL, line/paragraph separators and the bidi controls.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # an undecodable byte of a file name
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: object) -> str:
    r"""Text safe to print on a terminal: control characters are shown escaped.

    File names and parse errors come from untrusted files. Printed raw, an escape
    sequence in a name can repaint the screen (hide a ``FAILED`` line) and a newline
    can forge a line of its own; an undecodable byte of a name cannot be printed at
    all. Each such character becomes ``\xNN`` / ``\uNNNN`` (``\x1b``, ``\x0a``,
    ``\u202e``); an undecodable file-name byte shows as the byte (``\xff``).

    Args:
        text: Anything; it is converted with ``str``.

    Returns:
        One line of printable text.
    """
    return _UNPRINTABLE.sub(_escape_char, str(text))


def sample_articles_dir() -> Path:
    """The bundled sample articles (installed as package data of ``index``)."""
    return Path(__file__).resolve().parent.parent / "index" / "samples"


def _cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from qa.api import index_paths

    paths = args.paths or [sample_articles_dir()]
    bar = tqdm(total=0, unit="article", disable=not sys.stderr.isatty() or args.quiet)

    def progress(done: int, total: int, _msg: str) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    ray = None
    if args.ray is not None:
        from index.ray_embedding import DEFAULT_ADDRESS, RayOptions

        # RAY_ADDRESS is read here, at the edge, and handed on explicitly.
        address = args.ray or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS
        ray = RayOptions(address, actors=args.ray_actors, actor_cpus=args.ray_actor_cpus)
    report = index_paths(
        paths,
        settings=settings,
        prune=args.prune,
        rebuild=args.rebuild,
        progress=progress,
        options=reader_options(args),
        ray=ray,
    )
    bar.close()
    for f in report.files:
        if f.status == "failed":
            print(f"FAILED  {printable(f.path)}: {printable(f.reason)}", file=sys.stderr)
        elif args.verbose or f.status in ("removed",):
            print(f"{f.status:<8}{printable(f.path)}")
    print(
        f"{report.summary}; {report.embedded_chunks} chunks embedded "
        f"({report.reused_chunks} reused) in {report.seconds:.1f}s"
    )
    return EXIT_PARTIAL if report.failed else EXIT_OK


def reader_options(args: argparse.Namespace) -> Any:
    """The ``ReaderOptions`` of ``qa index``'s format options.

    Raises:
        ValueError: A malformed ``--map``, ``--default-date`` or ``--source``.
    """
    from index.readers import ReaderOptions, parse_date, parse_field_map

    default_date = None
    if args.default_date:
        try:
            default_date = parse_date(args.default_date)
        except ValueError as exc:
            raise ValueError(f"--default-date: {exc}") from None
    delimiter = args.delimiter
    if delimiter in ("\\t", "tab", "TAB"):
        delimiter = "\t"
    return ReaderOptions(
        format=args.format,
        field_map=parse_field_map(args.map or ""),
        delimiter=delimiter,
        default_date=default_date,
        title_from_body=args.title_from_body,
        source=args.source,
    )


def _cmd_articles_list(args: argparse.Namespace, settings: Settings) -> int:
    from qa.api import list_articles

    found = list_articles(
        settings, since=args.since, until=args.until, source=args.source, search=args.search
    )
    if args.json:
        rows = [{**asdict(a), "published": a.published.isoformat()} for a in found]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    for a in found:
        print(f"{a.id}  {a.published:%Y-%m-%d}  {a.source:<24} {a.chunks:>4}  {a.title}")
    print(f"{len(found)} article{'s' if len(found) != 1 else ''}", file=sys.stderr)
    return EXIT_OK


def _cmd_articles_remove(args: argparse.Namespace, settings: Settings) -> int:
    from qa.api import remove_articles
    from qa.errors import ArticleNotFoundError

    try:
        removed = remove_articles(args.ids, settings=settings)
    except ArticleNotFoundError as exc:
        # KeyError's str() would quote the message.
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_ERROR
    for a in removed:
        print(f"removed {a.id}  {a.published:%Y-%m-%d}  {a.source}  {a.title} ({a.chunks} chunks)")
    return EXIT_OK


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from qa.answering import stream
    from qa.types import Answer

    filters = {"since": args.since, "until": args.until, "source": args.source}
    filters = {k: v for k, v in filters.items() if v}
    answer = None
    pieces: list[str] = []
    for item in stream(args.question, filters=filters, settings=settings):
        if isinstance(item, Answer):
            answer = item
        elif not args.json:
            pieces.append(item)
            print(item, end="", flush=True)
    assert answer is not None
    if args.json:
        print(json.dumps(answer_to_json(answer), ensure_ascii=False, indent=2))
        return EXIT_OK
    streamed = "".join(pieces)
    if answer.text.strip() != streamed.strip():  # markers were checked and renumbered
        print(f"\n\nVerified answer: {answer.text}")
    print()
    for c in answer.citations:
        print(f"  [{c.marker}] {c.title} ({c.published:%Y-%m-%d}, {c.source})\n      „{c.quote}“")
    print(f"  ({answer.generator}, {answer.timings.get('total', 0):.2f}s)")
    return EXIT_OK


def answer_to_json(answer: Any) -> dict[str, Any]:
    """A JSON-ready dict of an Answer (dates as ISO strings, enums as their values)."""

    def convert(obj: Any) -> Any:
        if isinstance(obj, datetime):
            return obj.isoformat()
        if isinstance(obj, Enum):  # Outcome, FallbackReason
            return obj.value
        if isinstance(obj, dict):
            return {k: convert(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [convert(v) for v in obj]
        return obj

    return convert(asdict(answer))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="qa", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="more output")
    sub = parser.add_subparsers(dest="command", required=True)

    from index.readers import FORMATS

    p = sub.add_parser("index", help="index article files or folders (default: the samples)")
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="files or folders: .txt articles, RSS/Atom feeds, HTML pages, CSV/JSONL exports",
    )
    p.add_argument("--prune", action="store_true", help="remove articles whose files are gone")
    p.add_argument("--rebuild", action="store_true", help="drop the index and build it anew")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="file format (default: auto, by extension and content)",
    )
    p.add_argument(
        "--map",
        metavar="FIELD=COLUMN,...",
        help="CSV columns / JSON keys of the fields title, date, body, source, caption "
        "(e.g. title=headline,date=published,body=text,source=section)",
    )
    p.add_argument("--delimiter", help="CSV delimiter (default: sniffed); 'tab' for tabs")
    p.add_argument(
        "--default-date",
        metavar="DATE",
        help="publication date for items without one (ISO 8601, epoch seconds or DD.MM.YYYY)",
    )
    p.add_argument(
        "--title-from-body",
        action="store_true",
        help="CSV/JSONL rows without a title get the body's first sentence",
    )
    p.add_argument(
        "--source", help="source tag for feeds and HTML pages (and export rows without one)"
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="embed on a Ray cluster: its head's HOST:PORT or ray://HOST:PORT "
        "(default: $RAY_ADDRESS, else the cluster `ray start` runs on this machine)",
    )
    p.add_argument("--ray-actors", type=int, metavar="N", help="embedding actors (default: CPUs/C)")
    p.add_argument(
        "--ray-actor-cpus", type=int, default=1, metavar="C", help="CPUs per actor (default: 1)"
    )
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("articles", help="list or remove indexed articles")
    articles = p.add_subparsers(dest="articles_command", required=True)
    q = articles.add_parser("list", help="list indexed articles, newest first")
    q.add_argument("--since", help="only articles published on/after YYYY-MM-DD")
    q.add_argument("--until", help="only articles published on/before YYYY-MM-DD")
    q.add_argument("--source", help="only articles with this source tag")
    q.add_argument("--search", metavar="TEXT", help="only articles whose title contains TEXT")
    q.add_argument("--json", action="store_true", help="print a JSON list")
    q.set_defaults(func=_cmd_articles_list)
    q = articles.add_parser("remove", help="remove articles (chunks and BM25 entries) by id")
    q.add_argument("ids", nargs="+", metavar="ID", help="article ids from `qa articles list`")
    q.set_defaults(func=_cmd_articles_remove)

    p = sub.add_parser("ask", help="answer a question from the indexed articles")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("--since", help="only articles published on/after YYYY-MM-DD")
    p.add_argument("--until", help="only articles published on/before YYYY-MM-DD")
    p.add_argument("--source", help="only articles with this source tag")
    p.set_defaults(func=_cmd_ask)

    for ep in entry_points(group="qa.commands"):
        try:
            register = ep.load()
        except ImportError as exc:  # a package installed without its extras
            logging.getLogger(__name__).debug("qa %s unavailable: %s", ep.name, exc)
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (1 on errors, 3 when some files failed)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in RETIRED_COMMANDS:
        parser.error(RETIRED_COMMANDS[command])  # exits with argparse's usage error (2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings) or 0)
    except (QAError, ValueError, FileNotFoundError) as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to finish (nothing is lost)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
