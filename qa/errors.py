"""Every error the library raises on purpose; all derive from :class:`QAError`."""

from index.errors import (
    ArticleFormatError,
    DataDirError,
    EmbeddingModelMismatchError,
    EmbeddingServerError,
    IndexBusyError,
    IndexNotBuiltError,
    IndexRebuildingError,
    ModelNotInstalledError,
    QAError,
    StoreUnavailableError,
)

__all__ = [
    "ArticleFormatError",
    "ArticleNotFoundError",
    "DataDirError",
    "EmbeddingModelMismatchError",
    "EmbeddingServerError",
    "FilterError",
    "GeneratorUnavailableError",
    "IndexBusyError",
    "IndexNotBuiltError",
    "IndexRebuildingError",
    "ModelNotInstalledError",
    "QAError",
    "QuestionError",
    "StoreUnavailableError",
]


class QuestionError(QAError, ValueError):
    """The question is empty, too long or otherwise unusable."""


class FilterError(QAError, ValueError):
    """A filter has an unknown key or a value that cannot be used."""


class GeneratorUnavailableError(QAError):
    """The configured answer generator (LLM or server) cannot be used."""


class ArticleNotFoundError(QAError, KeyError):
    """No indexed article has the given id."""
