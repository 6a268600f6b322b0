"""Answer latency: extractive answers, and the local LLM's first token and total."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from typing import Any

from eval.bench.common import Log, stats
from qa.settings import Settings


def bench_extractive(
    settings: Settings, *, questions: Sequence[str], repeat: int, fresh: bool = False
) -> dict[str, Any]:
    """Latency of extractive answers (retrieval, evidence scoring, sentence picking).

    Args:
        settings: Settings of a built index; the generator is forced to extractive.
        questions: Questions to answer.
        repeat: Passes over the questions.
        fresh: Forget the cached query and sentence vectors before every answer, so
            each is timed as a new question (query embedding included).

    Returns:
        Total latency stats in ms, per-stage medians, the first pass alone (the
        evidence stage's sentence cache still cold) and how many answers abstained.
    """
    from qa.answering import ask
    from qa.engine import default_engine

    settings = settings.with_(generator="extractive")
    ask(questions[0], settings=settings)  # warm-up: opens the index, loads the BM25 view
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    abstained = 0
    for _ in range(repeat):
        for q in questions:
            if fresh:
                default_engine(settings).clear_caches()
            t = time.perf_counter()
            answer = ask(q, settings=settings)
            totals.append((time.perf_counter() - t) * 1000)
            abstained += answer.abstained
            for stage, seconds in answer.timings.items():
                stages.setdefault(stage, []).append(seconds * 1000)
    return {
        **stats(totals),
        "first_pass_p50": stats(totals[: len(questions)])["p50"],
        "stage_p50_ms": {k: stats(v)["p50"] for k, v in stages.items()},
        "abstained": abstained,
        "answers": len(totals),
    }


def llm_unavailable(settings: Settings) -> str | None:
    """Why the local LLM cannot run here, or None when it can."""
    from qa.errors import ModelNotInstalledError
    from qa.llm_assets import model_path

    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (install the project with the [llm] extra)"
    try:
        model_path(settings.llm_model, settings.model_dir)
    except (ModelNotInstalledError, ValueError) as exc:
        return str(exc)
    return None


def _llm_record(question: str, answer: Any) -> dict[str, Any]:
    """One LLM answer as the report lists it."""
    return {
        "question": question,
        "generator": answer.generator,
        "fallback": answer.fallback.value if answer.fallback else None,
        # "llm" is timed only when the model ran to the end: not on an early
        # abstention, nor when it was unavailable or failed. A reply that failed
        # verification is replaced by the extractive answer (fallback UNVERIFIED), but
        # the model did run, so it counts.
        "llm_ran": "llm" in answer.timings,
        "abstained": answer.abstained,
        "chars": len(answer.text),
        "timings_s": answer.timings,
    }


def bench_llm(settings: Settings, *, questions: Sequence[str], n: int, log: Log) -> dict[str, Any]:
    """Time to first token and total time of LLM answers (the model loaded beforehand).

    TTFT counts every question the LLM was run on (its first token arrives whether it
    then answers or says the articles don't tell); the total counts the questions that
    got an answer (including LLM answers replaced by the extractive fallback: the
    user waited for both). Questions abstained on before the LLM runs count for
    neither. Up to ``2 * n`` questions are tried to collect ``n`` answers.

    Args:
        settings: Settings of a built index; the generator is forced to ``llm``.
        questions: Candidate questions.
        n: LLM answers wanted.
        log: Progress output.

    Returns:
        Model load time, TTFT and total stats in seconds, and per-answer details.
    """
    from qa.answering import ask, warm_up

    settings = settings.with_(generator="llm")
    t = time.perf_counter()
    # As `qa ui` does at start: load the model and evaluate the fixed system prompt, so
    # the figures are those of a running service (a cold process: `cold_start_llm_s`).
    warm_up(settings)
    load_s = time.perf_counter() - t
    log(f"LLM loaded and system prompt evaluated in {load_s:.1f}s")
    ttft: list[float] = []
    total: list[float] = []
    answers = []
    for q in list(questions)[: 2 * n]:
        if len(total) >= n:
            break
        answer = ask(q, settings=settings)
        answers.append(_llm_record(q, answer))
        log(
            f"  LLM: first token {answer.timings.get('first_token', 0):.1f}s, total "
            f"{answer.timings.get('total', 0):.1f}s ({answer.generator}"
            f"{', abstained' if answer.abstained else ''})"
        )
        if answers[-1]["llm_ran"]:
            ttft.append(answer.timings["first_token"])
            if not answer.abstained:
                total.append(answer.timings["total"])
    return {
        "load_s": load_s,
        "ttft_s": stats(ttft),
        "total_s": stats(total),
        "abstained": sum(a["abstained"] for a in answers),
        "answers": answers,
        "model": settings.llm_model,
        "threads": settings.llm_threads,
    }
