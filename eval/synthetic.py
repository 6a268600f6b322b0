"""A deterministic synthetic news corpus for benchmarks at sizes the samples don't reach.

Articles are recombined from the sample articles' sentences: each synthetic article
takes a sample title (made distinct with a running number), a sample caption and
5-10 paragraphs of 1-4 sentences drawn from the pool of sample body sentences.
The text therefore looks like the real corpus to BM25 and to the embedder (same
vocabulary, sentence lengths and chunk sizes) while the corpus can grow to any size.

Determinism: article ``i`` depends only on the seed and ``i`` (not on how many
articles are generated), so the first 1 000 articles of a 10 000-article corpus are
exactly the 1 000-article corpus. Publication times are distinct by construction: a
bijection maps ``i`` to a one-minute slot between 2020-01-01 and 2026-12-31 and a
seeded jitter picks the second within the slot; a stride close to the golden ratio
spreads even a short prefix over all seven years.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from index.articles import article_id
from index.chunking import split_sentences
from index.models import Article

#: Bumped whenever the generated text changes, so cached synthetic indexes are rebuilt.
SYNTHETIC_VERSION = 1

#: Source tags of synthetic articles (taken from the samples so filters look realistic).
SOURCES = ("dw-politik", "reuters-de-wirtschaft", "toi-wissenschaft", "spiegel-int-panorama")

#: Publication times are spread over this range (inclusive start, exclusive end).
START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)

_SLOT_SECONDS = 60
_MIN_PARAGRAPHS, _MAX_PARAGRAPHS = 5, 10
_MIN_SENTENCES, _MAX_SENTENCES = 1, 4


@dataclass(frozen=True)
class SentencePool:
    """What synthetic articles are made of, collected from real articles.

    Attributes:
        titles: Distinct article titles.
        captions: Distinct non-empty image captions.
        sentences: Distinct body sentences (as :func:`split_sentences` cuts them).
    """

    titles: tuple[str, ...]
    captions: tuple[str, ...]
    sentences: tuple[str, ...]

    @classmethod
    def from_articles(cls, articles: Sequence[Article]) -> SentencePool:
        """Collect titles, captions and body sentences, deduplicated, in first-seen order.

        Args:
            articles: Real articles (e.g. the bundled samples).

        Returns:
            The pool.

        Raises:
            ValueError: The articles have no body sentences.
        """
        titles = dict.fromkeys(a.title for a in articles)
        captions = dict.fromkeys(a.caption for a in articles if a.caption)
        sentences = dict.fromkeys(
            s for a in articles for p in a.paragraphs for s in split_sentences(p)
        )
        if not sentences:
            raise ValueError("the source articles have no body sentences to recombine")
        return cls(tuple(titles), tuple(captions), tuple(sentences))

    @property
    def all_sentences(self) -> tuple[str, ...]:
        """Captions' and bodies' sentences: every text unit a synthetic chunk is built from."""
        units = dict.fromkeys(s for c in self.captions for s in split_sentences(c))
        units.update(dict.fromkeys(self.sentences))
        return tuple(units)


def _slots() -> int:
    return int((END - START).total_seconds()) // _SLOT_SECONDS


def _stride(slots: int) -> int:
    # Golden-ratio stride, nudged to be coprime with the slot count so i -> slot is a
    # bijection (distinct times) that also spreads consecutive i over the whole range.
    stride = int(slots * (math.sqrt(5) - 1) / 2)
    while math.gcd(stride, slots) != 1:
        stride += 1
    return stride


def _content_hash(
    title: str, epoch: int, caption: str, paragraphs: Sequence[str], source: str
) -> str:
    payload = json.dumps([title, epoch, caption, list(paragraphs), source], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def synthetic_article(pool: SentencePool, index: int, *, seed: int = 0) -> Article:
    """The ``index``-th synthetic article of a seeded corpus.

    Args:
        pool: Titles, captions and sentences to recombine.
        index: 0-based position in the corpus; at most the number of one-minute
            slots between :data:`START` and :data:`END` (about 3.7 million).
        seed: Corpus seed; the same seed and index always give the same article.

    Returns:
        An in-memory article (``path`` is None).

    Raises:
        ValueError: ``index`` is negative or beyond the number of distinct times.
    """
    slots = _slots()
    if not 0 <= index < slots:
        raise ValueError(f"index must be in [0, {slots}), got {index}")
    # String seeds hash deterministically (sha512), unlike hash() of a tuple of str.
    rng = random.Random(f"news-qa-synthetic:{SYNTHETIC_VERSION}:{seed}:{index}")
    slot = (index * _stride(slots) + seed) % slots
    epoch = int(START.timestamp()) + slot * _SLOT_SECONDS + rng.randrange(_SLOT_SECONDS)
    title = f"{rng.choice(pool.titles)} – Meldung {index + 1:07d}"
    caption = rng.choice(pool.captions) if pool.captions else ""
    paragraphs = tuple(
        " ".join(rng.choices(pool.sentences, k=rng.randint(_MIN_SENTENCES, _MAX_SENTENCES)))
        for _ in range(rng.randint(_MIN_PARAGRAPHS, _MAX_PARAGRAPHS))
    )
    source = SOURCES[rng.randrange(len(SOURCES))]
    return Article(
        id=article_id(epoch, title),
        title=title,
        published=datetime.fromtimestamp(epoch, tz=UTC),
        source=source,
        caption=caption,
        paragraphs=paragraphs,
        content_hash=_content_hash(title, epoch, caption, paragraphs, source),
    )


def iter_synthetic_articles(pool: SentencePool, *, seed: int = 0) -> Iterator[Article]:
    """Synthetic articles 0, 1, 2, … of a seeded corpus, without end."""
    index = 0
    while True:
        yield synthetic_article(pool, index, seed=seed)
        index += 1


def synthetic_articles(pool: SentencePool, n: int, *, seed: int = 0) -> list[Article]:
    """The first ``n`` articles of a seeded synthetic corpus.

    Args:
        pool: Titles, captions and sentences to recombine.
        n: How many articles.
        seed: Corpus seed.

    Returns:
        ``n`` articles with distinct titles, ids and publication times.
    """
    return [synthetic_article(pool, i, seed=seed) for i in range(n)]


def sample_pool() -> SentencePool:
    """The pool of the bundled sample articles (``index/samples``)."""
    from pathlib import Path

    import index
    from index.articles import load_articles

    samples = Path(index.__file__).resolve().parent / "samples"
    return SentencePool.from_articles(load_articles([samples]).articles)
