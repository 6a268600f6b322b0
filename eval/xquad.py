"""XQuAD (German + English) as evaluation datasets over the German paragraphs.

XQuAD ships two fully parallel SQuAD v1.1 files, ``xquad.de.json`` and
``xquad.en.json``, with the same question ids. The product's hard case is an
English question over German text, so both pairs here index the GERMAN
paragraphs and score against the GERMAN answer spans:

* ``en-de``: the English question text of each id, asked over the German paragraph;
* ``de-de``: the German file as is.

The English file's answer texts are kept beside the dataset
(:attr:`XQuad.english_golds`) so an English answer can also be scored against the
English rendering of the gold. The data is read from the given folder at run
time and never copied into the project (CC BY-SA, see the folder's README).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eval.dataset import Dataset, load_squad

GERMAN_FILE = "xquad.de.json"
ENGLISH_FILE = "xquad.en.json"
PAIRS: tuple[str, ...] = ("en-de", "de-de")
#: Where the data lives, relative to a folder beside which the project is checked out.
SHARED_SUBDIR = Path("shared") / "data" / "xquad"


def find_xquad_dir(start: Path | None = None) -> Path | None:
    """``shared/data/xquad`` beside the nearest ancestor of ``start`` that has it.

    The data lives beside the checkout (``../shared/data/xquad``); a git worktree may
    sit a level deeper, hence the search up the ancestors.

    Args:
        start: Where to search from (default: this file).

    Returns:
        The folder, or None when no ancestor has one.
    """
    for parent in Path(start or __file__).resolve().parents:
        candidate = parent / SHARED_SUBDIR
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class XQuad:
    """An XQuAD pair loaded for evaluation.

    Attributes:
        dataset: Questions over the German paragraphs (in-memory articles);
            gold answer and variants are the German spans, evidence the German
            sentences holding them. Question language and text follow the pair.
        english_golds: Question id -> the English file's distinct answer texts.
    """

    dataset: Dataset
    english_golds: dict[str, tuple[str, ...]]


def _read_squad_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"XQuAD file {path} not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path}: not a SQuAD file (expected an object with a 'data' list)")
    return data


def _english_by_id(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Question text and distinct answer texts per id from the English file."""
    data = _read_squad_json(path)
    questions: dict[str, str] = {}
    answers: dict[str, tuple[str, ...]] = {}
    try:
        for doc in data["data"]:
            for para in doc["paragraphs"]:
                for qa in para["qas"]:
                    qid = str(qa["id"])
                    if qid in questions:
                        raise ValueError(f"{path}: duplicate question id {qid!r}")
                    questions[qid] = str(qa["question"]).strip()
                    answers[qid] = tuple(dict.fromkeys(str(a["text"]) for a in qa["answers"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: malformed SQuAD structure ({type(exc).__name__}: {exc})"
        ) from None
    return questions, answers


def load_xquad(directory: Path | str, pair: Literal["en-de", "de-de"]) -> XQuad:
    """Load XQuAD as questions over the German paragraphs.

    Articles, German gold spans, evidence sentences and the dev/test split
    (:func:`eval.dataset.split_of` of the question id) come from
    :func:`eval.dataset.load_squad` on the German file, so XQuAD is indexed and
    scored exactly like any other SQuAD dataset.

    Args:
        directory: Folder holding ``xquad.de.json`` and ``xquad.en.json``.
        pair: ``en-de`` for English questions over German text (``lang`` ``en``),
            ``de-de`` for German questions over German text (``lang`` ``de``).

    Returns:
        The dataset (named ``xquad-en-de`` or ``xquad-de-de``) and the English
        answer texts per question id.

    Raises:
        ValueError: ``pair`` is unknown, a file is malformed, or the two files do
            not hold the same question ids.
        FileNotFoundError: One of the two files is missing.
    """
    if pair not in PAIRS:
        raise ValueError(f"pair must be one of {list(PAIRS)}, got {pair!r}")
    directory = Path(directory)
    german_path = directory / GERMAN_FILE
    if not german_path.is_file():
        raise FileNotFoundError(f"XQuAD file {german_path} not found")
    english_questions, english_golds = _english_by_id(directory / ENGLISH_FILE)
    german = load_squad(german_path, lang="de", name=f"xquad-{pair}")

    german_ids = {q.id for q in german.questions}
    if german_ids != set(english_questions):
        missing = sorted(german_ids ^ set(english_questions))
        raise ValueError(
            f"{directory}: {GERMAN_FILE} and {ENGLISH_FILE} differ in {len(missing)} "
            f"question ids, e.g. {missing[:3]}"
        )
    questions = german.questions
    if pair == "en-de":
        # Only the question text and its language change; golds stay the German spans.
        questions = tuple(
            dataclasses.replace(q, question=english_questions[q.id], lang="en") for q in questions
        )
    dataset = dataclasses.replace(german, questions=questions)
    return XQuad(
        dataset=dataset,
        english_golds={q.id: english_golds[q.id] for q in questions},
    )
