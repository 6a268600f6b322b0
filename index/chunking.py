"""Split articles into sentences and pack the sentences into overlapping chunks.

Sentence splitting is rule-based and tuned for German news text: it splits on
``.``, ``!``, ``?`` and ``…`` (plus any closing quotes or brackets) followed by
whitespace and a capital letter, a digit or an opening quote — except after
abbreviations (``z. B.``, ``Dr.``, ``Mio.``, ``Jan.`` ...), initials
(``Donald J. Trump``), and ordinal numbers (``am 28. März``, ``1. FC Köln``).
Every line break is a paragraph break, and sentences never cross one.

Chunks *do* cross paragraph boundaries: in this corpus many paragraphs are one
or two sentences long, and chunks limited to one paragraph would be too short
to carry context.  Inside a chunk, sentences of one paragraph are joined with a
space and a new paragraph starts on a new line, so the structure stays visible.
"""

from __future__ import annotations

import hashlib
import re
from itertools import accumulate

from index.models import Article, Chunk

# Bump whenever the splitting or packing rules change, or what is stored per chunk, so
# stored chunks are rebuilt. 2: sentence vectors are stored with every chunk; an index
# of version 1 has none, and re-indexing it embeds its articles once more.
CHUNKER_VERSION = "2"

DEFAULT_TARGET_CHARS = 700
DEFAULT_MAX_CHARS = 1200
DEFAULT_OVERLAP_SENTENCES = 1

# Abbreviations written lower-case; also matched capitalised (sentence start: "Vgl.").
_LOWER_ABBREVIATIONS = frozenset(
    {
        "allg", "bspw", "bzgl", "bzw", "ca", "ebd", "etc", "evtl", "ff", "gem", "ggf",
        "inkl", "insb", "max", "med", "min", "mind", "nat", "phil", "rer", "sog", "usw",
        "vgl", "zit", "zzgl",
    }
)  # fmt: skip
# Abbreviations matched exactly as written: lower-casing them would also catch
# ordinary words at the end of a sentence ("Mag." vs "er mag.").
_CASED_ABBREVIATIONS = frozenset(
    {
        # Titles and names.
        "Dr", "Prof", "Dipl", "Ing", "Mag", "Hr", "Hrn", "Mr", "Mrs", "Ms", "Jr", "Sr",
        "St", "Hl", "Co", "Corp", "Inc", "Ltd", "Gebr", "Hrsg", "Verf", "Univ", "Abg",
        # Numbers, units and references.
        "Nr", "Mio", "Mrd", "Tsd", "Std", "Abb", "Abs", "Bd", "Kap", "Bsp", "Tel", "Str",
        "Jh", "Jhd", "Chr", "Vol",
        # Months.
        "Jan", "Feb", "Febr", "Mär", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Okt",
        "Nov", "Dez",
    }
)  # fmt: skip

_CLOSERS = "\"'»«“”‘’)]"
_OPENERS = "„‚\"'»«“‘(["
# Sentence-final punctuation, optional closing quotes/brackets, then whitespace.
_BOUNDARY_RE = re.compile(rf"(?P<punct>[.!?…]+)(?P<close>[{re.escape(_CLOSERS)}]*)\s+")
# "z.B", "d.h", "i.d.R", "U.S" — single letters joined by dots.
_DOTTED_ABBREVIATION_RE = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
# Up to three digits before a dot: an ordinal ("28. März", "2. Bundesliga").
# Four digits are usually a year, which can end a sentence.
_ORDINAL_RE = re.compile(r"\d{1,3}")
_NEWLINES_RE = re.compile(r"\n+")


def _is_abbreviation_or_ordinal(token: str) -> bool:
    """Whether a dot after ``token`` is part of the word rather than a full stop."""
    token = token.lstrip(_OPENERS)
    if not token:
        return False
    if len(token) == 1 and token.isalpha():
        return True  # initial ("J. R. R."), or part of "z. B.", "d. h.", "u. a."
    if _ORDINAL_RE.fullmatch(token) or _DOTTED_ABBREVIATION_RE.fullmatch(token):
        return True
    if token in _CASED_ABBREVIATIONS:
        return True
    lowered = token.lower()
    return lowered in _LOWER_ABBREVIATIONS and (token == lowered or token == lowered.capitalize())


def _split_paragraph(paragraph: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(paragraph):
        following = paragraph[match.end() : match.end() + 1]
        if not following or not (
            following.isupper() or following.isdigit() or following in _OPENERS
        ):
            continue
        # Only a bare dot (or one before a closing bracket, "(etc.) ...") can belong
        # to an abbreviation; a dot before a closing quote ends the quoted sentence.
        if match["punct"] == "." and match["close"] in ("", ")", "]"):
            token_start = match.start()
            # Any whitespace, not just " ": typeset text writes "z.\u00a0B.".
            while token_start > 0 and not paragraph[token_start - 1].isspace():
                token_start -= 1
            if _is_abbreviation_or_ordinal(paragraph[token_start : match.start()]):
                continue
        sentence = paragraph[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def split_sentences(text: str) -> list[str]:
    """Split German text into sentences.

    Every line break (and blank line) ends a sentence, because in article
    files each line is a paragraph.  Within a line, see the module docstring
    for the rules.

    Args:
        text: Any text; may hold several paragraphs.

    Returns:
        The sentences, stripped, in order; no empty strings.
    """
    sentences: list[str] = []
    for paragraph in _NEWLINES_RE.split(text):
        # Tabs and other whitespace inside a line are kept; only the ends are trimmed.
        paragraph = paragraph.strip()
        if paragraph:
            sentences.extend(_split_paragraph(paragraph))
    return sentences


def _split_long(sentence: str, limit: int) -> list[str]:
    """Cut an over-long sentence into pieces of at most ``limit`` chars at spaces."""
    pieces: list[str] = []
    current = ""
    for word in sentence.split():
        # A single word longer than the limit (a URL, a data dump) is cut hard.
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        if not word:
            continue
        if current and len(current) + 1 + len(word) > limit:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def chunker_signature(
    target_chars: int = DEFAULT_TARGET_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap_sentences: int = DEFAULT_OVERLAP_SENTENCES,
) -> str:
    """Identify the chunking rules and parameters, for the index to store.

    When the stored signature differs from the current one, the index's chunks
    were cut differently and must be rebuilt.

    Args:
        target_chars: See :func:`chunk_article`.
        max_chars: See :func:`chunk_article`.
        overlap_sentences: See :func:`chunk_article`.

    Returns:
        E.g. ``"chunker-v1:target=700:max=1200:overlap=1"``.
    """
    return (
        f"chunker-v{CHUNKER_VERSION}:target={target_chars}:max={max_chars}"
        f":overlap={overlap_sentences}"
    )


def chunk_article(
    article: Article,
    *,
    target_chars: int = DEFAULT_TARGET_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap_sentences: int = DEFAULT_OVERLAP_SENTENCES,
) -> tuple[Chunk, ...]:
    """Cut an article into overlapping chunks of whole sentences.

    The caption (if any) is the first unit, followed by the body's sentences.
    Units are packed greedily: a chunk stops growing when the next unit would
    take it past ``target_chars`` — unless the chunk is still under half the
    target, when it may grow up to ``max_chars`` (avoids tiny chunks before a
    long sentence).  No chunk exceeds ``max_chars``: a sentence longer than
    ``max_chars`` is first cut at word boundaries into pieces of at most
    ``target_chars``, which are then packed like sentences.  Each chunk after
    the first repeats the last ``overlap_sentences`` units of the previous chunk
    (fewer if they would push it past ``max_chars``) and always adds at least
    one new unit.

    Args:
        article: The article.
        target_chars: Desired chunk length in characters.
        max_chars: Hard upper bound on chunk length.
        overlap_sentences: Units repeated from the previous chunk.

    Returns:
        The chunks in order; empty if the article has no text at all.

    Raises:
        ValueError: The parameters are inconsistent.
    """
    if target_chars < 1 or max_chars < target_chars or overlap_sentences < 0:
        raise ValueError(
            "need 1 <= target_chars <= max_chars and overlap_sentences >= 0, got "
            f"target_chars={target_chars}, max_chars={max_chars}, "
            f"overlap_sentences={overlap_sentences}"
        )

    # Units with the paragraph they belong to (caption = -1), for the joiner.
    units: list[tuple[str, int]] = []
    blocks = [article.caption, *article.paragraphs]
    for block_no, block in enumerate(blocks, start=-1):
        for sentence in split_sentences(block):
            if len(sentence) > max_chars:
                units.extend((piece, block_no) for piece in _split_long(sentence, target_chars))
            else:
                units.append((sentence, block_no))
    if not units:
        return ()

    # ends[i] = length of units[0..i] joined with one-char separators.
    ends = list(accumulate(len(text) + 1 for text, _ in units))

    def span_len(first: int, stop: int) -> int:
        """Length of units[first:stop] joined."""
        return ends[stop - 1] - (ends[first - 1] if first else 0) - 1

    spans: list[tuple[int, int]] = []
    start, stop = 0, 1
    while True:
        while stop < len(units):
            size, grown = span_len(start, stop), span_len(start, stop + 1)
            if grown <= target_chars or (size < target_chars // 2 and grown <= max_chars):
                stop += 1
            else:
                break
        spans.append((start, stop))
        if stop >= len(units):
            break
        # Next chunk: overlap units from this one plus (at least) the next new unit.
        start = max(stop - overlap_sentences, start + 1)
        while start < stop and span_len(start, stop + 1) > max_chars:
            start += 1
        stop += 1

    chunks: list[Chunk] = []
    for position, (first, stop) in enumerate(spans):
        parts: list[str] = []
        for index in range(first, stop):
            text, block_no = units[index]
            if index > first:
                parts.append(" " if units[index - 1][1] == block_no else "\n")
            parts.append(text)
        text = "".join(parts)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        chunks.append(
            Chunk(
                id=f"{article.id}-{position:04d}-{digest}",
                article_id=article.id,
                position=position,
                text=text,
                title=article.title,
                published=article.published,
                source=article.source,
            )
        )
    return tuple(chunks)
