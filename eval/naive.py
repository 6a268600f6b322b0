"""The naive LangChain RAG baseline, for context in eval reports and benchmarks.

What a tutorial builds: ``RecursiveCharacterTextSplitter(1000, 200)``,
``Chroma.from_documents``, top-4 similarity search, the same LLM and a plain prompt,
no hybrid retrieval, no evidence selection, no citation checks, no abstention logic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.dataset import GoldQuestion
from eval.metrics import EvalRecord
from index.embedding import Embedder
from index.models import Article

PLAIN_PROMPT = (
    "Use the following context to answer the question.\n\n"
    "Context:\n{context}\n\nQuestion: {question}\nAnswer:"
)
# A plain RAG still has to be scored on abstention: these phrases count as refusals.
_REFUSALS = (
    "i don't know",
    "i do not know",
    "not mentioned",
    "does not mention",
    "no information",
    "weiß nicht",
    "keine information",
    "nicht erwähnt",
)


def langchain_embeddings(embedder: Embedder) -> Any:
    """Our embedder behind LangChain's ``Embeddings`` interface."""
    from langchain_core.embeddings import Embeddings

    class EmbedderEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_passages(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_queries([text])[0].tolist()

    return EmbedderEmbeddings()


def naive_documents(articles: Sequence[Article]) -> list[Any]:
    """The baseline's chunks: ``RecursiveCharacterTextSplitter(1000, 200)`` over each article.

    Args:
        articles: Parsed articles; title, caption and body form each text.

    Returns:
        LangChain Documents.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    return splitter.create_documents(
        [f"{a.title}\n\n{a.caption}\n\n{a.text}" for a in articles],
        metadatas=[
            {
                "article_id": a.id,
                "title": a.title,
                "published": int(a.published.timestamp()),
                "source": a.source,
            }
            for a in articles
        ],
    )


def build_store(articles: Sequence[Article], embedder: Embedder, persist_dir: Path) -> Any:
    """``Chroma.from_documents`` over the naive chunks; returns the LangChain vector store."""
    from langchain_chroma import Chroma
    from langchain_chroma.vectorstores import Settings as ChromaSettings

    return Chroma.from_documents(
        naive_documents(articles),
        embedding=langchain_embeddings(embedder),
        collection_name="naive",
        persist_directory=str(persist_dir),
        client_settings=ChromaSettings(anonymized_telemetry=False),
    )


def run(
    questions: Sequence[GoldQuestion],
    *,
    store: Any,
    chat_model: Any,
    progress: Callable[[int, int], None] | None = None,
    retrieval_only: bool = False,
) -> list[EvalRecord]:
    """Ask every question the naive way and record the results.

    Args:
        questions: Gold questions (history is ignored, as a naive chain does).
        store: The LangChain vector store from :func:`build_store`.
        chat_model: The same LangChain chat model the assistant uses (unused, and
            may be ``None``, when ``retrieval_only``).
        progress: Called as ``progress(done, total)``.
        retrieval_only: Only retrieve (retrieval metrics; no answers, no LLM).

    Returns:
        One record per question (no citations: the baseline has none).
    """
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([("human", PLAIN_PROMPT)])
    chain = None if retrieval_only else prompt | chat_model
    records = []
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        docs = store.similarity_search(q.question, k=4)
        first: float | None = None
        text = ""
        if chain is not None:
            context = "\n\n".join(d.page_content for d in docs)
            for piece in chain.stream({"context": context, "question": q.question}):
                if first is None:
                    first = time.perf_counter() - t0
                text += str(piece.content)
        records.append(
            EvalRecord.from_question(
                q,
                answer=text.strip(),
                abstained=any(r in text.lower() for r in _REFUSALS),
                retrieved_article_ids=[d.metadata["article_id"] for d in docs],
                retrieved_chunk_texts=[d.page_content for d in docs],
                ttft_s=first,
                total_s=None if retrieval_only else time.perf_counter() - t0,
                generator="naive-rag",
            )
        )
        if progress:
            progress(i + 1, len(questions))
    return records
