"""The web UI's login limit and its start-up errors (issue 16, items 8 and 12)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from ui.app import LoginLimiter, create_app, launch_options


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_locks_a_client_out_after_repeated_failures_and_backs_off() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(max_failures=3, lockout_s=30, max_lockout_s=100, clock=clock)
    for _ in range(2):
        limiter.failed("10.0.0.1")
        assert limiter.retry_after("10.0.0.1") == 0
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 30
    assert limiter.retry_after("10.0.0.2") == 0  # other clients are not affected
    clock.now += 30
    assert limiter.retry_after("10.0.0.1") == 0
    limiter.failed("10.0.0.1")  # the next failure doubles the lock-out ...
    assert limiter.retry_after("10.0.0.1") == 60
    clock.now += 60
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 100  # ... up to the maximum
    clock.now += 100
    limiter.succeeded("10.0.0.1")  # a correct login resets the count
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 0


def test_limiter_memory_is_bounded() -> None:
    limiter = LoginLimiter(max_failures=1, max_clients=100, clock=FakeClock())
    for i in range(1000):
        limiter.failed(f"client-{i}")
    assert len(limiter._state) == 100
    assert limiter.retry_after("client-999") > 0


def _login(url: str, user: str, password: str) -> int:
    body = urllib.parse.urlencode({"username": user, "password": password}).encode()
    request = urllib.request.Request(url + "login", data=body)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_served_login_is_refused_after_repeated_wrong_passwords(make_settings) -> None:
    settings = make_settings(ui_auth="tester:s3cret")
    app = create_app(settings)
    port = free_port()
    app.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings, port=port))
    url = f"http://127.0.0.1:{port}/"
    try:
        assert _login(url, "tester", "s3cret") == 200
        codes = [_login(url, "tester", f"falsch-{i}") for i in range(5)]
        assert codes == [400] * 5
        # Locked out: even the right password is refused for now, with a Retry-After.
        assert _login(url, "tester", "s3cret") == 429
        assert _login(url, "tester", "falsch") == 429
    finally:
        app.close()


def test_ui_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
        env.update(QA_DATA_DIR=str(tmp_path / "data"), QA_UI_PORT=str(port), PYTHONPATH=str(ROOT))
        done = subprocess.run(
            [sys.executable, "-m", "qa.cli", "ui"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: cannot serve the web chat on 127.0.0.1:{port}")
    assert "QA_UI_PORT" in lines[-1]
    assert "Traceback" not in done.stderr and "GRADIO_SERVER_PORT" not in done.stderr


def test_ui_port_out_of_range_is_refused_at_start_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_UI_PORT="70000", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", "ui"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr == "error: QA_UI_PORT=70000 must be in 1..65535\n"
