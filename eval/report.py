"""Write evaluation results (JSON, Markdown, plots) and compare runs.

``write_report`` produces, in the output folder:

* ``result.json`` — summary, breakdowns, meta and every per-question record with
  its per-question scores, plus ``baselines`` (name -> summary, breakdowns, meta)
  when baselines ran; :func:`compare_runs` and :func:`check_regression` accept
  this file's content (or a bare summary, with or without ``baselines``) directly;
* ``report.md`` — settings, summary, the baselines table, per-type and
  per-language tables and the worst failures;
* ``per_type.png`` and ``latency.png``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.metrics import LOWER_IS_BETTER, SUMMARY_KEYS, EvalRecord, score_record

# Metrics shown in the per-group tables (the full summary is in result.json).
_GROUP_COLUMNS = (
    "n",
    "recall@5",
    "mrr",
    "evidence_recall",
    "contains",
    "f1",
    "citation_precision",
    "citation_recall",
    "abstention_recall",
    "false_refusal_rate",
    "language_match",
    "total_p50_s",
)
# Columns of the baselines table (ours and each baseline side by side).
BASELINE_COLUMNS = (
    "n",
    "recall@1",
    "recall@5",
    "mrr",
    "contains",
    "em",
    "f1",
    "citation_precision",
    "citation_recall",
    "abstention_precision",
    "abstention_recall",
    "false_refusal_rate",
    "language_match",
    "ttft_p50_s",
    "total_p50_s",
)
_WORST_N = 10
_CELL_LIMIT = 160


# ---------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _cell(value: Any, limit: int | None = _CELL_LIMIT) -> str:
    """A value made safe for one Markdown table cell (cut to ``limit`` characters)."""
    text = _fmt(value) if not isinstance(value, str) else value
    text = " ".join(text.split())  # newlines would end the table row
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text.replace("|", "\\|")


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, limit: int | None = _CELL_LIMIT
) -> str:
    """A Markdown table; each cell on one line, ``|`` escaped, cut to ``limit`` characters.

    Args:
        header: Column names.
        rows: Rows of values (strings as they are, other values formatted).
        limit: Most characters per cell, or None for no limit.

    Returns:
        The table, without a trailing newline.
    """
    lines = [
        "| " + " | ".join(_cell(h, limit) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_cell(v, limit) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _summary_of(run: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept a bare summary or a whole ``result.json`` document.

    Nested objects (the ``baselines`` of ``qa eval --json`` output) are not metrics
    and are dropped.
    """
    summary = run.get("summary")
    summary = summary if isinstance(summary, Mapping) else run
    return {k: v for k, v in summary.items() if not isinstance(v, Mapping)}


def _json_safe(value: Any) -> Any:
    # NaN/inf are not valid JSON; write them as null like other missing values.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


def _failure_key(
    record: EvalRecord, scores: Mapping[str, float | None]
) -> tuple[float, ...] | None:
    """Sort key of a failed question (lower is worse), or None if it did not fail."""
    if record.unanswerable:
        # Answering an unanswerable question is a hallucination: ranked below
        # every wrong answer to an answerable question.
        return None if record.abstained else (-1.0, 0.0, 0.0)
    contains = scores.get("contains") or 0.0
    if contains >= 1.0 and record.error is None:
        return None
    return (contains, scores.get("f1") or 0.0, scores.get("recall@5") or 0.0)


def worst_failures(records: Sequence[EvalRecord], n: int = _WORST_N) -> list[EvalRecord]:
    """The ``n`` worst-answered questions.

    A failure is an answerable question whose answer does not contain the gold
    answer (including false refusals and errors) or an unanswerable question
    that was answered. Ordered worst first: answered unanswerable questions,
    then lowest contains, then F1, then recall@5, then question id.

    Args:
        records: Evaluated questions.
        n: How many to return.

    Returns:
        Up to ``n`` records.
    """
    keyed = []
    for record in records:
        key = _failure_key(record, score_record(record))
        if key is not None:
            keyed.append((key, record.question_id, record))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in keyed[:n]]


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot state), ``width`` × ``height`` inches."""
    # Figure + Agg canvas directly instead of pyplot: no global state, no GUI
    # backend, safe when reports are written from several threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _plot_per_type(path: Path, by_type: Mapping[str, Mapping[str, Any]]) -> None:
    names = list(by_type)
    fig = new_figure(max(6.0, 0.9 * len(names) + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    if not names:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    width = 0.4
    for offset, metric in ((-width / 2, "contains"), (width / 2, "recall@5")):
        # Missing values (e.g. contains for unanswerable) are drawn as zero-height bars.
        values = [by_type[name].get(metric) or 0.0 for name in names]
        ax.bar([i + offset for i in range(len(names))], values, width, label=metric)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("contains and recall@5 by question type")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)


def _plot_latency(path: Path, records: Sequence[EvalRecord]) -> None:
    totals = [r.total_s for r in records if r.total_s is not None]
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    if totals:
        ax.hist(totals, bins=min(30, max(5, len(totals) // 3)))
    else:
        ax.text(0.5, 0.5, "no latency measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("total latency (s)")
    ax.set_ylabel("questions")
    ax.set_title("answer latency")
    fig.tight_layout()
    fig.savefig(path)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _ours_label(meta: Mapping[str, Any]) -> str:
    return f"ours ({meta['mode']})" if meta.get("mode") else "ours"


def _ours_note(meta: Mapping[str, Any]) -> str:
    only = " (retrieval only)" if meta.get("retrieval_only") else ""
    if meta.get("mode") == "naive-rag":
        return f"this run: the naive LangChain RAG{only}"
    retrieval = meta.get("retrieval", "hybrid")
    rerank = " + sentence reranking" if meta.get("rerank") else ""
    return f"this run: {retrieval} retrieval{rerank}, generator {meta.get('mode', '?')}{only}"


def baselines_table(
    summary: Mapping[str, Any],
    meta: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
) -> str:
    """The report's baselines section body: one row per run, then what each baseline is.

    Args:
        summary: The main run's summary.
        meta: The main run's meta (``mode``, ``retrieval``, ``rerank`` label its row).
        baselines: Name -> ``{"summary": ..., "meta": {"note": ...}}`` (the
            ``baselines`` object of ``result.json``).

    Returns:
        A Markdown table (columns :data:`BASELINE_COLUMNS`) followed by one
        bullet line per run.
    """
    rows = [[_ours_label(meta), *(summary.get(c) for c in BASELINE_COLUMNS)]]
    notes = [f"- **{_ours_label(meta)}**: {_ours_note(meta)}"]
    for name, entry in baselines.items():
        base = _summary_of(entry)
        rows.append([name, *(base.get(c) for c in BASELINE_COLUMNS)])
        note = (entry.get("meta") or {}).get("note", "")
        notes.append(f"- **{name}**: {' '.join(str(note).split())}")
    return "\n".join([markdown_table(("run", *BASELINE_COLUMNS), rows), "", *notes])


def _markdown(
    summary: Mapping[str, Any],
    breakdowns: Mapping[str, Mapping[str, Mapping[str, Any]]],
    records: Sequence[EvalRecord],
    meta: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    parts = ["# Evaluation report", "", "## Settings", ""]
    parts.append(
        markdown_table(("setting", "value"), [(k, _fmt(v)) for k, v in sorted(meta.items())])
    )
    parts += ["", "## Summary", ""]
    keys = [k for k in SUMMARY_KEYS if k in summary] + [k for k in summary if k not in SUMMARY_KEYS]
    parts.append(markdown_table(("metric", "value"), [(k, summary[k]) for k in keys]))
    if baselines:
        parts += ["", "## Baselines", "", "Same questions and settings for every run.", ""]
        parts.append(baselines_table(summary, meta, baselines))
    titles = {"type": "Per question type", "lang": "Per language"}
    for by in ("type", "lang", *sorted(set(breakdowns) - {"type", "lang"})):
        groups = breakdowns.get(by)
        if not groups:
            continue
        parts += ["", f"## {titles.get(by, f'Per {by}')}", ""]
        rows = [[name, *(groups[name].get(c) for c in _GROUP_COLUMNS)] for name in groups]
        parts.append(markdown_table((by, *_GROUP_COLUMNS), rows))
    worst = worst_failures(records)
    parts += ["", f"## Worst failures ({len(worst)})", ""]
    if worst:
        rows = []
        for r in worst:
            gold = "(unanswerable)" if r.unanswerable else " / ".join(r.golds)
            got = f"ERROR: {r.error}" if r.error else r.answer
            if r.abstained:
                got = f"(abstained) {got}"
            rows.append((r.question_id, r.type, r.lang, r.question, gold, got))
        parts.append(markdown_table(("id", "type", "lang", "question", "gold", "got"), rows))
    else:
        parts.append("No failures.")
    parts += ["", "![per type](per_type.png)", "", "![latency](latency.png)", ""]
    return "\n".join(parts)


def write_report(
    out_dir: Path,
    summary: dict[str, Any],
    breakdowns: dict[str, dict[str, dict[str, Any]]],
    records: list[EvalRecord],
    meta: dict[str, Any],
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Write ``result.json``, ``report.md``, ``per_type.png`` and ``latency.png``.

    Args:
        out_dir: Output folder; created if missing, files in it are overwritten.
        summary: Output of :func:`eval.metrics.summarize`.
        breakdowns: ``{"type": breakdown(records, "type"), "lang": ...}``.
        records: The evaluated questions.
        meta: Run settings for the report header (model hashes, git commit,
            generator, dataset, date…); values should be JSON-serialisable.
        baselines: Baseline name -> ``{"summary": ..., "meta": {"note": ...},
            "breakdowns": ...}``, run over the same questions; stored under
            ``baselines`` in ``result.json`` and shown as a table in ``report.md``.
            Omitted from both when empty.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "summary": summary,
        "breakdowns": breakdowns,
        "meta": meta,
        "records": [{**r.to_dict(), "scores": score_record(r)} for r in records],
    }
    if baselines:
        result["baselines"] = {name: dict(entry) for name, entry in baselines.items()}
    (out_dir / "result.json").write_text(
        json.dumps(_json_safe(result), ensure_ascii=False, indent=2, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    (out_dir / "report.md").write_text(
        _markdown(summary, breakdowns, records, meta, baselines), encoding="utf-8"
    )
    _plot_per_type(out_dir / "per_type.png", breakdowns.get("type", {}))
    _plot_latency(out_dir / "latency.png", records)


# ---------------------------------------------------------------------------
# Comparing runs
# ---------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def compare_runs(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A Markdown table of metric differences between two runs.

    Args:
        a: Baseline run: a summary dict or a whole ``result.json`` document.
        b: New run, same forms.

    Returns:
        Table with columns metric, a, b, delta (b - a) and a verdict
        (``better``/``worse``/``same``, taking lower-is-better metrics into account).
    """
    sa, sb = _summary_of(a), _summary_of(b)
    keys = [k for k in SUMMARY_KEYS if k in sa or k in sb]
    keys += sorted((set(sa) | set(sb)) - set(SUMMARY_KEYS))
    rows = []
    for key in keys:
        va, vb = sa.get(key), sb.get(key)
        if _is_number(va) and _is_number(vb):
            delta = vb - va
            if key == "n" or abs(delta) < 1e-12:
                verdict = "same" if abs(delta) < 1e-12 else ""
            else:
                improved = delta < 0 if key in LOWER_IS_BETTER else delta > 0
                verdict = "better" if improved else "worse"
            delta_text = f"{delta:+d}" if isinstance(delta, int) else f"{delta:+.3f}"
        else:
            delta_text, verdict = "n/a", ""
        rows.append((key, _fmt(va), _fmt(vb), delta_text, verdict))
    return markdown_table(("metric", "a", "b", "delta", "verdict"), rows)


def check_regression(
    current: Mapping[str, Any], baseline: Mapping[str, Any], tolerances: Mapping[str, float]
) -> list[str]:
    """Metrics that got worse than the baseline by more than their tolerance.

    Only metrics named in ``tolerances`` are checked. Tolerances are absolute
    (0.02 on ``contains`` allows 0.80 -> 0.78). Higher-is-better metrics fail
    when they drop by more than the tolerance; ``false_refusal_rate`` and the
    latency percentiles fail when they rise by more. A metric the baseline has
    but the current run lacks (missing or ``None``) is a violation; one the
    baseline lacks is skipped.

    Args:
        current: Summary (or ``result.json`` document) of the new run.
        baseline: Summary (or ``result.json`` document) to compare against.
        tolerances: Metric name -> allowed worsening (>= 0).

    Returns:
        One human-readable line per violation, in ``tolerances`` order; empty
        when there is no regression.

    Raises:
        ValueError: A tolerance is negative or names an unknown metric.
    """
    cur, base = _summary_of(current), _summary_of(baseline)
    violations: list[str] = []
    for metric, tolerance in tolerances.items():
        if tolerance < 0:
            raise ValueError(f"tolerance for {metric!r} must be >= 0, got {tolerance}")
        if metric not in SUMMARY_KEYS and metric not in base and metric not in cur:
            raise ValueError(f"unknown metric {metric!r} in tolerances")
        before, after = base.get(metric), cur.get(metric)
        if not _is_number(before):
            continue
        if not _is_number(after):
            violations.append(f"{metric}: missing in the current run (baseline {_fmt(before)})")
            continue
        lower_better = metric in LOWER_IS_BETTER
        worsening = after - before if lower_better else before - after
        # The epsilon keeps float noise (0.1 + 0.2) from turning "exactly at
        # tolerance" into a violation.
        if worsening > tolerance + 1e-9:
            direction = "rose" if lower_better else "dropped"
            violations.append(
                f"{metric}: {direction} from {_fmt(before)} to {_fmt(after)} "
                f"({after - before:+.3f}, tolerance {tolerance:g})"
            )
    return violations
