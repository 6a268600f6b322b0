"""Unit tests of qa.followup: detecting follow-ups, the heuristic rewrite, the history text."""

from __future__ import annotations

import pytest

from qa.followup import format_history, is_followup, previous_questions, rewrite_heuristic

FIRST = "Wie viel kostet der Windpark Nordlicht vor Rügen?"
HISTORY = [
    {"role": "user", "content": FIRST},
    {"role": "assistant", "content": "Der Windpark soll 2,4 Milliarden Euro kosten [1]."},
]


def test_previous_questions_are_the_user_turns_in_order() -> None:
    history = [
        {"role": "user", "content": "Erste Frage?"},
        {"role": "assistant", "content": "Antwort."},
        {"role": "user", "content": ""},
        {"role": "user", "content": "Zweite Frage?"},
    ]
    assert previous_questions(history) == ["Erste Frage?", "Zweite Frage?"]


@pytest.mark.parametrize(
    "question",
    [
        "Und wann ist er fertig?",  # connective
        "And when will it be finished?",
        "What about the second construction phase near the island?",
        "Wie steht es mit der Finanzierung durch das Land Mecklenburg-Vorpommern?",
        "Who pays for the connection of their cables to the grid on land?",  # pronoun
        "Wer hat dort im vergangenen Herbst gegen die Pläne protestiert?",
        "Wann beginnt der Bau?",  # four words or fewer
    ],
)
def test_followups(question: str) -> None:
    assert is_followup(question, HISTORY)


@pytest.mark.parametrize(
    "question",
    [
        "Wie viele Menschen starben beim Hochwasser im Piemont im Herbst?",
        "When did the Berlin marathon world record fall for the first time?",
        "Thematically, what was decided at the climate summit in Belem?",  # "them" inside a word
    ],
)
def test_standalone_questions(question: str) -> None:
    assert not is_followup(question, HISTORY)


def test_nothing_is_a_followup_without_an_earlier_user_question() -> None:
    assert not is_followup("Und wann?", [])
    assert not is_followup("Und wann?", [{"role": "assistant", "content": "Hallo!"}])


def test_rewrite_prefixes_the_last_user_question() -> None:
    history = [
        {"role": "user", "content": "Wer gewann den Berlin-Marathon?"},
        {"role": "assistant", "content": "Daniel Rono [1]."},
        *HISTORY,
    ]
    assert (
        rewrite_heuristic("Und wann ist er fertig?", history) == f"{FIRST} Und wann ist er fertig?"
    )
    standalone = "Wie viele Menschen starben beim Hochwasser im Piemont im Herbst?"
    assert rewrite_heuristic(standalone, history) == standalone
    assert rewrite_heuristic("Und wann?", []) == "Und wann?"


def test_format_history_labels_turns_and_drops_markers() -> None:
    assert format_history(HISTORY) == (
        f"User: {FIRST}\nAssistant: Der Windpark soll 2,4 Milliarden Euro kosten ."
    )


def test_format_history_keeps_the_last_turns_and_cuts_long_ones() -> None:
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"Nachricht {i}"}
        for i in range(6)
    ]
    assert format_history(history).splitlines() == [
        "User: Nachricht 2",
        "Assistant: Nachricht 3",
        "User: Nachricht 4",
        "Assistant: Nachricht 5",
    ]
    assert format_history(history, turns=1) == "Assistant: Nachricht 5"
    long = [{"role": "assistant", "content": "x" * 600}]
    assert format_history(long) == "Assistant: " + "x" * 500
    # A turn without a role is shown as the assistant's, one without content as empty.
    assert (
        format_history([{"content": "ohne Rolle"}, {"role": "user"}])
        == "Assistant: ohne Rolle\nUser: "
    )
