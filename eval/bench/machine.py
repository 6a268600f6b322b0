"""The machine the bench ran on, and how busy it was meanwhile."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from contextlib import suppress
from pathlib import Path
from typing import Any

from eval.runner import git_commit

# The CPU features that decide which kernels llama.cpp, torch and onnxruntime run.
_REPORTED_FLAGS = frozenset(
    {"avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
     "avx512_bf16", "avx512vbmi", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}
)  # fmt: skip
# Share of all CPU time used by other processes above which the report warns.
_SHARED_THRESHOLD = 0.15


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _read_first(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def cpu_snapshot() -> tuple[float, float, float]:
    """``(busy, total, own)`` CPU seconds: all CPUs per ``/proc/stat``, and this process's.

    ``own`` includes waited-for children (the subprocesses and the Chroma server), so
    ``busy - own`` between two snapshots is what other processes used meanwhile.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        values = [0] * 8
    hz = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle + iowait; steal counts as taken by others
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return (sum(values) - idle) / hz, sum(values) / hz, own


def cpu_kind(flags: set[str]) -> str:
    """``AVX-512+AMX``, ``AVX-512``, ``AVX2`` or ``older`` from /proc/cpuinfo flags."""
    if "avx512f" in flags:
        return "AVX-512+AMX" if "amx_tile" in flags else "AVX-512"
    return "AVX2" if "avx2" in flags else "older"


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return int(torch.get_num_threads())


def llama_build_features(system_info: str | None = None) -> list[str] | None:
    """The CPU features the installed llama.cpp was compiled with ("AVX2", "AVX512" …).

    The set-up picks them from the building machine's CPU (see the Makefile), so this
    is what it picked here.

    Args:
        system_info: ``llama_print_system_info()``'s text; default: asked of llama.cpp.

    Returns:
        The features switched on, or None when llama-cpp-python is not installed.
    """
    if system_info is None:
        try:
            import llama_cpp
        except ImportError:
            return None
        system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    pairs = (part.split("=") for part in system_info.replace("CPU :", "|").split("|"))
    return [p[0].strip() for p in pairs if len(p) == 2 and p[1].strip() == "1"]


def _versions() -> dict[str, str | None]:
    return {
        "torch": _version("torch"),
        "chromadb": _version("chromadb"),
        "sentence_transformers": _version("sentence-transformers"),
        "langchain_chroma": _version("langchain-chroma"),
        "bm25s": _version("bm25s"),
        "llama_cpp_python": _version("llama_cpp_python"),
    }


def machine_info() -> dict[str, Any]:
    """CPU, memory, load and library versions of this machine, for the report."""
    mem_kb = _read_first("/proc/meminfo", "MemTotal")
    cpu_max = None
    with suppress(OSError):
        cpu_max = Path("/sys/fs/cgroup/cpu.max").read_text().strip()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flags = set((_read_first("/proc/cpuinfo", "flags") or "").split())
    return {
        "cpu_model": _read_first("/proc/cpuinfo", "model name") or platform.processor(),
        "cpu_kind": cpu_kind(flags),
        "cpu_flags": sorted(flags & _REPORTED_FLAGS),
        "llama_cpp_build": llama_build_features(),
        "torch_threads": _torch_threads(),
        "cpu_cores": os.cpu_count(),
        "cpu_usable": usable,
        "cgroup_cpu_max": cpu_max,
        "ram_gb": round(int(mem_kb.split()[0]) / 1024**2, 1) if mem_kb else None,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        **_versions(),
        "git_commit": git_commit(),
    }


def busy_at_start_note(machine: dict[str, Any]) -> str | None:
    """A note when the load average at the start was over half the usable CPUs."""
    load, usable = machine["load_avg_start"][0], machine["cpu_usable"]
    if load <= 0.5 * (usable or 1):
        return None
    return (
        f"the machine was busy when the bench started (load average {load} on {usable} "
        "usable CPUs): absolute times are pessimistic"
    )


def finish_machine_info(
    machine: dict[str, Any], cpu_start: tuple[float, float, float]
) -> str | None:
    """Add the end load and the CPU share others used; returns a note if it was shared.

    Args:
        machine: :func:`machine_info` of the start (updated in place).
        cpu_start: :func:`cpu_snapshot` of the start.

    Returns:
        A note when other processes used over 15 % of all CPU time, else None.
    """
    machine["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    busy, total, own = (b - a for a, b in zip(cpu_start, cpu_snapshot(), strict=True))
    if total <= 0:
        return None
    others = max(0.0, busy - own) / total
    machine["cpu_share_used_by_others"] = round(others, 3)
    if others <= _SHARED_THRESHOLD:
        return None
    return (
        f"the machine was shared: other processes used {others:.0%} of all CPU time "
        "during the bench, so wall times (above all of multi-threaded torch and "
        "llama.cpp) are pessimistic and noisy; compare runs by their min"
    )
