"""Embeddings from OpenAI-compatible servers, fanned out over several workers.

``QA_EMBEDDER=openai`` sends texts to ``POST {base}/embeddings`` of one or more
workers: any OpenAI-compatible embeddings server (vLLM, Infinity, TEI, Ollama, the
llama.cpp server). e5 was trained with ``query: `` / ``passage: `` prefixes, so this
client adds them; the server must embed exactly the text it receives.

The identity recorded in the store is the model id the workers report on
``GET {base}/models``, so the store's identity check applies unchanged: an index built
through workers is queried through workers reporting the same id (or in-process, if
they report the local identity ``multilingual-e5-small@sha256:…``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from index.e5_convert import PASSAGE_PROMPT, QUERY_PROMPT
from index.errors import EmbeddingServerError

#: Texts per request: large enough to amortise a round trip, small enough that a
#: batch of 256 chunks still spreads over several workers.
DEFAULT_BATCH_SIZE = 32


def parse_base_urls(value: str | Sequence[str]) -> tuple[str, ...]:
    """Split ``QA_EMBEDDINGS_BASE_URL`` into worker URLs (comma-separated) and check them.

    Args:
        value: One URL, a comma-separated list, or a sequence of URLs.

    Returns:
        The URLs without trailing slashes, in the given order (duplicates kept: listing a
        worker twice gives it twice the share of batches).

    Raises:
        ValueError: No URL, or one that is not ``http(s)://host[:port][/path]``.
    """
    parts = value.split(",") if isinstance(value, str) else list(value)
    urls = tuple(p.strip().rstrip("/") for p in parts if p.strip())
    if not urls:
        raise ValueError("QA_EMBEDDINGS_BASE_URL has no URL")
    for url in urls:
        parts_ = urlsplit(url)
        if parts_.scheme not in ("http", "https") or not parts_.hostname:
            raise ValueError(
                f"QA_EMBEDDINGS_BASE_URL: {url!r} is not an http(s) URL "
                "(expected e.g. http://127.0.0.1:8081/v1)"
            )
    return urls


class RemoteEmbedder:
    """multilingual-e5-small served by OpenAI-compatible embeddings workers.

    Batches are spread over the workers by threads that each pull the next batch when
    their worker is free, so a slow worker gets fewer; vectors come back in input order,
    L2-normalised, float32.
    """

    def __init__(
        self,
        base_urls: str | Sequence[str],
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Ask every worker which model it serves and agree on one identity.

        Args:
            base_urls: Worker base URLs (up to and including ``/v1``), one string
                comma-separated or a sequence.
            model: The model to use; required when a worker serves several. ``None``
                takes the one model each worker lists.
            api_key: Sent as ``Authorization: Bearer …`` when set.
            timeout: Seconds per HTTP request.
            batch_size: Most texts per request.

        Raises:
            ValueError: No or invalid URL, or a non-positive timeout/batch size.
            EmbeddingServerError: A worker is unreachable or fails, does not serve
                ``model``, serves several models while ``model`` is unset, or the
                workers report different models.
        """
        self._urls = parse_base_urls(base_urls)
        if timeout <= 0 or batch_size <= 0:
            raise ValueError("embeddings timeout and batch size must be positive")
        self._batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One pooled client shared by all threads (httpx.Client is thread-safe); enough
        # connections for one in-flight request per listed worker.
        self._client = httpx.Client(
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max(10, 2 * len(self._urls))),
        )
        self._dim: int | None = None
        distinct = list(dict.fromkeys(self._urls))
        try:
            with ThreadPoolExecutor(max_workers=len(distinct)) as pool:
                names = list(pool.map(lambda url: self._model_of(url, model), distinct))
        except BaseException:
            self._client.close()
            raise
        served = dict(zip(distinct, names, strict=True))
        if len(set(served.values())) > 1:
            self._client.close()
            listing = "; ".join(f"{url} serves {name!r}" for url, name in served.items())
            raise EmbeddingServerError(
                f"the embedding workers serve different models ({listing}); every URL in "
                "QA_EMBEDDINGS_BASE_URL must serve the same model"
            )
        self._identity = next(iter(served.values()))

    @property
    def identity(self) -> str:
        """The model id the workers report on ``GET {base}/models``."""
        return self._identity

    @property
    def urls(self) -> tuple[str, ...]:
        """The worker base URLs, in the configured order."""
        return self._urls

    @property
    def dim(self) -> int:
        """Length of the vectors (asked of a worker on first use)."""
        if self._dim is None:
            self._dim = int(self._post(self._urls[0], [QUERY_PROMPT]).shape[1])
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents with the ``passage: `` prefix; float32 ``[n, dim]``, unit rows."""
        return self._embed([PASSAGE_PROMPT + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions with the ``query: `` prefix; float32 ``[n, dim]``, unit rows."""
        return self._embed([QUERY_PROMPT + t for t in texts])

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()

    # --- internals ----------------------------------------------------------------

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # Small inputs are split evenly so every worker gets a share.
        size = min(self._batch_size, math.ceil(len(texts) / len(self._urls)))
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        results: list[np.ndarray | None] = [None] * len(batches)
        if len(batches) == 1:
            results[0] = self._post(self._urls[0], batches[0])
        else:
            # One thread per listed worker; each pulls the next batch when its worker is
            # free, so a slow worker holds up only its own share.
            lock = threading.Lock()
            todo = iter(range(len(batches)))
            failed = threading.Event()

            def drain(url: str) -> None:
                while not failed.is_set():
                    with lock:
                        i = next(todo, None)
                    if i is None:
                        return
                    try:
                        results[i] = self._post(url, batches[i])
                    except BaseException:
                        failed.set()  # the others stop after their current batch
                        raise

            workers = self._urls[: len(batches)]
            with ThreadPoolExecutor(max_workers=len(workers)) as pool:
                futures = [pool.submit(drain, url) for url in workers]
            for future in futures:
                future.result()  # re-raises the first worker's error
        vectors = np.concatenate(results, axis=0)  # type: ignore[arg-type]
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        return vectors

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request; returns the decoded JSON or raises EmbeddingServerError."""
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise EmbeddingServerError(
                f"embeddings server {url} did not answer within "
                f"{self._client.timeout.read} s (QA_EMBEDDINGS_TIMEOUT)"
            ) from None
        except httpx.HTTPError as exc:
            raise EmbeddingServerError(
                f"embeddings server {url} is unreachable ({exc}); check that it "
                "runs or fix QA_EMBEDDINGS_BASE_URL"
            ) from None
        if response.status_code >= 400:
            raise EmbeddingServerError(
                f"embeddings server {url} answered HTTP {response.status_code}: "
                f"{_error_text(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise EmbeddingServerError(
                f"embeddings server {url} answered with something that is not JSON"
            ) from None

    def _model_of(self, base: str, wanted: str | None) -> str:
        """The model id ``base`` serves (``wanted`` if it lists it)."""
        url = f"{base}/models"
        body = self._request("GET", url)
        try:
            ids = [str(m["id"]) for m in body["data"]]
        except (KeyError, TypeError):
            raise EmbeddingServerError(
                f"embeddings server {url} answered without a model list ({{'data': [{{'id'}}]}})"
            ) from None
        if wanted is not None:
            if wanted not in ids:
                raise EmbeddingServerError(
                    f"embeddings server {url} does not serve QA_EMBEDDINGS_MODEL={wanted!r} "
                    f"(it serves {', '.join(ids) or 'nothing'})"
                )
            return wanted
        if len(ids) != 1:
            raise EmbeddingServerError(
                f"embeddings server {url} serves {len(ids)} models ({', '.join(ids)}); "
                "choose one with QA_EMBEDDINGS_MODEL"
            )
        return ids[0]

    def _post(self, base: str, texts: list[str]) -> np.ndarray:
        """Embed one batch on one worker; float32 ``[len(texts), dim]``, unit rows."""
        url = f"{base}/embeddings"
        body = self._request(
            "POST",
            url,
            json={"model": self._identity, "input": texts, "encoding_format": "float"},
        )
        try:
            # The model echoed back guards against a worker restarted with another
            # model after the identity was agreed on.
            served = body.get("model")
            if served is not None and served != self._identity:
                raise EmbeddingServerError(
                    f"embeddings server {url} now serves {served!r}, not {self._identity!r}"
                )
            items = sorted(body["data"], key=lambda d: int(d["index"]))
            if [int(d["index"]) for d in items] != list(range(len(texts))):
                raise ValueError("indices do not match the inputs")
            vectors = np.asarray([d["embedding"] for d in items], dtype=np.float32)
        except EmbeddingServerError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbeddingServerError(
                f"embeddings server {url} answered a malformed embeddings response ({exc})"
            ) from None
        if vectors.ndim != 2 or vectors.shape[1] == 0 or not np.isfinite(vectors).all():
            raise EmbeddingServerError(
                f"embeddings server {url} answered vectors of shape {vectors.shape} "
                "or with non-finite values"
            )
        if self._dim is not None and vectors.shape[1] != self._dim:
            raise EmbeddingServerError(
                f"embeddings server {url} answered {vectors.shape[1]}-dim vectors, "
                f"expected {self._dim}"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _error_text(response: httpx.Response) -> str:
    # OpenAI-style {"error": {"message": …}} when there is one, else the start of the body.
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except (ValueError, AttributeError):
        pass
    return response.text[:200] or response.reason_phrase
