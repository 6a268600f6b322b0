"""``qa embed-server`` under hostile load (issue 16, item 11).

The limits are plumbing of the HTTP server, independent of the model, so a tiny
stand-in embedder is served here; the real model behind the same server is covered
by ``tests/test_embedding_server.py``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from index import embed_server
from index.embed_server import MAX_CONNECTIONS, MAX_TOTAL_CHARS, EmbeddingServer


class TinyEmbedder:
    identity = "tiny@test"

    def embed_raw(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32) / 2


@pytest.fixture
def server(monkeypatch) -> Iterator[tuple[str, int]]:
    # Short enough to wait for in a test, long enough to open the connections below.
    monkeypatch.setattr(embed_server._Handler, "timeout", 5.0)
    srv = EmbeddingServer(("127.0.0.1", 0), TinyEmbedder())
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[:2]
    srv.shutdown()
    srv.server_close()


def post(address: tuple[str, int], body: bytes) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(*address, timeout=30)
    conn.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, payload


def test_lone_surrogate_and_deeply_nested_json_are_400(server) -> None:
    status, payload = post(server, b'{"input": ["gut", "\\ud800"]}')
    assert status == 400 and "lone surrogate" in payload["error"]["message"]
    status, payload = post(server, b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert status == 400 and "not valid JSON" in payload["error"]["message"]
    status, _ = post(server, json.dumps({"input": ["Guten Tag"]}).encode())
    assert status == 200  # and it keeps serving


def test_too_much_text_in_one_request_is_400(server) -> None:
    texts = ["x" * 10_000] * (MAX_TOTAL_CHARS // 10_000 + 1)
    status, payload = post(server, json.dumps({"input": texts}).encode())
    assert status == 400 and f"at most {MAX_TOTAL_CHARS}" in payload["error"]["message"]


def test_stalled_connections_are_bounded_and_dropped(server) -> None:
    stalled = []
    for _ in range(MAX_CONNECTIONS):
        sock = socket.create_connection(server, timeout=30)
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")  # and stall
        stalled.append(sock)
    # One more than the bound: refused at once with 503, not given a thread.
    extra = socket.create_connection(server, timeout=30)
    extra.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = extra.recv(65536)
    assert answer.startswith(b"HTTP/1.1 503")
    extra.close()
    # Every stalled connection is closed by the server's read timeout.
    for sock in stalled:
        assert sock.recv(65536) == b""
        sock.close()
    status, _ = post(server, json.dumps({"input": ["Guten Tag"]}).encode())
    assert status == 200
