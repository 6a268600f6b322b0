"""The vector LRU behind the query and sentence caches, on literal texts (pure logic)."""

from __future__ import annotations

import numpy as np

from qa.evidence import SentenceCache
from qa.lru import VectorLRU
from qa.resources import QueryVectors


class Recorder:
    """Embeds a text as its length and remembers what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        self.calls.append(list(texts))
        return [np.array([float(len(t))]) for t in texts]

    embed_queries = __call__
    embed_passages = __call__


def test_missing_texts_are_computed_once_in_one_call() -> None:
    lru, compute = VectorLRU(10), Recorder()
    out = lru.get_many(["aa", "b", "aa"], compute)
    assert [v[0] for v in out] == [2.0, 1.0, 2.0]
    assert compute.calls == [["aa", "b"]]
    lru.get_many(["b", "ccc"], compute)
    assert compute.calls[-1] == ["ccc"]


def test_the_least_recently_used_text_is_dropped() -> None:
    lru, compute = VectorLRU(2), Recorder()
    lru.get_many(["a", "b"], compute)
    lru.get_many(["a"], compute)  # "a" is now the most recent
    lru.get_many(["c"], compute)  # evicts "b"
    assert len(lru) == 2
    lru.get_many(["a", "b"], compute)
    assert compute.calls[-1] == ["b"]


def test_more_keys_than_the_size_still_all_come_back() -> None:
    lru, compute = VectorLRU(1), Recorder()
    assert [v[0] for v in lru.get_many(["a", "bb", "ccc"], compute)] == [1.0, 2.0, 3.0]
    assert len(lru) == 1


def test_query_and_sentence_caches_embed_each_text_once() -> None:
    embedder = Recorder()
    queries = QueryVectors(embedder, size=4)  # type: ignore[arg-type]
    assert queries.get("Wann?")[0] == 5.0 and queries.get("Wann?")[0] == 5.0
    assert embedder.calls == [["Wann?"]]
    sentences = SentenceCache(size=4)
    stacked = sentences.embed(embedder, ["Ein Satz.", "Zwei."])  # type: ignore[arg-type]
    assert stacked.shape == (2, 1)
    sentences.embed(embedder, ["Zwei."])  # type: ignore[arg-type]
    assert embedder.calls[-1] == ["Ein Satz.", "Zwei."]
    queries.clear()
    sentences.clear()
    assert len(queries) == len(sentences) == 0
