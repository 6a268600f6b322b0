"""A real ``chroma run`` server on loopback, for the benchmark and the tests.

Started as a subprocess of the ``chroma`` command installed next to this Python, so
this module does not import ``chromadb`` (only :mod:`index.store` does). It waits for
the server's heartbeat endpoint, not merely for the port, so the first request of the
caller is served.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

LOOPBACK = "127.0.0.1"
#: Chroma 1.x's liveness endpoint (answers once the server accepts requests).
HEARTBEAT_PATH = "/api/v2/heartbeat"
DEFAULT_START_TIMEOUT = 60.0


class ChromaServerError(RuntimeError):
    """The ``chroma`` command is missing or its server did not come up."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now.

    Args:
        host: The address to bind the probe to.

    Returns:
        The port number.
    """
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def chroma_executable() -> Path:
    """The ``chroma`` command of this environment (next to the Python, else on PATH).

    Raises:
        ChromaServerError: It is not installed.
    """
    exe = Path(sys.executable).parent / "chroma"
    if exe.exists():
        return exe
    found = shutil.which("chroma")
    if not found:
        raise ChromaServerError("the `chroma` command is not installed next to this Python")
    return Path(found)


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class ChromaServer:
    """A ``chroma run`` process serving ``path`` on ``host:port``.

    It can be stopped and started again on the same path and port (a server restarted
    mid-session). Use it as a context manager to start it and always stop it.

    Args:
        path: The server's data directory (created when missing).
        port: The port; a free one is picked when None.
        host: The address it listens on (loopback by default).
        log_file: Where the server's output goes (appended); discarded when None.
        start_timeout: Seconds to wait for the heartbeat.
    """

    def __init__(
        self,
        path: Path,
        *,
        port: int | None = None,
        host: str = LOOPBACK,
        log_file: Path | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_file = log_file
        self.start_timeout = start_timeout
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> float:
        """Start the server and wait for its heartbeat.

        Returns:
            Seconds from starting the process to the first heartbeat.

        Raises:
            ChromaServerError: The command is missing, exited, or gave no heartbeat
                within ``start_timeout`` (the process is stopped then).
        """
        exe = chroma_executable()
        self.path.mkdir(parents=True, exist_ok=True)
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab") if self.log_file is not None else None
        started = time.perf_counter()
        self._proc = subprocess.Popen(
            [str(exe), "run", "--path", str(self.path), "--host", self.host,
             "--port", str(self.port)],
            stdout=self._log if self._log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )  # fmt: skip
        try:
            self._wait_for_heartbeat()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started
        return self.start_seconds

    def _wait_for_heartbeat(self) -> None:
        url = f"http://{self.host}:{self.port}{HEARTBEAT_PATH}"
        deadline = time.monotonic() + self.start_timeout
        while not _heartbeat(url):
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise ChromaServerError(f"`chroma run` exited with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise ChromaServerError(
                    f"`chroma run` gave no heartbeat within {self.start_timeout:.0f} s"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server (killed after ``timeout`` seconds); no-op when stopped."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ChromaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def chroma_server(
    path: Path | None = None, *, log_file: Path | None = None
) -> Iterator[ChromaServer]:
    """A running ``chroma run`` server on a free loopback port, stopped on exit.

    Args:
        path: Its data directory; a temporary one (removed afterwards) when None.
        log_file: Where its output goes; discarded when None.

    Yields:
        The running server (``host``, ``port``, ``start_seconds``).

    Raises:
        ChromaServerError: It did not come up.
    """
    with ExitStack() as stack:
        if path is None:
            path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-chroma-")))
        yield stack.enter_context(ChromaServer(path, log_file=log_file))
