"""Typed errors raised by the indexing layer (re-exported by ``qa.errors``)."""


class QAError(Exception):
    """Base class of every error this project raises on purpose."""


class ArticleFormatError(QAError):
    """An article file does not follow the expected format."""


class IndexNotBuiltError(QAError):
    """No index exists yet in the configured data directory or server."""


class EmbeddingModelMismatchError(QAError):
    """The index was built with another embedding model than the one in use."""


class StoreUnavailableError(QAError):
    """The Chroma store cannot be reached or opened."""


class DataDirError(QAError):
    """The data directory is missing, unreadable or corrupted."""


class ModelNotInstalledError(QAError):
    """A model file is missing or fails its checksum; run the set-up again."""


class EmbeddingServerError(QAError):
    """An embeddings server is unreachable, failed, or answered something unusable."""


class IndexBusyError(QAError):
    """Another process is writing to the same data directory (only one writer at a time)."""


class IndexRebuildingError(QAError):
    """The index is being rebuilt by another process right now; ask again in a moment."""
