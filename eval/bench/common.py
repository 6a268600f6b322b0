"""What every part of the bench shares: the questions, cases, targets and small helpers."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.metrics import percentile
from eval.synthetic import SOURCES
from qa.filters import Filters
from qa.fusion import FusionMode

#: Keys ``--json`` always prints (None only where a figure was skipped, with a note).
REQUIRED_KEYS = (
    "index_s",
    "naive_index_s",
    "embed_only_s",
    "index_chunks_per_s",
    "reindex_unchanged_s",
    "hybrid_p50_ms",
    "extractive_p50_ms",
    "ttft_p50_s",
    "answer_p50_s",
    "peak_rss_mb_llm",
)

DEFAULT_SIZES = (1_000, 10_000)
QUICK_SIZES = (300,)
QUICK_ARTICLES = 3  # sample files used by --quick (the Mars/Moon stories)
QUICK_QUESTIONS = 3  # questions used by --quick (the first ones: about those stories)

#: Questions for retrieval and extractive latency: English and German, over the samples.
QUESTIONS = (
    "When could humans land on Mars?",
    "Who offered a nuclear power plant for Musk's Mars mission?",
    "Was bot Russland für die Mars-Mission an?",
    "Wie hoch schätzt Musk die Chancen für den Starship-Flug zum Mars ein?",
    "How much more will the Nordlicht wind farm cost?",
    "Wie viele Menschen starben beim Hochwasser im Piemont?",
    "What did the ECB decide about the deposit rate?",
    "Wer gewann den Berlin-Marathon mit Weltrekord?",
    "How high was inflation in March?",
    "Wann wurde das Klanghaus in Marlingen eröffnet?",
)
LLM_QUESTIONS = 3

#: The "hybrid with a date+source filter" case: two of seven years, one of four sources.
FILTERED = Filters(
    since=datetime(2023, 1, 1, tzinfo=UTC),
    until=datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
    source=SOURCES[0],
)
RETRIEVAL_CASES: dict[str, tuple[FusionMode, Filters]] = {
    "dense": (FusionMode.DENSE, Filters()),
    "lexical": (FusionMode.LEXICAL, Filters()),
    "hybrid": (FusionMode.HYBRID, Filters()),
    "hybrid_filtered": (FusionMode.HYBRID, FILTERED),
}

#: Targets from the performance issue: (figure, comparison, threshold, description).
TARGETS = (
    ("naive_over_index", ">=", 3.0, "indexing ≥ 3× faster than the naive LangChain pipeline"),
    ("embed_only_over_index", ">=", 0.7, "embed_only / index ≥ 0.7 (little overhead)"),
    ("reindex_unchanged_100k_s", "<", 10.0, "re-index of an unchanged 100k-chunk corpus < 10 s"),
    ("hybrid_100k_p50_ms", "<", 50.0, "hybrid retrieval p50 < 50 ms at 100k chunks"),
    # Over the first pass only: new questions, whose sentences are not cached yet.
    ("extractive_first_pass_p50_ms", "<", 300.0, "extractive answer p50 < 300 ms (new questions)"),
    ("ttft_p50_s", "<", 6.0, "LLM time to first token p50 < 6 s"),
    ("answer_p50_s", "<", 15.0, "LLM answer total p50 < 15 s"),
    ("peak_rss_mb_llm", "<", 4096.0, "peak RSS with the LLM < 4 GB"),
)


class BenchError(RuntimeError):
    """A measurement could not be taken (the message says which and why)."""


def stats(values: Sequence[float]) -> dict[str, Any]:
    """Median, p95, min, max and count of some measurements.

    Args:
        values: The measurements (any unit).

    Returns:
        ``{"p50", "p95", "min", "max", "n"}``; the statistics are None when empty.
    """
    if not values:
        return {"p50": None, "p95": None, "min": None, "max": None, "n": 0}
    data = [float(v) for v in values]
    return {
        "p50": percentile(data, 50),
        "p95": percentile(data, 95),
        "min": min(data),
        "max": max(data),
        "n": len(data),
    }


def disk_bytes(path: Path) -> int:
    """Bytes allocated to the files under ``path``, like ``du``.

    Chroma preallocates its files, so apparent sizes would mislead.
    """
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


class Log:
    """Progress lines on stderr with the elapsed time (stdout stays for results)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        """Print one progress line."""
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)
