"""The follow-up rewrite prompt (the answer prompt lives in :mod:`qa.llm_extract`)."""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate

REWRITE_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "Rewrite the user's last question so it can be understood without the "
            "conversation: name the topic it refers to. Keep its language. Reply with the "
            "rewritten question only.\n\nExample\nConversation:\nUser: Wie lang ist die neue "
            "Elbbrücke?\nAssistant: 420 Meter [1].\nLast question: Und was hat sie gekostet?"
            "\nRewritten question: Was hat die neue Elbbrücke gekostet?",
        ),
        ("human", "Conversation:\n{history}\nLast question: {question}\nRewritten question:"),
    ]
)
