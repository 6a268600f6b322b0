"""``qa eval``: score the assistant against gold answers (registered as a qa command)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
        "--dataset", type=Path, default=DEFAULT_DATASET, help="gold .jsonl/folder or SQuAD .json"
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
    p.set_defaults(func=_cmd_eval)


def _baseline_path(args: argparse.Namespace) -> Path:
    if args.baseline:
        return args.baseline
    suffix = f"-{args.limit}" if args.limit else ""
    return BASELINES / f"{args.mode}-{args.split}{suffix}.json"


def _cmd_eval(args: argparse.Namespace, settings: Any) -> int:
    from eval.report import check_regression, compare_runs

    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        print(compare_runs(a, b))
        return 0
    summary = _run(args, settings)
    if args.check:
        baseline = json.loads(_baseline_path(args).read_text())
        # On a small run one question flipping moves a rate by 1/n: allow that much.
        slack = 1.0 / max(int(summary.get("n") or 1), 1) + 0.01
        tolerances = {k: max(v, slack) for k, v in TOLERANCES.items()}
        problems = check_regression(summary, baseline, tolerances)
        for line in problems:
            print(f"REGRESSION {line}", file=sys.stderr)
        print("check: ok" if not problems else f"check: {len(problems)} regression(s)")
        return 1 if problems else 0
    return 0


def _run_naive(dataset: Any, questions: list, settings: Any, progress: Any) -> list:
    import shutil

    from eval import naive
    from index.articles import load_articles
    from qa.chat_models import make_chat_model
    from qa.resources import get_embedder

    articles = dataset.articles or load_articles(dataset.corpus_paths).articles
    persist = settings.data_dir / "naive-rag"
    shutil.rmtree(persist, ignore_errors=True)  # rebuilt each run, as the baseline would be
    store = naive.build_store(articles, get_embedder(settings), persist)
    chat_model = make_chat_model(settings, generator="llm")
    return naive.run(questions, store=store, chat_model=chat_model, progress=progress)


def _run(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    from tqdm import tqdm

    from eval.dataset import load_dataset
    from eval.metrics import breakdown, summarize
    from eval.report import write_report
    from eval.runner import index_dataset, run, run_meta, select
    from qa.retrieval import RetrievalParams

    dataset = load_dataset(args.dataset)
    settings = settings.with_(
        generator="llm" if args.mode == "naive-rag" else args.mode,
        rerank=not args.no_rerank,
        data_dir=settings.data_dir / "eval" / dataset.name,
    )
    index_dataset(dataset, settings)
    questions = select(dataset, split=args.split, limit=args.limit)
    bar = tqdm(total=len(questions), unit="q", file=sys.stderr, disable=args.json)
    if args.mode == "naive-rag":
        records = _run_naive(dataset, questions, settings, lambda done, total: bar.update(1))
    else:
        records = run(
            questions,
            settings=settings,
            retrieval=RetrievalParams(mode=args.retrieval),
            progress=lambda done, total: bar.update(1),
            retrieval_only=args.retrieval_only,
        )
    bar.close()
    summary = summarize(records)
    breakdowns = {"type": breakdown(records, "type"), "lang": breakdown(records, "lang")}
    meta = run_meta(
        settings,
        mode=args.mode,
        dataset=dataset,
        split=args.split,
        limit=args.limit,
        retrieval=args.retrieval,
        retrieval_only=args.retrieval_only,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("runs") / "eval" / f"{stamp}-{args.mode}-{args.retrieval}"
    write_report(out, summary, breakdowns, records, meta)
    if args.save_baseline:
        BASELINES.mkdir(exist_ok=True)
        _baseline_path(args).write_text(
            json.dumps({"summary": summary, "meta": meta}, indent=2, ensure_ascii=False) + "\n"
        )
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"{key:<22}{shown}")
        print(f"report: {out / 'report.md'}")
    return summary
