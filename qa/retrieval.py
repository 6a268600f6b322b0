"""Hybrid retrieval: dense (Chroma) + BM25, fused with language-aware weights.

BM25 over German text only helps questions asked in German; for English questions
its matches are mostly noise (names and numbers aside), so its weight in the fusion
depends on the question's language. The weights were chosen on the eval dev split.
The fusion itself is :func:`qa.fusion.fuse`; this module runs the two searches and
looks up the chunks of lexical-only hits. :func:`search` is the one retrieval path;
:class:`HybridRetriever` is its LangChain face.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index.models import Filters, RetrievedChunk
from index.store import where_of
from qa.fusion import FusionMode, fuse
from qa.language import detect_language
from qa.resources import OpenIndex

#: The retrieval modes' names, as the CLI and the reports spell them.
MODES = tuple(m.value for m in FusionMode)

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
    mask = index.lexical.filter_mask(filters)
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
    return index.store.query(vector, k=k, where=where_of(filters))


@dataclass(frozen=True)
class RetrievalParams:
    """Knobs of the retriever.

    Attributes:
        mode: Which searches run and count in the fusion; a mode's string
            (``"hybrid"``, ``"dense"``, ``"lexical"``) is accepted and converted.
        candidates: How many hits each side contributes to the fusion.
        rrf_k: Reciprocal-rank-fusion constant.
        lexical_weight: BM25's weight in the fusion per question language.
    """

    mode: FusionMode = FusionMode.HYBRID
    candidates: int = 30
    rrf_k: int = 60
    lexical_weight: dict[str, float] = field(
        default_factory=lambda: {"de": 1.0, "en": 0.25, "unknown": 0.5}
    )

    def __post_init__(self) -> None:
        try:
            mode = FusionMode(self.mode)
        except ValueError:
            raise ValueError(
                f"retrieval mode {self.mode!r} is not one of {', '.join(MODES)}"
            ) from None
        object.__setattr__(self, "mode", mode)


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
        Chunks best first, scored by the fused rank score. Fewer than ``k`` when a
        lexical hit's chunk is gone from the store (the lexical view is a step
        behind a concurrent write).
    """
    mode = params.mode
    timings = {} if timings is None else timings
    dense: list[RetrievedChunk] = []
    lexical = []
    if mode.uses_dense:
        t = time.perf_counter()
        vector = index.queries.get(question)
        timings["embed_query"] = time.perf_counter() - t
        t = time.perf_counter()
        dense = dense_search(index, vector, k=params.candidates, filters=filters)
        timings["dense"] = time.perf_counter() - t
    if mode.uses_lexical:
        t = time.perf_counter()
        lexical = index.lexical.search(question, k=params.candidates, filters=filters)
        timings["lexical"] = time.perf_counter() - t

    t = time.perf_counter()
    fused = fuse(
        dense,
        lexical,
        k=k,
        mode=mode,
        lexical_weight=params.lexical_weight.get(detect_language(question), 0.5),
        rrf_k=params.rrf_k,
    )
    missing = [hit.chunk_id for hit in fused if hit.chunk is None]
    fetched = {c.id: c for c in index.store.get_chunks(missing)} if missing else {}
    out = [
        hit.retrieved(fetched.get(hit.chunk_id))
        for hit in fused
        if hit.chunk is not None or hit.chunk_id in fetched
    ]
    timings["fuse"] = time.perf_counter() - t
    return out


class HybridRetriever(BaseRetriever):
    """LangChain face of :func:`search`; each Document carries its chunk and scores.

    Code inside the project calls :meth:`retrieve` (or :func:`search`) and gets the
    typed chunks directly; the Documents are for LangChain chains only.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    k: int = 4
    filters: Filters = Filters()
    params: RetrievalParams = RetrievalParams()

    def retrieve(self, query: str) -> list[RetrievedChunk]:
        """The retrieved chunks for ``query``, without the Document round trip."""
        return search(query, index=self.index, k=self.k, filters=self.filters, params=self.params)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [to_document(hit) for hit in self.retrieve(query)]


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


def with_mode(params: RetrievalParams, mode: FusionMode | str) -> RetrievalParams:
    """A copy of ``params`` with another retrieval mode (for baselines and benches)."""
    return replace(params, mode=FusionMode(mode))
