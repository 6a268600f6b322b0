"""Offline question answering over news archives, with citations.

>>> from qa import ask
>>> answer = ask("When could humans land on Mars?")
>>> print(answer.text, answer.citations[0].title)
"""

from qa.answering import ask, stream
from qa.api import IndexStatus, get_article, index_paths, status
from qa.settings import Settings
from qa.types import Answer, Citation

__all__ = [
    "Answer",
    "Citation",
    "IndexStatus",
    "Settings",
    "ask",
    "get_article",
    "index_paths",
    "status",
    "stream",
]
