"""One ``qa eval`` run: the configuration under test plus its baselines.

Every baseline answers the same question list with the same settings, so the
report can put them side by side:

* ``bm25`` — the assistant with BM25-only retrieval and no sentence reranking
  (same generator, prompt, citation checks and abstention);
* ``naive-rag`` — the tutorial LangChain RAG of :mod:`eval.naive` with the same LLM.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.dataset import Dataset, GoldQuestion, load_dataset
from eval.metrics import EvalRecord, breakdown, summarize
from eval.runner import index_dataset, llm_identity, run, run_meta, select
from qa.engine import Engine, default_engine
from qa.fusion import FusionMode
from qa.retrieval import RetrievalParams
from qa.settings import Settings

BASELINE_NAMES: tuple[str, ...] = ("bm25", "naive-rag")
BASELINE_NOTES: dict[str, str] = {
    "bm25": "this assistant (same generator, citation checks and abstention) with "
    "BM25-only retrieval and no sentence reranking",
    "naive-rag": "tutorial LangChain RAG: RecursiveCharacterTextSplitter(1000, 200) + "
    "Chroma.from_documents + top-4 similarity search + the same LLM with a plain prompt",
}
NAIVE_K = 4

# progress(run name, questions done, questions in the run)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalOptions:
    """What ``qa eval`` was asked to run.

    Attributes:
        mode: ``extractive``, ``llm``, ``openai`` or ``naive-rag``.
        split: ``dev``, ``test`` or ``all``.
        limit: Only the first N questions of the split.
        retrieval: ``hybrid``, ``dense`` or ``lexical`` (the run under test).
        rerank: Sentence-level reranking (the run under test).
        retrieval_only: Score retrieval only (no answers).
        baselines: Baselines to run after the main run (see :data:`BASELINE_NAMES`).
    """

    mode: str
    split: str = "all"
    limit: int | None = None
    retrieval: str = "hybrid"
    rerank: bool = True
    retrieval_only: bool = False
    baselines: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    """Records of one configuration and their aggregates.

    Attributes:
        records: One record per question, in question order.
        summary: :func:`eval.metrics.summarize` of the records.
        breakdowns: Summaries per question type and per language.
        meta: Settings of the run (for a baseline: a short description).
    """

    records: list[EvalRecord]
    summary: dict[str, Any]
    breakdowns: dict[str, dict[str, dict[str, Any]]]
    meta: dict[str, Any]

    @classmethod
    def of(cls, records: list[EvalRecord], meta: dict[str, Any]) -> RunResult:
        """Score ``records`` and keep them with ``meta``."""
        breakdowns = {"type": breakdown(records, "type"), "lang": breakdown(records, "lang")}
        return cls(records, summarize(records), breakdowns, meta)

    def entry(self, *, with_breakdowns: bool = True) -> dict[str, Any]:
        """The run as it appears under ``baselines`` in ``result.json``/``--json``."""
        out: dict[str, Any] = {"summary": self.summary, "meta": self.meta}
        if with_breakdowns:
            out["breakdowns"] = self.breakdowns
        return out


@dataclass(frozen=True)
class Evaluation:
    """The main run and its baselines.

    Attributes:
        main: The configuration under test.
        baselines: Baseline name -> its run over the same questions, in run order.
    """

    main: RunResult
    baselines: dict[str, RunResult] = field(default_factory=dict)

    def baselines_json(self, *, with_breakdowns: bool = True) -> dict[str, dict[str, Any]]:
        """``{name: {"summary", "meta"[, "breakdowns"]}}`` for every baseline."""
        return {
            name: r.entry(with_breakdowns=with_breakdowns) for name, r in self.baselines.items()
        }


def default_baselines(
    mode: str, *, check: bool = False, retrieval_only: bool = False
) -> tuple[str, ...]:
    """The baselines run when ``--baselines`` is not given.

    Args:
        mode: The main run's mode.
        check: A ``--check`` run (kept fast: no baselines).
        retrieval_only: A ``--retrieval-only`` run (no baselines).

    Returns:
        ``("bm25", "naive-rag")`` with an LLM, ``("bm25",)`` for extractive runs, and
        nothing for ``--check``, ``--retrieval-only`` and ``naive-rag`` runs.
    """
    if check or retrieval_only or mode == "naive-rag":
        return ()
    return BASELINE_NAMES if mode in ("llm", "openai") else ("bm25",)


def parse_baselines(
    text: str | None, *, mode: str, check: bool = False, retrieval_only: bool = False
) -> tuple[str, ...]:
    """The ``--baselines`` value as names to run.

    Args:
        text: Comma-separated names from :data:`BASELINE_NAMES`, ``none``, or
            ``None`` for the default (:func:`default_baselines`).
        mode: The main run's mode.
        check: A ``--check`` run.
        retrieval_only: A ``--retrieval-only`` run.

    Returns:
        Distinct names in the given order.

    Raises:
        ValueError: An unknown name, ``none`` combined with a name, or
            ``naive-rag`` as a baseline of a ``naive-rag`` run.
    """
    if text is None:
        return default_baselines(mode, check=check, retrieval_only=retrieval_only)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in BASELINE_NAMES]
    if unknown:
        allowed = ", ".join((*BASELINE_NAMES, "none"))
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; choose from {allowed}")
    if mode == "naive-rag" and "naive-rag" in names:
        raise ValueError("--mode naive-rag already is the naive-rag baseline; drop it")
    return tuple(dict.fromkeys(names))


def run_naive(
    dataset: Dataset,
    questions: Sequence[GoldQuestion],
    settings: Settings,
    *,
    generator: str = "llm",
    progress: Callable[[int, int], None] | None = None,
    retrieval_only: bool = False,
    engine: Engine | None = None,
) -> list[EvalRecord]:
    """Run the naive LangChain RAG (:mod:`eval.naive`) over ``questions``.

    Its Chroma store is rebuilt from scratch under ``settings.data_dir`` each time,
    as the tutorial code would build it.

    Args:
        dataset: Supplies the corpus.
        questions: Questions to ask.
        settings: Embedder, data folder and LLM settings.
        generator: ``llm`` (local llama.cpp) or ``openai``.
        progress: Called as ``progress(done, total)``.
        retrieval_only: Retrieve only; the LLM is not loaded.
        engine: Supplies the embedder and the chat model, sharing the loaded weights
            with the main run (default: the default engine for ``settings``).

    Returns:
        One record per question.
    """
    from eval import naive
    from index.articles import load_articles

    engine = engine or default_engine(settings)
    articles = dataset.articles or load_articles(dataset.corpus_paths).articles
    persist = settings.data_dir / "naive-rag"
    shutil.rmtree(persist, ignore_errors=True)
    store = naive.build_store(articles, engine.embedder(), persist)
    chat_model = None if retrieval_only else engine.chat_model(generator, settings=settings)
    return naive.run(
        questions,
        store=store,
        chat_model=chat_model,
        progress=progress,
        retrieval_only=retrieval_only,
    )


def _bound(progress: Progress | None, name: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def _naive_generator(mode: str) -> str:
    return "openai" if mode == "openai" else "llm"


def _main_run(
    dataset: Dataset,
    questions: Sequence[GoldQuestion],
    settings: Settings,
    options: EvalOptions,
    progress: Progress | None,
    engine: Engine,
) -> RunResult:
    if options.mode == "naive-rag":
        records = run_naive(
            dataset,
            questions,
            settings,
            progress=_bound(progress, options.mode),
            retrieval_only=options.retrieval_only,
            engine=engine,
        )
    else:
        records = run(
            questions,
            settings=settings,
            retrieval=RetrievalParams(mode=FusionMode(options.retrieval)),
            progress=_bound(progress, options.mode),
            retrieval_only=options.retrieval_only,
            engine=engine,
        )
    meta = run_meta(
        settings,
        mode=options.mode,
        dataset=dataset,
        engine=engine,
        split=options.split,
        limit=options.limit,
        retrieval=options.retrieval,
        retrieval_only=options.retrieval_only,
    )
    return RunResult.of(with_translations(records, dataset), meta)


def with_translations(records: list[EvalRecord], dataset: Dataset) -> list[EvalRecord]:
    """Records with the dataset's translated golds attached (XQuAD en-de)."""
    if not dataset.translations:
        return records
    return [
        dataclasses.replace(r, gold_translations=dataset.translations.get(r.question_id, ()))
        for r in records
    ]


def _baseline_run(
    name: str,
    dataset: Dataset,
    questions: Sequence[GoldQuestion],
    settings: Settings,
    options: EvalOptions,
    progress: Progress | None,
    engine: Engine,
) -> RunResult:
    meta: dict[str, Any] = {"note": BASELINE_NOTES[name], "retrieval_only": options.retrieval_only}
    if name == "bm25":
        bm25 = settings.with_(rerank=False)
        records = run(
            questions,
            settings=bm25,
            retrieval=RetrievalParams(mode=FusionMode.LEXICAL),
            progress=_bound(progress, name),
            retrieval_only=options.retrieval_only,
            engine=engine,
        )
        meta |= {
            "generator": settings.generator,
            "llm": llm_identity(settings, settings.generator),
            "retrieval": FusionMode.LEXICAL.value,
            "rerank": False,
            "top_k": settings.top_k,
        }
    elif name == "naive-rag":
        generator = _naive_generator(options.mode)
        records = run_naive(
            dataset,
            questions,
            settings,
            generator=generator,
            progress=_bound(progress, name),
            retrieval_only=options.retrieval_only,
            engine=engine,
        )
        meta |= {
            "generator": "naive-rag",
            "llm": llm_identity(settings, generator),
            "retrieval": "dense (Chroma similarity_search)",
            "rerank": False,
            "top_k": NAIVE_K,
        }
    else:
        raise ValueError(f"unknown baseline {name!r}")
    return RunResult.of(with_translations(records, dataset), meta)


def xquad_dir() -> Path:
    """The shared XQuAD folder: ``shared/data/xquad`` beside the first ancestor that has it."""
    from eval.xquad import find_xquad_dir

    found = find_xquad_dir(Path(__file__))
    if found is not None:
        return found
    raise ValueError("no shared/data/xquad folder found beside the checkout (XQuAD datasets)")


def resolve_dataset(spec: Path | str, *, corpus: Path | None = None) -> Dataset:
    """A dataset by path, or an XQuAD pair by name (``xquad-en-de``, ``xquad-de-de``).

    Raises:
        ValueError: The path holds no dataset, or the XQuAD folder is missing.
    """
    name = str(spec)
    if name in ("xquad-en-de", "xquad-de-de"):
        from eval.xquad import load_xquad

        loaded = load_xquad(xquad_dir(), name.removeprefix("xquad-"))  # type: ignore[arg-type]
        return dataclasses.replace(loaded.dataset, translations=loaded.english_golds)
    return load_dataset(Path(spec), corpus_dir=corpus)


def evaluate(
    dataset_path: Path,
    settings: Settings,
    options: EvalOptions,
    *,
    progress: Progress | None = None,
    corpus: Path | None = None,
) -> Evaluation:
    """Index the dataset, run the configuration under test, then each baseline.

    Args:
        dataset_path: Gold ``.jsonl``/folder, SQuAD ``.json``, or ``xquad-en-de`` /
            ``xquad-de-de`` (read from the shared XQuAD folder).
        settings: Base configuration; the data folder becomes
            ``<data_dir>/eval/<dataset name>`` and the generator follows ``options.mode``.
        options: What to run.
        progress: Called as ``progress(run name, done, total)`` after each question.
        corpus: Folder of the articles a gold file refers to (default: the samples).

    Returns:
        The main run and one run per requested baseline, all over the same questions.
    """
    dataset = resolve_dataset(dataset_path, corpus=corpus)
    settings = settings.with_(
        generator="llm" if options.mode == "naive-rag" else options.mode,
        rerank=options.rerank,
        data_dir=settings.data_dir / "eval" / dataset.name,
    )
    # One engine for the whole evaluation: the main run and every baseline share its
    # loaded models, open index and caches; closed (models freed) when it is done.
    with Engine(settings) as engine:
        index_dataset(dataset, settings, engine)
        questions = select(dataset, split=options.split, limit=options.limit)
        main = _main_run(dataset, questions, settings, options, progress, engine)
        baselines = {
            name: _baseline_run(name, dataset, questions, settings, options, progress, engine)
            for name in options.baselines
        }
    return Evaluation(main, baselines)
