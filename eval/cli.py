"""``qa eval``: score the assistant against gold answers (registered as a qa command)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.suite import EvalOptions, Evaluation, Progress

DEFAULT_DATASET = Path(__file__).resolve().parent / "gold"
BASELINES = Path(__file__).resolve().parent / "baselines"

# Allowed absolute worsening per metric before `--check` fails.
TOLERANCES = {
    "recall@5": 0.03,
    "mrr": 0.03,
    "contains": 0.04,
    "citation_precision": 0.05,
    "abstention_recall": 0.08,
    "false_refusal_rate": 0.05,
}


def register(sub: Any) -> None:
    """Add ``qa eval`` to the CLI."""
    p = sub.add_parser("eval", help="evaluate against gold answers and write a report")
    p.add_argument(
        "--mode",
        choices=["llm", "extractive", "openai", "naive-rag"],
        default="extractive",
        help="naive-rag: the plain LangChain RAG baseline with the same LLM",
    )
    p.add_argument(
        "--dataset",
        default=str(DEFAULT_DATASET),
        help="gold .jsonl/folder, SQuAD .json, or xquad-en-de / xquad-de-de (English or "
        "German questions over the German XQuAD paragraphs, from ../shared/data/xquad)",
    )
    p.add_argument(
        "--corpus",
        type=Path,
        help="folder of the articles a gold file refers to (default: the bundled samples)",
    )
    p.add_argument(
        "--claims",
        action="store_true",
        help="score the claim check on eval/gold/claims (precision/recall of rejecting "
        "wrong claims; --split applies)",
    )
    p.add_argument("--split", choices=["dev", "test", "all"], default="all")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--retrieval", choices=["hybrid", "dense", "lexical"], default="hybrid")
    p.add_argument("--no-rerank", action="store_true", help="skip sentence-level reranking")
    p.add_argument(
        "--retrieval-only", action="store_true", help="score retrieval only (no answers)"
    )
    p.add_argument("--out", type=Path, help="report folder (default: runs/eval/<time>-<mode>)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="diff two result.json")
    p.add_argument("--check", action="store_true", help="fail when worse than the baseline")
    p.add_argument("--baseline", type=Path, help="baseline result.json for --check")
    p.add_argument("--save-baseline", action="store_true", help="write this run as the baseline")
    p.add_argument(
        "--baselines",
        metavar="LIST",
        help="comparison runs over the same questions, comma list of bm25, naive-rag, or "
        "none (default: bm25,naive-rag for llm/openai, bm25 for extractive, none for "
        "--check, --retrieval-only and naive-rag)",
    )
    p.set_defaults(func=_cmd_eval)


def _baseline_path(args: argparse.Namespace) -> Path:
    if args.baseline:
        return args.baseline
    suffix = f"-{args.limit}" if args.limit else ""
    # The bundled gold set keeps its old names; other named datasets are prefixed.
    prefix = f"{args.dataset}-" if str(args.dataset).startswith("xquad-") else ""
    return BASELINES / f"{prefix}{args.mode}-{args.split}{suffix}.json"


def _cmd_eval(args: argparse.Namespace, settings: Any) -> int:
    if args.claims:
        return _claims(args)
    if args.compare:
        from eval.report import compare_runs

        a, b = (json.loads(p.read_text()) for p in args.compare)
        print(compare_runs(a, b))
        return 0
    summary = _run(args, settings)
    return _check(args, summary) if args.check else 0


def _claims(args: argparse.Namespace) -> int:
    from eval.claims import load_claims, score_claims

    result = score_claims(load_claims(), split=args.split)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    for key in ("n", "precision", "recall", "undecided"):
        value = result[key]
        print(f"{key:<12}{value:.3f}" if isinstance(value, float) else f"{key:<12}{value}")
    for kind, recall in result["recall_by_kind"].items():
        print(f"  recall {kind:<20}{recall:.3f}")
    for line in result["errors"]:
        print(f"  {line}")
    return 0


def _check(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    from eval.report import check_regression

    baseline = json.loads(_baseline_path(args).read_text())
    # On a small run one question flipping moves a rate by 1/n: allow that much.
    slack = 1.0 / max(int(summary.get("n") or 1), 1) + 0.01
    tolerances = {k: max(v, slack) for k, v in TOLERANCES.items()}
    problems = check_regression(summary, baseline, tolerances)
    for line in problems:
        print(f"REGRESSION {line}", file=sys.stderr)
    print("check: ok" if not problems else f"check: {len(problems)} regression(s)")
    return 1 if problems else 0


def _options(args: argparse.Namespace) -> EvalOptions:
    from eval.suite import EvalOptions, parse_baselines

    baselines = parse_baselines(
        args.baselines, mode=args.mode, check=args.check, retrieval_only=args.retrieval_only
    )
    return EvalOptions(
        mode=args.mode,
        split=args.split,
        limit=args.limit,
        retrieval=args.retrieval,
        rerank=not args.no_rerank,
        retrieval_only=args.retrieval_only,
        baselines=baselines,
    )


def _progress_bars(disable: bool) -> Progress:
    """``progress(name, done, total)`` drawing one tqdm bar per run on stderr."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in bars:
            bars[name] = tqdm(total=total, desc=name, unit="q", file=sys.stderr, disable=disable)
        bars[name].update(1)
        if done == total:
            bars[name].close()

    return progress


def _run(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    from eval.report import write_report
    from eval.suite import evaluate

    ev = evaluate(
        args.dataset,
        settings,
        _options(args),
        progress=_progress_bars(args.json),
        corpus=args.corpus,
    )
    main = ev.main
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("runs") / "eval" / f"{stamp}-{args.mode}-{args.retrieval}"
    write_report(out, main.summary, main.breakdowns, main.records, main.meta, ev.baselines_json())
    if args.save_baseline:
        _save_baseline(args, ev)
    _print(ev, out, as_json=args.json)
    return main.summary


def _save_baseline(args: argparse.Namespace, ev: Evaluation) -> None:
    # The regression reference holds the main run only: `--check` never looks further.
    BASELINES.mkdir(exist_ok=True)
    doc = {"summary": ev.main.summary, "meta": ev.main.meta}
    _baseline_path(args).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _print(ev: Evaluation, out: Path, *, as_json: bool) -> None:
    from eval.report import baselines_table

    if as_json:
        extra = {"baselines": ev.baselines_json(with_breakdowns=False)} if ev.baselines else {}
        print(json.dumps({**ev.main.summary, **extra}))
        return
    for key, value in ev.main.summary.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{key:<22}{shown}")
    if ev.baselines:
        print()
        print(baselines_table(ev.main.summary, ev.main.meta, ev.baselines_json()))
        print()
    print(f"report: {out / 'report.md'}")
