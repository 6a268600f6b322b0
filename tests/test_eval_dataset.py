"""Loading gold JSONL and SQuAD files into evaluation datasets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eval.dataset import (
    SQUAD_PUBLISHED,
    Dataset,
    GoldQuestion,
    Turn,
    load_dataset,
    load_gold,
    load_squad,
    split_of,
)
from index.articles import read_article

FLUT = """Hochwasser an der Elbe erreicht Höchststand

1743141444 Hochwasser an der Elbe erreicht Hoechststand

Sandsäcke am Ufer in Dresden

Der Pegel der Elbe in Dresden erreichte am Donnerstag 7,2 Meter.
Die Stadt rief den Katastrophenfall aus. Rund 300 Helfer waren im Einsatz.

Das Wasser soll ab Sonntag wieder sinken.

toi-allgemeines
"""

WAHL = """Neue Bürgermeisterin in Leipzig gewählt

1743228000 Neue Buergermeisterin in Leipzig gewaehlt

Die Wahlsiegerin am Abend

Anna Beispiel gewann die Stichwahl mit 54,3 Prozent der Stimmen.
Die Wahlbeteiligung lag bei 41 Prozent.

toi-politik
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "001_flut.txt").write_text(FLUT, encoding="utf-8")
    (folder / "002_wahl.txt").write_text(WAHL, encoding="utf-8")
    return folder


def _q(**fields) -> dict:
    base = {
        "id": "a-001",
        "question": "Wie hoch war der Pegel der Elbe in Dresden?",
        "lang": "de",
        "type": "number",
        "answer": "7,2 Meter",
        "variants": ["7.2 m"],
        "articles": ["001_flut.txt"],
        "evidence": ["Der Pegel der Elbe in Dresden erreichte am Donnerstag 7,2 Meter."],
        "history": [],
    }
    return {**base, **fields}


GOLD_LINES = [
    _q(),
    _q(
        id="a-002",
        question="What happened in Dresden and Leipzig?",
        lang="en",
        type="multi",
        answer="a flood and a mayoral election",
        variants=[],
        articles=["001_flut.txt", "002_wahl.txt"],
        evidence=[
            "Die Stadt rief den Katastrophenfall aus.",
            "Anna Beispiel gewann die Stichwahl mit 54,3 Prozent der Stimmen.",
        ],
    ),
    _q(
        id="b-001",
        question="Und mit wie viel Prozent?",
        type="followup",
        answer="54,3 Prozent",
        variants=[],
        articles=["002_wahl.txt"],
        evidence=["Anna Beispiel gewann die Stichwahl mit 54,3 Prozent der Stimmen."],
        history=[
            {"role": "user", "content": "Wer wurde in Leipzig gewählt?"},
            {"role": "assistant", "content": "Anna Beispiel [1]."},
        ],
    ),
    _q(
        id="b-002",
        question="Wie viele Einwohner hat Dresden?",
        type="unanswerable",
        answer="",
        variants=[],
        articles=[],
        evidence=[],
    ),
]


def _write_jsonl(path: Path, lines: list) -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# --- gold JSONL ------------------------------------------------------------


def test_load_gold_resolves_articles_and_fields(tmp_path, corpus):
    gold = _write_jsonl(tmp_path / "articles_a.jsonl", GOLD_LINES)
    ds = load_gold(gold, corpus)
    flut_id = read_article(corpus / "001_flut.txt").id
    wahl_id = read_article(corpus / "002_wahl.txt").id
    assert flut_id != wahl_id

    assert ds.name == "articles_a"
    assert ds.corpus_paths == (corpus / "001_flut.txt", corpus / "002_wahl.txt")
    assert ds.articles == ()
    assert [q.id for q in ds.questions] == ["a-001", "a-002", "b-001", "b-002"]

    first = ds.questions[0]
    assert first == GoldQuestion(
        id="a-001",
        question="Wie hoch war der Pegel der Elbe in Dresden?",
        lang="de",
        type="number",
        answer="7,2 Meter",
        variants=("7.2 m",),
        articles=("001_flut.txt",),
        evidence=("Der Pegel der Elbe in Dresden erreichte am Donnerstag 7,2 Meter.",),
        history=(),
        article_ids=(flut_id,),
        split="dev",
    )
    assert first.golds == ("7,2 Meter", "7.2 m")
    assert ds.questions[1].article_ids == (flut_id, wahl_id)

    followup = ds.questions[2]
    assert followup.history == (
        Turn("user", "Wer wurde in Leipzig gewählt?"),
        Turn("assistant", "Anna Beispiel [1]."),
    )
    assert followup.history_messages()[0] == {
        "role": "user",
        "content": "Wer wurde in Leipzig gewählt?",
    }

    unanswerable = ds.questions[3]
    assert unanswerable.unanswerable and unanswerable.golds == ()
    assert unanswerable.article_ids == ()


def test_split_is_deterministic_from_the_id(tmp_path, corpus):
    # Values of the documented rule: sha1(id) % 10 < 3 -> test.
    assert [split_of(i) for i in ("a-001", "a-002", "a-003", "b-001", "b-002", "q3")] == [
        "dev",
        "dev",
        "dev",
        "test",
        "test",
        "test",
    ]
    share = sum(split_of(f"x-{i:04d}") == "test" for i in range(1000))
    assert share == 310  # about 30 %

    # Independent of file order and of the other questions.
    ds1 = load_gold(_write_jsonl(tmp_path / "one.jsonl", GOLD_LINES), corpus)
    ds2 = load_gold(_write_jsonl(tmp_path / "two.jsonl", GOLD_LINES[::-1][:2]), corpus)
    splits1 = {q.id: q.split for q in ds1.questions}
    assert all(splits1[q.id] == q.split for q in ds2.questions)
    assert [q.id for q in ds1.test] == ["b-001", "b-002"]
    assert [q.id for q in ds1.dev] == ["a-001", "a-002"]


def test_load_gold_several_files_and_blank_lines(tmp_path, corpus):
    a = _write_jsonl(tmp_path / "articles_a.jsonl", [GOLD_LINES[0], "", GOLD_LINES[1]])
    b = _write_jsonl(tmp_path / "articles_b.jsonl", GOLD_LINES[2:])
    ds = load_gold([a, b], corpus)
    assert ds.name == "gold"
    assert [q.id for q in ds.questions] == ["a-001", "a-002", "b-001", "b-002"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "question": ', "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (_q(id="a-009", lang="fr"), "lang must be one of"),
        (_q(id="a-009", type="trivia"), "type must be one of"),
        ({k: v for k, v in _q(id="a-009").items() if k != "question"}, "missing field 'question'"),
        (_q(id="a-009", articles=["999_fehlt.txt"]), "unknown article file '999_fehlt.txt'"),
        (_q(id="a-009", articles=[]), "needs at least one gold article"),
        (_q(id="a-009", answer=""), "needs a non-empty answer"),
        (_q(id="a-009", type="unanswerable"), "must have answer ''"),
        (_q(id="a-009", variants="7.2 m"), "'variants' must be a list of strings"),
        (_q(id="a-009", history=[{"role": "system", "content": "x"}]), "history[0]"),
        (_q(id="a-009", evidence=["Der Pegel stieg auf 7,2 Meter."]), "evidence not found"),
        (_q(), "duplicate question id 'a-001' (first at"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, corpus, line, message):
    gold = _write_jsonl(tmp_path / "bad.jsonl", [GOLD_LINES[0], line])
    with pytest.raises(ValueError) as info:
        load_gold(gold, corpus)
    assert str(info.value).startswith(f"{gold}:2: ")
    assert message in str(info.value)


def test_evidence_check_can_be_disabled_and_tolerates_whitespace(tmp_path, corpus):
    loose = _q(evidence=["Der Pegel stieg auf 7,2 Meter."])
    ds = load_gold(_write_jsonl(tmp_path / "g.jsonl", [loose]), corpus, check_evidence=False)
    assert ds.questions[0].evidence == ("Der Pegel stieg auf 7,2 Meter.",)
    spaced = _q(evidence=["Die Stadt rief  den\nKatastrophenfall aus."])
    assert load_gold(_write_jsonl(tmp_path / "h.jsonl", [spaced]), corpus).questions


def test_missing_corpus_folder(tmp_path):
    gold = _write_jsonl(tmp_path / "g.jsonl", [GOLD_LINES[0]])
    with pytest.raises(ValueError, match="corpus folder"):
        load_gold(gold, tmp_path / "nope")


# --- SQuAD -----------------------------------------------------------------

CONTEXT = (
    "The Rhine bridge in Exampletown was opened in 1962. It is 412 metres long. "
    "Engineers renovated it between 2015 and 2018."
)
OTHER = "Exampletown has a small harbour. Ferries leave every hour."


def _squad(version: str, with_impossible: bool) -> dict:
    qas = [
        {
            "id": "s1",
            "question": "When was the Rhine bridge opened?",
            "answers": [
                {"text": "1962", "answer_start": CONTEXT.index("1962")},
                {"text": "in 1962", "answer_start": CONTEXT.index("in 1962")},
                {"text": "1962", "answer_start": CONTEXT.index("1962")},
            ],
        },
        {
            "id": "s2",
            "question": "How long did the renovation take?",
            # Offset deliberately wrong by 3: the loader falls back to searching.
            "answers": [{"text": "between 2015 and 2018", "answer_start": 3}],
        },
    ]
    if with_impossible:
        for qa in qas:
            qa["is_impossible"] = False
        qas.append(
            {
                "id": "s3",
                "question": "Who designed the bridge?",
                "answers": [],
                "plausible_answers": [{"text": "Engineers", "answer_start": 80}],
                "is_impossible": True,
            }
        )
    return {
        "version": version,
        "data": [
            {"title": "Rhine_Bridge", "paragraphs": [{"context": CONTEXT, "qas": qas}]},
            {
                "title": "Harbour",
                "paragraphs": [
                    {
                        "context": OTHER,
                        "qas": [
                            {
                                "id": "s4",
                                "question": "How often do ferries leave?",
                                "answers": [{"text": "every hour", "answer_start": 46}],
                            }
                        ],
                    }
                ],
            },
        ],
    }


def test_load_squad_v1(tmp_path):
    path = tmp_path / "squad-v1.json"
    path.write_text(json.dumps(_squad("1.1", with_impossible=False)), encoding="utf-8")
    ds = load_squad(path)
    assert isinstance(ds, Dataset)
    assert ds.name == "squad-v1"
    assert ds.corpus_paths == ()
    assert len(ds.articles) == 2

    bridge = ds.articles[0]
    assert bridge.id.startswith("squad-") and len(bridge.id) == len("squad-") + 16
    assert bridge.title == "Rhine Bridge"
    assert bridge.paragraphs == (CONTEXT,)
    assert bridge.published == SQUAD_PUBLISHED == datetime(2000, 1, 1, tzinfo=UTC)
    assert bridge.source == "squad"
    assert bridge.path is None
    assert bridge.content_hash != ds.articles[1].content_hash

    s1, s2, s4 = ds.questions
    assert s1.type == "factoid" and s1.lang == "en"
    assert s1.answer == "1962"
    assert s1.variants == ("in 1962",)  # duplicates dropped
    assert s1.evidence == ("The Rhine bridge in Exampletown was opened in 1962.",)
    assert s1.article_ids == (bridge.id,)
    assert s1.split == split_of("s1")
    assert s2.evidence == ("Engineers renovated it between 2015 and 2018.",)
    assert s4.article_ids == (ds.articles[1].id,)
    assert s4.evidence == ("Ferries leave every hour.",)

    # The id depends on the context only: loading twice gives the same ids.
    assert load_squad(path).articles[0].id == bridge.id


def test_load_squad_v2_impossible_is_unanswerable(tmp_path):
    path = tmp_path / "squad-v2.json"
    path.write_text(json.dumps(_squad("v2.0", with_impossible=True)), encoding="utf-8")
    ds = load_squad(path, lang="de")
    by_id = {q.id: q for q in ds.questions}
    s3 = by_id["s3"]
    assert s3.type == "unanswerable" and s3.unanswerable
    assert (s3.answer, s3.variants, s3.evidence, s3.article_ids) == ("", (), (), ())
    assert by_id["s1"].type == "factoid"
    assert {q.lang for q in ds.questions} == {"de"}


def test_load_squad_detects_language(tmp_path):
    german = "Die Brücke wurde im Jahr 1962 eröffnet. Sie ist 412 Meter lang."
    data = {
        "data": [
            {
                "title": "Brücke",
                "paragraphs": [
                    {
                        "context": german,
                        "qas": [
                            {
                                "id": "d1",
                                "question": "Wann wurde die Brücke eröffnet?",
                                "answers": [{"text": "1962", "answer_start": german.index("1962")}],
                            }
                        ],
                    },
                    {
                        "context": CONTEXT,
                        "qas": [
                            {
                                "id": "e1",
                                "question": "How long is it?",
                                "answers": [{"text": "412 metres", "answer_start": 64}],
                            }
                        ],
                    },
                ],
            }
        ]
    }
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    ds = load_squad(path, lang=None)
    assert [q.lang for q in ds.questions] == ["de", "en"]
    assert ds.questions[1].evidence == ("It is 412 metres long.",)


def test_load_squad_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "x"}]}', encoding="utf-8")
    with pytest.raises(ValueError, match="malformed SQuAD structure"):
        load_squad(bad)
    missing = _squad("1.1", with_impossible=False)
    missing["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [{"text": "1970", "answer_start": 0}]
    bad.write_text(json.dumps(missing), encoding="utf-8")
    with pytest.raises(ValueError, match="'1970' does not occur in its context"):
        load_squad(bad)
    bad.write_text('{"version": "1.1"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a SQuAD file"):
        load_squad(bad)


# --- dispatch --------------------------------------------------------------


def test_load_dataset_dispatches(tmp_path, corpus):
    squad = tmp_path / "dev.json"
    squad.write_text(json.dumps(_squad("1.1", with_impossible=False)), encoding="utf-8")
    assert load_dataset(squad).articles  # SQuAD: in-memory articles

    golds = tmp_path / "gold"
    golds.mkdir()
    _write_jsonl(golds / "articles_b.jsonl", GOLD_LINES[2:])
    _write_jsonl(golds / "articles_a.jsonl", GOLD_LINES[:2])
    ds = load_dataset(golds, corpus_dir=corpus)
    assert ds.name == "gold"
    assert [q.id for q in ds.questions] == ["a-001", "a-002", "b-001", "b-002"]

    single = load_dataset(golds / "articles_a.jsonl", corpus_dir=corpus)
    assert len(single.questions) == 2 and single.corpus_paths

    # JSON lines with a .json name are still read as gold questions.
    misnamed = _write_jsonl(tmp_path / "gold.json", GOLD_LINES[:1])
    assert load_dataset(misnamed, corpus_dir=corpus).questions[0].id == "a-001"

    with pytest.raises(ValueError, match=r"no \*\.jsonl gold files"):
        load_dataset(tmp_path / "corpus")
