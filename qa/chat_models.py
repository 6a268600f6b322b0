"""LangChain chat models for the answer generator: local llama.cpp or an OpenAI-compatible server.

:func:`make_chat_model` is the only entry point the chain needs. The local model is a
small :class:`~langchain_core.language_models.BaseChatModel` of our own around
``llama_cpp.Llama`` rather than ``langchain_community``'s wrapper, so that we control
three things that matter on a 2-core CPU:

* the GGUF is loaded once per :class:`LocalModels` (an engine owns one) and shared by
  every chat-model object given it;
* generations are serialised with a lock (Gradio calls from worker threads and a
  ``Llama`` context is not thread-safe);
* consecutive prompts that share a prefix (the fixed system prompt) reuse the KV
  cache of that prefix instead of evaluating it again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from index.errors import ModelNotInstalledError
from qa.llm_assets import model_path
from qa.settings import Settings

if TYPE_CHECKING:
    import llama_cpp

DEFAULT_MAX_TOKENS = 256
# Snapshots of past prompts' KV caches (LlamaRAMCache), off by default: saving a state
# after every call cost 0.72 s, slowed decoding to ~18 tok/s and raised peak RSS to
# 4.7 GB, to save ~1.6 s only when another prompt ran in between. The live KV cache
# still reuses the shared system-prompt prefix.
DEFAULT_PROMPT_CACHE_BYTES = 0
# Prompt-processing batch (llama.cpp's default): a ~800-token RAG prompt goes in two
# llama_decode calls.
DEFAULT_N_BATCH = 512


@dataclass
class _LoadedModel:
    """One ``Llama`` instance and the lock that guards its (single) context."""

    llm: llama_cpp.Llama
    # A plain Lock, not an RLock: LangChain's async streaming calls next() on our
    # generator from different executor threads, so the release may happen on
    # another thread than the acquire, which RLock forbids.
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalModels:
    """Loaded GGUFs, one per (path, n_ctx, n_threads, n_batch), for the chat models given it.

    An :class:`~qa.engine.Engine` owns one, so its chat models (the answer extractor
    and the naive baseline's, with other ``max_tokens``) share one ``Llama`` and its
    KV cache; a chat model built without one gets its own.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, int, int, int], _LoadedModel] = {}
        self._lock = threading.Lock()

    def get(
        self, path: Path, n_ctx: int, n_threads: int, n_batch: int, prompt_cache_bytes: int = 0
    ) -> _LoadedModel:
        """The ``Llama`` for these parameters, loading it on first use.

        The snapshot cache is not part of the key (a second 1 GB model for another
        cache size would be a waste): the first caller's ``prompt_cache_bytes`` wins.

        Raises:
            ModelNotInstalledError: llama-cpp-python is not installed.
        """
        key = (str(path.resolve()), n_ctx, n_threads, n_batch)
        with self._lock:
            # Loading holds the lock on purpose: two threads asking for the same model
            # at start-up must not map and initialise it twice.
            loaded = self._models.get(key)
            if loaded is None:
                loaded = _LoadedModel(llm=_new_llama(path, n_ctx, n_threads, n_batch))
                if prompt_cache_bytes > 0:
                    import llama_cpp

                    loaded.llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=prompt_cache_bytes))
                self._models[key] = loaded
            return loaded

    def add(self, path: Path, n_ctx: int, n_threads: int, n_batch: int, llm: Any) -> None:
        """Serve ``llm`` for these parameters to every chat model given the pool.

        For a ``Llama`` loaded with options the pool does not set (a study's flash
        attention).
        """
        with self._lock:
            self._models[(str(path.resolve()), n_ctx, n_threads, n_batch)] = _LoadedModel(llm=llm)

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def close(self) -> None:
        """Drop every loaded ``Llama``; its memory is freed once no generation uses it.

        A generation in progress keeps its model until it ends (it holds a reference),
        so closing never pulls a context from under a running answer.
        """
        with self._lock:
            self._models.clear()


def _new_llama(path: Path, n_ctx: int, n_threads: int, n_batch: int) -> llama_cpp.Llama:
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelNotInstalledError(
            "llama-cpp-python is not installed (it comes with the `llm` extra); run `make setup`"
        ) from exc
    return llama_cpp.Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        n_batch=n_batch,
        n_ubatch=n_batch,
        verbose=False,
    )


def _text(content: str | list[Any]) -> str:
    """Flatten LangChain message content (string or content blocks) to plain text."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _to_llama_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    converted: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, AIMessage):
            role = "assistant"
        elif isinstance(message, ChatMessage):
            role = message.role
        else:
            raise ValueError(f"Unsupported message type for the local model: {message.type}")
        converted.append({"role": role, "content": _text(message.content)})
    return converted


class LlamaCppChatModel(BaseChatModel):
    """Chat model running a local GGUF through llama.cpp, CPU only.

    The underlying ``Llama`` comes from ``local_models`` (one per (path, n_ctx,
    n_threads, n_batch), shared by the chat models given the same pool; without one
    the model has its own) and is loaded on first use (or by :meth:`warm_up`). Calls are serialised:
    while one answer is being generated or streamed, others wait.

    Prefix reuse, two levels:

    * ``Llama`` keeps the KV cache of the last prompt and its answer; when the next
      prompt starts with the same tokens (the system prompt, or system prompt plus
      the same sources for a follow-up) only the remainder is evaluated. Free.
    * That is lost as soon as another prompt runs in between (e.g. the chain's
      question-condensing step with its own system prompt). A ``LlamaRAMCache`` of
      ``prompt_cache_bytes`` snapshots the KV state after every call and restores
      the snapshot sharing the longest prefix, so each prompt type keeps its
      prefix warm. Costs one ~25 MB state copy per call and up to
      ``prompt_cache_bytes`` of RAM.

    Attributes:
        model_path: Path of the GGUF file.
        n_ctx: Context window in tokens (prompt plus answer).
        n_threads: CPU threads for prompt processing and generation.
        n_batch: Tokens per prompt-processing batch.
        temperature: Sampling temperature; 0 means greedy and reproducible.
        max_tokens: Upper bound of generated tokens per call.
        stop: Extra stop sequences (the chat template's end token always stops).
        reuse_prefix: Reuse the KV cache of a shared prompt prefix; False forces a
            full re-evaluation of every prompt (only useful for measurements).
        prompt_cache_bytes: Capacity of the RAM snapshot cache; 0 disables it.
        local_models: The pool the weights are loaded into; None: a pool of its own.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 2
    n_batch: int = DEFAULT_N_BATCH
    temperature: float = 0.0
    max_tokens: int = DEFAULT_MAX_TOKENS
    stop: list[str] | None = None
    reuse_prefix: bool = True
    prompt_cache_bytes: int = DEFAULT_PROMPT_CACHE_BYTES
    local_models: LocalModels | None = Field(default=None, exclude=True)
    _own_models: LocalModels | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": self.stop,
        }

    def _loaded(self) -> _LoadedModel:
        pool = self.local_models
        if pool is None:
            if self._own_models is None:
                self._own_models = LocalModels()
            pool = self._own_models
        return pool.get(
            Path(self.model_path), self.n_ctx, self.n_threads, self.n_batch, self.prompt_cache_bytes
        )

    @contextmanager
    def _exclusive(self) -> Iterator[llama_cpp.Llama]:
        """Hold the model's lock for one generation; honour ``reuse_prefix=False``."""
        loaded = self._loaded()
        with loaded.lock:
            llm = loaded.llm
            if self.reuse_prefix:
                yield llm
                return
            # Forget the live KV cache and hide the snapshot cache for this call only,
            # so the prompt is evaluated from scratch without touching shared state.
            cache = llm.cache
            llm.set_cache(None)
            llm.reset()
            try:
                yield llm
            finally:
                llm.set_cache(cache)

    def warm_up(self, messages: Sequence[BaseMessage] | None = None) -> None:
        """Load the model now and optionally pre-fill the KV cache.

        Args:
            messages: A prompt whose prefix later prompts share (typically the system
                message plus a dummy question). It is evaluated with a one-token
                answer, so the first real question only pays for its own tokens.
        """
        if not messages:
            self._loaded()
            return
        with self._exclusive() as llm:
            llm.create_chat_completion(_to_llama_messages(messages), temperature=0.0, max_tokens=1)

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        # llama.cpp switches to plain greedy decoding at temperature 0.
        params = {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "stop": [*(self.stop or []), *(stop or [])],
        }
        if "response_format" in kwargs:
            # {"type": "json_object", "schema": …}: llama.cpp turns the schema into a
            # grammar, so the reply is valid JSON of that shape by construction.
            params["response_format"] = kwargs["response_format"]
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._exclusive() as llm:
            response = llm.create_chat_completion(
                _to_llama_messages(messages), stream=False, **self._params(stop, kwargs)
            )
        choice = response["choices"][0]  # type: ignore[index]
        usage = response.get("usage") or {}  # type: ignore[union-attr]
        message = AIMessage(
            content=choice["message"].get("content") or "",
            response_metadata={
                "finish_reason": choice.get("finish_reason"),
                "model_name": Path(self.model_path).name,
            },
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llama_messages = _to_llama_messages(messages)
        params = self._params(stop, kwargs)
        # The lock is held across the yields: the context is busy until the answer is
        # complete. If the consumer stops early (user pressed stop), closing this
        # generator exits the `with`, which closes llama.cpp's token generator and
        # releases the lock. A plain Lock allows the release from another thread,
        # which happens when LangChain's async streaming drives us from an executor.
        with self._exclusive() as llm:
            stream = iter(llm.create_chat_completion(llama_messages, stream=True, **params))
            try:
                finish_reason = None
                for part in stream:
                    choice = part["choices"][0]
                    finish_reason = choice.get("finish_reason") or finish_reason
                    text = choice["delta"].get("content")
                    if not text:
                        continue
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="",
                        chunk_position="last",
                        response_metadata={
                            "finish_reason": finish_reason,
                            "model_name": Path(self.model_path).name,
                        },
                    )
                )
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()


def make_chat_model(
    settings: Settings,
    *,
    generator: str,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = 0.0,
    local_models: LocalModels | None = None,
) -> BaseChatModel:
    """Build the chat model for a generator name.

    Args:
        settings: Configuration; uses ``llm_model``, ``model_dir``, ``llm_threads``,
            ``llm_context`` for ``"llm"`` and the ``openai_*`` fields for ``"openai"``.
        generator: ``"llm"`` (local llama.cpp) or ``"openai"`` (OpenAI-compatible server).
        max_tokens: Maximum tokens per answer.
        temperature: Sampling temperature (0: deterministic).
        local_models: Where the local GGUF is loaded (an engine's pool, shared by its
            chat models); None gives the model a pool of its own.

    Returns:
        A LangChain chat model. The local one loads its weights lazily, on the first
        call or on :meth:`LlamaCppChatModel.warm_up`.

    Raises:
        ModelNotInstalledError: ``generator="llm"`` and the GGUF is not assembled.
        ValueError: Unknown generator or model name, or ``QA_OPENAI_BASE_URL`` unset
            for ``generator="openai"``.
    """
    if generator == "llm":
        path = model_path(settings.llm_model, settings.model_dir)
        return LlamaCppChatModel(
            model_path=str(path),
            n_ctx=settings.llm_context,
            n_threads=settings.llm_threads,
            max_tokens=max_tokens,
            temperature=temperature,
            local_models=local_models,
        )
    if generator == "openai":
        if not settings.openai_base_url:
            raise ValueError(
                "generator 'openai' needs the server URL: set QA_OPENAI_BASE_URL "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        # Imported here: the OpenAI client is only needed for this generator.
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=settings.openai_base_url,
            # Local servers (llama.cpp, vLLM, Ollama) need some model name; llama.cpp's
            # single-model server answers whatever name is sent.
            model=settings.openai_model or settings.llm_model,
            # The client insists on a key; local servers ignore it.
            api_key=settings.openai_api_key or "not-needed",
            timeout=settings.openai_timeout,
            # One retry covers a dropped connection; more would multiply the wait
            # for a server that is really down before the extractive fallback.
            max_retries=1,
            temperature=temperature,
            # Sent as the classic `max_tokens` field on purpose: ChatOpenAI's own
            # max_tokens goes out as `max_completion_tokens`, which llama-cpp-python's
            # server (and other older compatible servers) silently ignore.
            extra_body={"max_tokens": max_tokens},
        )
    raise ValueError(f"generator {generator!r} has no chat model (expected 'llm' or 'openai')")
