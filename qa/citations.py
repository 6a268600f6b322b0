"""From raw model output to an answer whose markers all point at checked quotes.

Markers that name no shown source are removed; the rest are renumbered densely in
order of appearance. Each cited claim is checked against the cited chunk: the
claim's numbers must appear in the quote's chunk, and the quote must be similar
enough to the claim; a marker that fails the check is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from index.chunking import split_sentences
from index.embedding import Embedder
from index.lexical import tokenize
from qa.evidence import best_quote
from qa.prompting import Source
from qa.types import Citation

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

MIN_QUOTE_SIMILARITY = 0.78


def _numbers(text: str) -> set[str]:
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


def _supported(claim: str, source: Source, embedder: Embedder) -> tuple[bool, str]:
    quote = best_quote(claim, source.hit, embedder)
    if quote is None:
        return False, ""
    chunk_numbers = _numbers(source.hit.chunk.text)
    missing = _numbers(re.sub(r"\[\d+\]", "", claim)) - chunk_numbers
    shared = set(tokenize(claim)) & set(tokenize(source.hit.chunk.text))
    ok = not missing and (quote.similarity >= MIN_QUOTE_SIMILARITY or len(shared) >= 2)
    return ok, quote.text


def finalize(
    text: str, sources: Sequence[Source], embedder: Embedder
) -> tuple[str, tuple[Citation, ...]]:
    """Check, renumber and resolve the markers of a generated answer.

    Args:
        text: The model's answer with markers like ``[1]`` or ``[1, 2]``.
        sources: The sources the model was shown.
        embedder: For quote selection.

    Returns:
        The answer text with dense markers, and one citation per marker.
    """
    by_number = {s.number: s for s in sources}
    new_number: dict[int, int] = {}
    quotes: dict[int, str] = {}
    pieces: list[str] = []
    for sentence in split_sentences(text) or [text]:
        claim = _MARKER.sub("", sentence).strip()

        def replace(m: re.Match[str], claim: str = claim) -> str:
            kept = []
            for raw in re.split(r"[,;]", m.group(1)):
                n = int(raw)
                source = by_number.get(n)
                if source is None:
                    continue  # a marker pointing nowhere is removed
                ok, quote = _supported(claim, source, embedder)
                if not ok:
                    continue
                if n not in new_number:
                    new_number[n] = len(new_number) + 1
                    quotes[n] = quote
                kept.append(f"[{new_number[n]}]")
            return "" if not kept else " " + "".join(dict.fromkeys(kept))

        marked = _MARKER.sub(replace, sentence)
        if not _MARKER.search(marked) and claim:
            # Small models often forget markers or cite the wrong source: cite the
            # best shown source that passes the same check, so the claim is verifiable.
            for source in sources:
                ok, quote = _supported(claim, source, embedder)
                if ok:
                    n = source.number
                    if n not in new_number:
                        new_number[n] = len(new_number) + 1
                        quotes[n] = quote
                    marked = _attach(marked, new_number[n])
                    break
        pieces.append(marked)
    final = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(pieces)).strip()
    # Date annotations from the sources ("[= 2025-03-27]") read better as parentheses.
    final = re.sub(r"\s*\[=\s*([^\]]+)\]", r" (\1)", final)
    citations = tuple(
        _citation(new, by_number[old], quotes[old])
        for old, new in sorted(new_number.items(), key=lambda kv: kv[1])
    )
    return final, citations


def _attach(sentence: str, marker: int) -> str:
    """Put ``[marker]`` before the sentence's final punctuation."""
    body = sentence.rstrip()
    end = len(body.rstrip(".!?"))
    return f"{body[:end]} [{marker}]{body[end:]}"


def _citation(marker: int, source: Source, quote: str) -> Citation:
    c = source.hit.chunk
    return Citation(
        marker=marker,
        article_id=c.article_id,
        title=c.title,
        published=c.published,
        source=c.source,
        chunk_id=c.id,
        quote=quote,
    )


def cite_sentences(
    picks: Sequence[tuple[str, Source]],
) -> tuple[Citation, ...]:
    """Citations for quoted sentences (extractive answers), numbered in order."""
    return tuple(_citation(i + 1, source, quote) for i, (quote, source) in enumerate(picks))
