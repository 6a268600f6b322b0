"""Turning a follow-up question into a standalone one before retrieval.

Heuristic (extractive mode, and the LLM's fallback): a question that is short, starts
with a connective ("and", "und", "what about") or leans on a pronoun is prefixed with
the previous user question, which is what retrieval needs to find the same story.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

Turn = Mapping[str, str]

_FOLLOWUP = re.compile(
    r"^(and|but|also|what about|how about|und|aber|auch|was ist mit|wie steht es mit)\b"
    r"|\b(it|its|they|them|their|he|she|his|her|that|this|there|then|es|sie|ihr|ihre|er|"
    r"sein|seine|dies|diese|dieser|dort|damals|dann|davon|dafür|darüber)\b",
    re.I,
)


def previous_questions(history: Sequence[Turn]) -> list[str]:
    """The user turns of the history, oldest first."""
    return [t["content"] for t in history if t.get("role") == "user" and t.get("content")]


def is_followup(question: str, history: Sequence[Turn]) -> bool:
    """Whether ``question`` probably depends on the conversation."""
    if not previous_questions(history):
        return False
    words = question.split()
    return len(words) <= 4 or bool(_FOLLOWUP.search(question))


def rewrite_heuristic(question: str, history: Sequence[Turn]) -> str:
    """Standalone question by prefixing the previous user question when needed."""
    if not is_followup(question, history):
        return question
    return f"{previous_questions(history)[-1]} {question}"


def format_history(history: Sequence[Turn], *, turns: int = 4) -> str:
    """The last few turns as plain text for the rewrite prompt."""
    lines = []
    for t in list(history)[-turns:]:
        who = "User" if t.get("role") == "user" else "Assistant"
        # Markers and sources from earlier answers only distract the rewrite.
        content = re.sub(r"\[\d+\]", "", str(t.get("content", ""))).strip()
        lines.append(f"{who}: {content[:500]}")
    return "\n".join(lines)
