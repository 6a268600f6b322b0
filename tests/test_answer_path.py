"""The answer rules on small literal inputs: slots, spans, the claim check, abstention,
verification of an LLM reply; and one real-index run with a deterministic chat model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from eval.claims import load_claims, score_claims
from index.models import Chunk, RetrievedChunk
from qa.claims import check_claim
from qa.drafts import render
from qa.evidence import ScoredSentence
from qa.extractive import extractive_draft
from qa.llm_extract import draft_from_reply, find_span
from qa.slots import Slot, find_values, question_slot
from qa.spans import locate
from qa.types import Outcome

ENVOY = (
    "Russland kann ein kleines Kernkraftwerk für eine Mars -Mission zur Verfügung stellen, "
    "sagte der Gesandte von Präsident Vladimir Putin für die internationale Zusammenarbeit, "
    "Kirill Dmitriev, am Donnerstag."
)
MARS = (
    "In einem Posten auf X erwähnte er, dass menschliche Landungen auf dem Mars bereits 2029 "
    "auftreten könnten, obwohl 2031 wahrscheinlicher war."
)
MOON = (
    "Yuri Borisov, der ehemalige Leiter der Raumfahrtagentur Roscosmos, sagte, dass Russland "
    "und China erwägen, zwischen 2033 und 2035 ein Kernkraftwerk auf dem Mond einzusetzen."
)


def scored(*sentences: tuple[str, float], title: str = "Mars-Pläne", day: int = 28) -> list:
    chunk = Chunk(
        id=f"c{day}",
        article_id=f"a{day}",
        position=0,
        text=" ".join(s for s, _ in sentences),
        title=title,
        published=datetime(2025, 3, day, tzinfo=UTC),
        source="test",
    )
    hit = RetrievedChunk(chunk, 0.9)
    out = [ScoredSentence(s, hit, i, score, score) for i, (s, score) in enumerate(sentences)]
    return sorted(out, key=lambda s: s.score, reverse=True)


# ----------------------------------------------------------------------- slots


@pytest.mark.parametrize(
    ("question", "slot"),
    [
        ("When could humans land on Mars?", Slot.DATE),
        ("Wann könnten Menschen auf dem Mars landen?", Slot.DATE),
        ("How much will the plant cost?", Slot.MONEY),
        ("Wie viele Menschen starben?", Slot.COUNT),
        ("Um wie viele Wochen verzögerten sich die Arbeiten?", Slot.DURATION),
        ("Wie hoch war die Arbeitslosenquote im September?", Slot.PERCENT),
        ("Who is Putin's envoy?", Slot.PERSON),
        ("Von welcher Nachrichtenagentur wurde er zitiert?", Slot.ORG),
        ("Which German state had the highest rate?", Slot.PLACE),
        ("How did Dmitriev describe Musk?", Slot.OTHER),
        ("Welche Gründe nannte der Vorstand für die Mehrkosten?", Slot.OTHER),
    ],
)
def test_question_slot(question: str, slot: Slot) -> None:
    assert question_slot(question) is slot


def test_values_of_each_kind_are_found_as_spans() -> None:
    text = "Der Park kostet 4,8 Milliarden Euro, 12 Menschen starben, die Quote lag bei 6,3 %."
    assert [v.text for v in find_values(text, Slot.MONEY)] == ["4,8 Milliarden Euro"]
    assert [v.text for v in find_values(text, Slot.PERCENT)] == ["6,3 %"]
    assert [v.text for v in find_values(text, Slot.COUNT)] == ["12 Menschen"]
    assert [v.text for v in find_values(ENVOY, Slot.PERSON)] == [
        "Vladimir Putin",
        "Kirill Dmitriev",
    ]
    dates = find_values(MOON, Slot.DATE)
    assert [v.text for v in dates] == ["zwischen 2033 und 2035"]
    assert all(MOON[v.start : v.end] == v.text for v in dates)


# ----------------------------------------------------------------------- spans


def test_span_leads_with_both_dates_and_their_qualifiers() -> None:
    span = locate("When could humans land on Mars?", Slot.DATE, scored((MARS, 0.9)), "en")
    assert span is not None
    assert span.short == "as early as 2029; 2031 more likely"
    assert span.text == "bereits 2029 auftreten könnten, obwohl 2031 wahrscheinlicher"
    german = locate("Wann landen Menschen auf dem Mars?", Slot.DATE, scored((MARS, 0.9)), "de")
    assert german is not None and german.short == "bereits 2029; 2031 wahrscheinlicher"


def test_a_name_in_the_question_is_not_its_answer() -> None:
    span = locate("Who is Putin's envoy?", Slot.PERSON, scored((ENVOY, 0.9)), "en")
    assert span is not None and span.short == "Kirill Dmitriev"


def test_a_value_about_another_thing_is_not_the_answer() -> None:
    # The question is about "Zeus"; the only figure is about the Moon plant.
    sentences = scored(
        ("Er baue auf Entwicklungen für den Raumschlepper Zeus auf.", 0.9), title="Rosatom", day=1
    ) + scored(("Das Kraftwerk auf dem Mond soll 0,5 MW liefern.", 0.88), title="Mond", day=2)
    assert (
        locate("What is the output of the Zeus space tug?", Slot.QUANTITY, sentences, "en") is None
    )


# ----------------------------------------------------------------- abstention


def test_extractive_draft_abstains_below_the_threshold() -> None:
    draft = extractive_draft("When?", scored((MARS, 0.5)), slot=Slot.DATE, lang="en", threshold=0.8)
    assert draft.outcome is Outcome.NOT_FOUND and draft.findings == ()


def test_extractive_draft_says_the_detail_is_missing_and_keeps_the_closest() -> None:
    draft = extractive_draft(
        "How much will the nuclear plant for Mars cost?",
        scored((ENVOY, 0.9)),
        slot=Slot.MONEY,
        lang="en",
        threshold=0.8,
    )
    assert draft.outcome is Outcome.MISSING_DETAIL
    assert draft.findings[0].sentence.text == ENVOY and draft.findings[0].span is None


def test_no_recognised_name_is_an_unsure_missing_detail() -> None:
    question = "Who is the project manager of the Mars landing?"
    draft = extractive_draft(question, scored((MARS, 0.9)), slot=Slot.PERSON, lang="en",
                             threshold=0.8)  # fmt: skip
    assert draft.outcome is Outcome.MISSING_DETAIL and draft.unsure
    text, _, citations = render(draft, question, "en")
    assert text.startswith("The articles may not say who: I found no name that answers it.")
    assert citations[0].quote == MARS
    money = extractive_draft("How much will it cost?", scored((MARS, 0.9)), slot=Slot.MONEY,
                             lang="en", threshold=0.8)  # fmt: skip
    assert money.outcome is Outcome.MISSING_DETAIL and not money.unsure


def test_extractive_draft_answers_with_a_span() -> None:
    draft = extractive_draft(
        "When could humans land on Mars?",
        scored((MARS, 0.9)),
        slot=Slot.DATE,
        lang="en",
        threshold=0.8,
    )
    assert draft.outcome is Outcome.ANSWERED
    start, end = draft.findings[0].span
    assert "2029" in MARS[start:end] and "2031" in MARS[start:end]


def test_a_newer_article_with_another_value_leads() -> None:
    old = scored(("Der Park soll 3,5 Milliarden Euro kosten.", 0.9), title="Park", day=1)
    new = scored(("Die Kosten steigen auf 4,8 Milliarden Euro.", 0.89), title="Park", day=20)
    draft = extractive_draft(
        "How much will the park cost?", old + new, slot=Slot.MONEY, lang="en", threshold=0.8
    )
    assert [f.short for f in draft.findings] == ["4.8 billion euros", "3.5 billion euros"]


# ----------------------------------------------------------------- claim check


@pytest.mark.parametrize(
    ("claim", "supported"),
    [
        ("Kirill Dmitriev, Putin's envoy for international cooperation, made the offer.", True),
        ("Russia's foreign minister Kirill Dmitriev made the offer.", False),  # swapped role
        ("Dmitriev spoke on Thursday.", True),
        ("Dmitriev spoke on Friday.", False),  # wrong weekday
    ],
)
def test_claim_check_on_the_envoy_sentence(claim: str, supported: bool) -> None:
    assert check_claim(claim, ENVOY).supported is supported


@pytest.mark.parametrize(
    ("claim", "supported"),
    [
        ("Russia and China consider a plant on the Moon between 2033 and 2035.", True),
        ("Russia, China and India consider a plant on the Moon.", False),  # added member
        ("Russia and China consider a plant on the Moon by 2036.", False),  # wrong year
        ("The current head of Roscosmos, Yuri Borisov, spoke about the plan.", False),
        ("Yuri Borisov, the former head of Roscosmos, spoke about the plan.", True),
    ],
)
def test_claim_check_on_the_moon_sentence(claim: str, supported: bool) -> None:
    assert check_claim(claim, MOON).supported is supported


REACTOR = "Der Reaktor solle bis zu 1 Megawatt leisten und rund 8 Tonnen wiegen."
ICE = "Das Eis bedeckte nur noch 3,86 Mio. Quadratkilometer."
TURNOUT = "Die Wahlbeteiligung lag bei 48,7 %, deutlich höher als bei der Wahl 2024."


@pytest.mark.parametrize(
    ("claim", "sentence", "supported"),
    [
        ("The reactor would deliver up to 1 megawatt.", REACTOR, True),
        ("The reactor would deliver up to 1 gigawatt.", REACTOR, False),  # wrong unit
        ("It would weigh about 8 tonnes.", REACTOR, True),
        ("Turnout was 48.7 percent, much higher than in 2024.", TURNOUT, True),
        ("Turnout was 48.7 percent, much lower than in 2024.", TURNOUT, False),  # direction
        ("The ice covered 3.86 million square kilometres.", ICE, True),
    ],
)
def test_claim_check_units_and_direction(claim: str, sentence: str, supported: bool) -> None:
    assert check_claim(claim, sentence).supported is supported


def test_claim_check_quality_on_the_dev_claims_does_not_regress() -> None:
    # Measured when this was written: precision 0.970, recall 0.867 on dev (qa eval --claims).
    result = score_claims(load_claims(), split="dev")
    assert result["precision"] >= 0.95, result["errors"]
    assert result["recall"] >= 0.84, result["errors"]


def test_a_claim_without_checkable_facts_is_undecided() -> None:
    assert check_claim("He described him as a great visionary.", MOON).supported is None


# ----------------------------------------------------------------- LLM replies


def _reply_draft(
    reply: str,
    question: str = "Who is Putin's envoy?",
    slot: Slot = Slot.PERSON,
    lang: str = "en",
):
    sentences = scored((ENVOY, 0.9), (MARS, 0.85))
    return draft_from_reply(
        reply,
        sentences,
        question=question,
        slot=slot,
        lang=lang,
        scored=sentences,
        threshold=0.8,
    )


def test_a_verbatim_span_is_accepted_and_its_rendering_checked() -> None:
    draft = _reply_draft('{"sentence": 1, "span": "Kirill Dmitriev", "answer": "Kirill Dmitriev"}')
    assert draft is not None and draft.outcome is Outcome.ANSWERED
    assert draft.findings[0].short == "Kirill Dmitriev"


def test_a_wrong_role_in_the_rendering_falls_back_to_the_span() -> None:
    reply = (
        '{"sentence": 1, "span": "Kirill Dmitriev", "answer": "Foreign minister Kirill Dmitriev"}'
    )
    draft = _reply_draft(reply)
    assert draft is not None and draft.findings[0].short == "Kirill Dmitriev"


def test_a_rendering_in_the_wrong_language_falls_back_to_the_span() -> None:
    reply = (
        '{"sentence": 1, "span": "der Gesandte von Präsident Vladimir Putin für die '
        'internationale Zusammenarbeit", "answer": "the envoy of President Putin for '
        'international cooperation"}'
    )
    german = _reply_draft(reply, "Welche Rolle hat Kirill Dmitriev?", Slot.OTHER, lang="de")
    assert german is not None
    assert german.findings[0].short.startswith("der Gesandte von Präsident")
    english = _reply_draft(reply, "What is Kirill Dmitriev's role?", Slot.OTHER)
    assert english is not None and english.findings[0].short.startswith("the envoy")


def test_a_span_that_repeats_the_question_is_no_answer() -> None:
    reply = '{"sentence": 1, "span": "Kirill Dmitriev", "answer": "Kirill Dmitriev"}'
    draft = _reply_draft(reply, "What role does Kirill Dmitriev have?", Slot.OTHER)
    assert draft is not None and draft.outcome is Outcome.MISSING_DETAIL


def test_a_span_found_in_no_sentence_is_unverified() -> None:
    assert _reply_draft('{"sentence": 1, "span": "Sergei Lawrow", "answer": "Lavrov"}') is None
    assert _reply_draft("Kirill Dmitriev") is None  # not JSON at all


def test_the_model_saying_no_sentence_gives_a_missing_detail() -> None:
    draft = _reply_draft(
        '{"sentence": 0, "span": "", "answer": ""}', "How much does it cost?", Slot.MONEY
    )
    assert draft is not None and draft.outcome is Outcome.MISSING_DETAIL


def test_find_span_tolerates_inflection_but_returns_sentence_text() -> None:
    sentence = "wurde er von der staatlichen RIA-Nachrichtenagentur zitiert."
    start, end = find_span(sentence, "Staatliche RIA-Nachrichtenagentur")
    assert sentence[start:end] == "RIA-Nachrichtenagentur"
    assert find_span(sentence, "die Agentur Reuters") is None


# ------------------------------------------------- real index, deterministic model


class ScriptedChatModel(BaseChatModel):
    """Replies with one fixed text (the real model is tested in test_answering.py)."""

    reply: str

    @property
    def _llm_type(self) -> str:
        return "scripted-test-model"

    def _generate(self, messages: list, stop: object = None, **kwargs: object) -> ChatResult:
        raise NotImplementedError("only streaming is used")

    def _stream(
        self, messages: list, stop: object = None, **kwargs: object
    ) -> Iterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=AIMessageChunk(content=self.reply))


def test_a_wrong_role_claim_loses_its_citation_on_the_real_index(
    sample_index, engine_with_chat_model
) -> None:
    reply = (
        '{"sentence": 1, "span": "Kirill Dmitriev", '
        '"answer": "Russia\'s foreign minister Kirill Dmitriev"}'
    )
    model = ScriptedChatModel(reply=reply)
    engine = engine_with_chat_model(sample_index.with_(generator="llm"), model)
    question = (
        "Who is Putin's envoy for international cooperation who offered Musk a nuclear plant?"
    )
    answer = engine.ask(question)
    assert answer.generator == "llm", answer.fallback_note
    assert "foreign minister" not in answer.text.lower()
    assert answer.short == "Kirill Dmitriev"
    assert answer.citations[0].span_text == "Kirill Dmitriev"
