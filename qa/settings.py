"""All configuration in one object, read from the environment only at the edges."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from index.embedding import EMBEDDER_KINDS as EMBEDDERS
from index.embedding import EMBEDDING_RUNTIMES

GENERATORS = ("llm", "openai", "extractive")
#: The e5 embedder's runtime when QA_EMBEDDING_RUNTIME is unset: the fp32 ONNX graph, the
#: measured winner at recall parity (same vectors as torch, ~2x the chunks/s here; see
#: docs/benchmarks.md, "Embedding runtime (issue 13)").
DEFAULT_EMBEDDING_RUNTIME = "onnx"


def _default_data_dir() -> Path:
    # XDG data dir: outside the source tree, survives reinstalling the venv.
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "news-qa"


def _default_model_dir() -> Path:
    # Models are assembled at install time into the environment they belong to,
    # so removing the venv removes them too.
    return Path(sys.prefix) / "share" / "news-qa" / "models"


_NO_MAX = sys.maxsize
# (field, lowest, highest) of every integer setting.
_INT_RANGES = (
    ("top_k", 1, _NO_MAX),
    ("index_batch", 1, _NO_MAX),
    ("max_upload_bytes", 1, _NO_MAX),
    ("max_question_chars", 1, _NO_MAX),
    ("llm_context", 256, _NO_MAX),
    ("llm_threads", 1, _NO_MAX),
    ("ui_port", 1, 65535),
    ("chroma_port", 1, 65535),
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_bool(name: str, raw: str) -> bool:
    """A boolean setting: exactly one of 1/0, true/false, yes/no, on/off (any case).

    Raises:
        ValueError: Anything else (``flase`` must not silently mean false).
    """
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean: use one of {'/'.join(_TRUE + _FALSE)}")


@dataclass(frozen=True)
class Settings:
    """Every knob of the assistant. Build with :meth:`from_env` or directly.

    Attributes mirror the ``QA_*`` environment variables listed in the README.
    """

    data_dir: Path = None  # type: ignore[assignment]
    model_dir: Path = None  # type: ignore[assignment]
    collection: str = "news"
    chroma_host: str | None = None
    chroma_port: int | None = None
    embedder: str = "e5"
    embedding_runtime: str = DEFAULT_EMBEDDING_RUNTIME
    embeddings_base_url: str | None = None
    embeddings_model: str | None = None
    embeddings_api_key: str | None = None
    embeddings_timeout: float = 60.0
    generator: str = "llm"
    llm_model: str = "qwen2.5-1.5b"
    llm_threads: int = 2
    llm_context: int = 4096
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: str | None = None
    openai_timeout: float = 60.0
    llm_deadline: float = 120.0
    top_k: int = 4
    rerank: bool = True
    abstain_threshold: float = 0.80
    max_question_chars: int = 2000
    ui_host: str = "127.0.0.1"
    ui_port: int = 7860
    ui_auth: str | None = None
    max_upload_bytes: int = 2_000_000
    index_batch: int = 256

    def __post_init__(self) -> None:
        if self.data_dir is None:
            object.__setattr__(self, "data_dir", _default_data_dir())
        if self.model_dir is None:
            object.__setattr__(self, "model_dir", _default_model_dir())
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        object.__setattr__(self, "model_dir", Path(self.model_dir).expanduser())
        if self.generator not in GENERATORS:
            raise ValueError(
                f"QA_GENERATOR={self.generator!r} is not one of {', '.join(GENERATORS)}"
            )
        if self.embedder not in EMBEDDERS:
            raise ValueError(f"QA_EMBEDDER={self.embedder!r} is not one of {', '.join(EMBEDDERS)}")
        if self.embedding_runtime not in EMBEDDING_RUNTIMES:
            raise ValueError(
                f"QA_EMBEDDING_RUNTIME={self.embedding_runtime!r} is not one of "
                f"{', '.join(EMBEDDING_RUNTIMES)}"
            )
        # The other embedders have one engine each; only a runtime that would promise
        # other vectors (int8) is an error there, the default is simply not used.
        if self.embedder != "e5" and self.embedding_runtime == "onnx-int8":
            raise ValueError(
                f"QA_EMBEDDING_RUNTIME={self.embedding_runtime!r} applies to QA_EMBEDDER=e5 "
                f"only, not {self.embedder!r}"
            )
        if self.embedder == "openai":
            if not self.embeddings_base_url:
                raise ValueError(
                    "QA_EMBEDDER=openai needs QA_EMBEDDINGS_BASE_URL "
                    "(e.g. http://127.0.0.1:8081/v1, or several comma-separated)"
                )
            # Imported here: it pulls in httpx, which only the openai embedder needs.
            from index.remote_embedding import parse_base_urls

            parse_base_urls(self.embeddings_base_url)  # fail now, not at the first request
        for name in ("embeddings_timeout", "openai_timeout", "llm_deadline"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"QA_{name.upper()} must be positive and finite (seconds > 0), not {value!r}"
                )
        if not (math.isfinite(self.abstain_threshold) and 0 <= self.abstain_threshold <= 1):
            raise ValueError(
                f"QA_ABSTAIN_THRESHOLD={self.abstain_threshold!r} must be between 0 and 1"
            )
        for name, low, high in _INT_RANGES:
            value = getattr(self, name)
            if value is None and name == "chroma_port":
                continue
            if not low <= value <= high:
                allowed = f">= {low}" if high == _NO_MAX else f"in {low}..{high}"
                raise ValueError(f"QA_{name.upper()}={value!r} must be {allowed}")
        if (self.chroma_host is None) != (self.chroma_port is None):
            raise ValueError("QA_CHROMA_HOST and QA_CHROMA_PORT must be set together")
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ValueError(
                f"QA_DATA_DIR={str(self.data_dir)!r} is a file, not a directory: point it at "
                "a directory (it is created if missing)"
            )

    @property
    def embedder_options(self) -> dict[str, Any]:
        """Keyword arguments of ``load_embedder`` beyond the kind (the server for ``openai``)."""
        if self.embedder != "openai":
            return {}
        return {
            "base_urls": self.embeddings_base_url,
            "model": self.embeddings_model,
            "api_key": self.embeddings_api_key,
            "timeout": self.embeddings_timeout,
        }

    @property
    def server_mode(self) -> bool:
        """True when a Chroma server is configured instead of the embedded store."""
        return self.chroma_host is not None

    def with_(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``QA_<FIELD>`` variables (e.g. ``QA_DATA_DIR``); unset ones keep defaults.

        Raises:
            ValueError: A variable has a value of the wrong type or out of range.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"QA_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = str(f.type)
            try:
                if "bool" in kind:
                    values[f.name] = parse_bool(f"QA_{f.name.upper()}", raw)
                elif "int" in kind:
                    values[f.name] = int(raw)
                elif "float" in kind:
                    values[f.name] = float(raw)
                elif "Path" in kind:
                    values[f.name] = Path(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                if "bool" in kind:
                    raise
                kind = kind.replace(" | None", "")
                raise ValueError(f"QA_{f.name.upper()}={raw!r} is not a valid {kind}") from exc
        return cls(**values)
