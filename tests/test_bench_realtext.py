"""The bench's real-text point: question picks, skip notes, corpus, report rows, CLI."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import pytest

from eval.bench.cli import config_of, register
from eval.bench.common import Log
from eval.bench.harness import BenchConfig, _bench_real_text
from eval.bench.realtext import (
    REAL_TEXT_QUESTIONS,
    RealTextJob,
    bench_real_text,
    default_xquad_dir,
    load_corpus,
    missing_note,
    skip_note,
    spread_questions,
)
from eval.bench.report import markdown, real_text_rows, table_rows
from eval.records import GoldQuestion
from tests.conftest import SAMPLES

# ----------------------------------------------------------------- a tiny XQuAD


_TOPICS = (
    ("Rhein", "Der Rhein ist 1.233 Kilometer lang.", "1.233 Kilometer", "How long is the Rhine?"),
    ("Mond", "Der Mond ist 384.400 Kilometer entfernt.", "384.400", "How far is the Moon?"),
    ("Alpen", "Der Mont Blanc ist 4.806 Meter hoch.", "4.806 Meter", "How high is Mont Blanc?"),
)


def _squad(paragraphs: list[tuple[str, str, list[dict]]]) -> dict:
    return {
        "data": [
            {"title": title, "paragraphs": [{"context": context, "qas": qas}]}
            for title, context, qas in paragraphs
        ]
    }


def _qa(qid: str, question: str, text: str, context: str) -> dict:
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": text, "answer_start": context.index(text)}],
    }


def _write_xquad(folder: Path) -> Path:
    """A three-paragraph XQuAD pair; the English side reuses the German answer spans."""
    folder.mkdir(parents=True, exist_ok=True)
    de, en = [], []
    for i, (title, context, answer, question) in enumerate(_TOPICS):
        de.append((title, context, [_qa(f"q{i}", f"Frage {i}?", answer, context)]))
        en.append((title, context, [_qa(f"q{i}", question, answer, context)]))
    for name, data in (("xquad.de.json", de), ("xquad.en.json", en)):
        (folder / name).write_text(json.dumps(_squad(data), ensure_ascii=False), encoding="utf-8")
    return folder


def _question(qid: str, articles: tuple[str, ...] = ("a",)) -> GoldQuestion:
    return GoldQuestion(
        id=qid,
        question=f"question {qid}?",
        lang="en",
        type="factoid" if articles else "unanswerable",
        answer="x" if articles else "",
        variants=(),
        articles=articles,
        evidence=(),
        history=(),
        article_ids=articles,
        split="dev",
    )


# ----------------------------------------------------------------- question picks


def test_spread_questions_are_evenly_spaced_and_deterministic() -> None:
    questions = [_question(str(i)) for i in range(100)]
    picked = spread_questions(questions, 10)
    assert [q.id for q in picked] == [str(i) for i in range(0, 100, 10)]
    assert spread_questions(questions, 10) == picked
    assert len(spread_questions(questions, REAL_TEXT_QUESTIONS)) == REAL_TEXT_QUESTIONS


def test_spread_questions_skip_unanswerable_and_dropped_paragraphs() -> None:
    questions = [_question("0"), _question("1", ()), _question("2", ("b",)), _question("3")]
    assert [q.id for q in spread_questions(questions, 10)] == ["0", "2", "3"]
    assert [q.id for q in spread_questions(questions, 10, {"a"})] == ["0", "3"]
    assert spread_questions(questions, 10, set()) == ()


# ----------------------------------------------------------------- skip notes


def test_missing_folder_gives_the_not_measured_note(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert missing_note(missing) == f"real-text point not measured: {missing} not found"
    tmp_path.joinpath("xquad.de.json").write_text("{}", encoding="utf-8")
    assert missing_note(tmp_path) == (
        f"real-text point not measured: {tmp_path / 'xquad.en.json'} not found"
    )
    assert missing_note(_write_xquad(tmp_path / "x")) is None


def test_skip_note_order(tmp_path: Path) -> None:
    folder = _write_xquad(tmp_path)
    assert skip_note(quick=False, enabled=True, folder=folder) is None
    assert "--quick" in skip_note(quick=True, enabled=True, folder=folder)
    assert "--no-real-text" in skip_note(quick=False, enabled=False, folder=folder)
    assert "not found" in skip_note(quick=False, enabled=True, folder=tmp_path / "gone")


def test_default_xquad_dir_is_the_shared_folder() -> None:
    assert default_xquad_dir().parts[-3:] == ("shared", "data", "xquad")


def test_harness_notes_a_missing_folder_and_measures_nothing(tmp_path: Path) -> None:
    details: dict = {}
    notes: list[str] = []
    config = BenchConfig(xquad=tmp_path / "gone")
    _bench_real_text(config, None, tmp_path, details, notes, Log())  # type: ignore[arg-type]
    assert notes == [f"real-text point not measured: {tmp_path / 'gone'} not found"]
    assert "real_text" not in details
    quick = BenchConfig(quick=True, xquad=_write_xquad(tmp_path / "x"))
    _bench_real_text(quick, None, tmp_path, details, notes, Log())  # type: ignore[arg-type]
    assert notes[-1] == "real-text point not measured: skipped under --quick"


# ----------------------------------------------------------------- the corpus


def _job(tmp_path: Path, **changes: object) -> RealTextJob:
    from qa.settings import Settings

    samples = tuple(sorted(SAMPLES.glob("*.txt"))[:2])
    fields = dict(
        xquad_dir=_write_xquad(tmp_path / "xquad"),
        sample_paths=samples,
        base=Settings(data_dir=tmp_path / "unused", generator="extractive"),
        work=tmp_path / "work",
        repeat=1,
        k=12,
    )
    return RealTextJob(**(fields | changes))  # type: ignore[arg-type]


def test_load_corpus_keeps_paragraphs_then_samples(tmp_path: Path) -> None:
    corpus = load_corpus(_job(tmp_path))
    assert (corpus.xquad_articles, corpus.sample_articles) == (3, 2)
    assert [a.source for a in corpus.articles[:3]] == ["squad"] * 3
    assert [q.question for q in corpus.questions] == [t[3] for t in _TOPICS]
    limited = load_corpus(_job(tmp_path, limit=1, questions=5))
    assert limited.xquad_articles == 1
    assert [q.id for q in limited.questions] == ["q0"]


def test_load_corpus_with_no_question_left_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no answerable question"):
        load_corpus(_job(tmp_path, limit=0))


# ----------------------------------------------------------------- report rows

_FIGURES = {
    "articles": 283,
    "xquad_articles": 240,
    "sample_articles": 43,
    "chunks": 597,
    "tokens": 90_000,
    "token_count": "embedder tokenizer",
    "index_s": 20.0,
    "index_chunks_per_s": 29.85,
    "index_tokens_per_s": 4500.0,
    "reindex_unchanged_s": {"p50": 0.05, "p95": 0.07, "min": 0.04, "max": 0.07, "n": 3},
    "reindex_embedded_chunks": 0,
    "extractive": {"p50": 110.0, "p95": 180.0, "answers": 120, "abstained": 7},
    "hybrid": {"p50": 21.0, "p95": 30.0, "embed_query_p50_ms": 15.0, "search_p50_ms": 6.0},
    "recall@1": 0.725,
    "recall@5": 0.95,
    "questions": 40,
    "retrieval_k": 12,
}


def test_real_text_rows_from_literal_figures() -> None:
    rows = {r[0]: r for r in real_text_rows(_FIGURES)}
    assert rows["real-text index_s"][1] == "20.00"
    assert "240 XQuAD German paragraphs + 43 samples" in rows["real-text index_s"][3]
    assert "597 chunks" in rows["real-text index_s"][3]
    assert rows["real-text index chunks/s / tokens/s"][1] == "29.85 / 4,500"
    assert rows["real-text reindex_unchanged_s"][3] == "embedded 0 chunks"
    assert rows["real-text extractive_ms"][1:3] == ("110", "180")
    assert "7 abstained" in rows["real-text extractive_ms"][3]
    assert rows["real-text hybrid_ms"][1] == "21.00"
    assert rows["real-text recall@1 / @5"][1] == "0.725 / 0.95"


def _results() -> dict:
    """Just enough of a bench result for the table and ``bench.md``."""
    extractive = {"p50": 9.0, "p95": 12.0, "first_pass_p50": 10.0, "answers": 10}
    details = {
        "indexing": defaultdict(lambda: 1.0),
        "extractive": {**extractive, "abstained": 1, "stage_p50_ms": {}},
    }
    return {"started": "now", "details": details, "targets": [], "notes": [], "machine": {},
            "config": {}}  # fmt: skip


def test_markdown_lists_the_real_text_rows_only_when_measured() -> None:
    results = _results()
    assert not any(r[0].startswith("real-text") for r in table_rows(results))
    results["details"]["real_text"] = _FIGURES
    assert "| real-text recall@1 / @5 | 0.725 / 0.95 |" in markdown(results)


# ----------------------------------------------------------------- the command line


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["bench", *argv])


def test_cli_flags_of_the_real_text_point(tmp_path: Path) -> None:
    default = config_of(_args())
    assert default.real_text and default.xquad is None and default.real_text_limit is None
    config = config_of(_args("--no-real-text", "--xquad", str(tmp_path), "--real-text-limit", "9"))
    assert (config.real_text, config.xquad, config.real_text_limit) == (False, tmp_path, 9)
    with pytest.raises(ValueError, match="real-text-limit"):
        config_of(_args("--real-text-limit", "0"))


# ----------------------------------------------------------------- end to end (model)


@pytest.mark.slow
def test_real_text_point_on_a_tiny_corpus(tmp_path: Path, model_dir: Path) -> None:
    from qa.engine import close_default_engines

    job = _job(tmp_path)
    job = RealTextJob(**{**job.__dict__, "base": job.base.with_(model_dir=model_dir)})
    try:
        figures = bench_real_text(job, load_corpus(job), Log())
    finally:
        close_default_engines()
    assert (figures["articles"], figures["chunks"]) == (5, figures["embedded_chunks"])
    assert figures["reindex_embedded_chunks"] == 0
    assert figures["index_chunks_per_s"] > 0 and figures["index_tokens_per_s"] > 0
    assert figures["extractive"]["answers"] == 3 and figures["hybrid"]["n"] == 3
    assert figures["recall@5"] == 1.0  # three paragraphs: each is among the top five
    assert {r[0] for r in real_text_rows(figures)} >= {"real-text recall@1 / @5"}
