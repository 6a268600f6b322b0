"""Which index-time sentence vectors score evidence best: contextual or separate.

Two ways to store a vector per sentence when a chunk is embedded
(:func:`index.embedding.embed_chunks`):

* ``contextual`` — one forward pass over the chunk's ``context_text``; each sentence's
  vector is the mean of its tokens' embeddings (no extra forward pass);
* ``separate`` — every sentence embedded as a passage of its own, in the same batches
  (what question time did before sentence vectors were stored).

For every answerable dev question with gold evidence, the sentences of its gold
articles' chunks are ranked against the query vector, both by plain cosine and by the
full evidence score the answer path uses (:func:`qa.evidence.score_sentences`: cosine
plus the lexical and number bonuses). A hit is a top-1 / top-3 sentence that is (or
contains, or is contained in) a gold evidence sentence. The indexing cost of each
method is the embedding time of the corpus' chunks.

Run (under the CPU lock on a shared machine)::

    flock /work/locks/cpu.lock python -m eval.sentence_vectors_study [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.dataset import GoldQuestion, load_dataset
from index.articles import load_articles
from index.chunking import chunk_article, split_sentences
from index.embedding import SENTENCE_METHODS, Embedder, embed_chunks, load_embedder
from index.indexer import ChunkParams
from index.models import Chunk, RetrievedChunk
from qa.evidence import score_sentences
from qa.followup import rewrite_heuristic
from qa.settings import Settings

_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def is_evidence(sentence: str, evidence: Sequence[str]) -> bool:
    """Whether a sentence is a gold evidence sentence (up to the splitter's cuts)."""
    s = _norm(sentence)
    return any(s == e or (len(s) >= 20 and s in e) or e in s for e in map(_norm, evidence))


def cpu_kind() -> dict[str, Any]:
    """CPU model and the vector flags that matter for inference speed."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")
    return {"model": model, "flags": [f for f in wanted if f in flags]}


def _questions(dataset_questions: Sequence[GoldQuestion]) -> list[tuple[GoldQuestion, str]]:
    out = []
    for q in dataset_questions:
        if q.unanswerable or not q.evidence or not q.article_ids:
            continue
        out.append((q, rewrite_heuristic(q.question, q.history_messages())))
    return out


def _rank(
    question: str,
    qvec: np.ndarray,
    chunks: Sequence[Chunk],
    vectors: dict[str, np.ndarray],
    embedder: Embedder,
) -> tuple[list[str], list[str]]:
    """Sentences best first by plain cosine and by the answer path's evidence score."""
    hits = [RetrievedChunk(chunk=c, score=0.0) for c in chunks]
    scored = score_sentences(
        question, hits, embedder, question_vector=qvec, sentence_vectors=vectors
    )
    by_score = [s.text for s in scored]
    by_cosine = [s.text for s in sorted(scored, key=lambda s: s.similarity, reverse=True)]
    return by_cosine, by_score


def run(
    *, gold: Path, embedder_kind: str, model_dir: Path, repeat: int, split: str = "dev"
) -> dict[str, Any]:
    """Embed the corpus with every method, time it and score the dev evidence ranking.

    Args:
        gold: Gold folder (``eval/gold``).
        embedder_kind: ``QA_EMBEDDER`` kind; ``contextual`` needs ``e5``.
        model_dir: Models directory.
        repeat: Timing repetitions per method (the median is reported).
        split: Question split.

    Returns:
        The result as a JSON-able dict.
    """
    dataset = load_dataset(gold)
    questions = _questions(dataset.split(split))
    articles = load_articles(list(dataset.corpus_paths)).articles
    params = ChunkParams()
    chunks_of = {
        a.id: chunk_article(
            a,
            target_chars=params.target_chars,
            max_chars=params.max_chars,
            overlap_sentences=params.overlap_sentences,
        )
        for a in articles
    }
    chunks = [c for cs in chunks_of.values() for c in cs]
    n_sentences = sum(len(split_sentences(c.text)) for c in chunks)
    embedder = load_embedder(embedder_kind, model_dir)
    methods = [
        m for m in SENTENCE_METHODS if m == "separate" or hasattr(embedder, "embed_passages_pooled")
    ]
    embedder.embed_passages(["Aufwärmen des Modells."])  # first call pays one-off set-up

    seconds: dict[str, list[float]] = {"chunks only": [], **{m: [] for m in methods}}
    stored: dict[str, dict[str, np.ndarray]] = {}
    for _ in range(repeat):
        t = time.perf_counter()
        embedder.embed_passages([c.context_text for c in chunks])
        seconds["chunks only"].append(time.perf_counter() - t)
        for method in methods:
            t = time.perf_counter()
            _vecs, per_chunk = embed_chunks(embedder, chunks, method=method)
            seconds[method].append(time.perf_counter() - t)
            stored[method] = {c.id: m for c, m in zip(chunks, per_chunk, strict=True)}

    qvecs = embedder.embed_queries([text for _q, text in questions])
    tally = {m: {"cosine": [0, 0], "score": [0, 0]} for m in methods}
    per_question = []
    for (q, text), qvec in zip(questions, qvecs, strict=True):
        gold_chunks = [c for aid in q.article_ids for c in chunks_of.get(aid, ())]
        row: dict[str, Any] = {"id": q.id, "type": q.type}
        for method in methods:
            by_cosine, by_score = _rank(text, qvec, gold_chunks, stored[method], embedder)
            for name, ranked in (("cosine", by_cosine), ("score", by_score)):
                top1 = bool(ranked) and is_evidence(ranked[0], q.evidence)
                top3 = any(is_evidence(s, q.evidence) for s in ranked[:3])
                tally[method][name][0] += top1
                tally[method][name][1] += top3
                row[f"{method}_{name}_top1"] = top1
        per_question.append(row)

    n = len(questions)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    return {
        "cpu": cpu_kind(),
        "embedder": embedder.identity,
        "split": split,
        "questions": n,
        "chunks": len(chunks),
        "sentences": n_sentences,
        "repeat": repeat,
        "embed_seconds_median": median,
        "extra_seconds_over_chunks_only": {m: median[m] - median["chunks only"] for m in methods},
        "hit_rate": {
            m: {
                name: {"top1": v[0] / n if n else 0.0, "top3": v[1] / n if n else 0.0}
                for name, v in t.items()
            }
            for m, t in tally.items()
        },
        "per_question": per_question,
    }


END_TO_END_KEYS = (
    "mrr",
    "contains",
    "f1",
    "citation_precision",
    "citation_recall",
    "abstention_precision",
    "abstention_recall",
    "false_refusal_rate",
    "total_p50_s",
)


def end_to_end(
    *, gold: Path, embedder_kind: str, model_dir: Path, split: str = "dev"
) -> dict[str, dict[str, Any]]:
    """The extractive answer path over the split, indexed with each method in turn.

    ``separate`` vectors are exactly what question time computed before sentence vectors
    were stored, so that row is the old behaviour (reranking, abstention, quotes).

    Returns:
        ``{method: {metric: value}}`` for the metrics in :data:`END_TO_END_KEYS`.
    """
    import tempfile
    from unittest import mock

    from eval.metrics import summarize
    from eval.runner import index_dataset
    from eval.runner import run as run_eval
    from qa.engine import Engine, Models

    dataset = load_dataset(gold)
    questions = dataset.split(split)
    out: dict[str, dict[str, Any]] = {}
    models = Models()  # the embedder is loaded once for both methods
    for method in SENTENCE_METHODS:
        if method == "contextual" and embedder_kind != "e5":
            continue
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp), model_dir=model_dir, embedder=embedder_kind
            ).with_(generator="extractive")
            # One engine per method: nothing cached by the previous method's run.
            with Engine(settings, models=models) as engine:
                with mock.patch("index.embedding.sentence_method", lambda _e, m=method: m):
                    index_dataset(dataset, settings, engine)
                summary = summarize(run_eval(questions, settings=settings, engine=engine))
        out[method] = {k: summary.get(k) for k in END_TO_END_KEYS}
    return out


def format_markdown(result: dict[str, Any]) -> str:
    """The result as a short Markdown table."""
    lines = [
        f"CPU: {result['cpu']['model']} ({', '.join(result['cpu']['flags'])}); "
        f"{result['questions']} {result['split']} questions, {result['chunks']} chunks, "
        f"{result['sentences']} sentences; timings median of {result['repeat']}",
        "",
        "| method | top-1 cosine | top-3 cosine | top-1 score | top-3 score | embed s | extra s |",
        "|---|---|---|---|---|---|---|",
    ]
    base = result["embed_seconds_median"]["chunks only"]
    lines.append(f"| chunks only (no sentence vectors) | – | – | – | – | {base:.2f} | 0 |")
    for method, rates in result["hit_rate"].items():
        lines.append(
            f"| {method} | {rates['cosine']['top1']:.3f} | {rates['cosine']['top3']:.3f} | "
            f"{rates['score']['top1']:.3f} | {rates['score']['top3']:.3f} | "
            f"{result['embed_seconds_median'][method]:.2f} | "
            f"{result['extra_seconds_over_chunks_only'][method]:+.2f} |"
        )
    if "end_to_end" in result:
        rows = result["end_to_end"]
        lines += [
            "",
            f"Extractive answer path over the {result['split']} split:",
            "",
            "| method | " + " | ".join(END_TO_END_KEYS) + " |",
            "|---|" + "---|" * len(END_TO_END_KEYS),
        ]
        for method, metrics in rows.items():
            cells = ["–" if metrics[k] is None else f"{metrics[k]:.3f}" for k in END_TO_END_KEYS]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gold", type=Path, default=Path(__file__).parent / "gold")
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="also run the extractive answer path over the split with each method",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    result = run(
        gold=args.gold,
        embedder_kind=settings.embedder,
        model_dir=settings.model_dir,
        repeat=max(1, args.repeat),
        split=args.split,
    )
    if args.end_to_end:
        result["end_to_end"] = end_to_end(
            gold=args.gold,
            embedder_kind=settings.embedder,
            model_dir=settings.model_dir,
            split=args.split,
        )
    print(json.dumps(result, indent=2) if args.json else format_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
