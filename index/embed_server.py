"""A small OpenAI-compatible embeddings server: ``qa embed-server``.

Serves the local multilingual-e5-small **raw**: texts are embedded exactly as
received, the client adds ``query: `` / ``passage: `` (see
:mod:`index.remote_embedding`). ``GET /v1/models`` lists one model whose id is the
local identity (``multilingual-e5-small@sha256:…``), the id an index records.

Standard library only (``ThreadingHTTPServer``): requests are read concurrently, the
model runs one batch at a time (torch already uses every core for one batch).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import logging
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

#: Request limits; a bad or hostile client gets 400/413 instead of a stuck worker.
#: Sized for a 2-core worker: the client sends batches of 32 chunks of ~1,200
#: characters, so one allowed request is at most a few seconds of work.
MAX_INPUTS = 256
MAX_INPUT_CHARS = 20_000  # e5 reads 512 tokens; far longer texts are a client bug
MAX_TOTAL_CHARS = 400_000
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Seconds a connection may stay silent (headers or body not arriving, idle keep-alive).
READ_TIMEOUT_S = 30.0
#: Connections served at once; more get 503 at once instead of one thread each.
MAX_CONNECTIONS = 16


class RawEmbedder(Protocol):
    """What the server needs: an identity and prompt-less embedding."""

    @property
    def identity(self) -> str:
        """The model id reported on ``/v1/models``."""
        ...

    def embed_raw(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as given; float32 ``[n, dim]``, unit rows."""
        ...


class RequestError(Exception):
    """A request the server refuses; carries the HTTP status."""

    def __init__(self, status: HTTPStatus, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def parse_embeddings_request(body: Any, identity: str) -> tuple[list[str], str]:
    """Validate an OpenAI ``/embeddings`` request body.

    Args:
        body: The decoded JSON.
        identity: The served model id; a request naming another model is refused.

    Returns:
        The input texts and the encoding format (``"float"`` or ``"base64"``).

    Raises:
        RequestError: The request is malformed or over a limit.
    """
    if not isinstance(body, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
    if "input" not in body:
        raise RequestError(HTTPStatus.BAD_REQUEST, "'input' is required")
    texts = body["input"]
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            "'input' must be a string or a list of strings (token arrays are not supported)",
        )
    if not texts:
        raise RequestError(HTTPStatus.BAD_REQUEST, "'input' must not be empty")
    if len(texts) > MAX_INPUTS:
        raise RequestError(
            HTTPStatus.BAD_REQUEST, f"'input' has {len(texts)} items; at most {MAX_INPUTS}"
        )
    longest = max(len(t) for t in texts)
    if longest > MAX_INPUT_CHARS:
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            f"an input has {longest} characters; at most {MAX_INPUT_CHARS}",
        )
    total = sum(len(t) for t in texts)
    if total > MAX_TOTAL_CHARS:
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            f"the inputs have {total} characters together; at most {MAX_TOTAL_CHARS} "
            "per request (send smaller batches)",
        )
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # JSON allows "\ud800" escapes; a lone surrogate is no text to embed.
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"input {i} contains a lone surrogate (invalid Unicode)"
            ) from None
    model = body.get("model")
    if model is not None and model != identity:
        raise RequestError(
            HTTPStatus.NOT_FOUND,
            f"model {model!r} is not served here; this server serves {identity!r}",
            code="model_not_found",
        )
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise RequestError(HTTPStatus.BAD_REQUEST, "'encoding_format' must be 'float' or 'base64'")
    return texts, encoding


def embeddings_response(vectors: np.ndarray, identity: str, encoding: str) -> dict[str, Any]:
    """The OpenAI ``/embeddings`` response for ``vectors`` (rows in input order)."""
    data = []
    for i, row in enumerate(vectors):
        # base64 is what the openai package asks for by default: little-endian float32.
        embedding: Any = (
            base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
            if encoding == "base64"
            else row.tolist()
        )
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    # Token counts would need a second tokenizer pass; 0 is what clients tolerate.
    return {
        "object": "list",
        "data": data,
        "model": identity,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


class EmbeddingServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` holding the embedder, a model lock and the API key."""

    daemon_threads = True  # a hanging client must not block shutdown

    def __init__(
        self, address: tuple[str, int], embedder: RawEmbedder, api_key: str | None = None
    ) -> None:
        """Bind ``address`` (port 0: any free port) and serve ``embedder``."""
        super().__init__(address, _Handler)
        self.embedder = embedder
        self.api_key = api_key
        self.model_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve a connection in a thread, or refuse it with 503 when all slots are busy."""
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY_RESPONSE)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Run one connection and free its slot afterwards."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


_BUSY_BODY = json.dumps(
    {
        "error": {
            "message": f"the server is busy ({MAX_CONNECTIONS} connections); retry shortly",
            "type": "server_error",
            "code": "busy",
        }
    }
).encode()
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n".encode()
    + _BUSY_BODY
)


class _Handler(BaseHTTPRequestHandler):
    server: EmbeddingServer
    server_version = "news-qa-embed"
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools connections
    # Socket timeout for every read: a client that sends headers and stalls (or an
    # idle keep-alive connection) is dropped instead of holding a thread forever.
    timeout = READ_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        # Per-request lines go to debug logging, not to stderr as the stdlib does.
        log.debug("%s " + format, self.address_string(), *args)

    # --- plumbing -------------------------------------------------------------------

    def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, error: RequestError) -> None:
        self._send(
            error.status,
            {"error": {"message": str(error), "type": "invalid_request_error", "code": error.code}},
        )

    def _path(self) -> str:
        # Both /v1/x and /x, so a base URL with or without /v1 works.
        path = self.path.split("?", 1)[0].rstrip("/")
        return path.removeprefix("/v1")

    def _authorised(self) -> bool:
        if not self.server.api_key:
            return True
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.api_key}"
        return hmac.compare_digest(given.encode(), expected.encode())

    # --- routes ---------------------------------------------------------------------

    def do_GET(self) -> None:
        if not self._authorised():
            self._fail(RequestError(HTTPStatus.UNAUTHORIZED, "invalid API key", "invalid_api_key"))
        elif self._path() == "/models":
            model = {"id": self.server.embedder.identity, "object": "model", "created": 0}
            self._send(
                HTTPStatus.OK, {"object": "list", "data": [{**model, "owned_by": "news-qa"}]}
            )
        else:
            self._fail(RequestError(HTTPStatus.NOT_FOUND, f"no route {self.path}", "not_found"))

    def do_POST(self) -> None:
        try:
            length = self._content_length()  # read first: keep-alive needs the body consumed
            raw = self.rfile.read(length)
            if not self._authorised():
                raise RequestError(HTTPStatus.UNAUTHORIZED, "invalid API key", "invalid_api_key")
            if self._path() != "/embeddings":
                raise RequestError(HTTPStatus.NOT_FOUND, f"no route {self.path}", "not_found")
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise RequestError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
            identity = self.server.embedder.identity
            texts, encoding = parse_embeddings_request(body, identity)
            with self.server.model_lock:
                vectors = self.server.embedder.embed_raw(texts)
            self._send(HTTPStatus.OK, embeddings_response(vectors, identity, encoding))
        except RequestError as exc:
            self._fail(exc)
        except TimeoutError:
            self.close_connection = True  # the body stalled: drop the connection
        except Exception:
            log.exception("embedding failed")
            self._fail(
                RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, "embedding failed", "server_error")
            )

    def _content_length(self) -> int:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True  # the body's end is unknown
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required") from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body has {length} bytes; at most {MAX_BODY_BYTES}",
            )
        return length


def serve(
    embedder: RawEmbedder,
    host: str = "127.0.0.1",
    port: int = 8081,
    *,
    api_key: str | None = None,
    ready: Any = None,
) -> None:
    """Serve ``embedder`` until interrupted.

    Args:
        embedder: The loaded model (e.g. :class:`index.embedding.SentenceTransformerEmbedder`).
        host: Interface to bind; loopback by default.
        port: TCP port.
        api_key: When set, requests need ``Authorization: Bearer <api_key>``.
        ready: Called with the bound server once it listens (for a banner or tests).
    """
    with EmbeddingServer((host, port), embedder, api_key) as server:
        if ready is not None:
            ready(server)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop
            server.serve_forever()
