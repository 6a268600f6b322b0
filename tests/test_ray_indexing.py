"""Indexing with embeddings on a real local Ray cluster, written into a real `chroma run` server.

The cluster is started by these tests with `ray start --head` on loopback only (every
Ray server binds the node IP, and RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray from
swapping 127.0.0.1 for the machine's address), in its own process group and temp dir,
and stopped by them; usage stats are off.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# Before Ray is imported anywhere in this process: this driver connects to a cluster
# that listens on loopback only, and reports nothing.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Ray 2.60 turns on token auth for a new head when ~/.ray/auth_token exists (any earlier
# local `ray.init` writes one) and a driver then needs RAY_AUTH_MODE=token; a test
# cluster on loopback is the same with or without that file.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from index.embedding import E5_DIR_NAME
from index.errors import EmbeddingServerError
from index.ray_embedding import RayEmbedder, RayNotInstalledError, RayOptions, _regroup
from index.store import ChunkStore, StoreLocation, open_store
from qa.api import index_paths
from qa.engine import default_engine
from tests.conftest import ROOT, SAMPLES, VENV_BIN, copy_articles, free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]

FIVE = sorted(p.name for p in SAMPLES.glob("*.txt"))[:5]
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
}


def _processes_of(pgid: int, marker: str) -> list[int]:
    """Live processes in the cluster's process group or naming its temp dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "stat").read_text().split()[2]
            if status != "Z" and (os.getpgid(pid) == pgid or marker.encode() in cmdline):
                found.append(pid)
        except (OSError, ProcessLookupError):
            continue
    return found


def _listening_ports(pids: list[int]) -> list[str]:
    """Local addresses of TCP sockets in LISTEN state owned by these processes."""
    inodes: set[str] = set()
    for pid in pids:
        with_fds = Path(f"/proc/{pid}/fd")
        try:
            for fd in with_fds.iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    addresses = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                addresses.append(fields[1][:width])
    return addresses


# 127.0.0.1 in /proc/net/tcp (little-endian hex) and as an IPv4-mapped IPv6 address.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A one-node Ray cluster with 2 CPUs on 127.0.0.1, stopped (every process) at the end."""
    temp = tempfile.mkdtemp(prefix="qa-ray-", dir="/tmp")  # short: Ray's socket paths
    port = free_port()
    env = {**os.environ, **RAY_ENV}
    with open(Path(temp) / "start.log", "w") as log:
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "ray"),
                "start",
                "--head",
                "--block",
                "--num-cpus",
                "2",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(port),
                "--ray-client-server-port",
                str(free_port()),
                "--include-dashboard=false",
                "--dashboard-host",
                "127.0.0.1",
                "--disable-usage-stats",
                "--temp-dir",
                temp,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: stopped by that id
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ray start exited with {proc.returncode}: see {temp}/start.log")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the Ray head did not start within 90 s")
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
        # Everything Ray started here listens on loopback only.
        listening = _listening_ports(_processes_of(proc.pid, temp))
        assert listening, "found no listening Ray sockets"
        assert set(listening) <= LOOPBACK, listening
    finally:
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while _processes_of(proc.pid, temp) and time.monotonic() < deadline:
                time.sleep(0.3)
            if not _processes_of(proc.pid, temp):
                break
        proc.wait(timeout=10)
    assert _processes_of(proc.pid, temp) == [], "Ray processes were left running"


def _server_store(host: str, port: int, identity: str, data_dir: Path) -> ChunkStore:
    location = StoreLocation(data_dir=data_dir, collection="news", host=host, port=port)
    return open_store(location, embedder_identity=identity, create=False)


def _vectors_by_chunk(store: ChunkStore) -> dict[str, np.ndarray]:
    chunks = list(store.iter_chunks())
    by_text: dict[str, dict[str, np.ndarray]] = {}
    for article_id in {c.article_id for c in chunks}:
        by_text[article_id] = store.chunk_embeddings(article_id)
    return {c.id: by_text[c.article_id][c.text] for c in chunks}


def test_ray_index_matches_in_process_index(
    ray_cluster: str, chroma_server: tuple[str, int], make_settings, tmp_path: Path
) -> None:
    corpus = copy_articles(FIVE, tmp_path / "corpus")
    host, port = chroma_server

    local = make_settings(data_dir=tmp_path / "local")
    reference = index_paths([corpus], settings=local)
    on_ray = make_settings(data_dir=tmp_path / "ray", chroma_host=host, chroma_port=port)
    report = index_paths([corpus], settings=on_ray, ray=RayOptions(ray_cluster, actors=2))

    assert report.added == 5 and report.failed == 0
    assert report.embedded_chunks == reference.embedded_chunks > 5
    expected = _vectors_by_chunk(default_engine(local).index().store)
    got = _vectors_by_chunk(
        default_engine(on_ray).index().store
    )  # queried in-process: same identity
    assert set(got) == set(expected)
    for chunk_id, vector in expected.items():
        cosine = float(np.dot(vector, got[chunk_id]))  # both unit length
        assert cosine >= 0.9999, (chunk_id, cosine)

    # Unchanged files cost nothing on a second Ray run.
    again = index_paths([corpus], settings=on_ray, ray=RayOptions(ray_cluster, actors=1))
    assert again.unchanged == 5 and again.embedded_chunks == 0


def test_ray_embedder_streams_groups_in_order(ray_cluster: str, model_dir: Path) -> None:
    texts = [f"Absatz {i}: Der Stadtrat beschloss am Montag den Haushalt." for i in range(7)]
    groups = [texts[:3], [], texts[3:4], texts[4:]]
    with RayEmbedder(model_dir / E5_DIR_NAME, address=ray_cluster, actors=2) as embedder:
        streamed = list(embedder.embed_passage_stream(groups))
        one_job = embedder.embed_passages(texts)
        queries = embedder.embed_queries(["Was beschloss der Stadtrat?"])
    assert [len(v) for v in streamed] == [3, 0, 1, 3]
    assert np.allclose(np.concatenate(streamed), one_job, atol=1e-5)
    # Each text got its own vector: the numbers make every text, so every vector, differ.
    assert len({tuple(np.round(v, 4)) for v in one_job}) == 7
    assert queries.shape == (1, 384) and float(queries[0] @ one_job[0]) > 0.7


def _index_command(corpus: Path, address: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "qa.cli",
        "index",
        str(corpus),
        "--ray",
        address,
        "--ray-actors",
        "1",
        "-q",
    ]


def test_interrupted_ray_run_is_finished_by_a_rerun(
    ray_cluster: str, chroma_server: tuple[str, int], model_dir: Path, tmp_path: Path
) -> None:
    from index.e5_convert import verify_e5_model

    host, port = chroma_server
    identity = verify_e5_model(model_dir / E5_DIR_NAME)
    env = {
        **os.environ,
        **RAY_ENV,
        "QA_DATA_DIR": str(tmp_path / "data"),
        "QA_MODEL_DIR": str(model_dir),
        "QA_CHROMA_HOST": host,
        "QA_CHROMA_PORT": str(port),
        "QA_INDEX_BATCH": "1",  # one article per group: progress is visible article by article
    }
    total = len(list(SAMPLES.glob("*.txt")))
    # All samples (~120 chunks) on one actor: the first block's articles are written
    # while the next block is still being embedded.
    proc = subprocess.Popen(
        _index_command(SAMPLES, ray_cluster),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = None
    written = 0
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if store is None:
                try:
                    store = _server_store(host, port, identity, tmp_path / "data")
                except Exception:  # the collection does not exist yet
                    time.sleep(0.2)
                    continue
            written = store.count_articles()
            if 0 < written < total:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        proc.kill()  # no clean-up code runs: like a crash or a lost machine
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert store is not None and 0 < written < total

    done = subprocess.run(
        _index_command(SAMPLES, ray_cluster),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"{total} added" not in done.stdout  # what the first run wrote was kept
    assert "0 failed" in done.stdout
    manifest = store.manifest()
    assert len(manifest) == total
    assert store.orphan_article_ids() == set()
    chunks = list(store.iter_chunks())
    assert {c.article_id for c in chunks} == set(manifest)
    assert sum(e.n_chunks for e in manifest.values()) == len(chunks)


def test_unreachable_ray_address_is_a_clear_error(tmp_path: Path) -> None:
    corpus = copy_articles(FIVE[:1], tmp_path / "corpus")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    env = {**os.environ, **RAY_ENV, "QA_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        _index_command(corpus, address),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"cannot reach the Ray cluster at {address}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was created


def test_missing_ray_package_names_make_setup(
    monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without it sees
    with pytest.raises(RayNotInstalledError, match="make setup"):
        RayEmbedder(model_dir / E5_DIR_NAME, address="127.0.0.1:1")


def test_malformed_address_is_refused(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        RayEmbedder(model_dir / E5_DIR_NAME, address="archive/2019")
    with pytest.raises(EmbeddingServerError, match="cannot reach"):
        RayEmbedder(model_dir / E5_DIR_NAME, address=f"ray://127.0.0.1:{free_port()}")


def test_regroup_reorders_batches_and_keeps_empty_groups() -> None:
    def batch(start: int, stop: int) -> dict[str, np.ndarray]:
        pos = np.arange(start, stop)
        return {"pos": pos, "vector": np.stack([pos, pos * 10], axis=1).astype(np.float32)}

    # Rows 0..6 in three blocks, the last one arriving first.
    groups = list(_regroup([batch(5, 7), batch(0, 3), batch(3, 5)], [0, 2, 0, 4, 1, 0]))
    assert [len(g.get("vector", ())) for g in groups] == [0, 2, 0, 4, 1, 0]
    assert np.concatenate([g["vector"][:, 0] for g in groups if g]).tolist() == list(range(7))
    with pytest.raises(RuntimeError, match="returned 3 of 7 rows"):
        list(_regroup([batch(0, 3)], [3, 4]))
