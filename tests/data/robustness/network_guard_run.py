"""Run the product with a socket guard and report every non-loopback connection attempt.

Started by ``tests/test_robustness_ui.py`` in a fresh interpreter, so the guard is in
place before anything of the project (or its dependencies) is imported: import-time
telemetry, model loading, indexing, asking, serving the UI and querying it are all
covered.  Usage::

    python network_guard_run.py DATA_DIR MODEL_DIR CORPUS_DIR REPORT_JSON

The report is ``{"attempts": [...], "steps": {...}}``; each attempt names the call
and its target.  Attempts are refused (``OSError``), as an offline machine would.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ATTEMPTS: list[dict[str, str]] = []
_lock = threading.Lock()
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_local_host(host: Any) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard/loopback
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0]
    if host in _LOCAL_NAMES or host == "":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name that would need DNS
    if address.is_loopback or address.is_unspecified:
        return True
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(mapped and mapped.is_loopback)


def _allowed(family: int, address: Any) -> bool:
    if family == getattr(socket, "AF_UNIX", object()):
        return True  # local IPC only
    if isinstance(address, tuple) and address:
        return _is_local_host(address[0])
    return False


def _record(call: str, target: Any) -> None:
    where = "".join(traceback.format_stack(limit=40)[:-2])
    with _lock:
        ATTEMPTS.append({"call": call, "target": repr(target), "stack": where})


def install_guard() -> None:
    """Patch the socket module so non-loopback connects, sends and lookups are refused."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if not _allowed(self.family, address):
            _record("connect", address)
            raise OSError(101, f"network guard: connection to {address!r} refused")
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _allowed(self.family, address):
            _record("connect_ex", address)
            return 101
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        address = args[-1]
        if not _allowed(self.family, address):
            _record("sendto", address)
            raise OSError(101, f"network guard: datagram to {address!r} refused")
        return original_sendto(self, data, *args)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local_host(host):
            _record("getaddrinfo", host)
            raise socket.gaierror(socket.EAI_NONAME, f"network guard: lookup of {host!r} refused")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


def main(data_dir: Path, model_dir: Path, corpus: Path, report: Path) -> int:
    install_guard()
    steps: dict[str, Any] = {}
    t = time.perf_counter()

    from qa import ask
    from qa.api import index_paths
    from qa.settings import Settings

    settings = Settings(data_dir=data_dir, model_dir=model_dir, generator="extractive")
    result = index_paths([corpus], settings=settings)
    steps["index"] = result.summary
    answer = ask("When could humans land on Mars?", settings=settings)
    steps["ask"] = {"abstained": answer.abstained, "text": answer.text[:200]}

    from gradio_client import Client, handle_file

    from ui.app import create_app, launch_options

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = create_app(settings)
    app.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings, port=port))
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        job = client.submit(
            "Was bot Russland für die Mars-Mission an?", "", "", "", "extractive", api_name="/chat"
        )
        steps["ui_chat"] = str(job.result()[0])[:200]
        upload = sorted(corpus.glob("*.txt"))[0]
        steps["ui_index"] = str(client.predict([handle_file(str(upload))], api_name="/index")[1])
    finally:
        app.close()
    steps["seconds"] = round(time.perf_counter() - t, 1)
    report.write_text(json.dumps({"attempts": ATTEMPTS, "steps": steps}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(*(Path(a) for a in sys.argv[1:5])))
