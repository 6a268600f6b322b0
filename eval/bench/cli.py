"""``qa bench``: the command line of the benchmark harness."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.bench.common import DEFAULT_SIZES, QUICK_SIZES, Log
from eval.bench.harness import BenchConfig, run_bench
from eval.bench.report import format_table, write_report
from qa.settings import Settings


def register(sub: Any) -> None:
    """Add ``qa bench`` to the CLI (the ``qa.commands`` entry point)."""
    p = sub.add_parser("bench", help="measure indexing, retrieval and answer latency")
    p.add_argument(
        "--chunks",
        type=int,
        nargs="+",
        metavar="N",
        help=f"corpus sizes for retrieval latency (default {' '.join(map(str, DEFAULT_SIZES))}; "
        f"--quick: {' '.join(map(str, QUICK_SIZES))})",
    )
    p.add_argument("--repeat", type=int, help="runs of each timed step (default 3; --quick: 1)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: tiny corpus, one small size; no LLM, server, cold start or "
        "real-text point",
    )
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--out", type=Path, help="report folder (default: runs/bench/<time>)")
    p.add_argument("--reuse", type=Path, metavar="DIR", help="keep scale indexes in DIR")
    p.add_argument("--no-llm", action="store_true", help="skip the LLM figures")
    p.add_argument("--no-server", action="store_true", help="skip the chroma server figures")
    p.add_argument("--seed", type=int, default=0, help="synthetic corpus seed")
    p.add_argument(
        "--no-real-text",
        action="store_true",
        help="skip the real-text point (XQuAD German paragraphs + samples, really embedded)",
    )
    p.add_argument(
        "--xquad",
        type=Path,
        metavar="DIR",
        help="XQuAD folder of the real-text point (default: ../shared/data/xquad)",
    )
    p.add_argument(
        "--real-text-limit",
        type=int,
        metavar="N",
        help="index only the first N XQuAD paragraphs (default: all 240)",
    )
    p.set_defaults(func=cmd_bench)


def config_of(args: argparse.Namespace) -> BenchConfig:
    """The bench configuration from the parsed arguments.

    Raises:
        ValueError: A non-positive ``--repeat``, ``--chunks`` or ``--real-text-limit``.
    """
    sizes = tuple(args.chunks or (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    repeat = args.repeat or (1 if args.quick else 3)
    if repeat < 1 or any(n < 1 for n in sizes):
        raise ValueError("--repeat and --chunks must be positive")
    if args.real_text_limit is not None and args.real_text_limit < 1:
        raise ValueError("--real-text-limit must be positive")
    return BenchConfig(
        sizes=sizes,
        repeat=repeat,
        quick=args.quick,
        llm=not args.no_llm,
        server=not args.no_server,
        reuse=args.reuse.resolve() if args.reuse else None,
        seed=args.seed,
        real_text=not args.no_real_text,
        xquad=args.xquad.resolve() if args.xquad else None,
        real_text_limit=args.real_text_limit,
    )


def _print(results: dict[str, Any], as_json: bool, out: Path) -> None:
    if as_json:
        print(json.dumps(results, ensure_ascii=False))
        return
    print(format_table(results))
    for note in results["notes"]:
        print(f"note: {note}")
    print(f"report: {out / 'bench.md'}")


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bench, write its report and print it; 1 when a check failed."""
    config = config_of(args)
    # bm25s sets its own logger to DEBUG when imported, undoing the CLI's setting.
    import bm25s  # noqa: F401

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    started = datetime.now(UTC)
    log = Log()
    results = {"started": started.isoformat(timespec="seconds"), **run_bench(config, settings, log)}
    stamp = started.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    out = args.out or Path("runs") / "bench" / stamp
    results["report_dir"] = str(out)
    write_report(out, results)
    log(f"report: {out / 'bench.md'}")
    _print(results, args.json, out)
    return 1 if any(n.startswith("FAIL") for n in results["notes"]) else 0
