"""Which embedding runtime: chunks/s and XQuAD EN→DE retrieval recall per runtime (issue 13).

Every figure is measured on the same chunk texts: the bundled sample articles and the
German XQuAD paragraphs, cut by the real chunker (:class:`index.indexer.ChunkParams`),
embedded as their ``context_text`` (title and date line, then the sentences) with the
``passage: `` prompt, exactly what indexing embeds. Parts (``--part``, each one process
so every run stays under a few minutes on 2 cores):

* ``speed``  — chunks/s of a fixed subset for torch fp32 as shipped (the baseline),
  torch with 1 thread, without corpus-wide length sorting, other batch sizes, and ONNX
  Runtime fp32 / fused fp32 / dynamic int8 (per tensor, per channel, per channel with
  7-bit weights, fused + per channel), each also through the index path
  (``embed_chunks``: chunk and contextual sentence vectors from one pass). Rounds
  alternate the variants; the median of the rounds is reported, ratios are against
  torch fp32 of the same process.
* ``recall`` — for each runtime: every XQuAD chunk and every English question embedded,
  dense retrieval of the German paragraph (an article ranks by its best chunk),
  recall@1 / recall@5 with :func:`eval.metrics.recall_at_k`, and cosine of each vector
  to torch fp32's. Parity: within 0.005 of torch fp32.
* ``tokens`` — the token cost of the chunk format: tokens per chunk with and without
  the title line, and with and without the one-sentence overlap.
* ``format`` — what the title line and the overlap buy: XQuAD recall without them (one
  runtime, ``--format-runtime``).

An AVX2 proxy for torch: run with ``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
ONEDNN_MAX_CPU_ISA=AVX2`` (labelled "AVX2 code path on an AVX-512 CPU"; not a real AVX2
machine). ONNX Runtime picks its kernels from CPUID at run time and has no switch, so it
has no such proxy.

Run (under the CPU lock on a shared machine)::

    flock /work/locks/cpu.lock python -m eval.runtime_study --part speed
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.indexing import chunks_of
from eval.metrics import recall_at_k
from eval.sentence_vectors_study import cpu_kind
from index.articles import load_articles
from index.e5_onnx import export_fp32, fuse_bert, quantize_int8
from index.embedding import (
    E5_DIR_NAME,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
)
from index.indexer import ChunkParams
from index.models import Article, Chunk

SAMPLES = Path(__file__).resolve().parent.parent / "index" / "samples"
PARTS = ("speed", "recall", "tokens", "format")
PARITY = 0.005

#: ONNX graphs the study builds: name -> how, from the fp32 export.
GRAPHS: dict[str, Callable[[Path, Path], Path]] = {
    "fp32-fused": fuse_bert,
    "int8-tensor": lambda a, b: quantize_int8(a, b, per_channel=False),
    "int8-channel": lambda a, b: quantize_int8(a, b, per_channel=True),
    "int8-channel-7bit": lambda a, b: quantize_int8(a, b, per_channel=True, reduce_range=True),
    # Only the MatMuls: the word-embedding table (a Gather, per tensor only) stays fp32.
    "int8-channel-matmul": lambda a, b: quantize_int8(a, b, per_channel=True, op_types=["MatMul"]),
    "int8-tensor-matmul": lambda a, b: quantize_int8(a, b, per_channel=False, op_types=["MatMul"]),
}


@dataclass(frozen=True)
class Corpus:
    """The chunks measured and the XQuAD questions over them."""

    sample_chunks: tuple[Chunk, ...]
    xquad_chunks: tuple[Chunk, ...]
    xquad_articles: tuple[Article, ...]
    questions: tuple[tuple[str, tuple[str, ...]], ...]  # (English question, gold ids)


def load_corpus() -> Corpus:
    """Sample articles and XQuAD en-de (German paragraphs), chunked by the real chunker."""
    from eval.suite import xquad_dir
    from eval.xquad import load_xquad

    params = ChunkParams()
    samples = load_articles([SAMPLES]).articles
    xquad = load_xquad(xquad_dir(), "en-de").dataset
    questions = tuple((q.question, tuple(q.article_ids)) for q in xquad.questions if q.article_ids)
    return Corpus(
        sample_chunks=tuple(chunks_of(samples, params)),
        xquad_chunks=tuple(chunks_of(xquad.articles, params)),
        xquad_articles=tuple(xquad.articles),
        questions=questions,
    )


def speed_subset(corpus: Corpus, n: int) -> list[Chunk]:
    """``n`` chunks, half samples and half XQuAD, evenly spread over each (fixed)."""

    def spread(items: Sequence[Chunk], k: int) -> list[Chunk]:
        k = min(k, len(items))
        return [items[int(i * len(items) / k)] for i in range(k)] if k else []

    half = n // 2
    return spread(corpus.sample_chunks, half) + spread(corpus.xquad_chunks, n - half)


# --------------------------------------------------------------------------- runtimes


def build_graphs(e5_dir: Path, work: Path, names: Sequence[str]) -> dict[str, Path]:
    """The fp32 export and the requested derived graphs in ``work`` (reused when present)."""
    work.mkdir(parents=True, exist_ok=True)
    paths = {"fp32": work / "fp32.onnx"}
    if not paths["fp32"].is_file():
        export_fp32(e5_dir, paths["fp32"])
    for name in names:
        if name == "fp32":
            continue
        path = work / f"{name}.onnx"
        if name.startswith("int8-fused-channel"):
            fused = build_graphs(e5_dir, work, ["fp32-fused"])["fp32-fused"]
            if not path.is_file():
                # Fused contrib ops defeat ONNX shape inference; their outputs are float.
                import onnx

                quantize_int8(
                    fused,
                    path,
                    per_channel=True,
                    op_types=["MatMul"] if name.endswith("-matmul") else None,
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
        elif not path.is_file():
            GRAPHS[name](paths["fp32"], path)
        paths[name] = path
    return paths


class TorchVariant:
    """The shipped torch embedder, called with other batching / thread settings."""

    def __init__(
        self, base: SentenceTransformerEmbedder, *, batch: int, threads: int, sort: bool
    ) -> None:
        """Wrap ``base`` (one loaded model shared by every torch variant)."""
        self.base, self.batch, self.threads, self.sort = base, batch, threads, sort
        self.identity = base.identity

    @contextlib.contextmanager
    def _settings(self) -> Iterator[None]:
        saved = (self.base._batch_size, self.base._threads)
        self.base._batch_size, self.base._threads = self.batch, self.threads
        try:
            yield
        finally:
            self.base._batch_size, self.base._threads = saved

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors; unsorted = one encode() per batch in corpus order."""
        with self._settings():
            if self.sort:
                return self.base.embed_passages(texts)
            out = [
                self.base.embed_passages(texts[i : i + self.batch])
                for i in range(0, len(texts), self.batch)
            ]
            return np.concatenate(out) if out else np.zeros((0, 384), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors."""
        with self._settings():
            return self.base.embed_queries(texts)

    def embed_passages_pooled(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The index path (chunk + contextual sentence vectors)."""
        with self._settings():
            return self.base.embed_passages_pooled(texts, spans)


def _onnx_name(name: str) -> tuple[str, dict[str, Any]]:
    """``onnx-<graph>[-1t][-b<N>]`` -> graph name and options."""
    parts = name.removeprefix("onnx-").split("-")
    opts: dict[str, Any] = {}
    while parts and (parts[-1] == "1t" or (parts[-1][:1] == "b" and parts[-1][1:].isdigit())):
        last = parts.pop()
        if last == "1t":
            opts["1t"] = True
        else:
            opts["batch"] = int(last[1:])
    return "-".join(parts), opts


def make_runtimes(names: Sequence[str], e5_dir: Path, work: Path, threads: int) -> dict[str, Any]:
    """Embedders by study name.

    ``torch``, ``torch-1t``, ``torch-unsorted``, ``torch-b8``/``-b16``/``-b64``,
    ``onnx-<graph>`` with ``-1t`` (one intra-op thread) and/or ``-b<N>`` (batch size).
    """
    out: dict[str, Any] = {}
    base: SentenceTransformerEmbedder | None = None
    graphs = {_onnx_name(n)[0] for n in names if n.startswith("onnx-")}
    paths = build_graphs(e5_dir, work, sorted(graphs))
    for name in names:
        if name.startswith("torch"):
            base = base or SentenceTransformerEmbedder(e5_dir, threads=threads)
            opts = {"batch": 32, "threads": threads, "sort": True}
            for part in name.split("-")[1:]:
                if part == "1t":
                    opts["threads"] = 1
                elif part == "unsorted":
                    opts["sort"] = False
                elif part.startswith("b"):
                    opts["batch"] = int(part[1:])
            out[name] = TorchVariant(base, **opts)
        elif name.startswith("onnx-"):
            graph, opts = _onnx_name(name)
            out[name] = OnnxEmbedder(
                e5_dir,
                paths[graph],
                identity=name,
                threads=1 if opts.get("1t") else threads,
                batch_size=int(opts.get("batch", 32)),  # study names say b8 explicitly
            )
        else:
            raise ValueError(f"unknown runtime {name!r}")
    return out


# --------------------------------------------------------------------------- parts


def _tokenizer(e5_dir: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(e5_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def run_speed(
    corpus: Corpus, runtimes: dict[str, Any], *, n: int, rounds: int, index_path: Sequence[str]
) -> dict[str, Any]:
    """Chunks/s of each runtime on the same subset; rounds alternate the runtimes."""
    from index.embedding import sentence_spans

    chunks = speed_subset(corpus, n)
    texts = [c.context_text for c in chunks]
    spans = [sentence_spans(c) for c in chunks]
    for emb in runtimes.values():  # first call pays one-off set-up (allocations, caches)
        emb.embed_passages(texts[:4])
    seconds: dict[str, list[float]] = {k: [] for k in runtimes}
    index_seconds: dict[str, list[float]] = {k: [] for k in index_path if k in runtimes}
    for _ in range(rounds):
        for name, emb in runtimes.items():
            t = time.perf_counter()
            emb.embed_passages(texts)
            seconds[name].append(time.perf_counter() - t)
            if name in index_seconds:
                t = time.perf_counter()
                emb.embed_passages_pooled(texts, spans)
                index_seconds[name].append(time.perf_counter() - t)
    # One new question at a time, as asking embeds it (torch uses 1 thread for this).
    questions = [q for q, _gold in corpus.questions[:: max(1, len(corpus.questions) // 20)]]
    query_ms: dict[str, float] = {}
    for name, emb in runtimes.items():
        times = []
        for q in questions:
            t = time.perf_counter()
            emb.embed_queries([q])
            times.append(1000 * (time.perf_counter() - t))
        query_ms[name] = statistics.median(times)
    base = statistics.median(seconds["torch"]) if "torch" in seconds else None
    rows = {}
    for name, values in seconds.items():
        med = statistics.median(values)
        row = {"seconds": values, "chunks_per_s": len(texts) / med, "query_p50_ms": query_ms[name]}
        if base:
            row["vs_torch"] = base / med
        if name in index_seconds:
            imed = statistics.median(index_seconds[name])
            row["index_path_chunks_per_s"] = len(texts) / imed
            if "torch" in index_seconds:
                row["index_path_vs_torch"] = statistics.median(index_seconds["torch"]) / imed
        rows[name] = row
    return {"chunks": len(texts), "rounds": rounds, "runtimes": rows}


def _recall(
    qvecs: np.ndarray, cvecs: np.ndarray, chunks: Sequence[Chunk], corpus: Corpus
) -> dict[str, float]:
    scores = qvecs @ cvecs.T  # [questions, chunks]
    article_of = np.array([c.article_id for c in chunks])
    r1, r5 = [], []
    for row, (_q, gold) in zip(scores, corpus.questions, strict=True):
        ranked = article_of[np.argsort(-row, kind="stable")][:200]
        r1.append(recall_at_k(list(ranked), gold, 1))
        r5.append(recall_at_k(list(ranked), gold, 5))
    return {"recall@1": float(np.mean(r1)), "recall@5": float(np.mean(r5))}


def run_recall(corpus: Corpus, runtimes: dict[str, Any]) -> dict[str, Any]:
    """XQuAD EN→DE dense recall and cosine to torch fp32, per runtime."""
    chunks = list(corpus.xquad_chunks)
    texts = [c.context_text for c in chunks]
    questions = [q for q, _gold in corpus.questions]
    rows: dict[str, Any] = {}
    ref: tuple[np.ndarray, np.ndarray] | None = None
    for name, emb in runtimes.items():
        emb.embed_passages(texts[:2])
        t = time.perf_counter()
        cvecs = emb.embed_passages(texts)
        took = time.perf_counter() - t
        t = time.perf_counter()
        qvecs = emb.embed_queries(questions)
        qtook = time.perf_counter() - t
        row: dict[str, Any] = {
            **_recall(qvecs, cvecs, chunks, corpus),
            "chunks_per_s": len(texts) / took,
            "queries_per_s": len(questions) / qtook,
        }
        if name == "torch":
            ref = (cvecs, qvecs)
        if ref is not None:
            pc = (cvecs * ref[0]).sum(1)
            qc = (qvecs * ref[1]).sum(1)
            row.update(
                cos_passages_min=float(pc.min()),
                cos_passages_mean=float(pc.mean()),
                cos_queries_min=float(qc.min()),
            )
        rows[name] = row
    if "torch" in rows:
        base = rows["torch"]
        for row in rows.values():
            row["speed_vs_torch"] = row["chunks_per_s"] / base["chunks_per_s"]
            row["parity"] = all(
                abs(row[k] - base[k]) <= PARITY + 1e-12 for k in ("recall@1", "recall@5")
            )
    return {"chunks": len(texts), "questions": len(questions), "runtimes": rows}


def run_tokens(corpus: Corpus, e5_dir: Path) -> dict[str, Any]:
    """Tokens per chunk: today's format, without the title line, without the overlap."""
    from eval.suite import xquad_dir  # noqa: F401  (same corpus as the other parts)

    tok = _tokenizer(e5_dir)
    samples = load_articles([SAMPLES]).articles
    no_overlap = ChunkParams(overlap_sentences=0)
    sets = {
        "samples": (list(corpus.sample_chunks), chunks_of(samples, no_overlap)),
        "xquad": (list(corpus.xquad_chunks), chunks_of(corpus.xquad_articles, no_overlap)),
    }
    out: dict[str, Any] = {}
    for name, (chunks, flat) in sets.items():

        def count(ts: Sequence[str]) -> list[int]:
            return [len(e.ids) for e in tok.encode_batch(["passage: " + t for t in ts])]

        full = count([c.context_text for c in chunks])
        bare = count([c.text for c in chunks])
        flat_full = count([c.context_text for c in flat])
        out[name] = {
            "chunks": len(chunks),
            "tokens_per_chunk": float(np.mean(full)),
            "tokens_per_chunk_no_title": float(np.mean(bare)),
            "title_share": 1 - sum(bare) / sum(full),
            "tokens_total": sum(full),
            "chunks_no_overlap": len(flat),
            "tokens_total_no_overlap": sum(flat_full),
            "overlap_share": 1 - sum(flat_full) / sum(full),
            "over_512": sum(t > 512 for t in full),
        }
    return out


def run_format(corpus: Corpus, emb: Any) -> dict[str, Any]:
    """XQuAD recall of one runtime with today's chunk format, without title, without overlap."""
    questions = [q for q, _gold in corpus.questions]
    qvecs = emb.embed_queries(questions)
    flat = chunks_of(corpus.xquad_articles, ChunkParams(overlap_sentences=0))
    variants = {
        "title + overlap (today)": (list(corpus.xquad_chunks), lambda c: c.context_text),
        "no title line": (list(corpus.xquad_chunks), lambda c: c.text),
        "no overlap": (flat, lambda c: c.context_text),
    }
    out = {}
    for name, (chunks, text_of) in variants.items():
        t = time.perf_counter()
        cvecs = emb.embed_passages([text_of(c) for c in chunks])
        took = time.perf_counter() - t
        out[name] = {
            **_recall(qvecs, cvecs, chunks, corpus),
            "chunks": len(chunks),
            "seconds": took,
        }
    return out


# --------------------------------------------------------------------------- report


def _isa_label() -> str:
    switches = [
        f"{k}={os.environ[k]}"
        for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")
        if os.environ.get(k)
    ]
    if switches:
        # Only torch honours these; ONNX Runtime picks its kernels from CPUID.
        return f"AVX2 code path on an AVX-512 CPU (torch only: {' '.join(switches)})"
    return "native"


def format_markdown(result: dict[str, Any]) -> str:
    """The result as Markdown tables."""
    cpu = result["cpu"]
    lines = [
        f"CPU: {cpu['model']} ({', '.join(cpu['flags'])}), {result['threads']} threads; "
        f"ISA: {result['isa']}; {result['date']}",
    ]
    if "speed" in result:
        s = result["speed"]
        lines += [
            "",
            f"Speed: {s['chunks']} chunks (half samples, half XQuAD), median of "
            f"{s['rounds']} rounds",
            "",
            "| runtime | chunks/s | × torch | index path chunks/s | × torch | query p50 ms |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in s["runtimes"].items():
            ip = row.get("index_path_chunks_per_s")
            lines.append(
                f"| {name} | {row['chunks_per_s']:.2f} | {row.get('vs_torch', 0):.2f} | "
                + (f"{ip:.2f} | {row.get('index_path_vs_torch', 0):.2f} |" if ip else "– | – |")
                + f" {row['query_p50_ms']:.1f} |"
            )
    if "recall" in result:
        r = result["recall"]
        lines += [
            "",
            f"XQuAD EN→DE dense retrieval: {r['questions']} questions, {r['chunks']} chunks",
            "",
            "| runtime | recall@1 | recall@5 | parity | min cos (chunks) | min cos (queries) "
            "| chunks/s | × torch |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in r["runtimes"].items():
            lines.append(
                f"| {name} | {row['recall@1']:.4f} | {row['recall@5']:.4f} | "
                f"{'yes' if row.get('parity') else 'NO'} | "
                f"{row.get('cos_passages_min', float('nan')):.5f} | "
                f"{row.get('cos_queries_min', float('nan')):.5f} | "
                f"{row['chunks_per_s']:.2f} | {row.get('speed_vs_torch', 0):.2f} |"
            )
    if "tokens" in result:
        lines += [
            "",
            "| corpus | chunks | tokens/chunk | without title | title share | overlap share "
            "| chunks without overlap |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in result["tokens"].items():
            lines.append(
                f"| {name} | {row['chunks']} | {row['tokens_per_chunk']:.1f} | "
                f"{row['tokens_per_chunk_no_title']:.1f} | {row['title_share']:.1%} | "
                f"{row['overlap_share']:.1%} | {row['chunks_no_overlap']} |"
            )
    if "format" in result:
        lines += [
            "",
            f"Chunk format, XQuAD EN→DE recall with {result['format_runtime']}:",
            "",
            "| format | chunks | recall@1 | recall@5 | embed s |",
            "|---|---|---|---|---|",
        ]
        for name, row in result["format"].items():
            lines.append(
                f"| {name} | {row['chunks']} | {row['recall@1']:.4f} | {row['recall@5']:.4f} | "
                f"{row['seconds']:.1f} |"
            )
    return "\n".join(lines)


DEFAULT_SPEED = (
    "torch,torch-1t,torch-unsorted,torch-b8,torch-b64,onnx-fp32,onnx-fp32-1t,onnx-fp32-fused,"
    "onnx-int8-tensor,onnx-int8-channel,onnx-int8-channel-7bit,onnx-int8-channel-matmul,"
    "onnx-int8-channel-matmul-1t,onnx-int8-fused-channel"
)
DEFAULT_RECALL = (
    "torch,onnx-fp32,onnx-int8-tensor,onnx-int8-channel,onnx-int8-channel-7bit,"
    "onnx-int8-channel-matmul"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="tokens", help=f"comma-separated of {PARTS}")
    parser.add_argument("--speed-runtimes", default=DEFAULT_SPEED)
    parser.add_argument("--recall-runtimes", default=DEFAULT_RECALL)
    parser.add_argument("--index-path", default="torch,onnx-fp32,onnx-int8-channel-matmul")
    parser.add_argument("--format-runtime", default="onnx-fp32")
    parser.add_argument("--chunks", type=int, default=64, help="speed subset size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interop", type=int, default=1, help="torch inter-op threads")
    parser.add_argument("--threads", type=int, default=0, help="default: the usable CPUs")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("runs/runtime_study"))
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    parts = [p for p in args.part.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; valid: {PARTS}")

    import torch

    from index.embedding import _cpu_threads
    from qa.settings import Settings

    torch.set_num_interop_threads(args.interop)  # must precede torch's first op
    model_dir = args.model_dir or Settings.from_env().model_dir
    e5_dir = model_dir / E5_DIR_NAME
    threads = args.threads or _cpu_threads()
    corpus = load_corpus()
    result: dict[str, Any] = {
        "cpu": cpu_kind(),
        "isa": _isa_label(),
        "threads": threads,
        "interop_threads": args.interop,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": {"torch": torch.__version__, "onnxruntime": _version("onnxruntime")},
    }
    graphs = args.work / "onnx"
    if "tokens" in parts:
        result["tokens"] = run_tokens(corpus, e5_dir)
    if "speed" in parts:
        names = args.speed_runtimes.split(",")
        runtimes = make_runtimes(names, e5_dir, graphs, threads)
        result["speed"] = run_speed(
            corpus,
            runtimes,
            n=args.chunks,
            rounds=max(1, args.rounds),
            index_path=args.index_path.split(","),
        )
        del runtimes
    if "recall" in parts:
        runtimes = make_runtimes(args.recall_runtimes.split(","), e5_dir, graphs, threads)
        result["recall"] = run_recall(corpus, runtimes)
        del runtimes
    if "format" in parts:
        emb = make_runtimes([args.format_runtime], e5_dir, graphs, threads)[args.format_runtime]
        result["format_runtime"] = args.format_runtime
        result["format"] = run_format(corpus, emb)
    out = args.work / f"result-{'-'.join(parts)}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else format_markdown(result))
    print(f"\nwritten {out}", file=sys.stderr)
    return 0


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
