"""Offline question answering over news archives, with citations.

>>> from qa import ask
>>> answer = ask("When could humans land on Mars?")
>>> print(answer.text, answer.citations[0].title)

``ask`` runs on a default engine per index; hold an :class:`Engine` to own the loaded
models and the open index yourself (``with Engine(Settings.from_env()) as engine: ...``).
"""

from qa.answering import ask, stream
from qa.api import IndexStatus, get_article, index_paths, status
from qa.engine import Engine
from qa.settings import Settings
from qa.types import Answer, Citation

__all__ = [
    "Answer",
    "Citation",
    "Engine",
    "IndexStatus",
    "Settings",
    "ask",
    "get_article",
    "index_paths",
    "status",
    "stream",
]
