"""Score the claim check (:func:`qa.claims.check_claim`) on the wrong-claim test set.

``eval/gold/claims/claims.jsonl`` holds claims about sample-article sentences, half of
them faithful, half wrong-but-on-topic (swapped role, added list member, a number from
a neighbouring sentence, the other agency, a wrong year …). The check *rejects* a claim
when it finds an unsupported fact; precision and recall are those of rejecting wrong
claims. Claims the check cannot decide (no checkable fact) count as accepted: that is
what the answer path does with them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from eval.dataset import split_of
from qa.claims import check_claim

DEFAULT_CLAIMS = Path(__file__).resolve().parent / "gold" / "claims" / "claims.jsonl"


def load_claims(path: Path = DEFAULT_CLAIMS) -> list[dict[str, Any]]:
    """The claim records of a claims file, one dict per line."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def score_claims(claims: list[dict[str, Any]], *, split: str = "all") -> dict[str, Any]:
    """Precision and recall of rejecting wrong claims, overall and per kind.

    Args:
        claims: Records with ``claim``, ``sentence``, ``supported`` and ``kind``.
        split: ``dev``, ``test`` or ``all`` (by :func:`eval.dataset.split_of` of the id).

    Returns:
        ``n``, ``precision``, ``recall``, ``undecided`` (share of claims with no
        checkable fact), ``recall_by_kind`` and the ids of the errors.
    """
    chosen = [c for c in claims if split == "all" or split_of(c["id"]) == split]
    tp = fp = fn = undecided = 0
    by_kind: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    errors: list[str] = []
    for c in chosen:
        verdict = check_claim(c["claim"], c["sentence"], c.get("context", ""))
        rejected = verdict.supported is False
        undecided += verdict.supported is None
        wrong = not c["supported"]
        if wrong:
            by_kind[c["kind"]] += 1
            caught[c["kind"]] += rejected
        if rejected and wrong:
            tp += 1
        elif rejected:
            fp += 1
            errors.append(f"{c['id']} rejected a supported claim: missing {verdict.missing}")
        elif wrong:
            fn += 1
            errors.append(f"{c['id']} accepted a wrong claim ({c['kind']})")
    return {
        "n": len(chosen),
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "undecided": undecided / len(chosen) if chosen else None,
        "recall_by_kind": {k: caught[k] / n for k, n in sorted(by_kind.items())},
        "errors": errors,
    }
