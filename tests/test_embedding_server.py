"""OpenAI-compatible embeddings: `qa embed-server` workers and the `openai` embedder.

Tests marked ``server`` start real `qa embed-server` processes on loopback (two of
them, ~1 GB each); the others use in-process servers with a tiny fake model.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from index.embed_server import MAX_INPUT_CHARS, MAX_INPUTS, EmbeddingServer
from index.embedding import E5_DIR_NAME, SentenceTransformerEmbedder
from index.errors import EmbeddingServerError
from index.remote_embedding import RemoteEmbedder, parse_base_urls
from qa.settings import Settings
from tests.conftest import SAMPLES, VENV_BIN, free_port, stop_process, wait_for_http

MARS = "When could humans land on Mars?"
TEXTS_EN = [MARS, "Russia offered a nuclear power plant for the Mars mission."]
TEXTS_DE = [
    "Wann könnten Menschen auf dem Mars landen?",
    "In einem Posten auf X erwähnte er, dass menschliche Landungen auf dem Mars bereits "
    "2029 auftreten könnten, obwohl 2031 wahrscheinlicher war.",
    "Der Bundestag hat am Donnerstag eine Reform der Grundsteuer beschlossen.",
]


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --- in-process servers with a fake model ------------------------------------------------


class FakeEmbedder:
    """A deterministic 8-dim "model": each text maps to a vector derived from its hash."""

    def __init__(self, identity: str = "fake-e5@sha256:0000") -> None:
        self.identity = identity

    @staticmethod
    def vector(text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        v = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_raw(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(0.02)  # like a model: a worker is busy for a while, so both get work
        return np.stack([self.vector(t) for t in texts])


def start_in_process(server: ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/v1"


def _shut_down(servers: list[ThreadingHTTPServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_server() -> Iterator[Any]:
    """Start fake embeddings servers (real EmbeddingServer code); returns their URLs."""
    servers: list[ThreadingHTTPServer] = []

    def start(identity: str = "fake-e5@sha256:0000", api_key: str | None = None) -> str:
        server = EmbeddingServer(("127.0.0.1", 0), FakeEmbedder(identity), api_key)
        servers.append(server)
        return start_in_process(server)

    yield start
    _shut_down(servers)


@pytest.fixture
def stub_server() -> Iterator[Any]:
    """A server answering every request with a canned (status, body)."""
    servers: list[ThreadingHTTPServer] = []

    def start(models: Any, embeddings: Any, status: int = 200) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, payload: Any) -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply(200, models)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._reply(status, embeddings)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        return start_in_process(server)

    yield start
    _shut_down(servers)


MODELS = {"object": "list", "data": [{"id": "stub@sha256:1", "object": "model"}]}


def test_settings_require_base_url_for_openai() -> None:
    with pytest.raises(ValueError, match=r"QA_EMBEDDER=openai.*QA_EMBEDDINGS_BASE_URL"):
        Settings(embedder="openai")
    with pytest.raises(ValueError, match="QA_EMBEDDINGS_BASE_URL"):
        Settings.from_env({"QA_EMBEDDER": "openai"})
    with pytest.raises(ValueError, match="not an http"):
        Settings(embedder="openai", embeddings_base_url="127.0.0.1:8081")
    with pytest.raises(ValueError, match="QA_EMBEDDINGS_TIMEOUT"):
        Settings(embeddings_timeout=0)
    with pytest.raises(ValueError, match="QA_LLM_DEADLINE must be positive"):
        Settings.from_env({"QA_LLM_DEADLINE": "-1"})
    s = Settings.from_env(
        {
            "QA_EMBEDDER": "openai",
            "QA_EMBEDDINGS_BASE_URL": "http://w1:8081/v1, http://w2:8081/v1/",
            "QA_EMBEDDINGS_TIMEOUT": "5",
        }
    )
    assert s.embeddings_timeout == 5.0
    assert parse_base_urls(s.embeddings_base_url) == ("http://w1:8081/v1", "http://w2:8081/v1")
    assert s.embedder_options["timeout"] == 5.0
    assert Settings().embedder_options == {}


def test_fake_workers_fan_out_in_order(fake_server: Any) -> None:
    urls = [fake_server(), fake_server()]
    embedder = RemoteEmbedder(",".join(urls), batch_size=3)
    assert embedder.identity == "fake-e5@sha256:0000"
    assert embedder.urls == tuple(urls)
    used: list[str] = []
    post = embedder._post
    embedder._post = lambda url, texts: used.append(url) or post(url, texts)  # type: ignore[method-assign]
    texts = [f"Satz Nummer {i}" for i in range(20)]
    vectors = embedder.embed_passages(texts)
    expected = np.stack([FakeEmbedder.vector("passage: " + t) for t in texts])
    assert vectors.dtype == np.float32 and vectors.shape == (20, 8)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert set(used) == set(urls) and len(used) == 7  # ceil(20 / 3) batches over both
    q = embedder.embed_queries(["frage"])
    np.testing.assert_allclose(q[0], FakeEmbedder.vector("query: frage"), atol=1e-6)
    assert embedder.embed_queries([]).shape == (0, 8)
    assert embedder.dim == 8


def test_workers_with_different_models_are_refused(fake_server: Any) -> None:
    a, b = fake_server("model-a@sha256:1"), fake_server("model-b@sha256:2")
    with pytest.raises(EmbeddingServerError, match="different models") as info:
        RemoteEmbedder([a, b])
    assert a in str(info.value) and b in str(info.value)
    with pytest.raises(EmbeddingServerError, match="does not serve"):
        RemoteEmbedder(a, model="model-b@sha256:2")
    assert RemoteEmbedder(a, model="model-a@sha256:1").identity == "model-a@sha256:1"


def test_unreachable_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbeddingServerError, match="unreachable") as info:
        RemoteEmbedder(url, timeout=5)
    assert url in str(info.value)


def test_http_errors_and_malformed_responses(stub_server: Any) -> None:
    url = stub_server(MODELS, {"error": {"message": "out of memory"}}, status=500)
    with pytest.raises(EmbeddingServerError, match=r"HTTP 500: out of memory") as info:
        RemoteEmbedder(url).embed_queries(["x"])
    assert f"{url}/embeddings" in str(info.value)

    cases = [
        ({"data": "nope"}, "malformed"),
        ({"data": [{"index": 0, "embedding": [1.0, 0.0]}]}, "malformed"),  # 1 vector for 2
        (
            {"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0, 2.0]}]},
            "malformed",
        ),
        (
            {"data": [{"index": i, "embedding": [float("nan"), 1.0]} for i in range(2)]},
            "non-finite",
        ),
        ({"model": "other", "data": []}, "now serves 'other'"),
        (b"<html>busy</html>", "not JSON"),
    ]
    for body, message in cases:
        url = stub_server(MODELS, body)
        with pytest.raises(EmbeddingServerError, match=message) as info:
            RemoteEmbedder(url).embed_passages(["a", "b"])
        assert url in str(info.value)

    for models in ({"data": [{"name": "x"}]}, [1, 2], b"not json"):
        url = stub_server(models, {})
        with pytest.raises(EmbeddingServerError) as info:
            RemoteEmbedder(url)
        assert url in str(info.value)
    two = {"data": [{"id": "a"}, {"id": "b"}]}
    with pytest.raises(EmbeddingServerError, match="QA_EMBEDDINGS_MODEL"):
        RemoteEmbedder(stub_server(two, {}))


def test_api_key_is_required_when_configured(fake_server: Any) -> None:
    url = fake_server(api_key="s3cret")
    with pytest.raises(EmbeddingServerError, match="HTTP 401"):
        RemoteEmbedder(url)
    with pytest.raises(EmbeddingServerError, match="HTTP 401"):
        RemoteEmbedder(url, api_key="wrong")
    assert RemoteEmbedder(url, api_key="s3cret").embed_queries(["x"]).shape == (1, 8)


# --- real `qa embed-server` workers ---------------------------------------------------


@pytest.fixture(scope="module")
def workers(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two real `qa embed-server` processes on free loopback ports."""
    logs = tmp_path_factory.mktemp("embed-workers")
    env = {**os.environ, "QA_MODEL_DIR": str(model_dir), "QA_EMBEDDER": "e5"}
    procs: list[tuple[subprocess.Popen, str]] = []
    for n in range(2):
        port = free_port()
        log = (logs / f"worker{n}.log").open("wb")
        proc = subprocess.Popen(
            [str(VENV_BIN / "qa"), "embed-server", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append((proc, f"http://127.0.0.1:{port}/v1"))
    try:
        for proc, url in procs:  # both load the model at the same time
            wait_for_http(f"{url}/models", timeout=180, proc=proc)
        yield [url for _, url in procs]
    finally:
        for proc, _ in procs:
            stop_process(proc)


@pytest.fixture(scope="module")
def local(model_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(model_dir / E5_DIR_NAME)


@pytest.mark.server
def test_remote_vectors_match_local(workers: list[str], local: SentenceTransformerEmbedder) -> None:
    remote = RemoteEmbedder(workers[0])
    assert remote.identity == local.identity
    assert remote.identity.startswith("multilingual-e5-small@sha256:")
    for texts in (TEXTS_EN, TEXTS_DE):
        for embed in ("embed_queries", "embed_passages"):
            got = getattr(remote, embed)(texts)
            want = getattr(local, embed)(texts)
            assert got.dtype == np.float32 and got.shape == want.shape == (len(texts), 384)
            np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
            assert rowwise_cosine(got, want).min() >= 0.9999, (embed, texts)
    assert remote.dim == 384


@pytest.mark.server
def test_official_openai_client_gets_the_same_vectors(
    workers: list[str], local: SentenceTransformerEmbedder
) -> None:
    # The openai package asks for base64 by default; the server must speak it too.
    from openai import OpenAI

    client = OpenAI(base_url=workers[0], api_key="unused", max_retries=0, timeout=60)
    [model] = [m.id for m in client.models.list()]
    assert model == local.identity
    result = client.embeddings.create(model=model, input=["query: " + TEXTS_DE[0]])
    got = np.asarray([result.data[0].embedding], dtype=np.float32)
    assert rowwise_cosine(got, local.embed_queries(TEXTS_DE[:1]))[0] >= 0.9999


@pytest.mark.server
def test_two_workers_fan_out_and_keep_order(
    workers: list[str], local: SentenceTransformerEmbedder
) -> None:
    remote = RemoteEmbedder(",".join(workers), batch_size=4)
    used: list[str] = []
    post = remote._post
    remote._post = lambda url, texts: used.append(url) or post(url, texts)  # type: ignore[method-assign]
    texts = [f"Artikel {i}: {TEXTS_DE[i % 3]}" for i in range(10)] + TEXTS_EN * 3
    got = remote.embed_passages(texts)
    want = local.embed_passages(texts)
    assert rowwise_cosine(got, want).min() >= 0.9999
    assert set(used) == set(workers) and len(used) == 4  # 16 texts in batches of 4


@pytest.mark.server
def test_worker_with_another_model_is_refused(workers: list[str], fake_server: Any) -> None:
    other = fake_server("multilingual-e5-small@sha256:0123456789abcdef")
    with pytest.raises(EmbeddingServerError, match="different models") as info:
        RemoteEmbedder([workers[0], other])
    assert workers[0] in str(info.value) and other in str(info.value)


@pytest.mark.server
def test_index_through_workers_then_ask_locally(workers: list[str], make_settings: Any) -> None:
    from qa import ask, index_paths

    remote = make_settings(embedder="openai", embeddings_base_url=",".join(workers))
    report = index_paths([SAMPLES], settings=remote)
    assert report.failed == 0 and report.embedded_chunks > 0
    # Same identity, so the store built through the workers opens with the local model...
    answer = ask(MARS, settings=remote.with_(embedder="e5"))
    assert "2029" in answer.text
    # ...and questions can be embedded by the workers too.
    answer = ask(MARS, settings=remote)
    assert "2029" in answer.text


@pytest.mark.server
def test_bad_requests_get_400(workers: list[str]) -> None:
    url = f"{workers[0]}/embeddings"
    cases: list[tuple[Any, int, str]] = [
        ({}, 400, "'input' is required"),
        ({"input": [1, 2]}, 400, "list of strings"),
        ({"input": ["ok", None]}, 400, "list of strings"),
        ({"input": []}, 400, "must not be empty"),
        ({"input": ["x"] * (MAX_INPUTS + 1)}, 400, f"at most {MAX_INPUTS}"),
        ({"input": "x" * (MAX_INPUT_CHARS + 1)}, 400, f"at most {MAX_INPUT_CHARS}"),
        ({"input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"input": "x", "model": "text-embedding-3-small"}, 404, "not served here"),
        ([1, 2], 400, "JSON object"),
    ]
    with httpx.Client(timeout=30) as client:
        for body, status, message in cases:
            response = client.post(url, json=body)
            assert response.status_code == status, body
            assert message in response.json()["error"]["message"], body
        response = client.post(
            url, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert "not valid JSON" in response.json()["error"]["message"]
        assert client.get(f"{workers[0]}/nope").status_code == 404
        # The server still works after all that.
        ok = client.post(url, json={"input": "hallo"})
        assert ok.status_code == 200 and len(ok.json()["data"][0]["embedding"]) == 384
