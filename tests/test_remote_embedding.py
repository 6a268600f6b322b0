"""The OpenAI-compatible embeddings client (``QA_EMBEDDER=openai``).

Tests marked ``server`` run the client against a real third-party OpenAI-compatible
embeddings server: llama-cpp-python's (``python -m llama_cpp.server --embedding true``,
the project's ``llm`` extra) serving the bundled Qwen2.5-Coder-0.5B GGUF with mean
pooling. It is not an e5 model, so these tests check the protocol, the fan-out, the
identity check and the errors, not retrieval quality. The others use small in-process
stand-ins for what a real server cannot be made to do on demand (answer garbage, serve
another model, several distinct workers).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.articles import load_articles
from index.errors import EmbeddingServerError
from index.remote_embedding import RemoteEmbedder, parse_base_urls
from qa.errors import EmbeddingModelMismatchError
from qa.settings import Settings
from tests.conftest import copy_articles, free_port, stop_process, wait_for_http

MARS = "When could humans land on Mars?"
TEXTS_EN = [MARS, "Russia offered a nuclear power plant for the Mars mission."]
TEXTS_DE = [
    "Wann könnten Menschen auf dem Mars landen?",
    "In einem Posten auf X erwähnte er, dass menschliche Landungen auf dem Mars bereits "
    "2029 auftreten könnten, obwohl 2031 wahrscheinlicher war.",
    "Der Bundestag hat am Donnerstag eine Reform der Grundsteuer beschlossen.",
]
MARS_ARTICLES = ["003_starship-mars-zeitplan.txt", "005_rosatom-mars-reaktor.txt"]
OTHER_ARTICLE = "016_roemerlager-ingolstadt.txt"
ALIAS = "qwen2.5-coder-0.5b-embed"
API_KEY = "test-key-7f3a"


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --- in-process stand-ins ------------------------------------------------------------------


def fake_vector(text: str) -> list[float]:
    """A deterministic 8-dim "embedding" derived from the text's hash (not normalised)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return (np.random.default_rng(seed).standard_normal(8) * 3).tolist()


def _handler(model: str, embeddings: Any = None, status: int = 200, models: Any = None) -> type:
    """An OpenAI-style handler: ``/models`` lists ``model``; ``/embeddings`` embeds
    with :func:`fake_vector`, or answers the canned ``embeddings`` body with ``status``."""

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
            listing = {"object": "list", "data": [{"id": model, "object": "model"}]}
            self._reply(200, listing if models is None else models)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if embeddings is not None or status != 200:
                self._reply(status, embeddings)
                return
            time.sleep(0.02)  # busy for a while, like a model, so every worker gets work
            data = [
                {"object": "embedding", "index": i, "embedding": fake_vector(t)}
                for i, t in enumerate(request["input"])
            ]
            self._reply(200, {"object": "list", "model": model, "data": data})

    return Handler


@pytest.fixture
def stub_server() -> Iterator[Any]:
    """Start in-process stand-in servers (see :func:`_handler`); returns their base URLs."""
    servers: list[ThreadingHTTPServer] = []

    def start(model: str = "stub@sha256:1", **kwargs: Any) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(model, **kwargs))
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        host, port = server.server_address[:2]
        return f"http://{host}:{port}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


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


def test_workers_fan_out_in_order_with_prefixes(stub_server: Any) -> None:
    urls = [stub_server(), stub_server()]
    embedder = RemoteEmbedder(",".join(urls), batch_size=3)
    assert embedder.identity == "stub@sha256:1"
    assert embedder.urls == tuple(urls)
    used: list[str] = []
    post = embedder._post
    embedder._post = lambda url, texts: used.append(url) or post(url, texts)  # type: ignore[method-assign]
    texts = [f"Satz Nummer {i}" for i in range(20)]
    vectors = embedder.embed_passages(texts)
    expected = np.array([fake_vector("passage: " + t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)  # the client normalises
    assert vectors.dtype == np.float32 and vectors.shape == (20, 8)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert set(used) == set(urls) and len(used) == 7  # ceil(20 / 3) batches over both
    q = embedder.embed_queries(["frage"])
    want = np.array(fake_vector("query: frage"))
    np.testing.assert_allclose(q[0], want / np.linalg.norm(want), atol=1e-6)
    assert embedder.embed_queries([]).shape == (0, 8)
    assert embedder.dim == 8


def test_workers_with_different_models_are_refused(stub_server: Any) -> None:
    a, b = stub_server("model-a@sha256:1"), stub_server("model-b@sha256:2")
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


def test_server_that_never_answers_times_out() -> None:
    # Accepts connections and reads, but never answers: the read timeout must end it.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        with pytest.raises(EmbeddingServerError, match="did not answer within") as info:
            RemoteEmbedder(url, timeout=1)
        assert url in str(info.value) and "QA_EMBEDDINGS_TIMEOUT" in str(info.value)
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


def test_http_errors_and_malformed_responses(stub_server: Any) -> None:
    url = stub_server(embeddings={"error": {"message": "out of memory"}}, status=500)
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
        url = stub_server(embeddings=body)
        with pytest.raises(EmbeddingServerError, match=message) as info:
            RemoteEmbedder(url).embed_passages(["a", "b"])
        assert url in str(info.value)

    for models in ({"data": [{"name": "x"}]}, [1, 2], b"not json"):
        url = stub_server(models=models)
        with pytest.raises(EmbeddingServerError) as info:
            RemoteEmbedder(url)
        assert url in str(info.value)
    two = {"data": [{"id": "a"}, {"id": "b"}]}
    with pytest.raises(EmbeddingServerError, match="QA_EMBEDDINGS_MODEL"):
        RemoteEmbedder(stub_server(models=two))


def test_retired_embed_server_command_says_what_replaces_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qa.cli import main

    for argv in (["embed-server"], ["-v", "embed-server", "--port", "8081"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2  # argparse's usage error, nothing started
        err = capsys.readouterr().err
        assert "`qa embed-server` was retired" in err
        assert "qa index PATH... --ray" in err and "QA_EMBEDDINGS_BASE_URL" in err
    with pytest.raises(SystemExit) as info:
        main(["embed-server-typo"])
    assert "invalid choice" in capsys.readouterr().err  # other unknown commands as before


# --- a real OpenAI-compatible server: llama.cpp's -------------------------------------------


@pytest.fixture(scope="module")
def llama_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server embedding with the 0.5B GGUF."""
    from qa.llm_assets import model_path

    gguf = model_path("qwen2.5-coder-0.5b", model_dir)
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("wb")
    # Qwen2 GGUFs carry no pooling type (per-token vectors); mean pooling makes one
    # vector per input, as an embeddings endpoint should.
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
        "--model_alias", ALIAS, "--embedding", "true",
        "--kv_overrides", "qwen2.pooling_type=int:1",
        "--host", "127.0.0.1", "--port", str(port), "--api_key", API_KEY,
        "--n_ctx", "2048", "--n_threads", "2", "--verbose", "false",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_http(f"{url}/models", timeout=180, proc=proc)
        yield url
    finally:
        stop_process(proc)
        log.close()


def _server_vector(url: str, text: str) -> np.ndarray:
    """What the server itself answers for one text, through the official openai client."""
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key=API_KEY, max_retries=0, timeout=60)
    result = client.embeddings.create(model=ALIAS, input=[text], encoding_format="float")
    return np.asarray([result.data[0].embedding], dtype=np.float32)


@pytest.mark.server
def test_real_server_vectors_prefixes_and_identity(llama_server: str) -> None:
    remote = RemoteEmbedder(llama_server, api_key=API_KEY)
    assert remote.identity == ALIAS
    for texts in (TEXTS_EN, TEXTS_DE):
        for embed, prefix in (("embed_queries", "query: "), ("embed_passages", "passage: ")):
            got = getattr(remote, embed)(texts)
            assert got.dtype == np.float32 and got.shape == (len(texts), remote.dim)
            np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
            # Batched through our client = each prefixed text asked of the server alone.
            want = np.concatenate([_server_vector(llama_server, prefix + t) for t in texts])
            assert rowwise_cosine(got, want).min() >= 0.999, (embed, texts)
    # The prefix is part of what is embedded: a query and a passage differ.
    q, p = remote.embed_queries([MARS]), remote.embed_passages([MARS])
    assert rowwise_cosine(q, p)[0] < 0.9999
    assert remote.dim == 896  # Qwen2.5-0.5B's hidden size


@pytest.mark.server
def test_real_server_requires_its_api_key(llama_server: str) -> None:
    with pytest.raises(EmbeddingServerError, match="HTTP 401") as info:
        RemoteEmbedder(llama_server)
    assert llama_server in str(info.value)
    with pytest.raises(EmbeddingServerError, match="HTTP 401"):
        RemoteEmbedder(llama_server, api_key="wrong")


@pytest.mark.server
def test_real_server_listed_twice_fans_out_and_keeps_order(llama_server: str) -> None:
    remote = RemoteEmbedder(f"{llama_server},{llama_server}", api_key=API_KEY, batch_size=4)
    used: list[str] = []
    post = remote._post
    remote._post = lambda url, texts: used.append(url) or post(url, texts)  # type: ignore[method-assign]
    texts = [f"Artikel {i}: {TEXTS_DE[i % 3]}" for i in range(10)] + TEXTS_EN * 3
    got = remote.embed_passages(texts)
    alone = RemoteEmbedder(llama_server, api_key=API_KEY, batch_size=64).embed_passages(texts)
    assert rowwise_cosine(got, alone).min() >= 0.999
    assert len(used) == 4  # 16 texts in batches of 4, concurrently on the same server


@pytest.mark.server
def test_real_server_beside_another_model_is_refused(llama_server: str, stub_server: Any) -> None:
    other = stub_server("multilingual-e5-small@sha256:0123456789abcdef")
    with pytest.raises(EmbeddingServerError, match="different models") as info:
        RemoteEmbedder([llama_server, other], api_key=API_KEY)
    assert llama_server in str(info.value) and other in str(info.value)


@pytest.mark.server
def test_index_through_the_server_then_query_through_it(
    llama_server: str, make_settings: Any, tmp_path: Path
) -> None:
    from qa import ask, index_paths

    corpus = copy_articles([*MARS_ARTICLES, OTHER_ARTICLE], tmp_path / "corpus")
    remote = make_settings(
        embedder="openai", embeddings_base_url=llama_server, embeddings_api_key=API_KEY
    )
    report = index_paths([corpus], settings=remote)
    assert report.failed == 0 and report.embedded_chunks > 0
    # The index records the server's model, so the in-process e5 model is refused ...
    with pytest.raises(EmbeddingModelMismatchError, match=ALIAS):
        ask(MARS, settings=remote.with_(embedder="e5", generator="extractive"))
    # ... while questions embedded by the same server find the Mars articles.
    answer = ask(MARS, settings=remote.with_(generator="extractive"))
    other = load_articles([corpus / OTHER_ARTICLE]).articles[0].id
    ranked = [r.chunk.article_id for r in answer.ranked]
    assert ranked and ranked[0] != other  # a Mars article ranks first
    assert set(ranked) >= {other}  # the other article is indexed, only ranked lower
