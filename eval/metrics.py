"""Scoring functions for the evaluation harness; all pure and deterministic.

Answer metrics follow SQuAD (normalised exact match and token F1) with German
additions; ``contains`` (is a gold variant inside the answer?) is the main
correctness signal because the assistant answers in sentences, not spans.

Conventions used throughout:

* Retrieval ranks are over *distinct* articles in rank order: several chunks of
  one article count as one hit at the rank of its best chunk.
* Answer metrics (em/f1/contains) cover answerable questions only; abstaining on
  an answerable question scores 0 there. Abstention metrics cover all questions.
* A mean over no applicable questions is ``None`` (JSON ``null``), never 0, so a
  missing measurement cannot pass for a bad one.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

# Re-exported: the record moved to eval.records (breaking the dataset <-> metrics cycle).
from eval.records import EvalRecord
from index.language import detect_language

# The flat keys of :func:`summarize`, in report order.
SUMMARY_KEYS: tuple[str, ...] = (
    "n",
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr",
    "evidence_recall",
    "em",
    "f1",
    "em_translated",
    "f1_translated",
    "contains",
    "citation_precision",
    "citation_recall",
    "abstention_precision",
    "abstention_recall",
    "false_refusal_rate",
    "language_match",
    "ttft_p50_s",
    "ttft_p95_s",
    "total_p50_s",
    "total_p95_s",
)

# Metrics where a rise is a regression; every other metric is higher-is-better.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"false_refusal_rate", "ttft_p50_s", "ttft_p95_s", "total_p50_s", "total_p95_s"}
)

# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

_EN_ARTICLES = frozenset({"a", "an", "the"})
_DE_ARTICLES = frozenset(
    {"der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "eines", "einem", "einen"}
)
# Inline citation markers such as [1], [2, 3] or [1-3] are not part of the answer.
_CITATION_RE = re.compile(r"\[\s*\d+(?:\s*[,;\-–]\s*\d+)*\s*\]")
# A comma or point between digits is a decimal/thousands separator, not punctuation.
_NUM_SEP_RE = re.compile(r"(?<=\d)[.,](?=\d)")
_NUM_SEP_PLACEHOLDER = "\ue000"  # private-use char: survives the punctuation strip
# Dashes and slashes join words ("Mars-Mission", "Mars -Mission"): treat as spaces so
# both spellings normalise alike, while other punctuation is deleted as in SQuAD.
_SPACE_LIKE = frozenset("-‐‑‒–—―/\\")
_UMLAUT_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_WS_RE = re.compile(r"\s+")


def _strip_punctuation(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in _SPACE_LIKE:
            out.append(" ")
        elif unicodedata.category(ch)[0] in "PS":
            continue
        else:
            out.append(ch)
    return "".join(out)


def _strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_answer(text: str, lang: str = "en") -> str:
    """Normalise an answer for comparison, SQuAD-style plus German rules.

    Steps: Unicode NFKC; drop citation markers (``[1]``); lowercase; fold
    ä/ö/ü/ß to ae/oe/ue/ss (for every language, so "München" and "Muenchen"
    match whichever language the answer is in) and strip other diacritics;
    unify digit separators so "3,1" ≡ "3.1" (any ``digit[.,]digit`` becomes
    ``digit.digit``; "1.000" and "1,000" therefore also match each other but not
    "1000"); turn dashes/slashes into spaces and delete other punctuation and
    symbols; drop articles (English a/an/the always, German der/die/das/den/
    dem/des/ein/eine/einer/eines/einem/einen when ``lang == "de"``); collapse
    whitespace.

    Args:
        text: Answer or gold text.
        lang: Language of the question ("en" or "de"); selects the article list.

    Returns:
        The normalised text, tokens separated by single spaces.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _CITATION_RE.sub(" ", text)
    text = text.lower().translate(_UMLAUT_FOLD)
    text = _strip_diacritics(text)
    text = _NUM_SEP_RE.sub(_NUM_SEP_PLACEHOLDER, text)
    text = _strip_punctuation(text).replace(_NUM_SEP_PLACEHOLDER, ".")
    articles = _EN_ARTICLES | _DE_ARTICLES if lang == "de" else _EN_ARTICLES
    return " ".join(tok for tok in text.split() if tok not in articles)


def _as_list(golds: str | Iterable[str]) -> list[str]:
    return [golds] if isinstance(golds, str) else list(golds)


# ---------------------------------------------------------------------------
# Answer metrics
# ---------------------------------------------------------------------------


def exact_match(prediction: str, golds: str | Iterable[str], lang: str = "en") -> float:
    """Normalised exact match against the best gold variant.

    Args:
        prediction: The system's answer.
        golds: One gold answer or several accepted variants. No golds at all
            behaves like the single gold ``""`` (SQuAD v2: only an empty answer
            matches).
        lang: Question language, passed to :func:`normalize_answer`.

    Returns:
        1.0 when the normalised prediction equals some normalised gold, else 0.0.
    """
    gold_list = _as_list(golds) or [""]
    pred = normalize_answer(prediction, lang)
    return float(any(pred == normalize_answer(g, lang) for g in gold_list))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        # SQuAD: two empty answers agree; one empty and one not do not.
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: str | Iterable[str], lang: str = "en") -> float:
    """SQuAD token F1 (bag of normalised tokens), maximised over gold variants.

    Args:
        prediction: The system's answer.
        golds: One gold answer or several accepted variants (none behaves like ``""``).
        lang: Question language, passed to :func:`normalize_answer`.

    Returns:
        The best F1 in [0, 1].
    """
    gold_list = _as_list(golds) or [""]
    pred_tokens = normalize_answer(prediction, lang).split()
    return max(_f1(pred_tokens, normalize_answer(g, lang).split()) for g in gold_list)


def _contains_normalized(haystack: str, needle: str) -> bool:
    # Token-bounded so that "3.1" is not found inside "13.1".
    return bool(needle) and f" {needle} " in f" {haystack} "


def contains_gold(prediction: str, golds: str | Iterable[str], lang: str = "en") -> float:
    """Whether some gold variant appears, normalised and token-bounded, in the answer.

    Args:
        prediction: The system's answer (usually a sentence or two).
        golds: One gold answer or several accepted variants. Variants that
            normalise to nothing are ignored (they would match anything).
        lang: Question language, passed to :func:`normalize_answer`.

    Returns:
        1.0 if any non-empty normalised variant occurs in the normalised answer, else 0.0.
    """
    pred = normalize_answer(prediction, lang)
    return float(
        any(_contains_normalized(pred, normalize_answer(g, lang)) for g in _as_list(golds))
    )


# ---------------------------------------------------------------------------
# Retrieval metrics
# ---------------------------------------------------------------------------


def _distinct(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in ids:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def recall_at_k(retrieved_article_ids: Sequence[str], gold_ids: Iterable[str], k: int) -> float:
    """Fraction of gold articles among the top ``k`` distinct retrieved articles.

    A question with two gold articles and one of them retrieved scores 0.5, so
    multi-article questions count partially.

    Args:
        retrieved_article_ids: Article ids in rank order; repeats (several chunks
            of one article) are collapsed to the first occurrence.
        gold_ids: Ids of the gold articles (non-empty).
        k: Cut-off, >= 1.

    Returns:
        Recall in [0, 1].

    Raises:
        ValueError: If ``k < 1`` or there are no gold ids (recall is undefined).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    gold = set(gold_ids)
    if not gold:
        raise ValueError("recall@k is undefined without gold article ids")
    top = set(_distinct(retrieved_article_ids)[:k])
    return len(gold & top) / len(gold)


def reciprocal_rank(retrieved_article_ids: Sequence[str], gold_ids: Iterable[str]) -> float:
    """1 / rank of the first gold article among distinct retrieved articles (0 if absent).

    Args:
        retrieved_article_ids: Article ids in rank order (repeats collapsed).
        gold_ids: Ids of the gold articles (non-empty).

    Returns:
        Reciprocal rank in [0, 1].

    Raises:
        ValueError: If there are no gold ids.
    """
    gold = set(gold_ids)
    if not gold:
        raise ValueError("reciprocal rank is undefined without gold article ids")
    for rank, article_id in enumerate(_distinct(retrieved_article_ids), start=1):
        if article_id in gold:
            return 1.0 / rank
    return 0.0


def _squash_ws(text: str) -> str:
    return _WS_RE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def evidence_chunk_recall(
    retrieved_chunk_texts: Sequence[str], evidence_sentences: Sequence[str]
) -> float:
    """Fraction of gold evidence sentences found verbatim in some retrieved chunk.

    Only whitespace (and Unicode composition) is normalised: the evidence is
    copied from the article, so anything else differing means the chunk does not
    hold it.

    Args:
        retrieved_chunk_texts: Texts of the retrieved chunks.
        evidence_sentences: Gold evidence sentences (non-empty).

    Returns:
        Recall in [0, 1].

    Raises:
        ValueError: If there is no evidence to find.
    """
    evidence = [_squash_ws(s) for s in evidence_sentences if s.strip()]
    if not evidence:
        raise ValueError("evidence recall is undefined without evidence sentences")
    chunks = [_squash_ws(t) for t in retrieved_chunk_texts]
    found = sum(1 for sentence in evidence if any(sentence in chunk for chunk in chunks))
    return found / len(evidence)


# ---------------------------------------------------------------------------
# Citation metrics
# ---------------------------------------------------------------------------


def quote_supports(quote: str, evidence_sentence: str, lang: str = "en") -> bool:
    """Whether a citation quote overlaps a gold evidence sentence.

    True when one normalised text contains the other (token-bounded), or their
    token F1 is at least 0.5 (the quote paraphrases or trims the sentence).

    Args:
        quote: The cited sentence(s).
        evidence_sentence: One gold evidence sentence.
        lang: Question language, passed to :func:`normalize_answer`.

    Returns:
        True if the quote counts as covering the evidence sentence.
    """
    q = normalize_answer(quote, lang)
    e = normalize_answer(evidence_sentence, lang)
    if not q or not e:
        return False
    if _contains_normalized(q, e) or _contains_normalized(e, q):
        return True
    return _f1(q.split(), e.split()) >= 0.5


def citation_precision(
    citation_quotes: Sequence[str],
    evidence: Sequence[str],
    answer_variants: Iterable[str] = (),
    lang: str = "en",
) -> float:
    """Fraction of citations whose quote supports the gold answer.

    A citation is correct when its quote overlaps a gold evidence sentence (see
    :func:`quote_supports`) or contains a gold answer variant — the same fact may
    be stated in a sentence or article the annotators did not mark.

    Args:
        citation_quotes: One quote per citation of the answer.
        evidence: Gold evidence sentences.
        answer_variants: Gold answer and its accepted variants.
        lang: Question language.

    Returns:
        Precision in [0, 1]; an answer without any citation scores 0.0, because
        an unsourced answer is a failure of this product.
    """
    if not citation_quotes:
        return 0.0
    variants = [v for v in (normalize_answer(a, lang) for a in answer_variants) if v]
    correct = 0
    for quote in citation_quotes:
        q = normalize_answer(quote, lang)
        if any(quote_supports(quote, e, lang) for e in evidence) or any(
            _contains_normalized(q, v) for v in variants
        ):
            correct += 1
    return correct / len(citation_quotes)


def citation_recall(
    citation_quotes: Sequence[str], evidence: Sequence[str], lang: str = "en"
) -> float:
    """Fraction of gold evidence sentences covered by at least one citation quote.

    Args:
        citation_quotes: One quote per citation of the answer.
        evidence: Gold evidence sentences (non-empty).
        lang: Question language.

    Returns:
        Recall in [0, 1].

    Raises:
        ValueError: If there is no evidence.
    """
    sentences = [e for e in evidence if e.strip()]
    if not sentences:
        raise ValueError("citation recall is undefined without evidence sentences")
    covered = sum(1 for e in sentences if any(quote_supports(q, e, lang) for q in citation_quotes))
    return covered / len(sentences)


# ---------------------------------------------------------------------------
# Abstention
# ---------------------------------------------------------------------------


class AbstentionScores(NamedTuple):
    """Abstention quality; a field is ``None`` when its denominator is zero.

    Attributes:
        precision: Of the questions the system refused, the share that were unanswerable.
        recall: Of the unanswerable questions, the share the system refused.
        false_refusal_rate: Of the answerable questions, the share the system refused.
    """

    precision: float | None
    recall: float | None
    false_refusal_rate: float | None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def abstention_scores(records: Iterable[tuple[bool, bool]]) -> AbstentionScores:
    """Precision, recall and false-refusal rate of abstaining.

    Args:
        records: ``(is_unanswerable, abstained)`` per question.

    Returns:
        The three scores (``None`` where undefined, e.g. precision with no refusals).
    """
    tp = fp = fn = answerable = 0
    for unanswerable, abstained in records:
        if unanswerable and abstained:
            tp += 1
        elif unanswerable:
            fn += 1
        elif abstained:
            fp += 1
        if not unanswerable:
            answerable += 1
    return AbstentionScores(_ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(fp, answerable))


# ---------------------------------------------------------------------------
# Answer language
# ---------------------------------------------------------------------------


def answer_language(text: str) -> str:
    """Guess whether a text is German or English, with the assistant's own detector.

    Args:
        text: Any text; citation markers are ignored.

    Returns:
        ``"de"``, ``"en"``, or ``"unknown"`` (no evidence, e.g. a bare name or number).
    """
    # One detector for the project (index.language). Until the structure issue this
    # judge counted its own word list and called every tie "unknown"; the shared one
    # also counts umlauts as German and leans to English on ties. On the extractive
    # gold run that re-judges 6 of 236 answers (English "According to ..." frames
    # around German quotes) and moves language_match from 0.444 to 0.458; nothing
    # else changes.
    return detect_language(_CITATION_RE.sub(" ", text))


# Where quoted material starts: German and English opening quote marks.
_QUOTE_OPEN_RE = re.compile(r"[„“\"«»‚]")


def own_words(answer: str) -> str:
    """The answer without what it quotes: every line up to its first quote mark.

    An answer without a lead line ("The articles don't say what it costs. The
    closest they come to it is „…“") frames German titles and quotes in the
    question's language; the quotes are the articles' words and must stay verbatim,
    so only the frame says which language the assistant answered in.

    Args:
        answer: The full answer text.

    Returns:
        The frame text, lines joined by newlines.
    """
    return "\n".join(_QUOTE_OPEN_RE.split(line, 1)[0] for line in answer.splitlines())


def language_match(text: str, expected_lang: str) -> float | None:
    """Whether an answer is in the expected language.

    Args:
        text: The answer.
        expected_lang: Language of the question.

    Returns:
        1.0 or 0.0, or ``None`` when the text is empty or its language unclear
        (short answers such as "3,1 Prozent" carry no signal).
    """
    detected = answer_language(text)
    if detected == "unknown":
        return None
    return float(detected == expected_lang)


# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float:
    """Percentile with linear interpolation between order statistics.

    Same definition as ``numpy.percentile(..., method="linear")``: the value at
    rank ``p / 100 * (n - 1)`` of the sorted values.

    Args:
        values: Samples (at least one).
        p: Percentile in [0, 100].

    Returns:
        The interpolated percentile.

    Raises:
        ValueError: On no values or ``p`` outside [0, 100].
    """
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {p}")
    rank = p / 100 * (len(data) - 1)
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return data[lo] + (data[hi] - data[lo]) * (rank - lo)


def latency_summary(values: Iterable[float | None]) -> dict[str, float | None]:
    """Median and 95th percentile of latencies, ignoring missing ones.

    Args:
        values: Seconds per question; ``None`` entries (not measured) are skipped.

    Returns:
        ``{"p50": ..., "p95": ...}``, both ``None`` without any measurement.
    """
    present = [v for v in values if v is not None]
    if not present:
        return {"p50": None, "p95": None}
    return {"p50": percentile(present, 50), "p95": percentile(present, 95)}


# ---------------------------------------------------------------------------
# Per-question records and aggregation
# ---------------------------------------------------------------------------


def score_record(record: EvalRecord) -> dict[str, float | None]:
    """Per-question metric values; ``None`` where a metric does not apply.

    Args:
        record: One evaluated question.

    Returns:
        Keys ``recall@1``, ``recall@5``, ``recall@10``, ``rr``, ``evidence_recall``,
        ``em``, ``f1``, ``contains``, ``citation_precision``, ``citation_recall``,
        ``language_match``.
    """
    scores: dict[str, float | None] = dict.fromkeys(
        (
            "recall@1",
            "recall@5",
            "recall@10",
            "rr",
            "evidence_recall",
            "em",
            "f1",
            "em_translated",
            "f1_translated",
            "contains",
            "citation_precision",
            "citation_recall",
        )
    )
    if record.gold_articles:
        for k in (1, 5, 10):
            scores[f"recall@{k}"] = recall_at_k(
                record.retrieved_article_ids, record.gold_articles, k
            )
        scores["rr"] = reciprocal_rank(record.retrieved_article_ids, record.gold_articles)
    has_evidence = any(e.strip() for e in record.gold_evidence)
    if has_evidence:
        scores["evidence_recall"] = evidence_chunk_recall(
            record.retrieved_chunk_texts, record.gold_evidence
        )
    golds = record.golds
    if not record.unanswerable and golds:
        if record.abstained:
            # A refusal is not an answer, whatever words the refusal message contains.
            scores["em"] = scores["f1"] = scores["contains"] = 0.0
            if record.gold_translations:
                scores["em_translated"] = scores["f1_translated"] = 0.0
        else:
            lead = record.short or record.answer
            scores["em"] = exact_match(lead, golds, record.lang)
            scores["f1"] = token_f1(lead, golds, record.lang)
            if record.gold_translations:
                scores["em_translated"] = exact_match(lead, record.gold_translations, record.lang)
                scores["f1_translated"] = token_f1(lead, record.gold_translations, record.lang)
            scores["contains"] = contains_gold(record.answer, golds, record.lang)
    if not record.unanswerable and not record.abstained:
        if has_evidence or golds:
            scores["citation_precision"] = citation_precision(
                record.citation_quotes, record.gold_evidence, golds, record.lang
            )
        if has_evidence:
            scores["citation_recall"] = citation_recall(
                record.citation_quotes, record.gold_evidence, record.lang
            )
    # The answer's own words: quoted evidence is in the articles' language by nature.
    scores["language_match"] = language_match(record.short or own_words(record.answer), record.lang)
    return scores


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarize(records: Sequence[EvalRecord]) -> dict[str, float | int | None]:
    """Aggregate metrics over questions, as flat keys in :data:`SUMMARY_KEYS` order.

    Each mean covers the questions where the metric applies (see
    :func:`score_record`): retrieval needs gold articles, evidence recall needs
    evidence, answer and citation metrics need an answerable question (citations
    also a non-abstained answer); abstention uses all questions.

    Args:
        records: Evaluated questions.

    Returns:
        ``n``, ``recall@1``, ``recall@5``, ``recall@10``, ``mrr``,
        ``evidence_recall``, ``em``, ``f1``, ``contains``, ``citation_precision``,
        ``citation_recall``, ``abstention_precision``, ``abstention_recall``,
        ``false_refusal_rate``, ``language_match``, ``ttft_p50_s``, ``ttft_p95_s``,
        ``total_p50_s``, ``total_p95_s``; ``None`` where no question applies.
    """
    per_q = [score_record(r) for r in records]

    def mean_of(key: str) -> float | None:
        return _mean(s[key] for s in per_q)

    abstention = abstention_scores((r.unanswerable, r.abstained) for r in records)
    ttft = latency_summary(r.ttft_s for r in records)
    total = latency_summary(r.total_s for r in records)
    summary: dict[str, float | int | None] = {
        "n": len(records),
        "recall@1": mean_of("recall@1"),
        "recall@5": mean_of("recall@5"),
        "recall@10": mean_of("recall@10"),
        "mrr": mean_of("rr"),
        "evidence_recall": mean_of("evidence_recall"),
        "em": mean_of("em"),
        "f1": mean_of("f1"),
        "em_translated": mean_of("em_translated"),
        "f1_translated": mean_of("f1_translated"),
        "contains": mean_of("contains"),
        "citation_precision": mean_of("citation_precision"),
        "citation_recall": mean_of("citation_recall"),
        "abstention_precision": abstention.precision,
        "abstention_recall": abstention.recall,
        "false_refusal_rate": abstention.false_refusal_rate,
        "language_match": mean_of("language_match"),
        "ttft_p50_s": ttft["p50"],
        "ttft_p95_s": ttft["p95"],
        "total_p50_s": total["p50"],
        "total_p95_s": total["p95"],
    }
    return summary


def breakdown(records: Sequence[EvalRecord], by: str = "type") -> dict[str, dict[str, Any]]:
    """:func:`summarize` per group of questions.

    Args:
        records: Evaluated questions.
        by: ``"type"``, ``"lang"`` (or any other record field, e.g. ``"split"``).

    Returns:
        Group value -> summary, groups sorted by name.

    Raises:
        ValueError: If ``by`` is not a field of :class:`EvalRecord`.
    """
    if by not in EvalRecord.__dataclass_fields__:
        raise ValueError(f"cannot break down by {by!r}: not an EvalRecord field")
    groups: dict[str, list[EvalRecord]] = {}
    for record in records:
        groups.setdefault(str(getattr(record, by)), []).append(record)
    return {name: summarize(groups[name]) for name in sorted(groups)}
