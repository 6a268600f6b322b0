"""``qa bench``: the performance harness (registered as a qa command).

What it measures, each over ``--repeat`` runs where repeating makes sense (median
and p95 reported):

* **Indexing** of the sample corpus into a fresh temporary data dir
  (``index_s``: :func:`index.indexer.index_paths`, i.e. parse, chunk, embed, write,
  BM25), against the embedder alone on exactly the chunks the indexer embeds
  (``embed_only_s``) and the naive LangChain pipeline of :mod:`eval.naive` with the
  same embedding model (``naive_index_s``: ``RecursiveCharacterTextSplitter(1000,
  200)`` + ``Chroma.from_documents``). Re-indexing the unchanged corpus
  (``reindex_unchanged_s``) must embed nothing; the harness checks it
  (:mod:`eval.bench.indexing`).
* **Retrieval latency** (dense, lexical, hybrid, hybrid with a date+source filter) at
  several corpus sizes built from a deterministic synthetic corpus
  (:mod:`eval.synthetic`), in the embedded store and once against a real
  ``chroma run`` server (:mod:`eval.bench.scale` builds them,
  :mod:`eval.bench.retrieval` measures; :mod:`index.chroma_server`).
* **A real-text point**: the German XQuAD paragraphs plus the samples, really embedded
  and indexed, with extractive and hybrid latency and paragraph recall@1/@5 for 40
  XQuAD en-de questions (:mod:`eval.bench.realtext`; ``--no-real-text``, ``--xquad``).
* **Answer latency**: extractive, and the local LLM's time to first token and total
  (:mod:`eval.bench.answers`).
* **Cold start** of ``qa ask --json`` in a subprocess, **peak RSS** of that process
  with and without the LLM (:mod:`eval.bench.processes`), and the **data dir size**
  per 1 000 chunks.

Outputs ``bench.json``, ``bench.md`` and ``bench.png`` in ``runs/bench/<time>/`` (or
``--out``) and prints a table, or one JSON object with ``--json``
(:mod:`eval.bench.report`).
"""

from eval.bench.cli import register
from eval.bench.common import REQUIRED_KEYS, BenchError, stats
from eval.bench.harness import BenchConfig, run_bench
from eval.bench.processes import run_child
from eval.bench.report import check_targets
from eval.bench.scale import SentenceVectors

__all__ = [
    "REQUIRED_KEYS",
    "BenchConfig",
    "BenchError",
    "SentenceVectors",
    "check_targets",
    "register",
    "run_bench",
    "run_child",
    "stats",
]
