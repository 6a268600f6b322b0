"""Hybrid retrieval: dense (Chroma) + BM25, fused with language-aware weights.

BM25 over German text only helps questions asked in German; for English questions
its matches are mostly noise (names and numbers aside), so its weight in the fusion
depends on the question's language. The weights were chosen on the eval dev split.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index.embedding import Embedder
from index.models import RetrievedChunk
from index.store import build_where
from qa.filters import Filters
from qa.language import detect_language
from qa.resources import OpenIndex

MODES = ("hybrid", "dense", "lexical")

_QUERY_CACHE_SIZE = 256
_query_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_query_lock = threading.Lock()


def query_vector(embedder: Embedder, question: str) -> np.ndarray:
    """The question's query vector, computed once for retrieval and evidence scoring."""
    key = (embedder.identity, question)
    with _query_lock:
        if key in _query_cache:
            _query_cache.move_to_end(key)
            return _query_cache[key]
    vector = embedder.embed_queries([question])[0]
    with _query_lock:
        _query_cache[key] = vector
        while len(_query_cache) > _QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)
    return vector


def clear_query_cache() -> None:
    """Forget cached query vectors (benchmarks time a question as if it were new)."""
    with _query_lock:
        _query_cache.clear()


# A filtered dense search over-fetches unfiltered neighbours and filters them on the
# lexical view's metadata, expecting this many times the candidates the filter's share
# of the corpus predicts; past MAX_OVERFETCH ids (very selective filters) Chroma's own
# filtered search is used. Chroma filters through SQLite first: 560 ms at 100k chunks
# for a date range + source, against ~20 ms for 1 000 unfiltered ids.
OVERFETCH = 2.0
MAX_OVERFETCH = 2000


def dense_search(
    index: OpenIndex,
    vector: np.ndarray,
    *,
    k: int,
    filters: Filters = Filters(),  # noqa: B008 - frozen
    overfetch: float = OVERFETCH,
    max_fetch: int = MAX_OVERFETCH,
) -> list[RetrievedChunk]:
    """The ``k`` nearest chunks that pass the filters.

    Args:
        index: The opened index (its lexical view holds every chunk's date and source).
        vector: The question's query vector.
        k: How many chunks at most.
        filters: Date range and source.
        overfetch: Safety factor on the number of unfiltered neighbours fetched.
        max_fetch: Above this many, Chroma's own filtered search is used instead.

    Returns:
        Chunks best first, scored by cosine similarity.
    """
    mask = index.lexical.filter_mask(
        since=filters.since, until=filters.until, source=filters.source
    )
    if mask is None:
        return index.store.query(vector, k=k)
    allowed = int(mask.sum())
    if allowed == 0:
        return []
    want = min(k, allowed)
    fetch = min(len(mask), int(np.ceil(want * len(mask) / allowed * overfetch)))
    if fetch <= max_fetch:
        kept: list[tuple[str, float]] = []
        for chunk_id, sim in index.store.nearest_ids(vector, k=fetch):
            row = index.lexical.row_of(chunk_id)
            if row is not None and mask[row]:
                kept.append((chunk_id, sim))
                if len(kept) == k:
                    break
        # Enough passed (or every chunk was looked at): the rest would rank lower.
        if len(kept) >= want or fetch >= len(mask):
            chunks = {c.id: c for c in index.store.get_chunks([cid for cid, _ in kept])}
            return [
                RetrievedChunk(chunk=chunks[cid], score=sim, dense_score=sim)
                for cid, sim in kept
                if cid in chunks
            ]
    where = build_where(since=filters.since, until=filters.until, source=filters.source)
    return index.store.query(vector, k=k, where=where)


@dataclass(frozen=True)
class RetrievalParams:
    """Knobs of the retriever.

    Attributes:
        mode: ``hybrid``, ``dense`` (Chroma only) or ``lexical`` (BM25 only).
        candidates: How many hits each side contributes to the fusion.
        rrf_k: Reciprocal-rank-fusion constant.
        lexical_weight: BM25's weight in the fusion per question language.
    """

    mode: str = "hybrid"
    candidates: int = 30
    rrf_k: int = 60
    lexical_weight: dict[str, float] = field(
        default_factory=lambda: {"de": 1.0, "en": 0.25, "unknown": 0.5}
    )


def search(
    question: str,
    *,
    index: OpenIndex,
    k: int,
    filters: Filters = Filters(),  # noqa: B008 - frozen
    params: RetrievalParams = RetrievalParams(),
    timings: dict[str, float] | None = None,
) -> list[RetrievedChunk]:
    """The ``k`` best chunks for a question.

    Args:
        question: Standalone question (English or German).
        index: The opened index.
        k: How many chunks to return.
        filters: Date range and source restrictions, applied inside each search.
        params: Retrieval knobs.
        timings: If given, filled with seconds per stage.

    Returns:
        Chunks best first, scored by the fused rank score.
    """
    if params.mode not in MODES:
        raise ValueError(f"retrieval mode {params.mode!r} is not one of {', '.join(MODES)}")
    timings = {} if timings is None else timings
    dense: list[RetrievedChunk] = []
    lexical = []
    if params.mode in ("hybrid", "dense"):
        t = time.perf_counter()
        vector = query_vector(index.embedder, question)
        timings["embed_query"] = time.perf_counter() - t
        t = time.perf_counter()
        dense = dense_search(index, vector, k=params.candidates, filters=filters)
        timings["dense"] = time.perf_counter() - t
    if params.mode in ("hybrid", "lexical"):
        t = time.perf_counter()
        lexical = index.lexical.search(
            question,
            k=params.candidates,
            since=filters.since,
            until=filters.until,
            source=filters.source,
        )
        timings["lexical"] = time.perf_counter() - t

    t = time.perf_counter()
    weight = params.lexical_weight.get(detect_language(question), 0.5)
    scores: dict[str, float] = {}
    for rank, hit in enumerate(dense):
        scores[hit.chunk.id] = 1.0 / (params.rrf_k + rank + 1)
    for rank, hit in enumerate(lexical):
        scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (params.rrf_k + rank + 1)
    best = sorted(scores, key=scores.__getitem__, reverse=True)[:k]

    by_id = {hit.chunk.id: hit for hit in dense}
    missing = [cid for cid in best if cid not in by_id]
    lexical_scores = {hit.chunk_id: hit.score for hit in lexical}
    fetched = {c.id: c for c in index.store.get_chunks(missing)}
    out: list[RetrievedChunk] = []
    for cid in best:
        hit = by_id.get(cid)
        chunk = hit.chunk if hit else fetched.get(cid)
        if chunk is None:  # the lexical view is a step behind a concurrent write
            continue
        out.append(
            RetrievedChunk(
                chunk=chunk,
                score=scores[cid],
                dense_score=hit.dense_score if hit else None,
                lexical_score=lexical_scores.get(cid),
            )
        )
    timings["fuse"] = time.perf_counter() - t
    return out


class HybridRetriever(BaseRetriever):
    """LangChain face of :func:`search`; each Document carries its chunk and scores."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    k: int = 4
    filters: Filters = Filters()
    params: RetrievalParams = RetrievalParams()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = search(query, index=self.index, k=self.k, filters=self.filters, params=self.params)
        return [to_document(hit) for hit in hits]


def to_document(hit: RetrievedChunk) -> Document:
    """A retrieved chunk as a LangChain Document (the chunk itself rides in metadata)."""
    c = hit.chunk
    return Document(
        id=c.id,
        page_content=c.text,
        metadata={
            "chunk_id": c.id,
            "article_id": c.article_id,
            "title": c.title,
            "published": c.published.isoformat(),
            "source": c.source,
            "score": hit.score,
            "retrieved": hit,
        },
    )


def from_documents(docs: list[Document]) -> list[RetrievedChunk]:
    """Back from LangChain Documents to typed retrieved chunks."""
    return [doc.metadata["retrieved"] for doc in docs]


def with_mode(params: RetrievalParams, mode: str) -> RetrievalParams:
    """A copy of ``params`` with another retrieval mode (for baselines and benches)."""
    return replace(params, mode=mode)
