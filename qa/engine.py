"""The engine: one owner for everything the answer path keeps between questions.

An :class:`Engine` is built from :class:`~qa.settings.Settings` and lazily creates and
owns the embedder, the open index (Chroma store + BM25 view), the query-vector LRU,
the sentence-vector cache and the chat models (through :class:`Models`). Nothing else
in ``qa`` keeps state between calls: library functions get the engine, or the one
resource they need, as an argument. One :meth:`Engine.close` releases everything;
:meth:`Engine.invalidate` drops the open index after a rebuild.

>>> with Engine(Settings.from_env()) as engine:
...     answer = engine.ask("When could humans land on Mars?")

``qa.ask`` / ``qa.stream`` are thin functions over :func:`default_engine`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from index.embedding import Embedder, load_embedder
from index.errors import QAError
from index.store import ChunkStore
from qa import answering
from qa.evidence import SentenceCache
from qa.filters import Filters
from qa.resources import (
    OpenIndex,
    QueryVectors,
    open_for_reading,
    open_for_writing,
    refuse_during_rebuild,
    still_current,
)
from qa.retrieval import RetrievalParams
from qa.settings import Settings
from qa.types import Answer

if TYPE_CHECKING:
    from qa.chat_models import LocalModels

#: The settings an engine's index and embedder follow. Settings that differ only in
#: other fields (generator, top_k, rerank, thresholds, the LLM's, the UI's) are answered
#: by the same engine: pass them per call (the UI's mode switch, eval's BM25 baseline).
INDEX_FIELDS = (
    "data_dir",
    "collection",
    "chroma_host",
    "chroma_port",
    "embedder",
    "embedding_runtime",
    "model_dir",
    "embeddings_base_url",
    "embeddings_model",
    "embeddings_api_key",
    "embeddings_timeout",
)

#: Builds the embedder a Settings names.
EmbedderFactory = Callable[[Settings], Embedder]
#: Builds a chat model; called like :func:`qa.chat_models.make_chat_model`.
ChatModelFactory = Callable[..., Any]


def index_key(settings: Settings) -> tuple[Any, ...]:
    """The values of :data:`INDEX_FIELDS`: two settings with one key share an engine."""
    return tuple(getattr(settings, name) for name in INDEX_FIELDS)


def _runtime(settings: Settings) -> str:
    # Only the e5 embedder has runtimes; the others ignore the setting.
    return settings.embedding_runtime if settings.embedder == "e5" else "torch"


def _load_embedder(settings: Settings) -> Embedder:
    return load_embedder(
        settings.embedder,
        settings.model_dir,
        runtime=_runtime(settings),
        **settings.embedder_options,
    )


def _make_chat_model(settings: Settings, **options: Any) -> Any:
    # Imported here: nothing on the extractive path needs the chat-model classes.
    from qa.chat_models import make_chat_model

    return make_chat_model(settings, **options)


class Models:
    """Loaded models: embedders (per kind, model dir and server) and local GGUFs.

    An engine owns one unless it is given one to share. The factories are the
    extension point: a test registers a deterministic embedder or a scripted chat
    model here, and the engine, retrieval and answering run unchanged on top.

    Args:
        embedder_factory: Builds the embedder the settings name (default:
            :func:`index.embedding.load_embedder`); called once per kind, model dir
            and server until :meth:`close`.
        chat_model_factory: Builds a chat model, called like
            :func:`qa.chat_models.make_chat_model` (``settings``, then keywords
            ``generator``, ``temperature``, ``local_models`` and maybe ``max_tokens``).
    """

    def __init__(
        self,
        *,
        embedder_factory: EmbedderFactory | None = None,
        chat_model_factory: ChatModelFactory | None = None,
    ) -> None:
        self._embedder_factory = embedder_factory or _load_embedder
        self._chat_model_factory = chat_model_factory or _make_chat_model
        self._embedders: dict[tuple[Any, ...], Embedder] = {}
        self._local: LocalModels | None = None
        self._lock = threading.RLock()

    def embedder(self, settings: Settings) -> Embedder:
        """The embedder the settings name, loaded on first use.

        Raises:
            ModelNotInstalledError: The e5 model is missing or fails its checksums.
            EmbeddingServerError: The embeddings server cannot be reached.
        """
        # The server options are part of the key: another URL is another embedder.
        key = (
            settings.embedder,
            _runtime(settings),
            settings.model_dir,
            tuple(sorted(settings.embedder_options.items())),
        )
        with self._lock:
            # Loading holds the lock: two first questions must not load the model twice.
            found = self._embedders.get(key)
            if found is None:
                found = self._embedders[key] = self._embedder_factory(settings)
            return found

    def local_models(self) -> LocalModels:
        """The pool the local GGUFs are loaded into (shared by every chat model made here)."""
        with self._lock:
            if self._local is None:
                from qa.chat_models import LocalModels

                self._local = LocalModels()
            return self._local

    def chat_model(
        self,
        settings: Settings,
        generator: str,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> Any:
        """A chat model for ``generator`` (cheap: the local weights load on first use).

        Raises:
            ModelNotInstalledError: ``llm`` and the GGUF is not assembled.
            ValueError: No chat model for this generator, or its server is not set.
        """
        options: dict[str, Any] = {
            "generator": generator,
            "temperature": temperature,
            "local_models": self.local_models(),
        }
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        return self._chat_model_factory(settings, **options)

    def close(self) -> None:
        """Drop every loaded model; the next use loads it again."""
        with self._lock:
            self._embedders.clear()
            if self._local is not None:
                self._local.close()
                self._local = None


class Engine:
    """Everything one index's questions need, created on first use, released by :meth:`close`.

    Thread-safe: the web UI answers from several worker threads through one engine.

    Args:
        settings: The index and embedder to use (:data:`INDEX_FIELDS`) and the default
            answer settings.
        models: Loaded models to share with other engines (the caller closes them);
            default: models of its own, released by :meth:`close`.
        owns_models: Whether :meth:`close` also closes ``models`` (default: only
            when the engine made them itself).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        models: Models | None = None,
        owns_models: bool | None = None,
    ) -> None:
        self._settings = settings
        self._owns_models = models is None if owns_models is None else owns_models
        self._models = Models() if models is None else models
        self._lock = threading.RLock()
        self._index: OpenIndex | None = None
        self._queries: QueryVectors | None = None
        self._sentences = SentenceCache()

    @property
    def settings(self) -> Settings:
        """The settings the engine was built from."""
        return self._settings

    @property
    def models(self) -> Models:
        """The models the engine loads from (its own or shared)."""
        return self._models

    def settings_for(self, settings: Settings | None) -> Settings:
        """``settings`` (or the engine's) after checking they name this engine's index.

        Raises:
            ValueError: They name another index or embedder: that needs another engine.
        """
        if settings is None:
            return self._settings
        if settings is not self._settings:
            for name in INDEX_FIELDS:
                if getattr(settings, name) != getattr(self._settings, name):
                    raise ValueError(
                        f"these settings name another index or embedder than the engine's "
                        f"({name}={getattr(settings, name)!r}, the engine has "
                        f"{getattr(self._settings, name)!r}); use another Engine"
                    )
        return settings

    # ------------------------------------------------------------------ resources

    def embedder(self) -> Embedder:
        """The index's embedder, loaded on first use."""
        return self._models.embedder(self._settings)

    def index(self) -> OpenIndex:
        """The index for asking questions, opened on first use and kept current.

        A handle whose index was rebuilt or replaced on disk is reopened; one whose
        store was changed by another writer gets the current BM25 view.

        Raises:
            IndexNotBuiltError: Nothing has been indexed yet.
            IndexRebuildingError: Another writer is rebuilding the index right now.
            EmbeddingModelMismatchError: The index was built with another model.
            StoreUnavailableError: The Chroma server is down (the next call reopens it).
            DataDirError: The data directory is unreadable.
        """
        with self._lock:
            refuse_during_rebuild(self._settings)
            embedder = self.embedder()
            if self._index is not None and self._index.embedder is embedder:
                try:
                    if still_current(self._index, self._settings):
                        return self._index
                except QAError:
                    # E.g. the Chroma server is down: reopen from scratch on the next
                    # call, once it may be back, instead of keeping an unknown handle.
                    self._index = None
                    raise
            self._index = None
            if self._queries is None or self._queries.embedder is not embedder:
                self._queries = QueryVectors(embedder)
                self._sentences.clear()
            self._index = open_for_reading(
                self._settings, embedder, queries=self._queries, sentences=self._sentences
            )
            return self._index

    def open_for_writing(self) -> tuple[ChunkStore, Embedder]:
        """A store handle for indexing (the index is created if missing) and its embedder.

        Raises:
            EmbeddingModelMismatchError: The index was built with another model.
            StoreUnavailableError: The Chroma server is down.
        """
        embedder = self.embedder()
        return open_for_writing(self._settings, embedder), embedder

    def chat_model(
        self,
        generator: str | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        settings: Settings | None = None,
    ) -> Any:
        """A chat model for ``generator`` (default: the settings'), sharing loaded weights.

        Args:
            generator: ``llm`` or ``openai``.
            max_tokens: Tokens per reply (default: the chat model's).
            temperature: Sampling temperature.
            settings: Answer settings to build it from (same index as the engine's).
        """
        s = self.settings_for(settings)
        return self._models.chat_model(
            s, generator or s.generator, max_tokens=max_tokens, temperature=temperature
        )

    # ------------------------------------------------------------------ answering

    def stream(
        self,
        question: str,
        *,
        history: Sequence[Mapping[str, str]] = (),
        filters: Mapping[str, Any] | Filters | None = None,
        retrieval: RetrievalParams | None = None,
        settings: Settings | None = None,
    ) -> Iterator[str | Answer]:
        """Answer a question; see :func:`qa.answering.stream` for what is yielded and raised.

        Args:
            question: The question, English or German.
            history: Earlier turns, ``{"role": "user"|"assistant", "content": str}``.
            filters: ``since``/``until`` (dates) and ``source`` (tag).
            retrieval: Retrieval knobs (the eval suite varies them).
            settings: Answer settings for this call (generator, top_k, rerank …);
                they must name the engine's index. Default: the engine's.

        Raises:
            ValueError: ``settings`` name another index than the engine's.
        """
        yield from answering.answer_stream(
            self,
            question,
            history=history,
            filters=filters,
            settings=self.settings_for(settings),
            retrieval=retrieval,
        )

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Mapping[str, str]] = (),
        filters: Mapping[str, Any] | Filters | None = None,
        retrieval: RetrievalParams | None = None,
        settings: Settings | None = None,
    ) -> Answer:
        """Answer a question; the arguments are :meth:`stream`'s.

        Returns:
            The complete answer with citations, retrieved chunks and timings.
        """
        answer = None
        for item in self.stream(
            question, history=history, filters=filters, retrieval=retrieval, settings=settings
        ):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None  # stream always ends with an Answer
        return answer

    def warm_up(self, settings: Settings | None = None) -> None:
        """Load the local LLM and evaluate the extraction prompt's fixed prefix now.

        Does nothing unless the settings' generator is ``llm``.

        Raises:
            ModelNotInstalledError: The local model is missing or fails its checksum.
        """
        s = self.settings_for(settings)
        if s.generator != "llm":
            return
        answering.prime(
            self.chat_model("llm", max_tokens=answering.EXTRACTION_MAX_TOKENS, settings=s)
        )

    # ------------------------------------------------------------------ lifetime

    def clear_caches(self) -> None:
        """Forget cached query and sentence vectors (a bench times new questions)."""
        with self._lock:
            if self._queries is not None:
                self._queries.clear()
            self._sentences.clear()

    def invalidate(self) -> None:
        """Drop the open index (after re-indexing or a rebuild); the next call reopens it.

        The vector caches stay: they depend on the embedder, not on what is indexed.
        """
        with self._lock:
            self._index = None

    def close(self) -> None:
        """Release the open index, the caches and (when the engine owns them) the models.

        The engine stays usable: a later call opens and loads again.
        """
        with self._lock:
            self._index = None
            self._queries = None
            self._sentences = SentenceCache()
            if self._owns_models:
                self._models.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _DefaultEngines:
    """The engines behind the settings-only functions, one per index (:func:`index_key`).

    Why a default exists at all: ``qa.ask(question, settings=s)``, ``qa.status(s)``, the
    ``qa`` command and other callers that hold only Settings have nowhere to keep a
    loaded model or an open index between calls, and without one every question would
    load the e5 model again (seconds) and reopen the store and its BM25 view. This
    registry is the one place that state lives for them; code that wants its own
    lifetime (eval, the UI, tests) builds an :class:`Engine`. Its engines share one
    :class:`Models`, so a process that asks about many data dirs (a test session)
    loads the e5 model and the GGUF once.
    """

    def __init__(self) -> None:
        self._engines: dict[tuple[Any, ...], Engine] = {}
        self._models = Models()
        self._lock = threading.Lock()

    def get(self, settings: Settings) -> Engine:
        key = index_key(settings)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = self._engines[key] = Engine(settings, models=self._models)
            return engine

    def close(self) -> None:
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.close()
        self._models.close()


_DEFAULTS = _DefaultEngines()


def default_engine(settings: Settings) -> Engine:
    """The process's default engine for the index these settings name.

    Pass ``settings`` to its methods per call: the engine was built from the first
    settings seen for this index, which may differ in answer fields (generator …).
    """
    return _DEFAULTS.get(settings)


def close_default_engines() -> None:
    """Close every default engine and the models they share (the next call reloads)."""
    _DEFAULTS.close()
