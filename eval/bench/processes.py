"""Fresh processes: cold start of ``qa ask --json`` and its own peak resident memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.common import BenchError
from qa.settings import Settings

_CHILD_TIMEOUT = 600.0


@dataclass(frozen=True)
class ChildRun:
    """A finished subprocess: wall time, its own peak RSS and output."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


# Runs the measured command from a fresh, small process and reports the command's
# wall time and ru_maxrss. Linux carries the pre-exec high-water mark of a forked
# child over into its ru_maxrss, so a command forked straight from this (big) process
# would report at least our own peak RSS; forked from this launcher it reports its own.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - t
with open(report, "w") as f:
    f.write(f"{seconds} {usage.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(cmd: Sequence[str], *, env: Mapping[str, str], timeout: float) -> ChildRun:
    """Run a command and measure its wall time and peak resident memory.

    The command is started by a small launcher process (see ``_LAUNCHER``) that waits
    for it with ``os.wait4``, which returns the rusage of exactly that child: its own
    ``ru_maxrss``, not ours and not the maximum over every child this process ever
    waited for (``RUSAGE_CHILDREN``, which would include the Chroma server).

    Args:
        cmd: Command and arguments (looked up on ``PATH`` if not a path).
        env: Its environment.
        timeout: Seconds before it is killed (with its process group).

    Returns:
        The measurements.

    Raises:
        BenchError: The command timed out.
    """
    with (
        tempfile.TemporaryDirectory(prefix="qa-bench-child-") as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(tmp) / "rusage"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *cmd],
            stdout=out,
            stderr=err,
            env=dict(env),
            start_new_session=True,  # one process group: a timeout kills both
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise BenchError(
                f"{' '.join(cmd[:3])} … did not finish within {timeout:.0f} s"
            ) from None
        seconds, maxrss_kib = report.read_text().split()
        out.seek(0)
        err.seek(0)
        return ChildRun(
            seconds=float(seconds),
            peak_rss_mb=int(maxrss_kib) / 1024,  # Linux reports KiB
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def _qa_command() -> list[str]:
    exe = Path(sys.executable).parent / "qa"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "qa.cli"]


def _child_env(settings: Settings, generator: str) -> dict[str, str]:
    """The environment of a ``qa ask`` child: only these settings, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_") or k == "QA_LLM_THREADS"}
    env.update(
        QA_DATA_DIR=str(settings.data_dir),
        QA_MODEL_DIR=str(settings.model_dir),
        QA_EMBEDDER=settings.embedder,
        QA_COLLECTION=settings.collection,
        QA_GENERATOR=generator,
        QA_LLM_MODEL=settings.llm_model,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
    )
    return env


def cold_ask(settings: Settings, question: str, *, generator: str) -> tuple[ChildRun, dict]:
    """``qa ask --json`` in a fresh process against a built index.

    Returns:
        The run and the parsed answer.

    Raises:
        BenchError: The command failed or printed no JSON.
    """
    env = _child_env(settings, generator)
    run = run_child([*_qa_command(), "ask", "--json", question], env=env, timeout=_CHILD_TIMEOUT)
    if run.returncode != 0:
        raise BenchError(f"`qa ask` exited with {run.returncode}: {run.stderr.strip()[-500:]}")
    try:
        answer = json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"`qa ask --json` printed no JSON: {run.stdout[:300]!r}") from exc
    return run, answer


def cold_start(settings: Settings, question: str, *, generator: str) -> dict[str, Any]:
    """The figures of one cold ``qa ask --json``: seconds, peak RSS, who answered."""
    run, answer = cold_ask(settings, question, generator=generator)
    figures: dict[str, Any] = {
        "seconds": run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
        "generator": answer.get("generator"),
    }
    if generator == "llm":
        figures["first_token_s"] = answer.get("timings", {}).get("first_token")
    return figures
