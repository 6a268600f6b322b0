"""Evaluation datasets: our gold question files and SQuAD-format files.

Gold files (``eval/gold/*.jsonl``) hold one question per line::

    {"id": "a-001", "question": "...", "lang": "en"|"de", "type": "factoid"|...,
     "answer": "short canonical answer ('' when unanswerable)",
     "variants": ["accepted variants"], "articles": ["005_flut.txt"],
     "evidence": ["exact gold evidence sentence(s)"],
     "history": [{"role": "user", "content": "..."}, ...]}

Article file names are resolved to article ids by parsing the corpus files, so
the scores compare ids exactly as the indexer assigns them.

Split: every question is assigned to ``test`` or ``dev`` from a hash of its id
alone — ``"test" if int(sha1(id).hexdigest(), 16) % 10 < 3 else "dev"`` — so
about 30 % of questions form the held-back test split. It does not depend on
file order or on the other questions, so adding questions never moves existing
ones between splits. Tune on ``dev`` only; report ``test``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Re-exported: the records moved to eval.records (breaking the dataset <-> metrics cycle).
from eval.records import GoldQuestion, Turn
from index.language import detect_language
from index.models import Article

QUESTION_TYPES: frozenset[str] = frozenset(
    {
        "factoid",
        "number",
        "date",
        "who",
        "where",
        "multi",
        "latest",
        "contradiction",
        "relative",
        "followup",
        "unanswerable",
    }
)
LANGS: frozenset[str] = frozenset({"en", "de"})
ROLES: frozenset[str] = frozenset({"user", "assistant"})

# SQuAD contexts have no publication date; one fixed, documented date keeps the
# articles (and therefore the index) deterministic.
SQUAD_PUBLISHED = datetime(2000, 1, 1, tzinfo=UTC)
SQUAD_SOURCE = "squad"

# The corpus shipped with the package, used when no corpus folder is given.
DEFAULT_CORPUS_DIR = Path(__file__).resolve().parents[1] / "index" / "samples"


def split_of(question_id: str) -> str:
    """The split a question belongs to, from its id alone.

    Args:
        question_id: The question's id.

    Returns:
        ``"test"`` for about 30 % of ids (``sha1(id) % 10 < 3``), else ``"dev"``.
    """
    digest = hashlib.sha1(question_id.encode("utf-8")).hexdigest()
    return "test" if int(digest, 16) % 10 < 3 else "dev"


@dataclass(frozen=True)
class Dataset:
    """A named set of gold questions and the corpus they are asked against.

    Exactly one of ``corpus_paths`` and ``articles`` is normally used: gold
    datasets point at article files to index, SQuAD datasets carry in-memory
    articles.

    Attributes:
        name: Dataset name (file stem or folder name).
        questions: The questions, in file order.
        corpus_paths: Article files to index.
        articles: In-memory articles to index.
        translations: Question id -> gold answers in the question's language when the
            gold spans are in another (XQuAD en-de).
    """

    name: str
    questions: tuple[GoldQuestion, ...]
    corpus_paths: tuple[Path, ...] = ()
    articles: tuple[Article, ...] = ()
    translations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def split(self, name: str) -> tuple[GoldQuestion, ...]:
        """The questions of one split.

        Args:
            name: ``dev`` or ``test``.

        Returns:
            The questions in that split, in dataset order.
        """
        if name not in ("dev", "test"):
            raise ValueError(f"unknown split {name!r}; expected 'dev' or 'test'")
        return tuple(q for q in self.questions if q.split == name)

    @property
    def dev(self) -> tuple[GoldQuestion, ...]:
        """Questions of the ``dev`` split (tune on these)."""
        return self.split("dev")

    @property
    def test(self) -> tuple[GoldQuestion, ...]:
        """Questions of the held-back ``test`` split (never tune on these)."""
        return self.split("test")


# ---------------------------------------------------------------------------
# Gold JSONL
# ---------------------------------------------------------------------------


def _squash_ws(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


class _CorpusIndex:
    """Maps gold article references (file names) to parsed articles, parsing lazily."""

    def __init__(self, corpus_dir: Path) -> None:
        # Imported here: only gold files need the corpus parser, SQuAD loading does not.
        from index.articles import find_article_files

        if not corpus_dir.is_dir():
            raise ValueError(f"corpus folder {corpus_dir} does not exist or is not a folder")
        self.dir = corpus_dir
        # Same file discovery as the indexer, so the scored corpus is the indexed one.
        self.paths = tuple(find_article_files([corpus_dir]))
        self._by_ref: dict[str, list[Path]] = {}
        for path in self.paths:
            relative = path.relative_to(corpus_dir).as_posix()
            for ref in dict.fromkeys((relative, path.name)):
                self._by_ref.setdefault(ref, []).append(path)
        self._parsed: dict[Path, Article] = {}

    def resolve(self, ref: str) -> Article:
        from index.articles import read_article

        candidates = self._by_ref.get(ref, [])
        if not candidates:
            raise LookupError(f"unknown article file {ref!r} (not in {self.dir})")
        if len(candidates) > 1:
            raise LookupError(
                f"article file name {ref!r} is ambiguous in {self.dir}: "
                + ", ".join(str(p.relative_to(self.dir)) for p in candidates)
            )
        path = candidates[0]
        if path not in self._parsed:
            self._parsed[path] = read_article(path)
        return self._parsed[path]


def _str_list(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {key!r} must be a list of strings")
    return tuple(value)


def _required_str(obj: dict[str, Any], key: str, *, allow_empty: bool = False) -> str:
    if key not in obj:
        raise ValueError(f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"field {key!r} must not be empty")
    return value


def _parse_history(obj: dict[str, Any]) -> tuple[Turn, ...]:
    value = obj.get("history", [])
    if not isinstance(value, list):
        raise ValueError("field 'history' must be a list")
    turns: list[Turn] = []
    for i, item in enumerate(value):
        if (
            not isinstance(item, dict)
            or item.get("role") not in ROLES
            or not isinstance(item.get("content"), str)
        ):
            raise ValueError(
                f"history[{i}] must be {{'role': 'user'|'assistant', 'content': str}}, got {item!r}"
            )
        turns.append(Turn(item["role"], item["content"]))
    return tuple(turns)


def _parse_gold_line(obj: Any, corpus: _CorpusIndex, check_evidence: bool) -> GoldQuestion:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    qid = _required_str(obj, "id")
    question = _required_str(obj, "question")
    lang = _required_str(obj, "lang")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {sorted(LANGS)}, got {lang!r}")
    qtype = _required_str(obj, "type")
    if qtype not in QUESTION_TYPES:
        raise ValueError(f"type must be one of {sorted(QUESTION_TYPES)}, got {qtype!r}")
    answer = _required_str(obj, "answer", allow_empty=True)
    variants = _str_list(obj, "variants")
    refs = _str_list(obj, "articles")
    evidence = _str_list(obj, "evidence")
    history = _parse_history(obj)
    if qtype == "unanswerable":
        if answer.strip():
            raise ValueError(f"unanswerable question must have answer '', got {answer!r}")
    else:
        if not answer.strip():
            raise ValueError(f"{qtype} question needs a non-empty answer")
        if not refs:
            # Without gold articles retrieval cannot be scored for this question.
            raise ValueError(f"{qtype} question needs at least one gold article")
    try:
        articles = [corpus.resolve(ref) for ref in refs]
    except LookupError as exc:
        raise ValueError(exc.args[0]) from None
    if check_evidence:
        # Evidence recall checks verbatim containment, so evidence that is not
        # copied exactly from a gold article could never be found; catch it here.
        texts = [_squash_ws("\n".join((a.title, a.caption, *a.paragraphs))) for a in articles]
        for sentence in evidence:
            if not any(_squash_ws(sentence) in t for t in texts):
                raise ValueError(
                    f"evidence not found verbatim in the gold articles {list(refs)}: "
                    f"{sentence[:80]!r}"
                )
    return GoldQuestion(
        id=qid,
        question=question,
        lang=lang,
        type=qtype,
        answer=answer,
        variants=variants,
        articles=refs,
        evidence=evidence,
        history=history,
        article_ids=tuple(dict.fromkeys(a.id for a in articles)),
        split=split_of(qid),
    )


def load_gold(
    paths: Path | str | Sequence[Path | str],
    corpus_dir: Path | str | None = None,
    *,
    check_evidence: bool = True,
    name: str | None = None,
) -> Dataset:
    """Load gold question files (JSON lines) against a corpus folder.

    Args:
        paths: One ``.jsonl`` file or several; questions keep file order.
        corpus_dir: Folder of article files the ``articles`` names refer to;
            defaults to :data:`DEFAULT_CORPUS_DIR` (``index/samples``).
        check_evidence: Require every evidence sentence to occur verbatim (up to
            whitespace) in the title, caption or body of one of its gold articles.
        name: Dataset name; defaults to the file stem (``gold`` for several files).

    Returns:
        The dataset; ``corpus_paths`` lists every article file in ``corpus_dir``.

    Raises:
        ValueError: A line is not valid JSON or breaks the schema, an article
            file name is unknown, or an id repeats; the message names the file
            and line number.
        ArticleFormatError: A referenced article file is malformed.
    """
    file_list = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not file_list:
        raise ValueError("no gold files given")
    corpus = _CorpusIndex(Path(corpus_dir) if corpus_dir is not None else DEFAULT_CORPUS_DIR)
    questions: list[GoldQuestion] = []
    first_seen: dict[str, str] = {}
    for path in file_list:
        with path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{line_no}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(
                        f"{where}: invalid JSON: {exc.msg} (column {exc.colno})"
                    ) from None
                try:
                    question = _parse_gold_line(obj, corpus, check_evidence)
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc}") from None
                if question.id in first_seen:
                    raise ValueError(
                        f"{where}: duplicate question id {question.id!r} "
                        f"(first at {first_seen[question.id]})"
                    )
                first_seen[question.id] = where
                questions.append(question)
    if name is None:
        name = file_list[0].stem if len(file_list) == 1 else "gold"
    return Dataset(name=name, questions=tuple(questions), corpus_paths=corpus.paths)


# ---------------------------------------------------------------------------
# SQuAD
# ---------------------------------------------------------------------------

# Sentence end: terminal punctuation, optional closing quotes/brackets, then
# whitespace before an upper-case letter, digit or opening quote. Requiring the
# capital avoids splitting after abbreviations like "e.g. the".
_SENTENCE_END_RE = re.compile(r"[.!?]+[\"'”’»)\]]*\s+(?=[\"'“„«(\[]?[A-ZÄÖÜ0-9])")


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        end = match.end() - (len(match.group()) - len(match.group().rstrip()))
        spans.append((start, end))
        start = match.end()
    spans.append((start, len(text.rstrip())))
    return spans


def _evidence_for(context: str, start: int, length: int) -> tuple[str, ...]:
    """The sentence(s) of ``context`` overlapping the character span."""
    end = start + max(length, 1)
    return tuple(context[s:e].strip() for s, e in _sentence_spans(context) if s < end and start < e)


def _squad_article_id(context: str) -> str:
    return "squad-" + hashlib.sha256(context.encode("utf-8")).hexdigest()[:16]


def _squad_article(title: str, context: str) -> Article:
    return Article(
        id=_squad_article_id(context),
        title=title,
        published=SQUAD_PUBLISHED,
        source=SQUAD_SOURCE,
        caption="",
        paragraphs=(context,),
        content_hash=hashlib.sha256(_squash_ws(f"{title}\n{context}").encode("utf-8")).hexdigest()[
            :16
        ],
        path=None,
    )


def _answer_start(context: str, answer: dict[str, Any], qid: str) -> int:
    text = answer.get("text")
    start = answer.get("answer_start")
    if not isinstance(text, str) or not isinstance(start, int):
        raise ValueError(f"question {qid!r}: answer needs 'text' (str) and 'answer_start' (int)")
    if context[start : start + len(text)] == text:
        return start
    # Some SQuAD-style files have offsets that are off by a few characters.
    found = context.find(text)
    if found == -1:
        raise ValueError(f"question {qid!r}: answer {text!r} does not occur in its context")
    return found


def load_squad(path: Path | str, *, lang: str | None = "en", name: str | None = None) -> Dataset:
    """Load a SQuAD v1.1 or v2.0 JSON file as a dataset with in-memory articles.

    Each paragraph context becomes one :class:`~index.models.Article` (id
    ``squad-`` + SHA-256 of the context, title from the SQuAD article title,
    published :data:`SQUAD_PUBLISHED`, source ``squad``), so the normal indexer
    can index it. Questions with ``is_impossible`` become type ``unanswerable``
    with no gold article; others are ``factoid`` with the first answer text as
    the answer, all distinct answer texts as variants, and the sentence(s)
    containing each answer span as evidence.

    Args:
        path: The SQuAD JSON file.
        lang: Language of every question, or ``None`` to detect it per question
            from its context with :func:`index.language.detect_language` (``en``
            when unclear).
        name: Dataset name; defaults to the file stem.

    Returns:
        The dataset (``articles`` set, ``corpus_paths`` empty).

    Raises:
        ValueError: The file is not SQuAD-shaped JSON, an answer does not occur in
            its context, or a question id repeats.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path}: not a SQuAD file (expected an object with a 'data' list)")
    if lang is not None and lang not in LANGS:
        raise ValueError(f"lang must be one of {sorted(LANGS)} or None, got {lang!r}")

    articles: dict[str, Article] = {}
    questions: list[GoldQuestion] = []
    seen: set[str] = set()
    try:
        for doc in data["data"]:
            title = str(doc.get("title", "")).replace("_", " ").strip() or "Untitled"
            for para in doc["paragraphs"]:
                context = para["context"]
                article = articles.setdefault(
                    _squad_article_id(context), _squad_article(title, context)
                )
                context_lang = lang or ("de" if detect_language(context) == "de" else "en")
                for qa in para["qas"]:
                    qid = str(qa["id"])
                    if qid in seen:
                        raise ValueError(f"duplicate question id {qid!r}")
                    seen.add(qid)
                    impossible = bool(qa.get("is_impossible", False))
                    answers = [] if impossible else list(qa.get("answers", []))
                    if not impossible and not answers:
                        raise ValueError(f"question {qid!r} has no answers and is not impossible")
                    texts = tuple(dict.fromkeys(a["text"] for a in answers))
                    evidence: dict[str, None] = {}
                    for a in answers:
                        start = _answer_start(context, a, qid)
                        evidence.update(
                            dict.fromkeys(_evidence_for(context, start, len(a["text"])))
                        )
                    questions.append(
                        GoldQuestion(
                            id=qid,
                            question=str(qa["question"]).strip(),
                            lang=context_lang,
                            type="unanswerable" if impossible else "factoid",
                            answer=texts[0] if texts else "",
                            variants=texts[1:],
                            articles=() if impossible else (article.id,),
                            evidence=tuple(evidence),
                            history=(),
                            article_ids=() if impossible else (article.id,),
                            split=split_of(qid),
                        )
                    )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"{path}: malformed SQuAD structure ({type(exc).__name__}: {exc})"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return Dataset(
        name=name or path.stem,
        questions=tuple(questions),
        articles=tuple(articles.values()),
    )


# ---------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------


def _looks_like_squad(path: Path) -> bool:
    # A SQuAD file is one JSON object with a "data" list; JSON lines fail to parse whole.
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def load_dataset(
    path: Path | str | Iterable[Path | str],
    *,
    corpus_dir: Path | str | None = None,
    lang: str | None = "en",
) -> Dataset:
    """Load a dataset, choosing the format from the path and content.

    * a folder: every ``*.jsonl`` gold file in it (sorted), named after the folder;
    * several paths: gold files loaded together;
    * ``.jsonl``: a gold file;
    * ``.json`` or anything else: SQuAD if it parses as one object with a
      ``data`` list, otherwise a gold file.

    Args:
        path: File, folder, or several gold files.
        corpus_dir: Corpus folder for gold files (see :func:`load_gold`).
        lang: Question language for SQuAD files (see :func:`load_squad`).

    Returns:
        The dataset.

    Raises:
        ValueError: The path holds no gold files or the content is malformed.
    """
    if not isinstance(path, str | Path):
        return load_gold(list(path), corpus_dir)
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise ValueError(f"{path}: no *.jsonl gold files in this folder")
        return load_gold(files, corpus_dir, name=path.name)
    if path.suffix.lower() != ".jsonl" and _looks_like_squad(path):
        return load_squad(path, lang=lang)
    return load_gold(path, corpus_dir)
