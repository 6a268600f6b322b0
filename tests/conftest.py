"""Shared fixtures: real models from the set-up, real Chroma in temp dirs."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Nothing may reach the network at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from index.chroma_server import ChromaServer, free_port  # noqa: F401 (tests import it from here)
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "index" / "samples"
SEED_NAME = "000_cd5ef53cfbdaf56f.txt"
VENV_BIN = Path(sys.executable).parent


@dataclass
class UiProcess:
    """A web chat running in a subprocess (see :func:`ui_subprocess`)."""

    url: str
    port: int
    proc: subprocess.Popen[str]
    stderr: str = ""


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The models built by `make setup` (e5 and its ONNX graphs are built here if missing)."""
    from index.e5_convert import build_e5_model, verify_e5_model
    from index.e5_onnx import ONNX_DIR_NAME, VARIANTS, build_onnx_models, verify_onnx_model
    from index.errors import ModelNotInstalledError

    directory = Settings.from_env().model_dir
    try:
        verify_e5_model(directory / "multilingual-e5-small")
    except ModelNotInstalledError:
        build_e5_model(directory / "multilingual-e5-small")
    # The default embedding runtime (onnx) needs the ONNX graphs `make setup` builds.
    try:
        for runtime in VARIANTS:
            verify_onnx_model(directory / ONNX_DIR_NAME, runtime)
    except ModelNotInstalledError:
        build_onnx_models(directory / "multilingual-e5-small", directory / ONNX_DIR_NAME)
    return directory


@pytest.fixture
def make_settings(tmp_path: Path, model_dir: Path):
    """Settings factory pointing at a fresh temp data dir."""

    def make(**changes: object) -> Settings:
        base = Settings(data_dir=tmp_path / "data", model_dir=model_dir, generator="extractive")
        return base.with_(**changes)

    return make


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Settings:
    """The bundled sample corpus indexed once per session (extractive settings)."""
    from qa.api import index_paths

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("sample-index"),
        model_dir=model_dir,
        generator="extractive",
    )
    report = index_paths([SAMPLES], settings=settings)
    assert report.failed == 0, report.files
    return settings


@pytest.fixture
def engine_with_chat_model() -> Iterator[Callable[[Settings, Any], Engine]]:
    """Engines whose chat model is a given (scripted) one, closed after the test.

    The model is registered through :class:`qa.engine.Models`' chat-model factory, the
    extension point the real one goes through; the embedder is the real e5 model,
    shared with the default engine so it is not loaded again.
    """
    from qa.engine import Engine, Models, default_engine

    engines: list[Engine] = []

    def make(settings: Settings, chat_model: Any) -> Engine:
        e5 = default_engine(settings).embedder()
        models = Models(
            embedder_factory=lambda _settings: e5,
            chat_model_factory=lambda _settings, **_options: chat_model,
        )
        engines.append(Engine(settings, models=models))
        return engines[-1]

    yield make
    for engine in engines:
        engine.close()


def copy_articles(names: list[str], dest: Path) -> Path:
    """Copy some sample articles into ``dest`` (created)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SAMPLES / name, dest / name)
    return dest


def wait_for_http(url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers (any HTTP status); fail early if ``proc`` exits."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the server process exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminate a server process, killing it if it does not exit within ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def ui_subprocess(env: dict[str, str], port: int, *, timeout: float = 120.0) -> Iterator[UiProcess]:
    """``ui.app.main()`` as ``qa ui`` runs it, in a subprocess on ``port``; stopped on exit.

    Args:
        env: The child's whole environment (``QA_*`` settings included).
        port: The loopback port it was told to listen on (``QA_UI_PORT``).
        timeout: Seconds to wait for the first HTTP answer.

    Yields:
        The running process; after the block its ``stderr`` holds what it printed.
    """
    # stderr goes to a file, not a pipe: a pipe nobody reads fills up and blocks the app.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from ui.app import main; main()"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )
        running = UiProcess(url=f"http://127.0.0.1:{port}/", port=port, proc=proc)
        try:
            wait_for_http(running.url, timeout=timeout, proc=proc)
            yield running
        finally:
            stop_process(proc, timeout=20)
            log.seek(0)
            running.stderr = log.read()


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real `chroma run` server on loopback, stopped after the test."""
    with ChromaServer(tmp_path / "server") as server:
        yield server.host, server.port
