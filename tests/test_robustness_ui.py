"""Robustness and security of the served web UI: hostile input, uploads, load, isolation.

The app runs as ``qa ui`` would (``ui.app.main`` in a subprocess, default host, extractive
mode) over a copy of the session's sample index, so uploads here do not change it and
the server's memory can be measured on its own.  Cases and their tests are listed in
``docs/robustness.md``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file

from qa.settings import Settings
from tests.conftest import ROOT, SAMPLES, SEED_NAME, free_port, ui_subprocess
from ui import format as fmt

pytestmark = pytest.mark.slow

MARS = "When could humans land on Mars?"
UPLOAD_LIMIT = 100_000
GUARD_RUNNER = ROOT / "tests" / "data" / "robustness" / "network_guard_run.py"

LIGHTHOUSE = """Neuer Leuchtturm auf Amrum in Betrieb genommen

1761980400 Neuer Leuchtturm auf Amrum in Betrieb genommen

Der Leuchtturm bei Nacht

Auf Amrum ist ein neuer Leuchtturm mit einer Reichweite von 23 Seemeilen in Betrieb gegangen.
Der Bau kostete nach Angaben des Wasserstraßenamts 4,2 Millionen Euro.

robust-test
"""

SECRET = """Geheimes Protokoll der Gemeinde Quellenbach

1761984000 Geheimes Protokoll der Gemeinde Quellenbach

Ein Aktenordner

Der Gemeinderat von Quellenbach beschloss, den Marktplatz mit 312 Linden zu bepflanzen.

robust-test
"""


@dataclass
class Served:
    """The running app: its URL, process and directories."""

    url: str
    port: int
    proc: subprocess.Popen[str]
    root: Path
    data_dir: Path
    gradio_dir: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sample_index: Settings) -> Iterator[Served]:
    """``ui.app.main()`` in a subprocess with default host, on a copy of the sample index."""
    root = tmp_path_factory.mktemp("robust-ui")
    data_dir = root / "data"
    shutil.copytree(sample_index.data_dir, data_dir)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("QA_UI_HOST", "QA_UI_AUTH", "QA_CHROMA_HOST", "QA_CHROMA_PORT")
    }
    env.update(
        QA_DATA_DIR=str(data_dir),
        QA_MODEL_DIR=str(sample_index.model_dir),
        QA_GENERATOR="extractive",
        QA_UI_PORT=str(port),
        QA_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT),
        GRADIO_TEMP_DIR=str(root / "gradio"),
    )
    with ui_subprocess(env, port) as ui:
        yield Served(ui.url, port, ui.proc, root, data_dir, root / "gradio")


def call(url: str, endpoint: str, data: list[Any]) -> tuple[str, Any]:
    """Run an endpoint over Gradio's plain HTTP API; return the last event and its data."""
    request = urllib.request.Request(
        f"{url}gradio_api/call/{endpoint}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{endpoint}/{event_id}", timeout=300) as r:
        text = r.read().decode("utf-8")
    event, payload = "", None
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        event, payload = lines.get("event", ""), json.loads(lines.get("data", "null"))
    return event, payload


def upload(url: str, filename: str, content: bytes) -> tuple[int, Any]:
    """POST one file to Gradio's upload route under ``filename``; (status, JSON or text)."""
    boundary = "robustnessboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{url}gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def file_data(path: str) -> dict[str, Any]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def chat(client: Client, message: str) -> Any:
    """The final chat response: a list of messages, or an error string."""
    return client.predict(message, "", "", "", "extractive", api_name="/chat")[0]


def response_text(response: Any) -> str:
    if isinstance(response, str):
        return response
    return "\n".join(str(m["content"]) for m in response)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process from /proc, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def listening_addresses(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp{,6})."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(ipaddress.ip_address(raw))
    return found


# ======================================================================= security


def test_served_ui_listens_on_loopback_only(served: Served) -> None:
    addresses = listening_addresses(served.port)
    assert addresses, "no listening socket found for the UI port"
    assert all(a.is_loopback for a in addresses), addresses


def test_non_article_uploads_are_reported_failed_with_a_reason(
    served: Served, tmp_path: Path
) -> None:
    files = {
        "notes.txt": b"Einkaufsliste: Milch, Brot, Eier\n",
        "picture.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "page.txt": b"<html><body><h1>Hallo</h1><script>alert(1)</script></body></html>\n",
        "latin1.txt": "Sch\xf6n\n\n1700000000\n\nBild\n\nText.\n\nx-y\n".encode("latin-1"),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    client = Client(served.url, verbose=False)
    rows, summary, *_ = client.predict(
        [handle_file(str(tmp_path / n)) for n in files], api_name="/index"
    )
    result = {row[0]: (row[1], row[2]) for row in rows["data"]}
    assert set(result) == set(files)
    assert all(status == "failed" and reason for status, reason in result.values()), result
    assert "binary data" in result["picture.txt"][1]
    assert "invalid UTF-8" in result["latin1.txt"][1]
    assert summary.startswith("0 added")

    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict([handle_file(str(tmp_path / "notes.pdf"))], api_name="/index")


def test_oversize_upload_is_refused(served: Served, tmp_path: Path) -> None:
    big = b"Titel\n\n1700000000\n\nBild\n\n" + b"Viel Text. " * (UPLOAD_LIMIT // 10) + b"\n\nx-y\n"
    status, body = upload(served.url, "big.txt", big)
    assert status == 413, (status, body)
    assert "maximum allowed size" in body
    (tmp_path / "big.txt").write_bytes(big)
    client = Client(served.url, verbose=False)
    with pytest.raises(Exception, match="maximum file size"):
        client.predict([handle_file(str(tmp_path / "big.txt"))], api_name="/index")


ESCAPE_NAMES = [
    "../../../escape.txt",
    "..\\..\\escape.txt",
    "/etc/escape.txt",
    "a/../../escape.txt",
]


@pytest.mark.parametrize("name", ESCAPE_NAMES, ids=["dotdot", "backslash", "absolute", "nested"])
def test_upload_file_names_cannot_escape_the_upload_folder(served: Served, name: str) -> None:
    # A lighthouse of its own per case, so each upload is a new article whatever ran before.
    island = f"Amrum-{ESCAPE_NAMES.index(name)}"
    article = LIGHTHOUSE.replace("Amrum", island)
    status, paths = upload(served.url, name, article.encode("utf-8"))
    assert status == 200, paths
    stored = Path(paths[0]).resolve()
    assert stored.is_relative_to(served.gradio_dir.resolve())
    event, result = call(served.url, "index", [[file_data(paths[0])]])
    assert event == "complete", result
    rows = result[0]["data"]
    assert rows[0][1] == "added", rows
    # Nothing named like the upload appeared outside Gradio's upload folder and the
    # data dir's managed copies (uploads/<content hash>/escape.txt).
    uploads = (served.data_dir / "uploads").resolve()
    outside = [
        p
        for p in served.root.rglob("*escape.txt")
        if not p.resolve().is_relative_to(served.gradio_dir.resolve())
        and not (p.resolve().parent.parent == uploads and p.name == "escape.txt")
    ]
    assert outside == []
    assert not Path("/etc/escape.txt").exists()
    assert {p.name for p in served.data_dir.iterdir()} <= {
        "chroma",
        "lexical",
        "uploads",
        ".write.lock",
    }


def test_index_endpoint_refuses_files_that_were_not_uploaded(
    served: Served, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    for path in (str(secret), "/etc/passwd", f"{served.gradio_dir}/../../{secret.name}"):
        event, _ = call(served.url, "index", [[file_data(path)]])
        assert event == "error", path
    client = Client(served.url, verbose=False)
    answer = response_text(chat(client, "Wie viele Linden sollen in Quellenbach gepflanzt werden?"))
    assert "312" not in answer and "Quellenbach beschloss" not in answer


# ====================================================================== questions


def test_100_kb_question_is_a_readable_error_in_the_ui(served: Served) -> None:
    # The textbox's max_length is only a browser-side limit; API clients bypass it.
    client = Client(served.url, verbose=False)
    response = chat(client, "Mars " * 20_000)
    assert isinstance(response, str) and response.startswith(fmt.ERROR_PREFIX)
    assert "limit is 2000" in response
    assert "2029" in response_text(chat(client, MARS))  # the session still works


@pytest.mark.parametrize(
    "question",
    [
        "<script>alert(1)</script><img src=x onerror=alert(2)> Sachertorte-Rezept?",
        "'; DROP TABLE news; -- <b>Mars</b>?",
        "[click](javascript:alert(1)) When could humans land on Mars?",
    ],
    ids=["script-img", "sql-bold", "md-js-link"],
)
def test_question_markup_is_never_rendered_live(served: Served, question: str) -> None:
    client = Client(served.url, verbose=False)
    text = response_text(chat(client, question))
    assert not text.startswith(fmt.ERROR_PREFIX), text
    for live in ("<script", "<img", "<b>", "](javascript"):
        assert live not in text, text


# =========================================================================== load

SESSIONS = 20
LOAD_SECONDS = 30.0  # sessions start no new question after this
HARD_LIMIT = 240.0  # every session must have finished by then
LOAD_QUESTIONS = [
    MARS,
    "Und wann ist es wahrscheinlicher?",
    "Was bot Russland für die Mars-Mission an?",
    "Wie hoch ist der Einlagenzins der EZB?",
    "Wo gab es Hochwasser im Piemont?",
    "What is the recipe for a traditional Sachertorte?",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_twenty_concurrent_chat_sessions(served: Served) -> None:
    # Every question path once first, so first-use allocations (models, tokenizer and
    # BM25 caches) are in the baseline; measured: +60 MB over the first 30 s burst,
    # then +10 MB per further burst.
    warm = Client(served.url, verbose=False)
    for question in LOAD_QUESTIONS:
        chat(warm, question)
    assert "2029" in response_text(chat(warm, MARS))
    time.sleep(2)
    rss_before = rss_mb(served.proc.pid)

    clients = [Client(served.url, verbose=False) for _ in range(SESSIONS)]
    latencies: list[float] = []
    errors: list[str] = []
    per_session = [0] * SESSIONS
    lock = threading.Lock()
    start_gate = threading.Barrier(SESSIONS + 1)
    started = 0.0

    def session(index: int) -> None:
        client = clients[index]
        start_gate.wait()
        turn = 0
        while time.monotonic() - started < LOAD_SECONDS or turn == 0:
            question = LOAD_QUESTIONS[(index + turn) % len(LOAD_QUESTIONS)]
            t = time.monotonic()
            try:
                text = response_text(chat(client, question))
                ok = text.strip() and not text.startswith(fmt.ERROR_PREFIX)
                problem = None if ok else f"session {index}: {text[:200]}"
            except Exception as exc:  # recorded, the test fails below
                problem = f"session {index}: {type(exc).__name__}: {exc}"
            with lock:
                latencies.append(time.monotonic() - t)
                per_session[index] += 1
                if problem:
                    errors.append(problem)
            turn += 1

    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(SESSIONS)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    start_gate.wait()
    for thread in threads:
        thread.join(timeout=max(1.0, HARD_LIMIT - (time.monotonic() - started)))
    wall = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), f"sessions still running after {wall:.0f} s"

    time.sleep(2)
    rss_after = rss_mb(served.proc.pid)
    rss_peak = rss_mb(served.proc.pid, "VmHWM")
    # The server is still healthy after the burst.
    assert "2029" in response_text(chat(warm, MARS))

    numbers = {
        "sessions": SESSIONS,
        "answers": len(latencies),
        "errors": len(errors),
        "wall_s": round(wall, 1),
        "throughput_per_s": round(len(latencies) / wall, 2),
        "latency_p50_s": round(statistics.median(latencies), 2),
        "latency_p95_s": round(_percentile(latencies, 0.95), 2),
        "latency_max_s": round(max(latencies), 2),
        "rss_before_mb": round(rss_before),
        "rss_after_mb": round(rss_after),
        "rss_peak_mb": round(rss_peak),
        "cpus": os.cpu_count(),
    }
    print("\nload:", json.dumps(numbers))
    if os.environ.get("QA_LOAD_REPORT"):
        Path(os.environ["QA_LOAD_REPORT"]).write_text(json.dumps(numbers, indent=2) + "\n")

    assert errors == [], errors[:5]
    assert min(per_session) >= 1
    # Bounded memory: 20 sessions' state and queue must not grow the server much.
    assert rss_after < rss_before + 200, numbers


# ===================================================================== isolation


def test_no_network_connection_leaves_the_machine(model_dir: Path, tmp_path: Path) -> None:
    """Index, ask and serve + query the UI with every non-loopback connection refused.

    A fresh interpreter installs the guard before anything is imported, and runs without
    the test suite's HF_HUB_OFFLINE / analytics switches, as a user's `qa` would.
    """
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in [SEED_NAME, *sorted(p.name for p in SAMPLES.glob("*.txt"))[1:3]]:
        shutil.copy(SAMPLES / name, corpus / name)
    report = tmp_path / "report.json"
    unset = (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "GRADIO_ANALYTICS_ENABLED",
        "ANONYMIZED_TELEMETRY",
    )
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("QA_")}
    proc = subprocess.run(
        [sys.executable, str(GUARD_RUNNER), tmp_path / "data", model_dir, corpus, report],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(report.read_text())
    steps = result["steps"]
    assert steps["canary_refused"], "the guard did not see a test connection"
    assert steps["index"].startswith("3 added")
    assert "2029" in steps["ask"]
    assert "Kernkraftwerk" in steps["ui_chat"]
    assert "1 unchanged" in steps["ui_index"]
    attempts = [f"{a['call']} {a['target']}\n{a['stack']}" for a in result["attempts"]]
    assert attempts == [], "\n\n".join(attempts)
