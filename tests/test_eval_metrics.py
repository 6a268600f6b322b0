"""Metrics, summaries and reports of the evaluation harness, on hand-made cases."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from eval.metrics import (
    SUMMARY_KEYS,
    EvalRecord,
    abstention_scores,
    answer_language,
    breakdown,
    citation_precision,
    citation_recall,
    contains_gold,
    evidence_chunk_recall,
    exact_match,
    latency_summary,
    normalize_answer,
    own_words,
    percentile,
    recall_at_k,
    reciprocal_rank,
    score_record,
    summarize,
    token_f1,
)
from eval.report import check_regression, compare_runs, worst_failures, write_report
from index.models import Chunk, RetrievedChunk
from qa.types import Answer, Citation

# --- normalisation ---------------------------------------------------------


def test_normalize_squad_style_english():
    assert normalize_answer("The  Denver Broncos!", "en") == "denver broncos"
    assert normalize_answer("an apple, a pear", "en") == "apple pear"


def test_normalize_german_articles_only_for_german():
    assert (
        normalize_answer("Die Bundesregierung und der Kanzler", "de")
        == "bundesregierung und kanzler"
    )
    # In English "die" is a verb, not an article.
    assert normalize_answer("die", "en") == "die"


def test_normalize_decimal_comma_equals_decimal_point():
    assert normalize_answer("3,1 Prozent", "de") == "3.1 prozent"
    assert normalize_answer("3.1 Prozent", "de") == "3.1 prozent"
    assert exact_match("3,1 Prozent", ["3.1 Prozent"], "de") == 1.0
    # A comma between words is punctuation, not a separator.
    assert normalize_answer("Berlin, Hamburg", "de") == "berlin hamburg"


def test_normalize_folds_umlauts_and_sharp_s():
    assert normalize_answer("Straße in München", "de") == "strasse in muenchen"
    assert normalize_answer("Strasse in Muenchen", "de") == "strasse in muenchen"
    # Decomposed umlaut (u + combining diaeresis) folds the same way.
    assert normalize_answer("Mu\u0308nchen", "de") == "muenchen"
    assert normalize_answer("Élysée", "en") == "elysee"


def test_normalize_strips_citation_markers_and_joins_dashes():
    assert normalize_answer("Die Flut kam am Montag [1][2, 3].", "de") == "flut kam am montag"
    assert normalize_answer("Mars-Mission", "de") == normalize_answer("Mars -Mission", "de")
    assert normalize_answer("„Zitat“ – Ende", "de") == "zitat ende"


# --- answer metrics --------------------------------------------------------


def test_exact_match_squad_examples():
    assert exact_match("Denver Broncos", ["Denver Broncos", "The Broncos"]) == 1.0
    assert exact_match("the broncos", ["Denver Broncos", "The Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0
    # No gold: only an empty answer matches (SQuAD v2 convention).
    assert exact_match("", []) == 1.0
    assert exact_match("something", []) == 0.0


def test_token_f1_squad_examples():
    # pred {denver, broncos, team} vs gold {denver, broncos}: P=2/3, R=1.
    assert token_f1("the Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)
    # Max over golds: "cat sat" vs "a cat sat on the mat" -> P=1, R=2/4 -> 2/3.
    assert token_f1("the cat sat", ["dog", "a cat sat on the mat"]) == pytest.approx(2 / 3)
    assert token_f1("Santa Clara", ["Levi's Stadium"]) == 0.0
    # Bag of tokens: repeated tokens only count as often as they occur in the gold.
    assert token_f1("x x y", ["x y"]) == pytest.approx(0.8)
    assert token_f1("", ["x"]) == 0.0


def test_contains_gold_is_token_bounded_and_normalised():
    answer = "Die Arbeitslosenquote stieg im März auf 3,1 Prozent [1]."
    assert contains_gold(answer, ["3.1 Prozent"], "de") == 1.0
    assert contains_gold(answer, ["Maerz"], "de") == 1.0
    assert contains_gold("Sie stieg auf 13,1 Prozent.", ["3,1 Prozent"], "de") == 0.0
    # An empty variant would match anything; it is ignored.
    assert contains_gold(answer, ["", "4 Prozent"], "de") == 0.0


# --- retrieval -------------------------------------------------------------


def test_recall_at_k_counts_multi_article_questions_partially():
    ranked = ["a", "a", "b", "c", "d"]  # two chunks of article a
    assert recall_at_k(ranked, ["b"], 1) == 0.0
    # Ranks are over distinct articles: b is the 2nd article, not the 3rd chunk.
    assert recall_at_k(ranked, ["b"], 2) == 1.0
    assert recall_at_k(ranked, ["a", "x"], 5) == 0.5
    assert recall_at_k(ranked, ["a", "c", "d"], 3) == pytest.approx(2 / 3)
    assert recall_at_k([], ["a"], 10) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(ranked, [], 5)
    with pytest.raises(ValueError):
        recall_at_k(ranked, ["a"], 0)


def test_reciprocal_rank():
    assert reciprocal_rank(["x", "x", "y", "g"], ["g", "h"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["h", "g"], ["g", "h"]) == 1.0
    assert reciprocal_rank(["x"], ["g"]) == 0.0


def test_evidence_chunk_recall_normalises_whitespace_only():
    chunks = ["Erster Satz.\nDie Flut   kam am Montag. Dritter Satz.", "Anderes."]
    evidence = ["Die Flut kam am Montag.", "Die Flut kam am Dienstag."]
    assert evidence_chunk_recall(chunks, evidence) == 0.5
    assert evidence_chunk_recall(chunks, ["die flut kam am montag."]) == 0.0
    with pytest.raises(ValueError):
        evidence_chunk_recall(chunks, [])


# --- citations -------------------------------------------------------------

EVIDENCE = (
    "Die Arbeitslosenquote stieg im März auf 3,1 Prozent.",
    "Das Ministerium rechnet mit einem weiteren Anstieg.",
)


def test_citation_precision():
    quotes = [
        # Containment: the quote holds the whole evidence sentence.
        "Laut Statistik: Die Arbeitslosenquote stieg im März auf 3,1 Prozent.",
        # Token F1 >= 0.5 with the second evidence sentence (5 of 6 tokens shared).
        "Das Ministerium rechnet mit weiterem Anstieg.",
        # Unrelated.
        "Der Bürgermeister eröffnete das Fest.",
        # Not evidence, but states the gold answer.
        "Im Vormonat lag der Wert noch unter 3,1 Prozent.",
    ]
    assert citation_precision(quotes, EVIDENCE, ["3,1 Prozent"], "de") == 0.75
    assert citation_precision(quotes[2:3], EVIDENCE, ["3,1 Prozent"], "de") == 0.0
    # An answer with no citation at all is unsourced: precision 0.
    assert citation_precision([], EVIDENCE, ["3,1 Prozent"], "de") == 0.0


def test_citation_recall():
    assert (
        citation_recall(["Die Arbeitslosenquote stieg im März auf 3,1 Prozent."], EVIDENCE, "de")
        == 0.5
    )
    # A quote that is a part of the evidence sentence covers it (containment either way).
    assert (
        citation_recall(["auf 3,1 Prozent", "rechnet mit einem weiteren Anstieg"], EVIDENCE, "de")
        == 1.0
    )
    assert citation_recall([], EVIDENCE, "de") == 0.0


# --- abstention ------------------------------------------------------------


def test_abstention_scores():
    pairs = [
        (True, True),  # correct refusal
        (True, False),  # hallucinated answer
        (False, True),  # false refusal
        (False, False),
        (False, False),
        (True, True),  # correct refusal
    ]
    scores = abstention_scores(pairs)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.false_refusal_rate == pytest.approx(1 / 3)
    precision, recall, frr = abstention_scores([(False, False)])
    assert (precision, recall, frr) == (None, None, 0.0)


# --- language --------------------------------------------------------------


def test_answer_language_on_clear_sentences():
    assert answer_language("Die Flut hat im Jahr 2021 große Schäden angerichtet [1].") == "de"
    assert answer_language("Laut dem Bericht wurde die Brücke nicht gesperrt.") == "de"
    assert answer_language("The flood caused heavy damage in the Ahr valley in 2021 [1].") == "en"
    assert answer_language("According to the report, the bridge was not closed.") == "en"
    assert answer_language("Olaf Scholz") == "unknown"
    assert answer_language("") == "unknown"


def test_own_words_drop_what_the_answer_quotes():
    refusal = (
        "The articles don't say what it costs. The closest they come to it is "
        "„Die Brücke über die Elbe“ (2025-03-12): „Die Brücke wurde im März eröffnet.“"
    )
    assert answer_language(refusal) == "de"  # the German quote outweighs the frame
    assert answer_language(own_words(refusal)) == "en"
    assert own_words('Zitat aus "Titel": „Satz.“\nZweite Zeile') == "Zitat aus \nZweite Zeile"


# --- latency ---------------------------------------------------------------


def test_percentile_linear_interpolation():
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_skips_missing():
    assert latency_summary([None, 2.0, None, 4.0]) == {"p50": 3.0, "p95": pytest.approx(3.9)}
    assert latency_summary([None]) == {"p50": None, "p95": None}


# --- records, summary, breakdown ------------------------------------------

EV_A = "Die Arbeitslosenquote stieg im März auf 3,1 Prozent."


def _records() -> list[EvalRecord]:
    a = EvalRecord(
        question_id="q-a",
        type="number",
        lang="de",
        unanswerable=False,
        retrieved_article_ids=("a2", "a1", "a1", "a3"),
        retrieved_chunk_texts=("Anderes.", f"Einleitung. {EV_A}", "Mehr.", "Fremd."),
        answer="Die Quote lag bei 3.1 Prozent [1].",
        abstained=False,
        citation_quotes=(EV_A,),
        ttft_s=0.5,
        total_s=2.0,
        gold_answer="3,1 Prozent",
        gold_evidence=(EV_A,),
        gold_articles=("a1",),
        question="Wie hoch war die Arbeitslosenquote im März?",
    )
    b = EvalRecord(
        question_id="q-b",
        type="multi",
        lang="en",
        unanswerable=False,
        retrieved_article_ids=("a4", "a5"),
        retrieved_chunk_texts=("Something else.", "Unrelated."),
        answer="Berlin",
        abstained=False,
        citation_quotes=(),
        ttft_s=None,
        total_s=4.0,
        gold_answer="Berlin",
        gold_variants=("the capital Berlin",),
        gold_evidence=("Der Gipfel findet in Berlin statt.",),
        gold_articles=("a1", "a4"),
    )
    c = EvalRecord(
        question_id="q-c",
        type="unanswerable",
        lang="en",
        unanswerable=True,
        retrieved_article_ids=("a1",),
        retrieved_chunk_texts=("Irgendwas.",),
        answer="Dazu finde ich nichts in den Artikeln.",
        abstained=True,
        citation_quotes=(),
        ttft_s=0.2,
        total_s=1.0,
        gold_answer="",
    )
    d = EvalRecord(
        question_id="q-d",
        type="number",
        lang="de",
        unanswerable=False,
        retrieved_article_ids=(),
        retrieved_chunk_texts=(),
        answer="Dazu finde ich nichts.",
        abstained=True,
        citation_quotes=(),
        ttft_s=0.3,
        total_s=3.0,
        gold_answer="zwölf",
        gold_evidence=("Es waren zwölf.",),
        gold_articles=("a1",),
        question="Wie viele waren es?",
    )
    return [a, b, c, d]


def test_score_record_values():
    a, b, c, d = _records()
    sa = score_record(a)
    # No translated golds on these records: those metrics do not apply.
    assert sa.pop("em_translated") is None and sa.pop("f1_translated") is None
    assert sa == {
        "recall@1": 0.0,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "rr": 0.5,
        "evidence_recall": 1.0,
        "em": 0.0,
        # pred {quote, lag, bei, 3.1, prozent} vs gold {3.1, prozent}: P=2/5, R=1 -> 4/7.
        "f1": pytest.approx(4 / 7),
        "contains": 1.0,
        "citation_precision": 1.0,
        "citation_recall": 1.0,
        "language_match": 1.0,
    }
    sc = score_record(c)
    # Unanswerable: no retrieval, answer or citation metrics; German refusal to an
    # English question is a language mismatch.
    assert {k: v for k, v in sc.items() if v is not None} == {"language_match": 0.0}
    sd = score_record(d)
    # A refusal on an answerable question scores zero, not "not applicable".
    assert (sd["em"], sd["f1"], sd["contains"]) == (0.0, 0.0, 0.0)
    assert sd["citation_precision"] is None and sd["citation_recall"] is None
    assert score_record(b)["language_match"] is None  # "Berlin" carries no language signal


def test_summarize_exact_values():
    s = summarize(_records())
    assert list(s) == list(SUMMARY_KEYS)
    expected = {
        "n": 4,
        "recall@1": 0.5 / 3,  # a: 0, b: 1/2, d: 0
        "recall@5": 0.5,  # a: 1, b: 1/2, d: 0
        "recall@10": 0.5,
        "mrr": 0.5,  # a: 1/2, b: 1, d: 0
        "evidence_recall": 1 / 3,
        "em": 1 / 3,  # a: 0, b: 1, d: 0
        "f1": (4 / 7 + 1) / 3,
        "em_translated": None,  # no record has translated golds
        "f1_translated": None,
        "contains": 2 / 3,
        "citation_precision": 0.5,  # a: 1, b: 0 (no citations)
        "citation_recall": 0.5,
        "abstention_precision": 0.5,  # refused c (unanswerable) and d (answerable)
        "abstention_recall": 1.0,
        "false_refusal_rate": 1 / 3,
        "language_match": 2 / 3,  # a: 1, c: 0, d: 1, b: unknown
        "ttft_p50_s": 0.3,  # of [0.2, 0.3, 0.5]
        "ttft_p95_s": 0.48,
        "total_p50_s": 2.5,  # of [1, 2, 3, 4]
        "total_p95_s": 3.85,
    }
    assert s == pytest.approx(expected)


def test_summarize_empty_is_none_not_zero():
    s = summarize([])
    assert s["n"] == 0
    assert all(s[k] is None for k in SUMMARY_KEYS if k != "n")


def test_breakdown_by_lang_and_type():
    by_lang = breakdown(_records(), "lang")
    assert list(by_lang) == ["de", "en"]
    assert by_lang["de"]["n"] == 2
    assert by_lang["de"]["contains"] == 0.5
    assert by_lang["de"]["false_refusal_rate"] == 0.5
    assert by_lang["en"]["em"] == 1.0
    assert by_lang["en"]["abstention_recall"] == 1.0
    by_type = breakdown(_records(), "type")
    assert list(by_type) == ["multi", "number", "unanswerable"]
    assert by_type["unanswerable"]["contains"] is None
    with pytest.raises(ValueError):
        breakdown(_records(), "colour")


def test_record_dict_round_trip():
    record = _records()[0]
    data = json.loads(json.dumps(record.to_dict()))
    assert EvalRecord.from_dict(data) == record


def test_record_from_answer():
    from eval.dataset import GoldQuestion

    when = datetime(2025, 3, 28, tzinfo=UTC)
    chunk = Chunk("a1-0000-abcd1234", "a1", 0, EV_A, "Titel", when, "toi-allgemeines")
    answer = Answer(
        text="3,1 Prozent [1].",
        citations=(Citation(1, "a1", "Titel", when, "toi-allgemeines", chunk.id, EV_A),),
        chunks=(RetrievedChunk(chunk, 0.9),),
        generator="extractive",
        timings={"first_token": 0.1, "total": 0.4},
    )
    gold = GoldQuestion(
        id="q1",
        question="Quote?",
        lang="de",
        type="number",
        answer="3,1 Prozent",
        variants=("3.1 %",),
        articles=("001.txt",),
        evidence=(EV_A,),
        history=(),
        article_ids=("a1",),
        split="dev",
    )
    record = EvalRecord.from_answer(gold, answer)
    assert record.retrieved_article_ids == ("a1",)
    assert record.retrieved_chunk_texts == (EV_A,)
    assert record.citation_quotes == (EV_A,)
    assert (record.ttft_s, record.total_s) == (0.1, 0.4)
    assert record.golds == ("3,1 Prozent", "3.1 %")
    assert record.gold_articles == ("a1",)
    assert summarize([record])["contains"] == 1.0


# --- report ----------------------------------------------------------------


def test_worst_failures_order():
    a, b, c, d = _records()
    hallucinated = replace(c, question_id="q-h", abstained=False)
    worst = worst_failures([a, b, c, d, hallucinated])
    # Answering an unanswerable question ranks worst, then the false refusal;
    # a, b (gold contained) and c (correct refusal) are not failures.
    assert [r.question_id for r in worst] == ["q-h", "q-d"]


def test_write_report(tmp_path):
    records = _records()
    summary = summarize(records)
    breakdowns = {"type": breakdown(records, "type"), "lang": breakdown(records, "lang")}
    meta = {"git_commit": "abc1234", "embedder": "e5@sha256:ff00", "generator": "extractive"}
    out = tmp_path / "run"
    write_report(out, summary, breakdowns, records, meta)

    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result["summary"]["n"] == 4
    assert result["meta"]["git_commit"] == "abc1234"
    assert result["breakdowns"]["lang"]["de"]["n"] == 2
    assert [r["question_id"] for r in result["records"]] == ["q-a", "q-b", "q-c", "q-d"]
    assert result["records"][0]["scores"]["rr"] == 0.5
    assert result["records"][2]["scores"]["em"] is None

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| git_commit | abc1234 |" in md
    assert "| contains | 0.667 |" in md
    assert "## Per question type" in md and "## Per language" in md
    assert "## Worst failures (1)" in md
    assert (
        "| q-d | number | de | Wie viele waren es? | zwölf | (abstained) Dazu finde ich nichts. |"
        in md
    )
    for png in ("per_type.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_runs_table():
    a = {"n": 10, "contains": 0.5, "total_p50_s": 2.0, "em": None}
    b = {"summary": {"n": 10, "contains": 0.625, "total_p50_s": 2.5, "em": 0.1}}
    lines = compare_runs(a, b).splitlines()
    assert lines[0] == "| metric | a | b | delta | verdict |"
    assert "| n | 10 | 10 | +0 | same |" in lines
    assert "| contains | 0.500 | 0.625 | +0.125 | better |" in lines
    assert "| total_p50_s | 2.000 | 2.500 | +0.500 | worse |" in lines
    assert "| em | n/a | 0.100 | n/a |  |" in lines


def test_check_regression():
    baseline = {"contains": 0.80, "recall@5": 0.90, "false_refusal_rate": 0.10, "total_p95_s": 5.0}
    current = {"contains": 0.78, "recall@5": 0.85, "false_refusal_rate": 0.20, "total_p95_s": 4.0}
    tolerances = {
        "contains": 0.02,
        "recall@5": 0.02,
        "false_refusal_rate": 0.05,
        "total_p95_s": 0.5,
    }
    violations = check_regression(current, baseline, tolerances)
    # contains dropped exactly by its tolerance: allowed; latency improved: allowed.
    assert violations == [
        "recall@5: dropped from 0.900 to 0.850 (-0.050, tolerance 0.02)",
        "false_refusal_rate: rose from 0.100 to 0.200 (+0.100, tolerance 0.05)",
    ]
    slower = {**current, "recall@5": 0.9, "false_refusal_rate": 0.1, "total_p95_s": 6.0}
    assert check_regression({"summary": slower}, {"summary": baseline}, tolerances) == [
        "total_p95_s: rose from 5.000 to 6.000 (+1.000, tolerance 0.5)"
    ]
    assert check_regression({"contains": None}, baseline, {"contains": 0.1}) == [
        "contains: missing in the current run (baseline 0.800)"
    ]
    with pytest.raises(ValueError):
        check_regression(current, baseline, {"contians": 0.1})
    with pytest.raises(ValueError):
        check_regression(current, baseline, {"contains": -0.1})


def test_translated_golds_and_the_short_answer_are_scored():
    a, *_ = _records()
    record = replace(
        a,
        answer="2029, 2031 wahrscheinlicher [1]\nQuoted from …",
        short="2029, 2031 more likely",
        gold_answer="2029",
        gold_variants=(),
        gold_translations=("2029, with 2031 more likely",),
        abstained=False,
        unanswerable=False,
    )
    scores = score_record(record)
    assert scores["em"] == 0.0 and 0 < scores["f1"] < 1  # the short answer, not the quote
    assert scores["f1_translated"] > scores["f1"]
    assert scores["contains"] == 1.0
