"""English/German function words and the one language guess built on them.

BM25 drops :data:`STOPWORDS`; :func:`detect_language` counts the same words per
language (``qa`` uses it to weight BM25 in the fusion, ``eval`` to judge the answer
language). No dependencies, no model: it runs on every question.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["de", "en", "unknown"]

# fmt: off
#: English function words: they carry no topic and inflate BM25 noise.
EN_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "he",
    "her", "his", "i", "in", "is", "it", "its", "of", "on", "or", "our", "she", "that", "the",
    "their", "them", "they", "this", "to", "was", "were", "what", "when", "where", "which",
    "who", "whom", "why", "will", "with", "would", "could", "should", "can", "do", "does", "did",
    "how", "much", "many",
})
#: German function words, as for English.
DE_STOPWORDS = frozenset({
    "aber", "als", "am", "an", "auch", "auf", "aus", "bei", "bin", "bis", "da", "dann", "das",
    "dass", "dem", "den", "der", "des", "die", "dies", "diese", "dieser", "dieses", "doch", "du",
    "durch", "ein", "eine", "einem", "einen", "einer", "eines", "er", "es", "für", "hat", "hatte",
    "ich", "ihr", "im", "in", "ist", "ja", "kann", "mit", "nach", "nicht", "noch", "nur", "oder",
    "sein", "sich", "sie", "sind", "so", "über", "um", "und", "uns", "von", "vor", "war", "wer",
    "werden", "wie", "wir", "wird", "wurde", "zu", "zum", "zur", "was", "wann", "wo", "warum",
    "welche", "welcher", "wieviel",
})
#: What the lexical (BM25) view drops from every text and query.
STOPWORDS = EN_STOPWORDS | DE_STOPWORDS

# The guess counts each language's stopwords except these: words the other language
# spells the same ("an", "in", "am", "so", "war"), and pronouns/inflections that are
# rare in questions, where the guess matters most...
_NOT_EN_CUES = frozenset({
    "as", "be", "but", "he", "her", "his", "i", "its", "or", "our", "she", "their", "them",
    "they", "whom", "can",
})
_NOT_DE_CUES = frozenset({
    "am", "an", "aus", "bin", "da", "dann", "dies", "diese", "dieser", "dieses", "doch", "du",
    "durch", "einem", "einen", "einer", "eines", "hatte", "ihr", "in", "ja", "nur", "sein", "so",
    "um", "uns", "vor", "war",
})
# ...and it also counts these frequent question and news words, which BM25 must keep
# because they can carry the topic ("Jahr", "laut", "according").
_EN_CUES = frozenset({
    "according", "after", "before", "had", "more", "most", "said", "say", "than", "year",
    "years",
})
_DE_CUES = frozenset({
    "gegen", "haben", "heute", "jahr", "jahre", "könnte", "laut", "seit", "soll", "sollte",
    "viele", "vom", "welches", "wieder",
})
# fmt: on
_DETECT_EN = (EN_STOPWORDS - _NOT_EN_CUES) | _EN_CUES
_DETECT_DE = (DE_STOPWORDS - _NOT_DE_CUES) | _DE_CUES

_WORD = re.compile(r"[a-zäöüß]+")
_UMLAUT = re.compile(r"[äöüß]")


def language_votes(text: str) -> tuple[int, int]:
    """German and English evidence in a text.

    Args:
        text: Any text.

    Returns:
        ``(de, en)``: cue words of each language, each umlaut or ß counting twice
        for German.
    """
    lowered = text.lower()
    words = _WORD.findall(lowered)
    de = sum(w in _DETECT_DE for w in words) + 2 * len(_UMLAUT.findall(lowered))
    en = sum(w in _DETECT_EN for w in words)
    return de, en


def detect_language(text: str) -> Language:
    """Guess whether ``text`` is German or English.

    Args:
        text: Any text.

    Returns:
        ``"de"`` when German has more evidence, ``"en"`` otherwise, and ``"unknown"``
        when neither has any (a tie with evidence leans to English).
    """
    de, en = language_votes(text)
    if de == en == 0:
        return "unknown"
    return "de" if de > en else "en"
