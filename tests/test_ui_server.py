"""The real Gradio app on loopback, queried with gradio_client (extractive mode, real index)."""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from qa.engine import Engine, default_engine
from qa.settings import Settings
from tests.conftest import SAMPLES, SEED_NAME, free_port, ui_subprocess, wait_for_http
from ui import format as fmt
from ui.app import create_app, launch_options

pytestmark = pytest.mark.slow

SEED_TITLE = (SAMPLES / SEED_NAME).read_text(encoding="utf-8").splitlines()[0].strip()
MARS = "When could humans land on Mars?"


@pytest.fixture(scope="module")
def ui_engine(sample_index: Settings) -> Engine:
    """The engine the app answers with (the default one, shared with the other tests)."""
    return default_engine(sample_index)


@pytest.fixture(scope="module")
def app_url(sample_index: Settings, ui_engine: Engine) -> Iterator[str]:
    """The app, launched in this process on a free loopback port, over the sample index."""
    app = create_app(sample_index, engine=ui_engine)
    port = free_port()
    app.launch(prevent_thread_lock=True, quiet=True, **launch_options(sample_index, port=port))
    url = f"http://127.0.0.1:{port}/"
    wait_for_http(url)
    yield url
    app.close()


@pytest.fixture
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def chat(client: Client, message: str, since: str = "", until: str = "", source: str = "") -> Any:
    """Run the /chat job; return (all streamed outputs, final response)."""
    job = client.submit(message, since, until, source, "extractive", api_name="/chat")
    outputs = list(job)
    final = job.outputs()[-1]
    return outputs, final[0]


def test_chat_streams_answer_citing_the_seed(client: Client) -> None:
    outputs, response = chat(client, MARS)
    # Streamed: the growing text first, then the complete messages.
    assert len(outputs) >= 2
    assert isinstance(outputs[0][0], str) and outputs[0][0]
    assert isinstance(response, list) and len(response) == 2
    answer, sources = response
    assert "2029" in answer["content"]
    assert "](#a1-src-1 " in answer["content"]
    assert sources["metadata"]["title"] == fmt.SOURCES_TITLE
    assert fmt.escape_text(SEED_TITLE) in sources["content"]
    assert "2025-03-28" in sources["content"]
    assert "<mark>" in sources["content"]
    # The cited-articles picker is filled with the seed article.
    picker = outputs[-1][1]
    assert any(SEED_TITLE in label for label, _ in picker["choices"])


def test_follow_up_in_same_session_gets_history(client: Client) -> None:
    chat(client, MARS)
    _, response = chat(client, "Was bot Russland für die Mars-Mission an?")
    # The anchor prefix counts earlier answers: the server saw the first turn.
    assert "#a2-src-" in response[0]["content"]
    assert "Kernkraftwerk" in fmt.unescape_text(response[1]["content"])


def test_filters_exclude_everything_gives_abstention(client: Client) -> None:
    _, response = chat(client, MARS, since="2099-01-01")
    text = response[0]["content"] if isinstance(response, list) else response
    assert not text.startswith(fmt.ERROR_PREFIX.strip())
    assert "2029" not in text
    assert len(response) == 1


@pytest.mark.parametrize(
    ("message", "since", "expected"),
    [
        ("", "", "The question is empty"),
        (MARS, "28.03.2025", "YYYY-MM-DD"),
        (MARS, "2025-02-30", "not a valid calendar date"),
    ],
)
def test_bad_input_is_a_readable_chat_message(
    client: Client, message: str, since: str, expected: str
) -> None:
    _, response = chat(client, message, since=since)
    assert isinstance(response, str)
    assert response.startswith(fmt.ERROR_PREFIX)
    assert expected in response
    assert "Traceback" not in response


def test_unexpected_error_is_generic_logged_and_app_recovers(
    client: Client,
    ui_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> Iterator[str]:
        yield "partial "
        raise RuntimeError("secret internal detail")

    with monkeypatch.context() as patch:
        patch.setattr(ui_engine, "stream", broken)
        with caplog.at_level(logging.ERROR, logger="ui.app"):
            _, response = chat(client, MARS)
    assert response == fmt.error_text(fmt.GENERIC_ERROR)
    assert "secret" not in response
    # Logged once, by the chat handler, with the very exception that broke the stream.
    logged = [r for r in caplog.records if r.name == "ui.app" and r.exc_info]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert logged[0].getMessage() == f"Answering {MARS!r} failed"
    exc = logged[0].exc_info[1]
    assert isinstance(exc, RuntimeError) and str(exc) == "secret internal detail"
    _, response = chat(client, MARS)
    assert "2029" in response[0]["content"]


def test_api_lists_chat_endpoint(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    params = [p["parameter_name"] for p in api["named_endpoints"]["/chat"]["parameters"]]
    assert params == ["message", "since", "until", "source", "mode"]


def test_auth_from_env_refuses_unauthenticated_requests(model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "QA_DATA_DIR": str(tmp_path / "empty-data"),
        "QA_MODEL_DIR": str(model_dir),
        "QA_GENERATOR": "extractive",
        "QA_UI_AUTH": "tester:s3cret",
        "QA_UI_PORT": str(port),
    }
    with ui_subprocess(env, port) as ui:
        url = ui.url
        for path, body in [
            ("gradio_api/info", None),
            ("config", None),
            ("gradio_api/call/chat", b'{"data": ["Mars?", "", "", "", "extractive"]}'),
        ]:
            request = urllib.request.Request(
                url + path, data=body, headers={"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401, path
        with pytest.raises(Exception, match=r"credentials|login|auth"):
            Client(url, verbose=False)
        # With the password the app works; its empty data dir gives a readable error.
        authed = Client(url, auth=("tester", "s3cret"), verbose=False)
        response = authed.predict(MARS, "", "", "", "extractive", api_name="/chat")[0]
        assert response.startswith(fmt.ERROR_PREFIX)
        assert "Add articles" in response
    stderr = ui.stderr
    assert "Traceback" not in stderr
