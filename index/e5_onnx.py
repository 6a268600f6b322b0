"""Install-time ONNX builds of the converted multilingual-e5-small (ONNX Runtime route).

From the sentence-transformers directory :mod:`index.e5_convert` writes, this module
exports the BERT encoder to ONNX with ``torch.onnx.export`` (inputs ``input_ids`` and
``attention_mask``, output ``last_hidden_state``: the token embeddings, so that both the
mean-pooled passage vector and the contextual sentence vectors come out of one forward
pass) and derives a dynamically quantised int8 graph from it with ONNX Runtime's
``quantize_dynamic``. Offline, deterministic: the sha256 of both files is pinned below
and checked before a session is created.

Which graphs ship was decided by ``python -m eval.runtime_study`` (docs/benchmarks.md,
"Embedding runtime (issue 13)").

Usage::

    python -m index.e5_onnx --e5 E5_DIR --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from index.e5_convert import MODEL_NAME, verify_e5_model
from index.errors import ModelNotInstalledError

#: Sub-directory of the models directory holding the ONNX graphs.
ONNX_DIR_NAME = f"{MODEL_NAME}-onnx"
OPSET = 17
MANIFEST = "manifest.json"
_SETUP_HINT = "Run `make setup` to (re)build it."


@dataclass(frozen=True)
class OnnxVariant:
    """One shipped ONNX graph.

    Attributes:
        runtime: The ``QA_EMBEDDING_RUNTIME`` value that selects it.
        file: File name inside :data:`ONNX_DIR_NAME`.
        sha256: Pinned hash of the file.
        same_vectors: Whether its vectors equal the torch model's (cosine ≥ 0.9999 on
            the study's corpus); if so it shares the torch identity, so an index built
            with either is queried with the other.
    """

    runtime: str
    file: str
    sha256: str
    same_vectors: bool


VARIANTS: dict[str, OnnxVariant] = {
    v.runtime: v
    for v in (
        OnnxVariant(
            "onnx",
            "model.onnx",
            "561b9f93b6198cb593aae0288c7e08ea1570d6eb51855e6382c2ae6c4804c15e",
            same_vectors=True,
        ),
        OnnxVariant(
            "onnx-int8",
            "model_int8.onnx",
            "619b200b610c9832c15871fb3c48b1d6f3331f2c00c97c63b56f282d4aeb63c8",
            same_vectors=False,
        ),
    )
}


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_fp32(e5_dir: Path, out_path: Path) -> Path:
    """Export the encoder of the converted model to an fp32 ONNX graph.

    Eager attention is traced (not SDPA): it exports to plain MatMul/Softmax nodes,
    which every ONNX Runtime build runs and its BERT fusions recognise.

    Args:
        e5_dir: The verified sentence-transformers directory.
        out_path: The ``.onnx`` file to write.

    Returns:
        ``out_path``.
    """
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    model = transformers.BertModel.from_pretrained(
        str(e5_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class _Encoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # A padded batch of two traces the mask path; the axes stay dynamic.
    ids = torch.tensor([[0, 1294, 12, 2], [0, 1294, 2, 1]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long)
    dynamic = {0: "batch", 1: "sequence"}
    import warnings

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about Python bools in HF code
        torch.onnx.export(
            _Encoder(model),
            (ids, mask),
            str(out_path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": dynamic,
                "attention_mask": dynamic,
                "last_hidden_state": dynamic,
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return out_path


def fuse_bert(in_path: Path, out_path: Path) -> Path:
    """ONNX Runtime's offline BERT fusions (Attention, SkipLayerNorm, BiasGelu).

    Only used by the runtime study; the shipped graphs are unfused (see the study).
    """
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(
        str(in_path), model_type="bert", num_heads=12, hidden_size=384, opt_level=1
    )
    model.save_model_to_file(str(out_path))
    return out_path


def quantize_int8(
    in_path: Path,
    out_path: Path,
    *,
    per_channel: bool = True,
    reduce_range: bool = False,
    op_types: list[str] | None = None,
    extra_options: dict | None = None,
) -> Path:
    """Dynamic int8 quantisation of the graph's weights (u8 activations, s8 weights).

    Args:
        in_path: fp32 graph.
        out_path: int8 graph to write.
        per_channel: One scale per output channel instead of per tensor.
        reduce_range: 7-bit weights, which avoid u8×s8 overflow on CPUs without VNNI.
        op_types: Node types to quantise (default: all ``quantize_dynamic`` supports,
            which includes the word-embedding ``Gather``).
        extra_options: Passed to ``quantize_dynamic`` as they are.

    Returns:
        ``out_path``.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # per-node INFO lines
    quantize_dynamic(
        str(in_path),
        str(out_path),
        per_channel=per_channel,
        reduce_range=reduce_range,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=op_types,
        extra_options=extra_options,
    )
    return out_path


def build_onnx_models(e5_dir: Path, out_dir: Path) -> Path:
    """Write ``model.onnx`` (fp32) and ``model_int8.onnx`` (int8 MatMuls) to ``out_dir``.

    Args:
        e5_dir: The converted model directory (verified first).
        out_dir: Directory to (re)create; replaced atomically.

    Returns:
        ``out_dir``.

    Raises:
        ModelNotInstalledError: The e5 directory is missing or fails its checksums.
    """
    verify_e5_model(e5_dir)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fp32 = export_fp32(e5_dir, tmp / VARIANTS["onnx"].file)
        # Per-channel MatMul weights only: quantising the word-embedding Gather too (per
        # tensor) cost 0.008 of XQuAD recall@1, past the 0.005 parity line.
        quantize_int8(fp32, tmp / VARIANTS["onnx-int8"].file, per_channel=True, op_types=["MatMul"])
        files = {p.name: _sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {"source": MODEL_NAME, "opset": OPSET, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old)
        else:
            tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def verify_onnx_model(out_dir: Path, runtime: str) -> Path:
    """Check one shipped graph against its pinned sha256.

    Args:
        out_dir: Directory written by :func:`build_onnx_models`.
        runtime: A key of :data:`VARIANTS`.

    Returns:
        The path of the verified ``.onnx`` file.

    Raises:
        ModelNotInstalledError: The file is missing or differs.
        ValueError: Unknown runtime.
    """
    if runtime not in VARIANTS:
        raise ValueError(f"unknown ONNX runtime {runtime!r}; valid: {', '.join(VARIANTS)}")
    variant = VARIANTS[runtime]
    path = Path(out_dir) / variant.file
    if not path.is_file():
        raise ModelNotInstalledError(
            f"{path} is missing (embedding runtime {runtime!r}). {_SETUP_HINT}"
        )
    actual = _sha256(path)
    if actual != variant.sha256:
        raise ModelNotInstalledError(
            f"{path} fails its checksum (sha256 {actual}, expected {variant.sha256}). "
            + _SETUP_HINT
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: build the ONNX graphs unless they already verify."""
    parser = argparse.ArgumentParser(
        prog="python -m index.e5_onnx",
        description="Export multilingual-e5-small to ONNX (fp32 and dynamic int8).",
    )
    parser.add_argument("--e5", type=Path, required=True, help="converted e5 model directory")
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--force", action="store_true", help="rebuild even if DIR verifies")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if not args.force:
        try:
            for runtime in VARIANTS:
                verify_onnx_model(args.out, runtime)
        except ModelNotInstalledError:
            pass
        else:
            took = time.perf_counter() - start
            print(f"{args.out}: already built and verified ({took:.1f} s)")
            return 0
    try:
        build_onnx_models(args.e5, args.out)
        for runtime in VARIANTS:
            verify_onnx_model(args.out, runtime)
    except ModelNotInstalledError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: built {', '.join(VARIANTS)} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
