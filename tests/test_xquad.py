"""XQuAD loader: English or German questions over the German paragraphs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.dataset import SQUAD_SOURCE, split_of
from eval.metrics import answer_language
from eval.xquad import XQuad, load_xquad

ROOT = Path(__file__).resolve().parent.parent


def _xquad_dir() -> Path | None:
    # The data lives beside the checkout in ../shared/data/xquad; a git worktree may sit
    # one level deeper, so the nearest ancestor holding shared/data/xquad wins.
    for parent in ROOT.parents:
        candidate = parent / "shared" / "data" / "xquad"
        if (candidate / "xquad.de.json").is_file() and (candidate / "xquad.en.json").is_file():
            return candidate
    return None


XQUAD_DIR = _xquad_dir()
needs_xquad = pytest.mark.skipif(XQUAD_DIR is None, reason="../shared/data/xquad not present")

# Function words that occur in nearly every English or German question and rarely in
# the other language ("die", "was" and "in" exist in both, so they are left out).
_EN_WORDS = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "the",
        "of",
        "is",
        "did",
        "does",
        "do",
        "to",
        "many",
        "much",
    ]
)
_DE_WORDS = frozenset(
    [
        "wer",
        "wen",
        "wem",
        "wessen",
        "welche",
        "welcher",
        "welches",
        "wann",
        "wo",
        "wie",
        "warum",
        "der",
        "den",
        "dem",
        "des",
        "ist",
        "hat",
        "wurde",
        "im",
        "von",
        "viele",
    ]
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-zäöüß]+", text.lower()))


def _looks_english(text: str) -> bool:
    words = _words(text)
    return len(words & _EN_WORDS) > len(words & _DE_WORDS)


@pytest.fixture(scope="module")
def en_de() -> XQuad:
    assert XQUAD_DIR is not None
    return load_xquad(XQUAD_DIR, "en-de")


@pytest.fixture(scope="module")
def de_de() -> XQuad:
    assert XQUAD_DIR is not None
    return load_xquad(XQUAD_DIR, "de-de")


@needs_xquad
def test_counts(en_de: XQuad, de_de: XQuad) -> None:
    for loaded in (en_de, de_de):
        assert len(loaded.dataset.articles) == 240
        assert len(loaded.dataset.questions) == 1190
        assert len({q.id for q in loaded.dataset.questions}) == 1190
        assert len(loaded.english_golds) == 1190
        assert loaded.dataset.corpus_paths == ()
        assert all(a.source == SQUAD_SOURCE for a in loaded.dataset.articles)
    assert en_de.dataset.name == "xquad-en-de"
    assert de_de.dataset.name == "xquad-de-de"


@needs_xquad
def test_en_questions_are_english_and_de_questions_german(en_de: XQuad, de_de: XQuad) -> None:
    en = en_de.dataset.questions
    de = de_de.dataset.questions
    assert [q.id for q in en] == [q.id for q in de]
    assert all(q.lang == "en" for q in en)
    assert all(q.lang == "de" for q in de)
    english = sum(_looks_english(q.question) for q in en)
    german = sum(not _looks_english(q.question) for q in de)
    # A few one-word or name-only questions are ambiguous; the bulk must be right.
    assert english >= 0.95 * len(en)
    assert german >= 0.95 * len(de)
    # Same id, different text: the English question replaced the German one.
    assert sum(a.question != b.question for a, b in zip(en, de, strict=True)) >= 0.99 * len(en)


@needs_xquad
def test_golds_are_german_spans_in_their_paragraph(en_de: XQuad) -> None:
    assert XQUAD_DIR is not None
    raw = json.loads((XQUAD_DIR / "xquad.de.json").read_text(encoding="utf-8"))
    german_answers = {
        qa["id"]: {a["text"] for a in qa["answers"]}
        for doc in raw["data"]
        for para in doc["paragraphs"]
        for qa in para["qas"]
    }
    articles = {a.id: a for a in en_de.dataset.articles}
    for q in en_de.dataset.questions:
        assert not q.unanswerable
        assert q.answer in german_answers[q.id]
        assert q.article_ids == q.articles and len(q.article_ids) == 1
        paragraph = articles[q.article_ids[0]].paragraphs[0]
        for gold in q.golds:
            assert gold in paragraph
        assert q.evidence
        for sentence in q.evidence:
            assert sentence in paragraph
        assert any(q.answer in s for s in q.evidence) or len(q.evidence) > 1
    # German spans, not the English ones: most differ from the English gold of the same id
    # (numbers and names often agree), and every paragraph reads as German.
    differing = sum(q.answer not in en_de.english_golds[q.id] for q in en_de.dataset.questions)
    assert differing >= 0.6 * len(en_de.dataset.questions)
    assert all(answer_language(a.paragraphs[0]) == "de" for a in en_de.dataset.articles)


@needs_xquad
def test_english_golds_come_from_the_english_file(en_de: XQuad) -> None:
    assert XQUAD_DIR is not None
    raw = json.loads((XQUAD_DIR / "xquad.en.json").read_text(encoding="utf-8"))
    expected = {
        qa["id"]: tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
        for doc in raw["data"]
        for para in doc["paragraphs"]
        for qa in para["qas"]
    }
    assert en_de.english_golds == expected
    # The first question of the file: "How many points did the Panthers defense surrender?"
    assert en_de.english_golds["56beb4343aeaaa14008c925b"] == ("308",)
    first = en_de.dataset.questions[0]
    assert first.id == "56beb4343aeaaa14008c925b"
    assert first.question == "How many points did the Panthers defense surrender?"
    assert first.answer == "308"


@needs_xquad
def test_split_is_by_id_and_about_30_percent_test(en_de: XQuad, de_de: XQuad) -> None:
    for loaded in (en_de, de_de):
        qs = loaded.dataset.questions
        assert all(q.split == split_of(q.id) for q in qs)
        share = len(loaded.dataset.test) / len(qs)
        assert 0.25 <= share <= 0.35
        assert len(loaded.dataset.test) + len(loaded.dataset.dev) == len(qs)
    assert [q.id for q in en_de.dataset.test] == [q.id for q in de_de.dataset.test]


def _write_squad(path: Path, qas: list[dict]) -> None:
    context = "Der Rhein ist 1.233 Kilometer lang. Er mündet in die Nordsee."
    data = {
        "version": "1.1",
        "data": [{"title": "Rhein", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _qa(qid: str, question: str, text: str, start: int) -> dict:
    return {"id": qid, "question": question, "answers": [{"text": text, "answer_start": start}]}


def test_small_pair_builds_en_questions_over_german_spans(tmp_path: Path) -> None:
    _write_squad(
        tmp_path / "xquad.de.json", [_qa("q1", "Wie lang ist der Rhein?", "1.233 Kilometer", 14)]
    )
    (tmp_path / "xquad.en.json").write_text(
        json.dumps(
            {
                "data": [
                    {
                        "title": "Rhine",
                        "paragraphs": [
                            {
                                "context": "The Rhine is 1,233 kilometres long.",
                                "qas": [
                                    _qa("q1", "How long is the Rhine?", "1,233 kilometres", 13)
                                ],
                            }
                        ],
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    loaded = load_xquad(tmp_path, "en-de")
    (q,) = loaded.dataset.questions
    assert (q.question, q.lang, q.answer) == ("How long is the Rhine?", "en", "1.233 Kilometer")
    assert q.evidence == ("Der Rhein ist 1.233 Kilometer lang.",)
    assert loaded.english_golds == {"q1": ("1,233 kilometres",)}
    assert loaded.dataset.articles[0].paragraphs[0].startswith("Der Rhein")

    (q_de,) = load_xquad(tmp_path, "de-de").dataset.questions
    assert (q_de.question, q_de.lang, q_de.answer) == (
        "Wie lang ist der Rhein?",
        "de",
        "1.233 Kilometer",
    )


def test_mismatched_ids_and_bad_pair_are_rejected(tmp_path: Path) -> None:
    _write_squad(
        tmp_path / "xquad.de.json", [_qa("q1", "Wie lang ist der Rhein?", "1.233 Kilometer", 14)]
    )
    _write_squad(tmp_path / "xquad.en.json", [_qa("q2", "How long?", "1.233 Kilometer", 14)])
    with pytest.raises(ValueError, match="differ in 2 question ids"):
        load_xquad(tmp_path, "en-de")
    with pytest.raises(ValueError, match="pair must be one of"):
        load_xquad(tmp_path, "de-en")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        load_xquad(tmp_path / "missing", "de-de")
