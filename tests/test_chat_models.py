"""Chat models against the real local GGUF and a real llama.cpp OpenAI-compatible server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from index.errors import ModelNotInstalledError
from qa import llm_assets
from qa.chat_models import LlamaCppChatModel, LocalModels, make_chat_model
from qa.llm_assets import DEFAULT_MODEL, MODELS, assemble_model, model_path
from qa.settings import Settings
from tests.conftest import stop_process

SYSTEM = (
    "Answer only from the numbered sources. Cite the source as [n]. "
    "If the sources do not contain the answer, say so. Answer in one sentence."
)
SOURCES = (
    "Sources:\n"
    "[1] Der neue Bürgermeister von Hallstedt heißt Anton Berger; er wurde am Sonntag "
    "mit 61 Prozent der Stimmen gewählt.\n"
    "[2] In Hallstedt wurde ein neues Hallenbad eröffnet.\n\n"
)
QUESTION = "Question: What is the name of the new mayor of Hallstedt?"
MESSAGES = [SystemMessage(SYSTEM), HumanMessage(SOURCES + QUESTION)]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return Path(os.environ.get("QA_MODEL_DIR") or Settings().model_dir)


@pytest.fixture(scope="session")
def gguf(model_dir: Path) -> Path:
    # Idempotent: instant when `make setup` already assembled and stamped the file.
    return assemble_model(DEFAULT_MODEL, model_dir)


@pytest.fixture(scope="session")
def settings(model_dir: Path, gguf: Path) -> Settings:
    return Settings(model_dir=model_dir, llm_model=DEFAULT_MODEL, llm_threads=2, llm_context=2048)


@pytest.fixture(scope="session")
def pool() -> LocalModels:
    return LocalModels()


@pytest.fixture(scope="session")
def local_model(settings: Settings, pool: LocalModels) -> LlamaCppChatModel:
    model = make_chat_model(settings, generator="llm", max_tokens=48, local_models=pool)
    assert isinstance(model, LlamaCppChatModel)
    return model


# --- local llama.cpp -------------------------------------------------------------


@pytest.mark.llm
def test_local_model_invoke_answers_from_source(local_model: LlamaCppChatModel) -> None:
    reply = local_model.invoke(MESSAGES)
    assert "Berger" in reply.content
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 50
    assert 0 < reply.usage_metadata["output_tokens"] <= 48
    assert reply.response_metadata["finish_reason"] == "stop"


@pytest.mark.llm
def test_local_model_streams_token_chunks(local_model: LlamaCppChatModel) -> None:
    chunks = [c.content for c in local_model.stream(MESSAGES) if c.content]
    assert len(chunks) >= 2
    assert "Berger" in "".join(chunks)


@pytest.mark.llm
def test_local_model_is_loaded_once_per_pool(
    local_model: LlamaCppChatModel, settings: Settings, pool: LocalModels
) -> None:
    other = make_chat_model(settings, generator="llm", local_models=pool)
    assert isinstance(other, LlamaCppChatModel)
    first = pool.get(Path(local_model.model_path), local_model.n_ctx, 2, local_model.n_batch)
    second = pool.get(Path(other.model_path), other.n_ctx, 2, other.n_batch)
    assert first is second
    assert len(pool) == 1  # both chat models (48 and 256 max tokens) share one Llama
    # No RAM snapshot cache by default (it cost 0.72 s per call); the live KV cache of
    # the earlier tests' prompts is kept, so a shared prefix is not evaluated again.
    assert first.llm.cache is None
    assert first.llm.n_tokens > 0


@pytest.mark.llm
def test_local_model_honours_stop_and_max_tokens(local_model: LlamaCppChatModel) -> None:
    stopped = local_model.invoke(MESSAGES, stop=["Berger"])
    assert "Berger" not in stopped.content

    short = local_model.invoke(MESSAGES, max_tokens=3)
    assert short.usage_metadata is not None
    assert short.usage_metadata["output_tokens"] <= 3
    assert short.response_metadata["finish_reason"] == "length"


@pytest.mark.llm
def test_local_model_serialises_concurrent_calls(local_model: LlamaCppChatModel) -> None:
    # Two Gradio-style worker threads at once: without the lock the shared llama.cpp
    # context would interleave both prompts and produce garbage or crash.
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        try:
            results[i] = "".join(str(c.content) for c in local_model.stream(MESSAGES))
        except BaseException as exc:  # re-raised via the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert len(results) == 2
    assert all("Berger" in text for text in results.values())


@pytest.mark.llm
def test_abandoned_stream_releases_the_model(local_model: LlamaCppChatModel) -> None:
    stream = local_model.stream(MESSAGES)
    next(stream)
    stream.close()  # the user stopped the answer after one token
    assert "Berger" in local_model.invoke(MESSAGES).content


# --- OpenAI-compatible server (real llama.cpp server) ------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_threads",
                "2",
                "--n_ctx",
                "2048",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited early:\n{log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server not ready in 60 s:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        stop_process(proc)


@pytest.mark.llm
def test_openai_generator_streams_from_llama_server(settings: Settings, llama_server: str) -> None:
    model = make_chat_model(settings.with_(openai_base_url=llama_server), generator="openai")
    chunks = [c.content for c in model.stream(MESSAGES) if c.content]
    assert len(chunks) >= 2
    assert "Berger" in "".join(chunks)


@pytest.mark.llm
def test_openai_generator_limits_answer_length(settings: Settings, llama_server: str) -> None:
    # llama-cpp-python's server ignores `max_completion_tokens`; the limit must arrive.
    model = make_chat_model(
        settings.with_(openai_base_url=llama_server), generator="openai", max_tokens=4
    )
    reply = model.invoke(MESSAGES)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] <= 4
    assert reply.response_metadata["finish_reason"] == "length"


# --- errors -------------------------------------------------------------------------


def test_model_path_missing_model_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError, match="make setup"):
        model_path(DEFAULT_MODEL, tmp_path)
    with pytest.raises(ModelNotInstalledError, match="make setup"):
        make_chat_model(Settings(model_dir=tmp_path), generator="llm")


def test_model_path_wrong_size_raises(tmp_path: Path) -> None:
    (tmp_path / MODELS[DEFAULT_MODEL].filename).write_bytes(b"GGUF truncated")
    with pytest.raises(ModelNotInstalledError, match="expected"):
        model_path(DEFAULT_MODEL, tmp_path)


def test_unknown_model_name_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="QA_LLM_MODEL"):
        model_path("gpt-17", tmp_path)


def test_openai_without_base_url_names_the_variable() -> None:
    with pytest.raises(ValueError, match="QA_OPENAI_BASE_URL"):
        make_chat_model(Settings(openai_base_url=None), generator="openai")


def test_unknown_generator_raises_value_error() -> None:
    with pytest.raises(ValueError, match="extractive"):
        make_chat_model(Settings(), generator="extractive")


# --- assembly -------------------------------------------------------------------------


def _must_not_run(name: str):
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{name} ran on an already assembled, stamped model")

    return fail


@pytest.mark.slow
def test_assemble_is_verified_atomic_and_idempotent(tmp_path: Path) -> None:
    # The smaller model keeps this at ~0.5 GB of writes.
    name = "qwen2.5-coder-0.5b"
    asset = MODELS[name]
    path = assemble_model(name, tmp_path)
    assert path == tmp_path / asset.filename
    assert path.stat().st_size == asset.size
    assert path.read_bytes()[:4] == b"GGUF"
    stamp = path.with_name(path.name + ".sha256")
    assert stamp.read_text().split() == [asset.sha256, asset.filename]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    # Second run trusts size + stamp: no 0.5 GB rehash, no rewrite.
    mtime = path.stat().st_mtime_ns
    with pytest.MonkeyPatch.context() as patch:
        for helper in ("_hash_file", "_concatenate"):
            patch.setattr(llm_assets, helper, _must_not_run(helper))
        assert assemble_model(name, tmp_path) == path
    assert path.stat().st_mtime_ns == mtime

    # Same size but corrupted bytes: only --verify catches it, and then it repairs.
    with path.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 16)
    assert assemble_model(name, tmp_path) == path
    assert model_path(name, tmp_path) == path
    assemble_model(name, tmp_path, verify=True)
    with path.open("rb") as fh:
        fh.seek(1000)
        assert fh.read(16) != b"\0" * 16

    # A truncated file is rebuilt without --verify.
    with path.open("r+b") as fh:
        fh.truncate(1000)
    assemble_model(name, tmp_path)
    assert path.stat().st_size == asset.size
