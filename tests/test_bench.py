"""The benchmark harness: synthetic corpus, measurement helpers and `qa bench --quick`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from eval.bench import (
    REQUIRED_KEYS,
    SentenceVectors,
    check_targets,
    run_child,
    stats,
)
from eval.synthetic import (
    SOURCES,
    SentencePool,
    iter_synthetic_articles,
    sample_pool,
    synthetic_article,
    synthetic_articles,
)
from index.chunking import chunk_article, split_sentences
from tests.conftest import VENV_BIN

LLM_KEYS = {"ttft_p50_s", "answer_p50_s", "peak_rss_mb_llm"}


@pytest.fixture(scope="module")
def pool() -> SentencePool:
    return sample_pool()


# ----------------------------------------------------------------- synthetic corpus


def test_pool_collects_sample_sentences(pool: SentencePool) -> None:
    assert len(pool.titles) == 43
    assert len(pool.sentences) > 400
    assert len(set(pool.sentences)) == len(pool.sentences)
    assert set(pool.sentences) <= set(pool.all_sentences)


def test_synthetic_corpus_is_deterministic(pool: SentencePool) -> None:
    first = synthetic_articles(pool, 40, seed=7)
    again = synthetic_articles(pool, 40, seed=7)
    assert first == again
    other = synthetic_articles(pool, 40, seed=8)
    assert [a.id for a in first] != [a.id for a in other]
    # Article i does not depend on how many are generated: small corpora are prefixes.
    assert synthetic_articles(pool, 15, seed=7) == first[:15]
    gen = iter_synthetic_articles(pool, seed=7)
    assert [next(gen) for _ in range(5)] == first[:5]


def test_synthetic_articles_are_distinct_and_well_formed(pool: SentencePool) -> None:
    articles = synthetic_articles(pool, 2000)
    assert len({a.id for a in articles}) == len(articles)
    assert len({a.title for a in articles}) == len(articles)
    assert len({a.published for a in articles}) == len(articles)
    assert len({a.content_hash for a in articles}) == len(articles)
    years = {a.published.year for a in articles}
    assert years == set(range(2020, 2027))
    # Even a short prefix spreads over the whole range (filters need that at 1k chunks).
    assert {a.published.year for a in articles[:50]} == set(range(2020, 2027))
    assert {a.source for a in articles} == set(SOURCES)
    sentences = set(pool.sentences)
    known = total = 0
    for a in articles[:200]:
        assert a.path is None
        assert a.published.tzinfo is UTC
        assert 5 <= len(a.paragraphs) <= 10
        assert a.caption in pool.captions
        for paragraph in a.paragraphs:
            parts = split_sentences(paragraph)
            known += sum(p in sentences for p in parts)
            total += len(parts)
        assert chunk_article(a)
    # Re-splitting recombined text gives back the sample sentences (a join can rarely
    # merge two at an abbreviation-like boundary).
    assert known / total > 0.95


def test_synthetic_article_index_bounds(pool: SentencePool) -> None:
    with pytest.raises(ValueError):
        synthetic_article(pool, -1)
    with pytest.raises(ValueError):
        SentencePool.from_articles([])


# ----------------------------------------------------------------- helpers


class _FakeEmbedder:
    identity = "fake"
    dim = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_passages(self, texts):
        self.calls.append(list(texts))
        out = np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_queries(self, texts):
        return self.embed_passages(texts)


def test_sentence_vectors_mean_and_cache(pool: SentencePool, tmp_path: Path) -> None:
    embedder = _FakeEmbedder()
    vectors = SentenceVectors(embedder, tmp_path / "cache")
    assert vectors.ensure(["Eins ist hier.", "Zwei ist da."]) == 2
    assert vectors.ensure(["Eins ist hier."]) == 0  # embedded once
    article = replace(
        synthetic_article(pool, 0), caption="", paragraphs=("Eins ist hier. Zwei ist da.",)
    )
    (chunk,) = chunk_article(article)
    got = vectors.chunk_vectors([chunk])[chunk.id]
    expected = embedder.embed_passages(["Eins ist hier.", "Zwei ist da."]).mean(axis=0)
    np.testing.assert_allclose(got, expected / np.linalg.norm(expected), rtol=1e-6)
    assert len(embedder.calls) == 2  # chunk_vectors found both sentences cached
    vectors.save()
    assert len(SentenceVectors(embedder, tmp_path / "cache")) == 2


def test_stats() -> None:
    s = stats([3.0, 1.0, 2.0])
    assert s["p50"] == 2.0 and s["n"] == 3 and s["min"] == 1.0 and s["max"] == 3.0
    assert 2.0 < s["p95"] <= 3.0
    assert stats([])["p50"] is None


def test_check_targets_uses_100k_only_when_measured() -> None:
    results = {
        "naive_over_index": 3.5,
        "embed_only_over_index": 0.5,
        "extractive_p50_ms": 12.0,
        "extractive_first_pass_p50_ms": 320.0,
        "ttft_p50_s": None,
        "answer_p50_s": None,
        "peak_rss_mb_llm": None,
        "reindex_unchanged_at_size_s": {"1000": 0.2, "10000": 1.0},
        "hybrid_p50_ms": {"1000": 30.0, "10000": 45.0},
    }
    rows = {r["key"]: r for r in check_targets(results)}
    assert rows["naive_over_index"]["met"] is True
    assert rows["embed_only_over_index"]["met"] is False
    # New questions count, not the cached repeats.
    assert rows["extractive_first_pass_p50_ms"]["met"] is False
    assert rows["ttft_p50_s"]["met"] is None
    assert rows["hybrid_100k_p50_ms"]["met"] is None
    assert rows["hybrid_100k_p50_ms"]["value"] == 45.0
    results["hybrid_p50_ms"]["100000"] = 80.0
    assert {r["key"]: r for r in check_targets(results)}["hybrid_100k_p50_ms"]["met"] is False


def test_run_child_measures_its_own_peak_rss() -> None:
    code = "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('ok')"
    run = run_child([sys.executable, "-c", code], env=os.environ, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "ok"
    assert run.peak_rss_mb > 200
    small = run_child([sys.executable, "-c", "pass"], env=os.environ, timeout=60)
    assert small.peak_rss_mb < 100  # not the maximum over earlier children


# ----------------------------------------------------------------- the command


@pytest.mark.slow
def test_qa_bench_quick_json(tmp_path: Path, model_dir: Path) -> None:
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_MODEL_DIR=str(model_dir), QA_DATA_DIR=str(tmp_path / "untouched"))
    started = datetime.now()
    proc = subprocess.run(
        [str(VENV_BIN / "qa"), "bench", "--quick", "--json", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    for key in REQUIRED_KEYS:
        assert key in result, key
        value = result[key]
        if key in LLM_KEYS:
            assert value is None  # --quick never loads the LLM ...
            continue
        values = value.values() if isinstance(value, dict) else [value]
        assert values, key
        for v in values:
            assert isinstance(v, int | float) and not isinstance(v, bool) and v >= 0, (key, v)
    # ... and says so.
    assert any("LLM" in n and "--quick" in n for n in result["notes"])
    assert result["reindex_embedded_chunks"] == 0
    assert all(s["reindex_embedded_chunks"] == 0 for s in result["details"]["scale"].values())
    assert result["index_s"] > 0 and result["embed_only_s"] > 0 and result["naive_index_s"] > 0
    assert set(result["hybrid_p50_ms"]) == {"300"}
    assert result["machine"]["cpu_cores"] and result["machine"]["torch"]
    # What the set-up compiled llama.cpp with, read back from the installed build.
    assert "AVX2" in result["machine"]["llama_cpp_build"]
    assert {p.name for p in out.iterdir()} >= {"bench.json", "bench.md", "bench.png"}
    assert json.loads((out / "bench.json").read_text())["index_s"] == result["index_s"]
    assert "index_s" in (out / "bench.md").read_text()
    # The user's data dir is never used: every index lives in a temp dir.
    assert not (tmp_path / "untouched").exists()
    print(f"qa bench --quick took {(datetime.now() - started).total_seconds():.0f}s")


def test_answer_json_of_qa_ask_serialises_enums() -> None:
    # The cold-start figures parse `qa ask --json`; its Outcome/FallbackReason must survive.
    from qa.cli import answer_to_json
    from qa.types import Answer, FallbackReason, Outcome

    answer = Answer(
        text="Die Artikel sagen es nicht.",
        citations=(),
        chunks=(),
        generator="extractive",
        abstained=True,
        outcome=Outcome.MISSING_DETAIL,
        fallback=next(iter(FallbackReason)),
    )
    parsed = json.loads(json.dumps(answer_to_json(answer)))
    assert parsed["outcome"] == Outcome.MISSING_DETAIL.value
    assert parsed["fallback"] == next(iter(FallbackReason)).value
    assert parsed["generator"] == "extractive" and parsed["abstained"] is True


def test_llama_build_features_are_read_from_the_system_info_line() -> None:
    from eval.bench.machine import llama_build_features

    info = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 0 | AMX_INT8 = 0 | OPENMP = 1 | "
    assert llama_build_features(info) == ["SSE3", "AVX2", "OPENMP"]
