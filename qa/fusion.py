"""Rank fusion of the dense and the lexical hit lists: a pure function, no store I/O.

Reciprocal rank fusion: a chunk at 0-based rank ``r`` of a side earns
``weight / (rrf_k + r + 1)`` from that side (the dense side's weight is 1), and its
fused score is the sum over the sides that found it. Only ranks count, so BM25
scores and cosine similarities never have to be put on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from index.lexical import LexicalHit
from index.models import Chunk, RetrievedChunk


class FusionMode(StrEnum):
    """Which hit lists count: both, or one alone (for baselines and benchmarks).

    A ``StrEnum``, so ``FusionMode("lexical")`` parses the CLI's and the reports'
    strings and a mode compares equal to (and serialises as) its string.
    """

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"

    @property
    def uses_dense(self) -> bool:
        """True when the dense (vector) hits count."""
        return self is not FusionMode.LEXICAL

    @property
    def uses_lexical(self) -> bool:
        """True when the lexical (BM25) hits count."""
        return self is not FusionMode.DENSE


@dataclass(frozen=True)
class FusedHit:
    """One chunk of the fused ranking.

    Attributes:
        chunk_id: The chunk's id.
        score: Fused reciprocal-rank score (higher is better).
        chunk: The chunk, when an input carried it (a dense hit does, a
            :class:`~index.lexical.LexicalHit` does not: the caller looks it up).
        dense_score: Cosine similarity, if the dense side found the chunk.
        lexical_score: BM25 score, if the lexical side found the chunk.
    """

    chunk_id: str
    score: float
    chunk: Chunk | None = None
    dense_score: float | None = None
    lexical_score: float | None = None

    def retrieved(self, chunk: Chunk | None = None) -> RetrievedChunk:
        """This hit as a retrieved chunk.

        Args:
            chunk: The chunk, for a hit that did not carry one.

        Returns:
            The chunk with its fused score and both side scores.

        Raises:
            ValueError: The hit carries no chunk and none was given.
        """
        chunk = chunk or self.chunk
        if chunk is None:
            raise ValueError(f"fused hit {self.chunk_id!r} has no chunk; look it up first")
        return RetrievedChunk(
            chunk=chunk,
            score=self.score,
            dense_score=self.dense_score,
            lexical_score=self.lexical_score,
        )


def _lexical_side(hit: LexicalHit | RetrievedChunk) -> tuple[str, float, Chunk | None]:
    if isinstance(hit, LexicalHit):
        return hit.chunk_id, hit.score, None
    score = hit.lexical_score if hit.lexical_score is not None else hit.score
    return hit.chunk.id, score, hit.chunk


def fuse(
    dense: Sequence[RetrievedChunk],
    lexical: Sequence[LexicalHit | RetrievedChunk],
    *,
    k: int,
    mode: FusionMode = FusionMode.HYBRID,
    lexical_weight: float = 1.0,
    rrf_k: int = 60,
) -> list[FusedHit]:
    """Fuse the two hit lists into one ranking.

    Args:
        dense: Dense hits, best first.
        lexical: Lexical hits, best first (BM25 hits, or retrieved chunks).
        k: How many fused hits at most.
        mode: ``DENSE`` ignores ``lexical``, ``LEXICAL`` ignores ``dense``.
        lexical_weight: The lexical side's weight; also applied in ``LEXICAL`` mode,
            where it scales the scores but cannot change their order.
        rrf_k: Reciprocal-rank-fusion constant (larger flattens the rank curve).

    Returns:
        At most ``k`` hits, best first. Equal scores keep the order in which the
        chunks were first seen: the dense hits in dense order, then the lexical-only
        hits in lexical order. A chunk listed twice on one side counts at its best
        rank there.
    """
    if k <= 0:
        return []
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    dense_scores: dict[str, float | None] = {}
    lexical_scores: dict[str, float] = {}
    if mode.uses_dense:
        for rank, hit in enumerate(dense):
            cid = hit.chunk.id
            if cid in dense_scores:
                continue  # listed twice: its best rank counts
            scores[cid] = 1.0 / (rrf_k + rank + 1)
            chunks[cid] = hit.chunk
            dense_scores[cid] = hit.dense_score
    if mode.uses_lexical:
        for rank, item in enumerate(lexical):
            cid, lexical_score, chunk = _lexical_side(item)
            if cid in lexical_scores:
                continue
            scores[cid] = scores.get(cid, 0.0) + lexical_weight / (rrf_k + rank + 1)
            lexical_scores[cid] = lexical_score
            if chunk is not None:
                chunks.setdefault(cid, chunk)
    best = sorted(scores, key=scores.__getitem__, reverse=True)[:k]
    return [
        FusedHit(
            chunk_id=cid,
            score=scores[cid],
            chunk=chunks.get(cid),
            dense_score=dense_scores.get(cid),
            lexical_score=lexical_scores.get(cid),
        )
        for cid in best
    ]
