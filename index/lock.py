"""One writer per data directory, and who is writing.

Two writers on one store lose data: the second one's clean-up takes the first one's
not-yet-complete articles for debris of a crash and deletes their chunks. Every write
(``qa index``, an upload in the UI, removing articles) therefore holds an exclusive
``flock`` on ``<data_dir>/.write.lock`` for its whole duration; a second writer fails
at once with :class:`IndexBusyError` naming the first one's pid. ``flock`` locks die
with their process, so a crashed writer never leaves a stale lock behind (the file
stays; only the lock on it matters).

Readers never take the lock; they only peek at it (:func:`rebuild_in_progress`) to
say "the index is being rebuilt" instead of answering from a half-built index.

The lock only covers processes on this machine. For writers that bypass it (another
machine against a shared Chroma server, or code calling ``index.indexer`` directly)
every chunk records which process wrote it (:func:`writer_id`), and the clean-up only
deletes chunks whose writer is no longer alive (:func:`writer_alive`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from index.errors import DataDirError, IndexBusyError

LOCK_NAME = ".write.lock"
# A reader's peek holds a shared lock for microseconds; a writer that meets one
# retries this long before it reports the store busy.
_PEEK_GRACE_S = 2.0
_RETRY_S = 0.05


@dataclass(frozen=True)
class LockHolder:
    """What the lock file says about the writer holding it."""

    pid: int | None
    command: str
    rebuild: bool


def lock_path(data_dir: Path) -> Path:
    """The lock file of a data directory."""
    return Path(data_dir) / LOCK_NAME


def _read_holder(path: Path) -> LockHolder:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        pid = info.get("pid")
        return LockHolder(
            pid=int(pid) if pid is not None else None,
            command=str(info.get("command", "qa index")),
            rebuild=bool(info.get("rebuild", False)),
        )
    except (OSError, ValueError, TypeError, AttributeError):
        # Just locked, not yet written (or written by something else): still busy.
        return LockHolder(pid=None, command="qa index", rebuild=False)


@contextlib.contextmanager
def writer_lock(
    data_dir: Path, *, command: str = "qa index", rebuild: bool = False, wait: float = 0.0
) -> Iterator[None]:
    """Hold the exclusive write lock of ``data_dir`` for the ``with`` block.

    Args:
        data_dir: The data directory (created if missing).
        command: What is writing, for the other writers' error message.
        rebuild: This write drops the index first; readers then say it is being rebuilt.
        wait: Seconds to wait for another writer to finish (0: fail at once).

    Raises:
        IndexBusyError: Another writer holds the lock (after ``wait`` seconds).
        DataDirError: The lock file cannot be created (read-only or full disk, ...).
    """
    data_dir = Path(data_dir)
    path = lock_path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DataDirError(_cannot_lock(path, exc)) from exc
    try:
        deadline = time.monotonic() + max(wait, _PEEK_GRACE_S)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(path)
                if time.monotonic() >= deadline:
                    pid = holder.pid if holder.pid is not None else "unknown"
                    raise IndexBusyError(
                        f"another `{holder.command}` is running on {data_dir} (pid {pid}): "
                        "only one writer at a time. Wait for it to finish, then try again."
                    ) from None
                time.sleep(_RETRY_S)
        try:
            os.ftruncate(fd, 0)
            record = {"pid": os.getpid(), "command": command, "rebuild": rebuild}
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except OSError as exc:
            raise DataDirError(_cannot_lock(path, exc)) from exc
        try:
            yield
        finally:
            # Mark the file as not rebuilding before unlocking, so a peek between the
            # two never reports a finished rebuild. The file itself stays: deleting
            # a lock file while others may open it breaks the lock.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _cannot_lock(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"No space left on device: cannot write {path}. Free some space and try again."
    return (
        f"cannot create the write lock {path} ({exc.strerror or exc}): indexing needs a "
        "writable data directory (QA_DATA_DIR)."
    )


def current_writer(data_dir: Path) -> LockHolder | None:
    """The writer holding the lock of ``data_dir`` right now, or None.

    Never blocks and never creates anything, so it works on a read-only data dir.
    """
    path = lock_path(data_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: nobody ever wrote here
    try:
        try:
            # Shared and released at once: conflicts only with a writer's exclusive lock.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path)
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def rebuild_in_progress(data_dir: Path) -> LockHolder | None:
    """The writer rebuilding the index in ``data_dir`` right now, or None."""
    holder = current_writer(data_dir)
    return holder if holder is not None and holder.rebuild else None


# ------------------------------------------------------------- writer identity


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def _start_ticks(pid: int) -> str | None:
    """Start time of a process (clock ticks since boot), which tells reused pids apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def writer_id() -> str:
    """Identity of this process as a writer: ``host:pid:start``."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_ticks(pid) or '?'}"


def writer_alive(tag: str) -> bool:
    """Whether the writer a chunk was tagged with may still be writing.

    Unknown tags (chunks of older versions: empty) count as dead, so their debris is
    cleaned up as before. A writer on another host cannot be checked and counts as
    alive: its half-written articles are replaced when they are indexed again.
    """
    host, _, rest = tag.partition(":")
    pid_text, _, start = rest.partition(":")
    if not host or not pid_text.isdigit():
        return False
    if host != _host():
        return True
    pid = int(pid_text)
    now = _start_ticks(pid)
    if now is not None:
        return start in ("?", now)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
