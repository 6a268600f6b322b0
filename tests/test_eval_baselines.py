"""Baselines in the eval report: options, report section, JSON shape, and real runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from eval.dataset import GoldQuestion
from eval.metrics import EvalRecord, summarize
from eval.report import (
    BASELINE_COLUMNS,
    baselines_table,
    check_regression,
    compare_runs,
    write_report,
)
from eval.suite import (
    BASELINE_NOTES,
    EvalOptions,
    Evaluation,
    RunResult,
    default_baselines,
    evaluate,
    parse_baselines,
)
from tests.conftest import VENV_BIN

# --- options -----------------------------------------------------------------


def test_default_baselines_per_mode() -> None:
    assert default_baselines("llm") == ("bm25", "naive-rag")
    assert default_baselines("openai") == ("bm25", "naive-rag")
    assert default_baselines("extractive") == ("bm25",)
    # CI's --check, retrieval-only runs and the naive baseline itself stay lean.
    assert default_baselines("llm", check=True) == ()
    assert default_baselines("extractive", retrieval_only=True) == ()
    assert default_baselines("naive-rag") == ()


def test_parse_baselines() -> None:
    assert parse_baselines(None, mode="extractive") == ("bm25",)
    assert parse_baselines(None, mode="extractive", check=True) == ()
    assert parse_baselines("none", mode="llm") == ()
    assert parse_baselines("naive-rag", mode="extractive") == ("naive-rag",)
    assert parse_baselines(" naive-rag, bm25,bm25 ", mode="llm") == ("naive-rag", "bm25")
    assert parse_baselines("bm25", mode="llm", check=True) == ("bm25",)
    with pytest.raises(ValueError, match="bm52"):
        parse_baselines("bm25,bm52", mode="llm")
    with pytest.raises(ValueError, match="none"):
        parse_baselines("none,bm25", mode="llm")
    with pytest.raises(ValueError, match="already"):
        parse_baselines("naive-rag", mode="naive-rag")


# --- records built by hand ---------------------------------------------------------


def _question(qid: str, *, answer: str = "2029", lang: str = "en") -> GoldQuestion:
    return GoldQuestion(
        id=qid,
        question="When could humans land on Mars?",
        lang=lang,
        type="date" if answer else "unanswerable",
        answer=answer,
        variants=(),
        articles=("mars.txt",) if answer else (),
        evidence=("Menschen könnten 2029 auf dem Mars landen.",) if answer else (),
        history=(),
        article_ids=("mars",) if answer else (),
        split="dev",
    )


def _ours() -> list[EvalRecord]:
    evidence = "Menschen könnten 2029 auf dem Mars landen."
    return [
        EvalRecord.from_question(
            _question("q-1"),
            answer="Humans could land on Mars in 2029 [1].",
            retrieved_article_ids=("mars", "ezb"),
            retrieved_chunk_texts=(evidence, "Anderes."),
            citation_quotes=(evidence,),
            ttft_s=0.5,
            total_s=1.0,
            generator="extractive",
        ),
        EvalRecord.from_question(
            _question("q-2", answer=""),
            answer="The articles don't say.",
            abstained=True,
            ttft_s=0.25,
            total_s=0.5,
        ),
    ]


def _bm25() -> list[EvalRecord]:
    return [
        EvalRecord.from_question(
            _question("q-1"),
            answer="They don't say when.",
            retrieved_article_ids=("ezb", "mars"),
            retrieved_chunk_texts=("Anderes.", "Mars."),
            ttft_s=2.0,
            total_s=3.0,
        ),
        EvalRecord.from_question(
            _question("q-2", answer=""), answer="In 2030.", ttft_s=1.0, total_s=2.0
        ),
    ]


def _evaluation() -> Evaluation:
    ours = RunResult.of(_ours(), {"mode": "extractive", "retrieval": "hybrid", "rerank": True})
    bm25 = RunResult.of(
        _bm25(), {"note": BASELINE_NOTES["bm25"], "retrieval": "lexical", "rerank": False}
    )
    return Evaluation(ours, {"bm25": bm25})


def test_from_question_fills_gold_fields_and_defaults() -> None:
    q = _question("q-9")
    record = EvalRecord.from_question(q, error="boom")
    assert (record.question_id, record.type, record.lang, record.split) == (
        "q-9",
        "date",
        "en",
        "dev",
    )
    assert record.gold_answer == "2029" and record.gold_articles == ("mars",)
    assert record.gold_evidence == q.evidence and record.question == q.question
    assert record.answer == "" and not record.abstained and record.error == "boom"
    assert record.retrieved_article_ids == () and record.ttft_s is None


def test_baselines_table_rows_columns_and_notes() -> None:
    ev = _evaluation()
    table = baselines_table(ev.main.summary, ev.main.meta, ev.baselines_json())
    lines = table.splitlines()
    assert lines[0] == "| run | " + " | ".join(BASELINE_COLUMNS) + " |"
    # ours: recall@1 1, recall@5 1, mrr 1, contains 1, em 0, f1 > 0, citations 1/1,
    # abstention precision/recall 1, no false refusals, language n/a for q-1 ("en"
    # detected) -> 1, ttft p50 0.375, total p50 0.75.
    ours_row = next(line for line in lines if line.startswith("| ours (extractive) |"))
    cells = [c.strip() for c in ours_row.strip("|").split("|")]
    values = dict(zip(("run", *BASELINE_COLUMNS), cells, strict=True))
    assert values["n"] == "2"
    assert values["recall@1"] == values["mrr"] == values["contains"] == "1.000"
    assert values["em"] == "0.000"
    assert values["citation_precision"] == values["citation_recall"] == "1.000"
    assert values["abstention_precision"] == values["abstention_recall"] == "1.000"
    assert values["false_refusal_rate"] == "0.000"
    assert values["ttft_p50_s"] == "0.375" and values["total_p50_s"] == "0.750"
    bm25_row = next(line for line in lines if line.startswith("| bm25 |"))
    bm25 = dict(
        zip(
            ("run", *BASELINE_COLUMNS),
            [c.strip() for c in bm25_row.strip("|").split("|")],
            strict=True,
        )
    )
    assert bm25["recall@1"] == "0.000" and bm25["mrr"] == "0.500"
    assert bm25["contains"] == "0.000" and bm25["citation_precision"] == "0.000"
    assert bm25["abstention_precision"] == "n/a" and bm25["abstention_recall"] == "0.000"
    assert bm25["total_p50_s"] == "2.500"
    assert "- **ours (extractive)**: this run: hybrid retrieval + sentence reranking" in table
    assert f"- **bm25**: {BASELINE_NOTES['bm25']}" in table


def _write_with_baselines(ev: Evaluation, out: Path) -> None:
    main = ev.main
    write_report(out, main.summary, main.breakdowns, main.records, main.meta, ev.baselines_json())


def test_write_report_with_baselines(tmp_path: Path) -> None:
    ev = _evaluation()
    main = ev.main
    _write_with_baselines(ev, tmp_path / "run")
    result = json.loads((tmp_path / "run" / "result.json").read_text(encoding="utf-8"))
    assert result["summary"] == json.loads(json.dumps(main.summary))
    assert set(result["baselines"]) == {"bm25"}
    entry = result["baselines"]["bm25"]
    assert entry["summary"]["n"] == 2 and entry["summary"]["recall@1"] == 0.0
    assert entry["meta"]["retrieval"] == "lexical"
    assert entry["breakdowns"]["lang"]["en"]["n"] == 2
    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "## Baselines" in md
    assert md.index("## Summary") < md.index("## Baselines") < md.index("## Per question type")
    assert "| ours (extractive) | 2 | 1.000 |" in md and "| bm25 | 2 | 0.000 |" in md

    # Without baselines: no key, no section (older readers see the same file as before).
    write_report(tmp_path / "plain", main.summary, main.breakdowns, main.records, main.meta)
    assert "baselines" not in json.loads((tmp_path / "plain" / "result.json").read_text())
    assert "## Baselines" not in (tmp_path / "plain" / "report.md").read_text()


def test_compare_and_check_accept_files_with_or_without_baselines(tmp_path: Path) -> None:
    ev = _evaluation()
    main = ev.main
    _write_with_baselines(ev, tmp_path / "run")
    with_key = json.loads((tmp_path / "run" / "result.json").read_text())
    json_output = {**main.summary, "baselines": ev.baselines_json(with_breakdowns=False)}
    old = {"summary": summarize(_ours())}
    for doc in (with_key, json_output):
        table = compare_runs(old, doc)
        assert "baselines" not in table
        assert "| contains | 1.000 | 1.000 | +0.000 | same |" in table
        assert check_regression(doc, old, {"contains": 0.0, "mrr": 0.0}) == []
        assert check_regression(old, doc, {"contains": 0.0}) == []
    worse = {"summary": summarize(_bm25())}
    assert check_regression(worse, with_key, {"contains": 0.1}) == [
        "contains: dropped from 1.000 to 0.000 (-1.000, tolerance 0.1)"
    ]


# --- real runs: real Chroma, real embedder -------------------------------------------

BRIDGE = "The Rhine bridge in Exampletown was opened in 1962. It is 412 metres long."
HARBOUR = "Exampletown has a small harbour. Ferries leave every hour."


def _tiny_squad(path: Path) -> Path:
    def para(context: str, qid: str, question: str, answer: str) -> dict:
        start = context.index(answer)
        qa = {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}]}
        return {"context": context, "qas": [qa]}

    data = [
        {
            "title": "Rhine_Bridge",
            "paragraphs": [para(BRIDGE, "s1", "When was the Rhine bridge opened?", "1962")],
        },
        {
            "title": "Harbour",
            "paragraphs": [para(HARBOUR, "s2", "How often do ferries leave?", "every hour")],
        },
    ]
    path.write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return path


def test_every_baseline_runs_over_the_same_questions(make_settings, tmp_path: Path) -> None:
    # Retrieval only: the naive RAG's store is built and searched without loading the LLM.
    options = EvalOptions(mode="extractive", retrieval_only=True, baselines=("bm25", "naive-rag"))
    ev = evaluate(_tiny_squad(tmp_path / "tiny.json"), make_settings(), options)
    assert list(ev.baselines) == ["bm25", "naive-rag"]
    ids = [r.question_id for r in ev.main.records]
    assert ids == ["s1", "s2"]
    for name, run in ev.baselines.items():
        assert [r.question_id for r in run.records] == ids, name
        assert run.summary["n"] == 2 and run.summary["recall@1"] == 1.0, name
        assert run.meta["note"] == BASELINE_NOTES[name] and run.meta["retrieval_only"] is True
    assert ev.baselines["bm25"].meta["retrieval"] == "lexical"
    assert ev.baselines["naive-rag"].meta["top_k"] == 4
    assert all(r.generator == "naive-rag" for r in ev.baselines["naive-rag"].records)
    entry = ev.baselines_json(with_breakdowns=False)["naive-rag"]
    assert set(entry) == {"summary", "meta"}


# --- real runs through the `qa` command ----------------------------------------------


def _qa_eval(tmp_path: Path, model_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_MODEL_DIR=str(model_dir), QA_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run(
        [str(VENV_BIN / "qa"), "eval", *args, "--json", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1200,
        check=False,
    )


@pytest.mark.slow
def test_qa_eval_with_bm25_baseline(tmp_path: Path, model_dir: Path) -> None:
    proc = _qa_eval(
        tmp_path, model_dir, "--mode", "extractive", "--limit", "6", "--baselines", "bm25"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout)
    assert printed["n"] == 6 and "contains" in printed  # main summary stays at top level
    assert printed["baselines"]["bm25"]["summary"]["n"] == 6

    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    bm25 = result["baselines"]["bm25"]
    assert bm25["summary"]["n"] == 6 and bm25["summary"]["recall@5"] is not None
    assert bm25["meta"]["retrieval"] == "lexical" and bm25["meta"]["rerank"] is False
    assert len(result["records"]) == 6
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Baselines" in md
    assert "| run | n | recall@1 | recall@5 |" in md
    assert "| ours (extractive) | 6 |" in md and "| bm25 | 6 |" in md


@pytest.mark.llm
@pytest.mark.slow
def test_qa_eval_with_naive_rag_baseline_on_the_real_llm(tmp_path: Path, model_dir: Path) -> None:
    proc = _qa_eval(
        tmp_path, model_dir, "--mode", "extractive", "--limit", "2", "--baselines", "naive-rag"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    naive = result["baselines"]["naive-rag"]
    assert naive["summary"]["n"] == 2 and naive["summary"]["total_p50_s"] > 0
    assert "@sha256:" in naive["meta"]["llm"]  # the same local LLM, identified
    assert "| naive-rag | 2 |" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
