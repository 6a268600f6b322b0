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

import contextlib
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


def _post_json(url: str, payload: dict[str, Any]) -> Any:
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _call(base: str, endpoint: str, data: list[Any]) -> str:
    """Run a Gradio endpoint over its plain HTTP API; return the event stream text."""
    import urllib.request

    event_id = _post_json(f"{base}gradio_api/call/{endpoint}", {"data": data})["event_id"]
    with urllib.request.urlopen(f"{base}gradio_api/call/{endpoint}/{event_id}", timeout=300) as r:
        return r.read().decode("utf-8")


def _upload(base: str, path: Path) -> str:
    import urllib.request

    boundary = "robustnessboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{path.name}"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{base}gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return str(json.loads(response.read())[0])


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
    steps["ask"] = answer.text[:1000]

    from ui.app import create_app, launch_options

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = create_app(settings)
    app.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings, port=port))
    # Plain HTTP, not gradio_client: the client library itself contacts huggingface.co
    # when it is constructed (unless HF_HUB_OFFLINE=1), and it is not part of the product.
    base = f"http://127.0.0.1:{port}/"
    try:
        steps["ui_page"] = len(urllib_get(base))
        question = ["Was bot Russland für die Mars-Mission an?", "", "", "", "extractive"]
        steps["ui_chat"] = _call(base, "chat", question)[-400:]
        uploaded = _upload(base, sorted(corpus.glob("*.txt"))[0])
        file_data = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
        steps["ui_index"] = _call(base, "index", [[file_data]])[-400:]
    finally:
        app.close()
    steps["seconds"] = round(time.perf_counter() - t, 1)

    # Canary: the guard must see (and refuse) a connection to a non-loopback address.
    before = len(ATTEMPTS)
    with contextlib.suppress(OSError):
        socket.create_connection(("192.0.2.1", 9), timeout=1).close()  # TEST-NET-1
    steps["canary_refused"] = len(ATTEMPTS) == before + 1
    del ATTEMPTS[before:]

    report.write_text(json.dumps({"attempts": ATTEMPTS, "steps": steps}, indent=2))
    return 0


def urllib_get(url: str) -> bytes:
    """GET a page from the app (what a browser loads first)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


if __name__ == "__main__":
    sys.exit(main(*(Path(a) for a in sys.argv[1:5])))
