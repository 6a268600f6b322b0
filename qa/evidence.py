"""Sentence-level evidence: which sentences of the retrieved chunks answer the question.

Scores are cosine similarity of the question and the sentence under the same
embedding model, plus a small bonus for shared content words and, for "when / how
many" questions, for sentences that contain numbers. The same scores drive the
extractive answer, the abstention threshold, quote selection and context trimming.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from index.chunking import split_sentences
from index.embedding import Embedder
from index.lexical import tokenize
from index.models import RetrievedChunk
from qa.lru import VectorLRU

_NUMERIC_QUESTION = re.compile(
    r"\b(when|how (many|much|long|high|old)|what year|which year|wann|wie (viele?|hoch|lange|alt)|"
    r"wieviele?|in welchem jahr|bis wann|seit wann|how large|what share|welchen anteil)\b",
    re.I,
)
# Digits, or the number words small counts are usually spelled with.
_NUMBER = re.compile(
    r"\d|\b(zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|dreißig|"
    r"hundert|tausend|dutzend|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b",
    re.I,
)

LEXICAL_BONUS = 0.08
NUMBER_BONUS = 0.04


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a retrieved chunk and how well it answers the question."""

    text: str
    hit: RetrievedChunk
    position: int  # index of the sentence within its chunk
    score: float
    similarity: float


class SentenceCache:
    """A bounded cache of sentence vectors (questions revisit the same chunks).

    Only sentences of chunks indexed without stored sentence vectors pass through it.
    An engine owns one per embedder (:class:`qa.resources.OpenIndex` carries it).
    """

    def __init__(self, size: int = 20000) -> None:
        self._cache = VectorLRU(size)

    def embed(self, embedder: Embedder, sentences: Sequence[str]) -> np.ndarray:
        """Vectors for ``sentences`` (as passages), computing only the missing ones."""
        return np.stack(self._cache.get_many(sentences, embedder.embed_passages))

    def clear(self) -> None:
        """Forget every vector (a benchmark times a question as if it were new)."""
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)


def score_sentences(
    question: str,
    hits: Sequence[RetrievedChunk],
    embedder: Embedder,
    *,
    question_vector: np.ndarray | None = None,
    sentence_vectors: Mapping[str, np.ndarray] | None = None,
    cache: SentenceCache | None = None,
) -> list[ScoredSentence]:
    """Score every sentence of the retrieved chunks against the question.

    Args:
        question: The standalone question.
        hits: Retrieved chunks.
        embedder: The index's embedder.
        question_vector: The question's query vector, if already computed.
        sentence_vectors: Sentence vectors stored at index time, per chunk id (rows in
            ``split_sentences`` order); sentences of other chunks are embedded here.
        cache: Vectors of sentences embedded here before (the engine's); None embeds
            them afresh.

    Returns:
        Sentences best first (duplicates from overlapping chunks kept once).
    """
    units: list[tuple[str, RetrievedChunk, int]] = []
    seen: set[str] = set()
    for hit in hits:
        for pos, sentence in enumerate(split_sentences(hit.chunk.text)):
            if sentence in seen or len(sentence) < 3:
                continue
            seen.add(sentence)
            units.append((sentence, hit, pos))
    if not units:
        return []
    qvec = question_vector if question_vector is not None else embedder.embed_queries([question])[0]
    stored = sentence_vectors or {}
    todo = [u[0] for u in units if u[1].chunk.id not in stored]
    cache = SentenceCache() if cache is None else cache
    fresh = iter(cache.embed(embedder, todo) if todo else ())
    vectors = np.stack(
        [stored[h.chunk.id][pos] if h.chunk.id in stored else next(fresh) for _s, h, pos in units]
    )
    sims = vectors @ qvec
    q_terms = set(tokenize(question))
    numeric = bool(_NUMERIC_QUESTION.search(question))
    scored = []
    for (sentence, hit, pos), sim in zip(units, sims, strict=True):
        overlap = len(q_terms & set(tokenize(sentence))) / len(q_terms) if q_terms else 0.0
        bonus = LEXICAL_BONUS * overlap
        if numeric and _NUMBER.search(sentence):
            bonus += NUMBER_BONUS
        scored.append(ScoredSentence(sentence, hit, pos, float(sim) + bonus, float(sim)))
    scored.sort(key=lambda s: s.score, reverse=True)
    return scored
