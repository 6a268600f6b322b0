"""The question/answer language guess; it lives in :mod:`index.language` with the stopwords."""

from __future__ import annotations

from index.language import Language, detect_language

__all__ = ["Language", "detect_language"]
