"""Unit tests of the rank fusion (qa.fusion.fuse): three documents, one case per rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from index.lexical import LexicalHit
from index.models import Chunk, RetrievedChunk
from qa.fusion import FusedHit, FusionMode, fuse
from qa.retrieval import MODES, RetrievalParams, with_mode

RRF = 60


def _chunk(cid: str) -> Chunk:
    return Chunk(
        id=cid,
        article_id=f"art-{cid}",
        position=0,
        text=f"Text von {cid}.",
        title=f"Titel {cid}",
        published=datetime(2025, 3, 1, tzinfo=UTC),
        source="toi-allgemeines",
    )


A, B, C = _chunk("A"), _chunk("B"), _chunk("C")


def _dense(*chunks: Chunk) -> list[RetrievedChunk]:
    # Similarities fall with the rank, as Chroma returns them.
    return [
        RetrievedChunk(chunk=c, score=0.9 - i / 10, dense_score=0.9 - i / 10)
        for i, c in enumerate(chunks)
    ]


def _lexical(*ids: str) -> list[LexicalHit]:
    return [LexicalHit(cid, 12.0 - i) for i, cid in enumerate(ids)]


def _ids(hits: list[FusedHit]) -> list[str]:
    return [h.chunk_id for h in hits]


def _rr(rank: int, weight: float = 1.0) -> float:
    return weight / (RRF + rank + 1)


def test_hybrid_sums_reciprocal_ranks_of_both_sides() -> None:
    hits = fuse(_dense(A, B, C), _lexical("C", "A", "B"), k=3)
    # A: ranks 0 and 1; C: ranks 2 and 0; B: ranks 1 and 2.
    assert _ids(hits) == ["A", "C", "B"]
    assert [h.score for h in hits] == [
        pytest.approx(_rr(0) + _rr(1)),
        pytest.approx(_rr(2) + _rr(0)),
        pytest.approx(_rr(1) + _rr(2)),
    ]
    a = hits[0]
    assert a.chunk is A
    assert a.dense_score == pytest.approx(0.9)
    assert a.lexical_score == pytest.approx(11.0)


def test_lexical_weight_moves_the_order_between_the_sides() -> None:
    dense, lexical = _dense(A, B, C), _lexical("C", "B", "A")
    assert _ids(fuse(dense, lexical, k=3, lexical_weight=0.0)) == ["A", "B", "C"]
    assert _ids(fuse(dense, lexical, k=3, lexical_weight=0.25)) == ["A", "B", "C"]
    assert _ids(fuse(dense, lexical, k=3, lexical_weight=10.0)) == ["C", "B", "A"]
    low = fuse(dense, lexical, k=3, lexical_weight=0.25)
    assert low[2].score == pytest.approx(_rr(2) + _rr(0, 0.25))


def test_rrf_k_changes_how_much_the_top_rank_counts() -> None:
    dense, lexical = _dense(A, B, C), _lexical("C")
    # A flat curve (k=60): two mid ranks beat one first rank.
    assert _ids(fuse(dense, lexical, k=3, lexical_weight=0.5, rrf_k=60)) == ["C", "A", "B"]
    # A steep curve (k=0): dense rank 0 is worth 1.0, C gets 1/3 + 0.5.
    assert _ids(fuse(dense, lexical, k=3, lexical_weight=0.5, rrf_k=0)) == ["A", "C", "B"]


def test_ties_keep_first_seen_order() -> None:
    # A (dense 0, lexical 2) and C (dense 2, lexical 0) score exactly the same.
    hits = fuse(_dense(A, B, C), _lexical("C", "B", "A"), k=3)
    assert hits[0].score == hits[1].score
    assert _ids(hits) == ["A", "C", "B"]
    # A dense hit and a lexical-only hit at the same rank: the dense one first.
    assert _ids(fuse(_dense(A), _lexical("B"), k=2)) == ["A", "B"]
    assert _ids(fuse(_dense(B), _lexical("A"), k=2)) == ["B", "A"]


def test_lexical_only_hit_has_no_chunk_until_looked_up() -> None:
    hits = fuse(_dense(A, B), _lexical("C"), k=3)
    c = next(h for h in hits if h.chunk_id == "C")
    assert c.chunk is None
    assert c.dense_score is None
    assert c.lexical_score == pytest.approx(12.0)
    assert c.score == pytest.approx(_rr(0))
    with pytest.raises(ValueError, match="no chunk"):
        c.retrieved()
    retrieved = c.retrieved(C)
    assert retrieved.chunk is C
    assert retrieved.score == c.score
    assert retrieved.lexical_score == pytest.approx(12.0)
    assert retrieved.dense_score is None


def test_lexical_side_may_be_retrieved_chunks() -> None:
    lexical = [RetrievedChunk(chunk=C, score=7.0, lexical_score=7.0)]
    hits = fuse(_dense(A), lexical, k=2)
    assert _ids(hits) == ["A", "C"]
    assert hits[1].chunk is C
    assert hits[1].lexical_score == pytest.approx(7.0)
    assert hits[1].retrieved().chunk is C


def test_dense_mode_ignores_the_lexical_side() -> None:
    hits = fuse(_dense(A, B), _lexical("C", "B"), k=3, mode=FusionMode.DENSE)
    assert _ids(hits) == ["A", "B"]
    assert [h.score for h in hits] == [pytest.approx(_rr(0)), pytest.approx(_rr(1))]
    assert all(h.lexical_score is None for h in hits)


def test_lexical_mode_ignores_the_dense_side() -> None:
    hits = fuse(_dense(A, B), _lexical("C", "B"), k=3, mode=FusionMode.LEXICAL, lexical_weight=0.25)
    assert _ids(hits) == ["C", "B"]
    # The weight scales the scores but not their order.
    assert [h.score for h in hits] == [pytest.approx(_rr(0, 0.25)), pytest.approx(_rr(1, 0.25))]
    assert all(h.dense_score is None and h.chunk is None for h in hits)


@pytest.mark.parametrize("mode", list(FusionMode))
def test_empty_sides(mode: FusionMode) -> None:
    assert fuse([], [], k=3, mode=mode) == []
    only_dense = fuse(_dense(A, B, C), [], k=3, mode=mode)
    only_lexical = fuse([], _lexical("C", "B", "A"), k=3, mode=mode)
    assert _ids(only_dense) == ([] if mode is FusionMode.LEXICAL else ["A", "B", "C"])
    assert _ids(only_lexical) == ([] if mode is FusionMode.DENSE else ["C", "B", "A"])


def test_k_cuts_off_after_fusing() -> None:
    dense, lexical = _dense(A, B, C), _lexical("C", "A", "B")
    assert _ids(fuse(dense, lexical, k=2)) == ["A", "C"]
    assert _ids(fuse(dense, lexical, k=1)) == ["A"]
    assert fuse(dense, lexical, k=0) == []
    assert _ids(fuse(dense, lexical, k=10)) == ["A", "C", "B"]


def test_a_chunk_listed_twice_counts_at_its_best_rank() -> None:
    hits = fuse(_dense(A, B), _lexical("B", "B", "A"), k=2)
    b = next(h for h in hits if h.chunk_id == "B")
    assert b.score == pytest.approx(_rr(1) + _rr(0))
    assert b.lexical_score == pytest.approx(12.0)


def test_modes_parse_from_their_strings() -> None:
    assert MODES == ("hybrid", "dense", "lexical")
    assert FusionMode("lexical") is FusionMode.LEXICAL
    assert FusionMode.DENSE == "dense"
    assert RetrievalParams(mode="dense").mode is FusionMode.DENSE  # type: ignore[arg-type]
    assert RetrievalParams().mode is FusionMode.HYBRID
    assert with_mode(RetrievalParams(), "lexical").mode is FusionMode.LEXICAL
    with pytest.raises(ValueError, match="not one of hybrid, dense, lexical"):
        RetrievalParams(mode="semantic")  # type: ignore[arg-type]
