"""Embedding on a Ray cluster: Ray Data batch inference with e5 actors.

``qa index --ray ADDRESS`` parses and chunks on this machine, sends the chunk texts
through one Ray Data job whose ``map_batches`` runs :class:`EmbedActor` on a pool of
actors (each loads the e5 model once, when it starts), and writes each group of
articles through the usual :class:`index.store.ChunkStore` as soon as its vectors are
back. The identity is the local e5 identity, so an index built on Ray is queried
in-process, and every actor checks that its model has that identity too.

Every worker node needs the project installed the same way (``make setup``: the same
code, and the e5 model under the same models directory).

The actor is generic: it holds a :class:`index.embedding.SentenceTransformerEmbedder`
and calls the method the job names (``embed_passages`` for indexing), so another
embedder method can run remotely through :meth:`RayEmbedder.run_groups` without a new
actor class; see its docstring for what such a method may return.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from index.e5_convert import verify_e5_model
from index.errors import (
    EmbeddingModelMismatchError,
    EmbeddingServerError,
    ModelNotInstalledError,
    QAError,
)

log = logging.getLogger(__name__)

#: ``qa index --ray`` without an address and without ``RAY_ADDRESS``: Ray's own
#: "the cluster started with ``ray start`` on this machine".
DEFAULT_ADDRESS = "auto"

#: Texts per actor call. The model sorts each call's texts by length and pads per
#: forward pass of 32, so a larger call pads less; smaller inputs are split evenly
#: over the actors instead (see :meth:`RayEmbedder.run_groups`).
DEFAULT_BATCH_SIZE = 64

#: Seconds to wait for a TCP connection to the cluster before calling it unreachable
#: (``ray.init`` itself retries an unreachable address for minutes).
CONNECT_TIMEOUT = 5.0

_RAY_MISSING = (
    "Ray is not installed in this environment: run `make setup` (it installs the "
    "project's `ray` extra), or `pip install -e '.[ray]'`"
)


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to embed on Ray (``qa index --ray``)."""

    address: str = DEFAULT_ADDRESS
    actors: int | None = None
    actor_cpus: int = 1


class RayNotInstalledError(ModelNotInstalledError):
    """The ``ray`` package (the project's ``ray`` extra) is missing; run ``make setup``."""


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # the Data library: the `data` extra of ray
    except ImportError as exc:
        raise RayNotInstalledError(_RAY_MISSING) from exc
    return ray


def _as_columns(result: Any, n: int) -> dict[str, Any]:
    """An embedder method's result for ``n`` texts as Ray Data columns of ``n`` rows."""
    if isinstance(result, np.ndarray):
        return {"vector": result}
    if isinstance(result, Mapping):
        columns = dict(result)
    elif isinstance(result, tuple):
        columns = {f"out{i}": part for i, part in enumerate(result)}
    else:
        columns = {"value": result}
    out: dict[str, Any] = {}
    for name, values in columns.items():
        if isinstance(values, np.ndarray):
            out[name] = values
        else:
            # Ragged values (e.g. one array of sentence vectors per text) as an object
            # column, built element by element so numpy cannot merge equal shapes.
            column = np.empty(len(values), dtype=object)
            column[:] = list(values)
            out[name] = column
        if len(out[name]) != n:
            raise ValueError(f"column {name!r} has {len(out[name])} rows for {n} texts")
    return out


class EmbedActor:
    """A Ray Data actor: loads the e5 model once, then runs one embedder method per batch.

    Ray Data constructs it with ``fn_constructor_kwargs`` on each actor of the pool and
    calls it with batches of ``{"pos": int64[n], "text": str[n]}``.
    """

    def __init__(self, model_dir: str, identity: str, method: str, threads: int) -> None:
        """Load the model and check that it is the driver's.

        Args:
            model_dir: The e5 model directory on this worker node.
            identity: The driver's model identity.
            method: Name of the :class:`SentenceTransformerEmbedder` method to run.
            threads: torch intra-op threads: the CPUs Ray gave this actor, so several
                actors on one node do not oversubscribe its cores.

        Raises:
            ModelNotInstalledError: The model is missing or damaged on this node.
            EmbeddingModelMismatchError: This node has another model than the driver.
            AttributeError: The embedder has no such method.
        """
        from index.embedding import SentenceTransformerEmbedder

        self._embedder = SentenceTransformerEmbedder(Path(model_dir), threads=threads)
        if self._embedder.identity != identity:
            raise EmbeddingModelMismatchError(
                f"the Ray worker on {socket.gethostname()} has {self._embedder.identity}, "
                f"the driver {identity}; run `make setup` on both"
            )
        self._method = getattr(self._embedder, method)

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Run the method on the batch's texts; the positions travel along."""
        texts = [str(t) for t in batch["text"]]
        return {"pos": np.asarray(batch["pos"]), **_as_columns(self._method(texts), len(texts))}


def _check_reachable(address: str) -> None:
    """Fail fast, with the address in the message, when nothing listens there."""
    if address == "auto":  # Ray finds the cluster started on this machine, or says so
        return
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ValueError(
            f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT or 'auto' "
            "(e.g. 10.0.0.5:6379, the head node's `ray start --head --port` address)"
        )
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise EmbeddingServerError(
            f"cannot reach the Ray cluster at {address}: {exc}. Is `ray start --head` "
            "running there (and is the port open)?"
        ) from None


class RayEmbedder:
    """multilingual-e5-small on the actors of a Ray cluster, through Ray Data.

    Implements :class:`index.embedding.Embedder` with the identity of the local e5
    model, and :class:`index.indexer.StreamingEmbedder`: the indexer hands over all
    the run's groups of chunk texts at once, so the actor pool starts (and loads the
    model) once per run, and gets each group's vectors back in order.

    Use as a context manager, or call :meth:`close`, to disconnect from the cluster.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        address: str = DEFAULT_ADDRESS,
        actors: int | None = None,
        actor_cpus: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Check the local model and connect to the cluster.

        Args:
            model_dir: The e5 model directory (the same path on every worker node).
            address: The cluster: ``HOST:PORT`` of the head's GCS, ``ray://HOST:PORT``
                (Ray Client) or ``"auto"`` (the cluster ``ray start`` runs here).
            actors: Actors in the pool (default: the cluster's CPUs / ``actor_cpus``).
            actor_cpus: CPUs (and torch threads) per actor.
            batch_size: Texts per actor call, at most.

        Raises:
            RayNotInstalledError: The ``ray`` extra is not installed.
            ModelNotInstalledError: The local e5 model is missing or damaged.
            EmbeddingServerError: The cluster cannot be reached.
            ValueError: A malformed address or a non-positive count.
        """
        if (actors is not None and actors < 1) or actor_cpus < 1 or batch_size < 1:
            raise ValueError("Ray actors, CPUs per actor and batch size must be positive")
        self._model_dir = Path(model_dir)
        self._identity = verify_e5_model(self._model_dir)
        config = json.loads((self._model_dir / "config.json").read_text(encoding="utf-8"))
        self._dim = int(config["hidden_size"])
        self._address = address
        self._actor_cpus = actor_cpus
        self._batch_size = batch_size
        self._ray = _import_ray()
        _check_reachable(address)
        # A driver that connects to someone else's cluster must not shut it down, but
        # a process that was already connected (tests, notebooks) stays connected.
        self._owns_connection = not self._ray.is_initialized()
        if self._owns_connection:
            try:
                self._ray.init(address=address, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError) as exc:
                raise EmbeddingServerError(
                    f"cannot connect to the Ray cluster at {address}: {exc}"
                ) from None
        cpus = int(self._ray.cluster_resources().get("CPU", 0))
        self._actors = actors or max(1, cpus // actor_cpus)
        if self._actors * actor_cpus > cpus:
            log.warning(
                "%d actors x %d CPUs exceed the cluster's %d CPUs; the job waits for more",
                self._actors,
                actor_cpus,
                cpus,
            )

    @property
    def identity(self) -> str:
        """The local e5 identity, ``multilingual-e5-small@sha256:…`` (checked by each actor)."""
        return self._identity

    @property
    def dim(self) -> int:
        """384."""
        return self._dim

    @property
    def actors(self) -> int:
        """Actors in each job's pool."""
        return self._actors

    def close(self) -> None:
        """Disconnect from the cluster (if this object connected); the cluster keeps running."""
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_connection = False

    def __enter__(self) -> RayEmbedder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents with the ``passage: `` prompt (one Ray job); float32 ``[n, 384]``."""
        return next(self.embed_passage_stream([texts]))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions with the ``query: `` prompt (one Ray job); float32 ``[n, 384]``.

        Questions are answered in-process; this exists for the protocol and for checks.
        """
        return self._vectors(next(self.run_groups("embed_queries", [texts])))

    def embed_passage_stream(self, groups: Iterable[Sequence[str]]) -> Iterator[np.ndarray]:
        """Embed groups of documents in one Ray job; yields each group's vectors, in order.

        Args:
            groups: Lists of chunk texts (may be lazy; read fully before the job starts).

        Yields:
            float32 ``[len(group), 384]`` unit rows per group.

        Raises:
            EmbeddingServerError: The job failed on the cluster (the cause is in the message).
        """
        for columns in self.run_groups("embed_passages", groups):
            yield self._vectors(columns)

    def _vectors(self, columns: Mapping[str, Any]) -> np.ndarray:
        if "vector" not in columns:  # an empty group never went to the cluster
            return np.zeros((0, self._dim), np.float32)
        return np.ascontiguousarray(columns["vector"], dtype=np.float32)

    def run_groups(self, method: str, groups: Iterable[Sequence[str]]) -> Iterator[dict[str, Any]]:
        """Run an embedder method on Ray actors over groups of texts, in one Ray Data job.

        The texts of all groups become one dataset of ``(pos, text)`` rows in blocks of
        at most ``batch_size``; ``map_batches`` runs :class:`EmbedActor` on a fixed pool
        of actors (``ActorPoolStrategy(size=N)``), and the results are put back in input
        order by position, so each group is yielded as soon as all its rows are back.

        To run another method remotely (e.g. per-sentence vectors), add it to
        :class:`index.embedding.SentenceTransformerEmbedder` and call this with its name:
        the method takes a list of texts and returns a ``[n, dim]`` array (column
        ``vector``), a mapping of column name to ``n`` values, or a tuple (columns
        ``out0``, ``out1``, …); ragged values (one array of sentence vectors per text)
        travel as object columns.

        Args:
            method: The embedder method, e.g. ``"embed_passages"``.
            groups: Lists of texts.

        Yields:
            Per group, its columns (arrays, or lists for object columns) with one row
            per text; ``{}`` for an empty group.

        Raises:
            EmbeddingServerError: The job failed on the cluster.
        """
        texts_by_group = [[str(t) for t in g] for g in groups]
        flat = [t for g in texts_by_group for t in g]
        if not flat:
            for _ in texts_by_group:
                yield {}
            return
        try:
            batches = self._execute(method, flat)
            yield from _regroup(batches, [len(g) for g in texts_by_group])
        except QAError:
            raise  # e.g. a worker's model mismatch, re-raised by Ray as its own type
        except Exception as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            cause = lines[-1][:500] if lines else type(exc).__name__
            raise EmbeddingServerError(
                f"embedding on the Ray cluster at {self._address} failed: {cause}"
            ) from exc

    def _execute(self, method: str, texts: list[str]) -> Iterator[dict[str, np.ndarray]]:
        """The Ray Data job: blocks of ``(pos, text)`` through the actor pool."""
        import pyarrow as pa

        ray = self._ray
        n = len(texts)
        # Small inputs (the sample corpus, a last group) are split evenly over the actors
        # so none idles; large ones go in calls of batch_size.
        per_call = min(self._batch_size, max(1, math.ceil(n / self._actors)))
        blocks = [
            pa.table(
                {
                    "pos": pa.array(range(a, min(a + per_call, n)), pa.int64()),
                    "text": pa.array(texts[a : a + per_call], pa.string()),
                }
            )
            for a in range(0, n, per_call)
        ]
        context = ray.data.DataContext.get_current()
        # In order, so a group is complete as soon as its last row is back and the
        # driver buffers little; no progress bars (the CLI draws its own).
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        # Ray Data logs each job's start, end and settings; failures raise anyway.
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        dataset = ray.data.from_arrow(blocks).map_batches(
            EmbedActor,
            fn_constructor_kwargs={
                "model_dir": str(self._model_dir),
                "identity": self._identity,
                "method": method,
                "threads": self._actor_cpus,
            },
            batch_size=per_call,
            batch_format="numpy",
            # A fixed pool (what `concurrency=N` meant before Ray 2.51 deprecated it).
            compute=ray.data.ActorPoolStrategy(size=self._actors),
            num_cpus=self._actor_cpus,
        )
        yield from dataset.iter_batches(batch_size=None, batch_format="numpy")


def _regroup(
    batches: Iterable[Mapping[str, np.ndarray]], sizes: Sequence[int]
) -> Iterator[dict[str, Any]]:
    """Put result batches back in input order and cut them into groups of ``sizes`` rows.

    Each batch covers a contiguous range of positions (one input block); batches that
    arrive early wait in a heap until the rows before them are in.

    Raises:
        RuntimeError: A batch is not a contiguous range, or rows are missing at the end.
    """
    early: list[tuple[int, int, Mapping[str, np.ndarray]]] = []
    columns: dict[str, list[np.ndarray]] = {}
    buffered = filled = group = 0

    def emit() -> Iterator[dict[str, Any]]:
        nonlocal buffered, group
        while group < len(sizes) and buffered >= sizes[group]:
            size = sizes[group]
            out: dict[str, Any] = {}
            if size:
                for name, parts in columns.items():
                    joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
                    out[name], rest = joined[:size], joined[size:]
                    columns[name] = [rest]
            buffered -= size
            group += 1
            yield out

    yield from emit()  # leading empty groups
    for seq, batch in enumerate(batches):
        pos = np.asarray(batch["pos"])
        if not len(pos):
            continue
        if not np.array_equal(pos, np.arange(pos[0], pos[0] + len(pos))):
            raise RuntimeError("a Ray batch came back out of order")
        heapq.heappush(early, (int(pos[0]), seq, batch))
        while early and early[0][0] == filled:
            _, _, ready = heapq.heappop(early)
            for name, values in ready.items():
                if name != "pos":
                    columns.setdefault(name, []).append(np.asarray(values))
            rows = len(ready["pos"])
            filled += rows
            buffered += rows
            yield from emit()
    if group < len(sizes):
        raise RuntimeError(f"the Ray job returned {filled} of {sum(sizes)} rows")
