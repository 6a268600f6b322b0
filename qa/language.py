"""A tiny, dependency-free English/German language guess for questions and answers."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-zäöüß]+")
_DE = frozenset(
    [
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "ein",
        "eine",
        "wann",
        "wer",
        "wie",
        "wo",
        "was",
        "warum",
        "welche",
        "welcher",
        "welches",
        "wurde",
        "werden",
        "wird",
        "hat",
        "haben",
        "sind",
        "mit",
        "für",
        "auf",
        "dem",
        "den",
        "des",
        "im",
        "zu",
        "zum",
        "zur",
        "von",
        "vom",
        "bei",
        "nach",
        "über",
        "auch",
        "noch",
        "sich",
        "sie",
        "er",
        "es",
        "wir",
        "ich",
        "oder",
        "aber",
        "dass",
        "als",
        "wieviel",
        "viele",
        "wieder",
        "laut",
        "gegen",
        "seit",
        "jahr",
        "jahre",
        "soll",
        "sollte",
        "könnte",
        "kann",
        "bis",
        "heute",
    ]
)
_EN = frozenset(
    [
        "the",
        "and",
        "is",
        "are",
        "was",
        "were",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "what",
        "when",
        "who",
        "where",
        "why",
        "which",
        "how",
        "many",
        "much",
        "did",
        "does",
        "do",
        "could",
        "would",
        "should",
        "will",
        "has",
        "have",
        "had",
        "by",
        "from",
        "at",
        "it",
        "this",
        "that",
        "according",
        "say",
        "said",
        "year",
        "years",
        "than",
        "more",
        "most",
        "after",
        "before",
    ]
)


def detect_language(text: str) -> str:
    """Guess whether ``text`` is German or English.

    Args:
        text: Any text.

    Returns:
        ``"de"``, ``"en"``, or ``"unknown"`` when neither has any evidence.
    """
    lowered = text.lower()
    words = _WORD.findall(lowered)
    de = sum(w in _DE for w in words) + 2 * len(re.findall(r"[äöüß]", lowered))
    en = sum(w in _EN for w in words)
    if de == en == 0:
        return "unknown"
    return "de" if de > en else "en"
