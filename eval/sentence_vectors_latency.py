"""Extractive latency of new questions and indexing speed, before/after stored sentence vectors.

Uses only APIs that predate stored sentence vectors, so the same file measures an older
checkout too::

    git archive <old-commit> | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python eval/sentence_vectors_latency.py      # before
    PYTHONPATH=.        python eval/sentence_vectors_latency.py      # after

Each run indexes the bundled samples into fresh temp dirs (``--index-repeat`` times; the
median chunks/s is reported), then asks ten questions with the extractive generator,
clearing the query-vector and sentence caches before every question, so each pays what a
question new to the process pays (query embedding included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from eval.bench.common import QUESTIONS


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    """Measure and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-repeat", type=int, default=3)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args(argv)

    import qa
    from qa import ask
    from qa.api import index_paths
    from qa.engine import default_engine
    from qa.settings import Settings

    samples = Path(qa.__file__).resolve().parents[1] / "index" / "samples"
    base = Settings.from_env()
    # Loaded before the timing: not part of indexing.
    default_engine(base).embedder().embed_passages(["Das Modell wird geladen."])
    rates, seconds = [], []
    settings = None
    for _ in range(max(1, args.index_repeat)):
        settings = base.with_(data_dir=Path(tempfile.mkdtemp(prefix="sv-latency-")))
        settings = settings.with_(generator="extractive")
        t = time.perf_counter()
        report = index_paths([samples], settings=settings)
        elapsed = time.perf_counter() - t
        seconds.append(elapsed)
        rates.append(report.embedded_chunks / elapsed)
    assert settings is not None
    ask(QUESTIONS[0], settings=settings)  # opens the index and the BM25 view
    passes: list[list[float]] = []
    stages: dict[str, list[float]] = {}
    for _ in range(max(1, args.passes)):
        totals = []
        for question in QUESTIONS:
            default_engine(settings).clear_caches()
            t = time.perf_counter()
            answer = ask(question, settings=settings)
            totals.append((time.perf_counter() - t) * 1000)
            for stage, value in answer.timings.items():
                stages.setdefault(stage, []).append(value * 1000)
        passes.append(totals)
    result = {
        "code": str(Path(qa.__file__).resolve().parents[1]),
        "cpu": _cpu(),
        "load_avg": os.getloadavg(),
        "index_chunks_per_s_median": statistics.median(rates),
        "index_seconds": seconds,
        "extractive_new_question_p50_ms_per_pass": [statistics.median(p) for p in passes],
        "extractive_new_question_p50_ms": statistics.median([x for p in passes for x in p]),
        "stage_p50_ms": {k: statistics.median(v) for k, v in stages.items()},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
