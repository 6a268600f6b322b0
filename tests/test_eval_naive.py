"""The naive LangChain RAG baseline: real splitter, real Chroma, real embedder.

The chat model is LangChain's scripted fake here; the same chain runs with the real
local LLM in `qa eval --mode naive-rag` (see the closing note / eval reports).
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from eval import naive
from eval.dataset import GoldQuestion
from index.articles import load_articles
from qa.engine import default_engine
from tests.conftest import SAMPLES, SEED_NAME


def test_naive_baseline_retrieves_and_records(make_settings, tmp_path: Path) -> None:
    names = [SEED_NAME, "001_mondkraftwerk-russland-china.txt", "021_ezb-einlagenzins.txt"]
    paths = [SAMPLES / n for n in names if (SAMPLES / n).exists()]
    articles = load_articles(paths).articles
    docs = naive.naive_documents(articles)
    assert all(len(d.page_content) <= 1000 for d in docs)
    assert {d.metadata["article_id"] for d in docs} == {a.id for a in articles}

    store = naive.build_store(
        articles, default_engine(make_settings()).embedder(), tmp_path / "naive"
    )
    seed_id = next(a.id for a in articles if a.path.name == SEED_NAME)
    q = GoldQuestion(
        id="t-1",
        question="When could humans land on Mars?",
        lang="en",
        type="date",
        answer="2029",
        variants=("2029",),
        articles=(SEED_NAME,),
        evidence=(),
        history=(),
        article_ids=(seed_id,),
        split="dev",
    )
    model = FakeListChatModel(responses=["Humans could land on Mars in 2029."])
    (record,) = naive.run([q], store=store, chat_model=model)
    assert record.retrieved_article_ids[0] == seed_id
    assert record.answer == "Humans could land on Mars in 2029."
    assert record.citation_quotes == () and not record.abstained
    assert record.ttft_s is not None and record.total_s >= record.ttft_s

    # Retrieval only: the same ranking, no chat model needed, no answer or latency.
    (retrieved,) = naive.run([q], store=store, chat_model=None, retrieval_only=True)
    assert retrieved.retrieved_article_ids == record.retrieved_article_ids
    assert retrieved.answer == "" and retrieved.ttft_s is None and retrieved.total_s is None
    assert (retrieved.question_id, retrieved.gold_articles) == ("t-1", (seed_id,))
