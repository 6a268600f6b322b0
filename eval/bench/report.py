"""The bench's results: headline figures, targets, the table, ``bench.md`` and ``bench.png``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eval.bench.common import RETRIEVAL_CASES, TARGETS
from eval.report import markdown_table, new_figure

#: Indexing figures copied to the top level of ``--json``.
_HEADLINE_INDEXING = (
    "index_s",
    "index_s_p95",
    "naive_index_s",
    "naive_index_s_p95",
    "embed_only_s",
    "embed_only_s_p95",
    "naive_over_index",
    "embed_only_over_index",
    "naive_over_index_best",
    "embed_only_over_index_best",
    "index_chunks_per_s",
    "index_tokens_per_s",
    "embed_only_chunks_per_s",
    "embed_only_tokens_per_s",
    "naive_chunks_per_s",
    "naive_tokens_per_s",
    "reindex_unchanged_s",
    "reindex_unchanged_s_p95",
    "reindex_embedded_chunks",
)
_MET = {True: "yes", False: "**no**", None: "not measured"}

Row = tuple[str, str, str, str]


# --------------------------------------------------------------------- headline


def _scale_headline(scale: Mapping[str, Any]) -> dict[str, Any]:
    """Per-size figures of retrieval, re-indexing and data size, keyed by size."""
    head: dict[str, Any] = {}
    for case in RETRIEVAL_CASES:
        for q in ("p50", "p95"):
            head[f"{case}_{q}_ms"] = {n: s["retrieval"][case][q] for n, s in scale.items()}
        head[f"{case}_search_p50_ms"] = {
            n: s["retrieval"][case]["search_p50_ms"] for n, s in scale.items()
        }
    head["reindex_unchanged_at_size_s"] = {
        n: s["reindex_unchanged_s"]["p50"] for n, s in scale.items()
    }
    head["data_mb_per_1k_chunks"] = {n: s["data_mb_per_1k_chunks"] for n, s in scale.items()}
    return head


def _answer_headline(details: Mapping[str, Any]) -> dict[str, Any]:
    """Extractive and LLM latencies, cold starts and peak memory (None when skipped)."""
    ex, llm = details["extractive"], details.get("llm")
    cold, cold_llm = details.get("cold_start"), details.get("cold_start_llm")
    return {
        "extractive_p50_ms": ex["p50"],
        "extractive_p95_ms": ex["p95"],
        "extractive_first_pass_p50_ms": ex["first_pass_p50"],
        "ttft_p50_s": llm["ttft_s"]["p50"] if llm else None,
        "ttft_p95_s": llm["ttft_s"]["p95"] if llm else None,
        "answer_p50_s": llm["total_s"]["p50"] if llm else None,
        "answer_p95_s": llm["total_s"]["p95"] if llm else None,
        "cold_start_s": cold["seconds"] if cold else None,
        "peak_rss_mb": cold["peak_rss_mb"] if cold else None,
        "cold_start_llm_s": cold_llm["seconds"] if cold_llm else None,
        "peak_rss_mb_llm": cold_llm["peak_rss_mb"] if cold_llm else None,
    }


def headline(details: Mapping[str, Any]) -> dict[str, Any]:
    """The flat top-level figures of ``--json`` from the detailed results."""
    ix = details["indexing"]
    head: dict[str, Any] = {k: ix[k] for k in _HEADLINE_INDEXING}
    head.update(_scale_headline(details.get("scale", {})))
    server = details.get("server")
    head["hybrid_server_p50_ms"] = server["retrieval"]["hybrid"]["p50"] if server else None
    head["dense_server_p50_ms"] = server["retrieval"]["dense"]["p50"] if server else None
    head.update(_answer_headline(details))
    return head


# --------------------------------------------------------------------- targets


def _target_values(results: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """Each target's measured value and where it was measured."""
    values: dict[str, tuple[Any, str]] = {}
    for key in ("naive_over_index", "embed_only_over_index", "extractive_first_pass_p50_ms"):
        values[key] = (results.get(key), "sample corpus")
    for key in ("ttft_p50_s", "answer_p50_s", "peak_rss_mb_llm"):
        values[key] = (results.get(key), "sample corpus")
    for key, source in (
        ("reindex_unchanged_100k_s", "reindex_unchanged_at_size_s"),
        ("hybrid_100k_p50_ms", "hybrid_p50_ms"),
    ):
        by_size = results.get(source) or {}
        if "100000" in by_size:
            values[key] = (by_size["100000"], "100000 chunks")
        elif by_size:
            largest = max(by_size, key=int)
            values[key] = (by_size[largest], f"{largest} chunks (100k not measured)")
        else:
            values[key] = (None, "not measured")
    return values


def check_targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Compare the figures with the issue's targets.

    100k-chunk targets use the 100 000 size when it was measured; otherwise the
    largest measured size is shown and the target is marked as not measured.

    Returns:
        One row per target: ``target``, ``value``, ``at``, ``met`` (None: not measured).
    """
    values = _target_values(results)
    rows = []
    for key, op, threshold, text in TARGETS:
        value, at = values[key]
        met = None
        if value is not None and "not measured" not in at:
            met = value >= threshold if op == ">=" else value < threshold
        rows.append(
            {
                "target": text,
                "key": key,
                "threshold": f"{op} {threshold:g}",
                "value": value,
                "at": at,
                "met": met,
            }
        )
    return rows


# --------------------------------------------------------------------- the table


def fmt(value: Any, digits: int = 3) -> str:
    """A figure for the table: thousands separators, ``digits`` significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits - 1}f}"
    return str(value)


def _row(name: str, p50: Any, p95: Any = "", note: str = "") -> Row:
    return (name, p50 if isinstance(p50, str) else fmt(p50), fmt(p95) if p95 != "" else "", note)


def _pair(a: Any, b: Any) -> str:
    return f"{fmt(a)} / {fmt(b)}"


def _indexing_rows(ix: Mapping[str, Any]) -> list[Row]:
    runs = f"{ix['repeats']} runs, {ix['corpus_articles']} articles"
    return [
        _row("index_s", ix["index_s"], ix["index_s_p95"],
             f"min {fmt(ix['index_s_min'])}; {ix['corpus_chunks']} chunks, {runs}"),
        _row("embed_only_s", ix["embed_only_s"], ix["embed_only_s_p95"],
             f"min {fmt(ix['embed_only_s_min'])}; the embedder alone on the same chunks"),
        _row("naive_index_s", ix["naive_index_s"], ix["naive_index_s_p95"],
             f"min {fmt(ix['naive_index_s_min'])}; LangChain splitter + Chroma, "
             f"{ix['naive_chunks']} chunks"),
        _row("naive / index", ix["naive_over_index"],
             note="speed-up over the naive pipeline; best-of: "
             f"{fmt(ix['naive_over_index_best'])}"),
        _row("embed_only / index", ix["embed_only_over_index"],
             note="share of index_s spent embedding; best-of: "
             f"{fmt(ix['embed_only_over_index_best'])}"),
        _row("write_only_s / lexical_only_s", _pair(ix["write_only_s"], ix["lexical_only_s"]),
             note="Chroma write / BM25 build alone"),
        _row("index chunks/s / tokens/s",
             _pair(ix["index_chunks_per_s"], ix["index_tokens_per_s"])),
        _row("embed_only chunks/s / tokens/s",
             _pair(ix["embed_only_chunks_per_s"], ix["embed_only_tokens_per_s"]),
             note=f"tokens: {ix['token_count']}"),
        _row("naive chunks/s / tokens/s",
             _pair(ix["naive_chunks_per_s"], ix["naive_tokens_per_s"])),
        _row("reindex_unchanged_s", ix["reindex_unchanged_s"], ix["reindex_unchanged_s_p95"],
             f"embedded {ix['reindex_embedded_chunks']} chunks"),
    ]  # fmt: skip


def _scale_rows(s: Mapping[str, Any]) -> list[Row]:
    r, at = s["retrieval"], f"@ {s['chunks']:,}"
    rows = []
    for case in RETRIEVAL_CASES:
        note = f"{r[case]['qps']:.0f} q/s"
        if r[case]["embed_query_p50_ms"]:
            note += (
                f"; p50 query embedding {fmt(r[case]['embed_query_p50_ms'])} ms"
                f" + search {fmt(r[case]['search_p50_ms'])} ms"
            )
        rows.append(_row(f"{case}_ms {at}", r[case]["p50"], r[case]["p95"], note))
    rs = s["reindex_unchanged_s"]
    return [
        *rows,
        _row(f"first query ms {at}", r["first_query_ms"], note=f"opened in {fmt(s['open_s'])} s"),
        _row(f"reindex_unchanged_s {at}", rs["p50"], rs["p95"],
             f"embedded {s['reindex_embedded_chunks']}"),
        _row(f"data MB per 1k chunks {at}", s["data_mb_per_1k_chunks"],
             note=f"{fmt(s['data_mb'])} MB"),
    ]  # fmt: skip


def _server_rows(sv: Mapping[str, Any]) -> list[Row]:
    return [
        _row(f"{case}_server_ms @ {sv['chunks']:,}", sv["retrieval"][case]["p50"],
             sv["retrieval"][case]["p95"], "`chroma run`, loopback")
        for case in ("dense", "hybrid", "hybrid_filtered")
    ]  # fmt: skip


def real_text_rows(rt: Mapping[str, Any]) -> list[Row]:
    """Rows of the real-text point (:mod:`eval.bench.realtext`)."""
    ex, hy, rs = rt["extractive"], rt["hybrid"], rt["reindex_unchanged_s"]
    asked = f"{rt['questions']} XQuAD en-de questions"
    return [
        _row("real-text index_s", rt["index_s"],
             note=f"{rt['articles']} articles ({rt['xquad_articles']} XQuAD German "
             f"paragraphs + {rt['sample_articles']} samples), {rt['chunks']:,} chunks, "
             "one run, real embeddings"),
        _row("real-text index chunks/s / tokens/s",
             _pair(rt["index_chunks_per_s"], rt["index_tokens_per_s"]),
             note=f"tokens: {rt['token_count']}"),
        _row("real-text reindex_unchanged_s", rs["p50"], rs["p95"],
             f"embedded {rt['reindex_embedded_chunks']} chunks"),
        _row("real-text extractive_ms", ex["p50"], ex["p95"],
             f"{asked}, each timed as new (query embedding included); "
             f"{ex['answers']} answers ({ex['abstained']} abstained)"),
        _row("real-text hybrid_ms", hy["p50"], hy["p95"],
             f"{asked}, k = {rt['retrieval_k']}; p50 query embedding "
             f"{fmt(hy['embed_query_p50_ms'])} ms + search {fmt(hy['search_p50_ms'])} ms"),
        _row("real-text recall@1 / @5", _pair(rt["recall@1"], rt["recall@5"]),
             note="the question's XQuAD paragraph among the hybrid results"),
    ]  # fmt: skip


def _answer_rows(d: Mapping[str, Any]) -> list[Row]:
    ex = d["extractive"]
    stages = ", ".join(f"{k} {fmt(v)}" for k, v in ex["stage_p50_ms"].items() if v)
    rows = [
        _row("extractive_ms", ex["p50"], ex["p95"],
             f"{ex['answers']} answers ({ex['abstained']} abstained); first pass p50 "
             f"{fmt(ex['first_pass_p50'])}; stage p50 ms: {stages}"),
    ]  # fmt: skip
    llm = d.get("llm")
    if llm:
        note = f"{llm['model']}, {llm['threads']} threads, loaded in {fmt(llm['load_s'])} s"
        rows.append(_row("ttft_s", llm["ttft_s"]["p50"], llm["ttft_s"]["p95"], note))
        rows.append(
            _row("answer_s", llm["total_s"]["p50"], llm["total_s"]["p95"],
                 f"{llm['total_s']['n']} answered; TTFT over {llm['ttft_s']['n']} LLM runs; "
                 f"{llm['abstained']} of {len(llm['answers'])} questions abstained")
        )  # fmt: skip
    else:
        rows.append(_row("ttft_s / answer_s", "n/a", "", "LLM not measured (see notes)"))
    return rows


def _process_rows(d: Mapping[str, Any]) -> list[Row]:
    rows = []
    cs = d.get("cold_start")
    if cs:
        rows.append(_row("cold_start_s", cs["seconds"],
                         note="`qa ask --json`, extractive, fresh process"))  # fmt: skip
        rows.append(_row("peak_rss_mb", cs["peak_rss_mb"], note="that process (no LLM)"))
    else:
        rows.append(_row("cold_start_s / peak_rss_mb", "n/a", note="not measured (see notes)"))
    cl = d.get("cold_start_llm")
    if cl:
        rows.append(_row("cold_start_llm_s", cl["seconds"],
                         note=f"`qa ask --json`, {cl['generator']}"))  # fmt: skip
        rows.append(_row("peak_rss_mb_llm", cl["peak_rss_mb"], note="that process, with the LLM"))
    else:
        rows.append(_row("peak_rss_mb_llm", "n/a", note="LLM not measured (see notes)"))
    return rows


def table_rows(results: Mapping[str, Any]) -> list[Row]:
    """Rows ``(figure, p50, p95, comment)`` of the summary table."""
    d = results["details"]
    rows = _indexing_rows(d["indexing"])
    for s in d.get("scale", {}).values():
        rows += _scale_rows(s)
    if d.get("server"):
        rows += _server_rows(d["server"])
    if d.get("real_text"):
        rows += real_text_rows(d["real_text"])
    return rows + _answer_rows(d) + _process_rows(d)


def format_table(results: Mapping[str, Any]) -> str:
    """The summary table as aligned plain text."""
    rows = [("figure", "p50", "p95", "notes"), *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()
        for r in rows
    ]
    lines.insert(1, "-" * (sum(widths) + 4 + max(len(r[3]) for r in rows) + 2))
    return "\n".join(lines)


# --------------------------------------------------------------------- files


def _table(header: tuple[str, ...], rows: Any) -> str:
    # The bench's notes can be long; eval's 160-character cell limit would cut them.
    return markdown_table(header, rows, limit=None)


def markdown(results: Mapping[str, Any]) -> str:
    """``bench.md``: summary table, targets, notes and the machine."""
    targets = [(t["target"], fmt(t["value"]), t["at"], _MET[t["met"]]) for t in results["targets"]]
    parts = ["# Benchmark", "", f"Run at {results['started']} (UTC).", "", "## Figures", ""]
    parts.append(_table(("figure", "p50", "p95", "notes"), table_rows(results)))
    parts += ["", "## Targets", "", _table(("target", "measured", "at", "met"), targets)]
    parts += ["", "## Notes", "", *(f"- {n}" for n in results["notes"])]
    machine = [(k, fmt(v)) for k, v in results["machine"].items()]
    parts += ["", "## Machine", "", _table(("", "value"), machine)]
    config = [(k, fmt(v)) for k, v in results["config"].items()]
    parts += ["", "## Run", "", _table(("", "value"), config)]
    parts += ["", "![retrieval latency and throughput vs corpus size](bench.png)", ""]
    return "\n".join(parts)


def plot(path: Path, results: Mapping[str, Any]) -> None:
    """``bench.png``: retrieval latency (p50, p95) and queries/s against corpus size."""
    fig = new_figure(11, 4.2)
    lat, thr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    scale = results["details"].get("scale", {})
    sizes = sorted(scale, key=int)
    xs = [scale[n]["chunks"] for n in sizes]
    for case in RETRIEVAL_CASES:
        p50 = [scale[n]["retrieval"][case]["p50"] for n in sizes]
        p95 = [scale[n]["retrieval"][case]["p95"] for n in sizes]
        qps = [scale[n]["retrieval"][case]["qps"] for n in sizes]
        (line,) = lat.plot(xs, p50, marker="o", label=f"{case} p50")
        lat.plot(xs, p95, marker="x", linestyle="--", color=line.get_color(), label=f"{case} p95")
        thr.plot(xs, qps, marker="o", color=line.get_color(), label=case)
    server = results["details"].get("server")
    if server:
        lat.scatter([server["chunks"]], [server["retrieval"]["hybrid"]["p50"]], marker="s",
                    color="black", label="hybrid p50, chroma server", zorder=3)  # fmt: skip
    for ax in (lat, thr):
        # Log scales: BM25 is ~100x faster than anything that embeds the question.
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("corpus size (chunks)")
        ax.grid(True, which="both", alpha=0.3)
    lat.set(ylabel="latency (ms)", title="retrieval latency")
    thr.set(ylabel="queries/s (one client, sequential)", title="retrieval throughput")
    lat.legend(fontsize=7)
    thr.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def write_report(out: Path, results: Mapping[str, Any]) -> None:
    """Write ``bench.json``, ``bench.md`` and ``bench.png`` into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(
        json.dumps(results, ensure_ascii=False, indent=2, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    (out / "bench.md").write_text(markdown(results), encoding="utf-8")
    plot(out / "bench.png", results)
