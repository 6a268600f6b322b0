"""Unit tests of the one language guess (index.language) and its users in qa and eval."""

from __future__ import annotations

import pytest

from eval.metrics import answer_language, language_match
from index import language
from qa.language import detect_language


def test_qa_reexports_the_index_detector() -> None:
    assert detect_language is language.detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Wann wurde das Klanghaus in Marlingen eröffnet?", "de"),
        ("Wie viele Menschen starben beim Hochwasser?", "de"),
        ("What did the ECB decide about the deposit rate?", "en"),
        ("How much more will the wind farm cost?", "en"),
        ("Olaf Scholz", "unknown"),
        ("2029", "unknown"),
        ("", "unknown"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_umlauts_count_as_german_evidence() -> None:
    assert language.language_votes("Müller Straße") == (4, 0)
    assert detect_language("Müller") == "de"


def test_a_tie_with_evidence_leans_to_english() -> None:
    # "was" is a cue in both languages.
    assert language.language_votes("was") == (1, 1)
    assert detect_language("was") == "en"


def test_eval_judges_answers_with_the_same_detector_without_markers() -> None:
    # Citation markers are not words; the answer's language is its text's.
    assert answer_language("Die Flut hat im Jahr 2021 große Schäden angerichtet [1].") == "de"
    assert answer_language("The flood caused heavy damage [1][2].") == "en"
    assert answer_language("[1]") == "unknown"
    assert language_match("Die Brücke ist nicht gesperrt [1].", "de") == 1.0
    assert language_match("The bridge is not closed [1].", "de") == 0.0
    assert language_match("3,1 [1]", "de") is None
