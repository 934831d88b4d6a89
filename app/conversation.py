"""The asker's language, and follow-ups rewritten into standalone questions."""

from __future__ import annotations

import re

from app.retrieve import mentioned_sources

_CJK = re.compile(r"[\u3400-\u9fff]")
# Words that lean on an earlier turn: pronouns, "and …", "那 …", "這個", bare "N"/"it".
_REFERS_BACK = re.compile(
    r"^\s*(and|also|so|then|what about|how about|why|那|那麼|還有|另外|它|其|這|这)\b|"
    r"\b(it|its|it's|they|them|their|this|that|these|those|the same|he|she)\b|"
    r"(它|它們|其|這個|這些|那個|那些|這樣|此|該)",
    re.IGNORECASE,
)
_MAX_CONTEXT_CHARS = 400


def detect_language(text: str) -> str:
    """zh-Hant when the question is written in Chinese (English terms inside don't change that)."""
    cjk = len(_CJK.findall(text))
    letters = len(re.findall(r"[A-Za-z]", text))
    return "zh-Hant" if cjk and cjk * 3 >= letters * 0.5 else "en"


def is_follow_up(question: str, history: list[dict]) -> bool:
    if not any(turn.get("role") == "user" for turn in history):
        return False
    if _REFERS_BACK.search(question):
        return True
    # No paper named, but the conversation named one: the question leans on it.
    return not mentioned_sources(question) and any(
        mentioned_sources(t.get("content", "")) for t in history
    )


def standalone_question(question: str, history: list[dict]) -> str:
    """Rewrite a follow-up from the last exchange; a question that stands alone is left alone.

    The rewrite keeps the asker's words first and appends what they refer to, which is what
    retrieval needs (the earlier question's subject and the answer's key terms).
    """
    if not is_follow_up(question, history):
        return question
    last_user = next((t["content"] for t in reversed(history) if t.get("role") == "user"), "")
    last_answer = next((t["content"] for t in reversed(history) if t.get("role") == "assistant"), "")
    context = last_user.strip()
    if last_answer:
        context += " — " + re.sub(r"\s*\[\d+\]", "", last_answer).strip()
    if len(context) > _MAX_CONTEXT_CHARS:
        context = context[:_MAX_CONTEXT_CHARS].rsplit(" ", 1)[0] + "…"
    return f"{question.strip()} (follow-up to: {context})"
