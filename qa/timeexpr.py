"""Resolve relative time expressions in an article against its publication date.

News text says "Ende nächsten Jahres" or "am Donnerstag"; a reader months later
needs "end of 2026" or "2025-03-27". We annotate such expressions in the text shown
to the model and in quotes, e.g. ``bis Ende nächsten Jahres [= Ende 2026]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

_WEEKDAYS = {
    "montag": 0,
    "dienstag": 1,
    "mittwoch": 2,
    "donnerstag": 3,
    "freitag": 4,
    "samstag": 5,
    "sonntag": 6,
}
_MONTHS_DE = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
]


def _month(published: datetime, delta: int) -> str:
    index = published.year * 12 + published.month - 1 + delta
    return f"{_MONTHS_DE[index % 12]} {index // 12}"


def _weekday(published: datetime, name: str) -> str:
    # A weekday in a news report means the most recent such day on or before publication.
    back = (published.weekday() - _WEEKDAYS[name]) % 7
    return f"{(published - timedelta(days=back)):%Y-%m-%d}"


Rule = tuple[re.Pattern[str], Callable[[datetime, re.Match[str]], str]]

_RULES: list[Rule] = [
    (
        re.compile(r"\b(Ende|Anfang|Mitte) (des )?(nächsten|kommenden) Jahres\b", re.I),
        lambda p, m: f"{m.group(1).capitalize()} {p.year + 1}",
    ),
    (
        re.compile(r"\b(Ende|Anfang|Mitte) (dieses|diesen|des laufenden) Jahres\b", re.I),
        lambda p, m: f"{m.group(1).capitalize()} {p.year}",
    ),
    (
        re.compile(r"\b(im |)(nächsten|kommenden) Jahr\b|\bnächstes Jahr\b", re.I),
        lambda p, m: str(p.year + 1),
    ),
    (
        re.compile(r"\b(im |)(vergangenen|letzten|vorigen) Jahr(es)?\b|\bletztes Jahr\b", re.I),
        lambda p, m: str(p.year - 1),
    ),
    (re.compile(r"\b(in )?diesem Jahr\b|\bdieses Jahr\b", re.I), lambda p, m: str(p.year)),
    (
        re.compile(r"\b(Ende|Anfang|Mitte) (des )?(nächsten|kommenden) Monats\b", re.I),
        lambda p, m: f"{m.group(1).capitalize()} {_month(p, 1)}",
    ),
    (
        re.compile(r"\b(im |)(nächsten|kommenden) Monat\b", re.I),
        lambda p, m: _month(p, 1),
    ),
    (
        re.compile(r"\b(im |)(vergangenen|letzten|vorigen) Monat\b", re.I),
        lambda p, m: _month(p, -1),
    ),
    (re.compile(r"\b(in )?diesem Monat\b", re.I), lambda p, m: _month(p, 0)),
    (
        re.compile(r"\bam (Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag)\b"),
        lambda p, m: _weekday(p, m.group(1).lower()),
    ),
    (re.compile(r"\bgestern\b", re.I), lambda p, m: f"{(p - timedelta(days=1)):%Y-%m-%d}"),
    (re.compile(r"\bheute\b", re.I), lambda p, m: f"{p:%Y-%m-%d}"),
]


def _find(text: str, published: datetime) -> list[tuple[int, int, str, str]]:
    found: list[tuple[int, int, str, str]] = []
    for pattern, meaning in _RULES:
        for m in pattern.finditer(text):
            # The first (more specific) rule wins where patterns overlap.
            if any(m.start() < end and start < m.end() for start, end, _, _ in found):
                continue
            found.append((m.start(), m.end(), m.group(0), meaning(published, m)))
    return sorted(found)


def resolve(text: str, published: datetime) -> list[tuple[str, str]]:
    """Relative time expressions in ``text`` and what they mean.

    Args:
        text: A sentence or passage from an article.
        published: The article's publication time.

    Returns:
        ``(expression, resolved)`` pairs in text order, e.g.
        ``("Ende nächsten Jahres", "Ende 2026")``.
    """
    return [(expr, meaning) for _, _, expr, meaning in _find(text, published)]


def annotate(text: str, published: datetime) -> str:
    """``text`` with each relative expression followed by ``[= resolved]``."""
    out = text
    for _, end, _, meaning in reversed(_find(text, published)):
        out = f"{out[:end]} [= {meaning}]{out[end:]}"
    return out
