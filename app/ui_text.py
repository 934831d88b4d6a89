"""Pure text helpers for the Streamlit app: UI labels, safe Markdown, chip labels, follow-ups.

Everything shown from the papers, the guide or a model is untrusted text. It is never passed
to `unsafe_allow_html`; it is Markdown-escaped here, and only our own directives
(`:orange-background[…]`, `:blue-badge[…]`) and bullets are added around it. Kept free of
Streamlit imports so it is unit-testable and cheap to import.
"""

from __future__ import annotations

import re

from studyguide.types import Answer, Citation

# --------------------------------------------------------------------------- labels

LANGUAGES = {"zh": "繁體中文", "en": "English"}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Study assistant · DINOv2 · SAM · SAM 2",
        "subtitle": "Answers come from the papers, with citations; the guide is checked, never trusted.",
        "tab_chat": "💬 Chat",
        "tab_guide": "📘 Guide",
        "tab_errata": "📝 Errata",
        "ask": "Ask about DINOv2, SAM or SAM 2…",
        "try": "Try one of these:",
        "searching": "Searching the papers…",
        "writing": "Writing the answer…",
        "first_load": "Loading the index and models (first question only)…",
        "understood": "Understood as",
        "abstained": "Not answered: the papers don't cover this.",
        "sources": "Sources: click one to see the passage",
        "guide_says": "What the guide says",
        "guide_none": "No guide answer is close to this question.",
        "guide_q": "Guide question",
        "open_in_guide": "Check this guide answer",
        "follow_ups": "Follow-up questions",
        "passage": "Passage in context",
        "missing_chunk": "This passage is no longer in the index; re-run ingest.",
        "topic": "Topic",
        "question": "Question",
        "check": "Check this answer against the papers",
        "checking": "Checking each claim against the papers…",
        "checking_claim": "Checking claim {n} of {total}…",
        "unchecked": "Not checked yet: press the button to colour each claim by verdict.",
        "guide_answer": "The guide's answer",
        "claims": "Claim by claim",
        "correction": "Correction",
        "build": "Build the errata report ({n} questions)",
        "errata_topics": "Topics in the report",
        "building": "Checking question {q} ({n} of {total})…",
        "built": "Report built: {claims} claims in {questions} questions.",
        "download_md": "Download Markdown",
        "download_html": "Download HTML",
        "report_source": "The report (Markdown)",
        "errata_intro": "Checks every guide answer against the papers. Slow with an LLM the first time; cached afterwards.",
        "sidebar_models": "Models",
        "generator": "Generator",
        "embedder": "Embedder",
        "loaded": "loaded",
        "not_loaded": "not loaded yet",
        "index": "Index",
        "index_not_loaded": "not loaded yet (loads with the first question)",
        "chunks": "chunks",
        "load_now": "Load now",
        "language": "Language / 語言",
        "choose_generator": "Answer generator",
        "clear": "Clear the conversation",
        "internal": "internal error",
    },
    "zh": {
        "title": "論文學習助手 · DINOv2 · SAM · SAM 2",
        "subtitle": "答案來自論文原文並附出處；學習指南只作為被檢查的對象。",
        "tab_chat": "💬 問答",
        "tab_guide": "📘 學習指南",
        "tab_errata": "📝 勘誤表",
        "ask": "詢問 DINOv2、SAM 或 SAM 2 的問題…",
        "try": "試試這些問題：",
        "searching": "正在搜尋論文…",
        "writing": "正在撰寫答案…",
        "first_load": "正在載入索引與模型（只在第一個問題時）…",
        "understood": "理解為",
        "abstained": "無法回答：論文沒有涵蓋這個問題。",
        "sources": "出處：點選查看原文段落",
        "guide_says": "學習指南怎麼說",
        "guide_none": "學習指南中沒有與此問題相近的答案。",
        "guide_q": "指南題目",
        "open_in_guide": "檢查這題指南答案",
        "follow_ups": "延伸問題",
        "passage": "原文段落",
        "missing_chunk": "索引中已找不到這個段落；請重新執行 ingest。",
        "topic": "主題",
        "question": "題目",
        "check": "對照論文檢查這個答案",
        "checking": "正在逐句對照論文…",
        "checking_claim": "正在檢查第 {n} / {total} 個論述…",
        "unchecked": "尚未檢查：按下按鈕，依判定結果為每個論述上色。",
        "guide_answer": "指南的答案",
        "claims": "逐句檢查",
        "correction": "更正",
        "build": "產生勘誤表（{n} 題）",
        "errata_topics": "勘誤表包含的主題",
        "building": "正在檢查第 {q} 題（{n} / {total}）…",
        "built": "勘誤表完成：{questions} 題共 {claims} 個論述。",
        "download_md": "下載 Markdown",
        "download_html": "下載 HTML",
        "report_source": "勘誤表（Markdown）",
        "errata_intro": "逐題對照論文檢查學習指南。使用 LLM 時第一次較慢，之後會快取。",
        "sidebar_models": "模型",
        "generator": "生成模型",
        "embedder": "嵌入模型",
        "loaded": "已載入",
        "not_loaded": "尚未載入",
        "index": "索引",
        "index_not_loaded": "尚未載入（第一個問題時載入）",
        "chunks": "段",
        "load_now": "立即載入",
        "language": "Language / 語言",
        "choose_generator": "答案生成方式",
        "clear": "清除對話",
        "internal": "內部錯誤",
    },
}

TOPICS = ("DINOv2", "SAM", "SAM 2", "multimodal")
TOPIC_LABEL = {
    "en": {"DINOv2": "DINOv2 (1–15)", "SAM": "SAM (16–30)", "SAM 2": "SAM 2 (31–40)", "multimodal": "Multimodal (41–50)"},
    "zh": {"DINOv2": "DINOv2（1–15）", "SAM": "SAM（16–30）", "SAM 2": "SAM 2（31–40）", "multimodal": "多模態（41–50）"},
}

VERDICT_COLOR = {"supported": "green", "contradicted": "red", "not_in_papers": "orange"}
VERDICT_TEXT = {
    "en": {"supported": "✅ supported", "contradicted": "❌ contradicted", "not_in_papers": "⚠️ not in the papers"},
    "zh": {"supported": "✅ 論文支持", "contradicted": "❌ 與論文矛盾", "not_in_papers": "⚠️ 論文未提及"},
}

# Starting points for an empty chat; follow-ups after that are derived from the answer.
EXAMPLES = (
    "How is the DINOv2 teacher updated?",
    "SAM 的 mask decoder 如何運作？",
    "How does SAM 2 use memory across video frames?",
)

# --------------------------------------------------------------------------- escaping

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&])")
_BULLET = re.compile(r"^\s*[-*+]\s+")
_MARKER = re.compile(r"(?<!\\)\[(\d{1,2})\]")
_REPEATED_MARKER = re.compile(r"(?<!\\)(\[(\d{1,2})\])(?:\s*\[\2\])+")


def escape_md(text: str) -> str:
    """Backslash-escape every Markdown, directive (`:`) and maths (`$`) character."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def verdict_badge(verdict: str, lang: str) -> str:
    return f":{VERDICT_COLOR[verdict]}-badge[{escape_md(VERDICT_TEXT[lang][verdict])}]"


def _lines(pieces: list[tuple[str, str | None]]) -> list[list[tuple[str, str | None]]]:
    """Split styled pieces at newlines: a directive cannot span lines, so each line is styled alone."""
    lines: list[list[tuple[str, str | None]]] = [[]]
    for text, color in pieces:
        for i, part in enumerate(text.split("\n")):
            if i:
                lines.append([])
            if part:
                lines[-1].append((part, color))
    return lines


def _line_md(parts: list[tuple[str, str | None]], strip_bold: bool) -> str:
    raw = "".join(p for p, _ in parts)
    if not raw.strip():
        return ""
    # Leading blanks are dropped so an indented line never becomes a code block; bullets stay bullets.
    bullet = _BULLET.match(raw)
    drop = bullet.end() if bullet else len(raw) - len(raw.lstrip())
    out = ["- " if bullet else ""]
    for text, color in parts:
        cut = min(drop, len(text))
        text, drop = text[cut:], drop - cut
        if strip_bold:
            text = text.replace("**", "")
        if not text:
            continue
        safe = escape_md(text)
        out.append(f":{color}-background[{safe}]" if color and text.strip() else safe)
    return "".join(out)


def highlighted(text: str, spans: list[tuple[int, int, str]] = (), strip_bold: bool = False) -> str:
    """`text` as safe Markdown with each (start, end, colour) span on a coloured background."""
    pieces: list[tuple[str, str | None]] = []
    pos = 0
    for start, end, color in sorted(spans):
        start = max(start, pos)
        if end <= start:
            continue
        pieces += [(text[pos:start], None), (text[start:end], color)]
        pos = end
    pieces.append((text[pos:], None))
    lines = (_line_md(parts, strip_bold) for parts in _lines(pieces))
    return "\n\n".join(line for line in lines if line)


def highlight_quote(chunk_text: str, quote: str) -> str:
    """The passage with its quoted sentence(s) highlighted (the quote is a verbatim substring)."""
    at = chunk_text.find(quote) if quote else -1
    spans = [(at, at + len(quote), "orange")] if at >= 0 else []
    return highlighted(chunk_text, spans)


def answer_md(text: str) -> str:
    """An answer (model or extractive) as safe Markdown, its `[n]` markers as badges."""
    out = []
    text = _REPEATED_MARKER.sub(r"\1", text)  # "… [1] [1]" reads as one citation, shown once
    for line in text.split("\n"):
        if not line.strip():
            continue
        bullet = _BULLET.match(line)
        body = line[bullet.end():] if bullet else line.strip()
        parts = _MARKER.split(body)  # text, number, text, number, …
        rendered = "".join(
            f":blue-badge[{part}]" if i % 2 else escape_md(part) for i, part in enumerate(parts)
        )
        out.append(("- " if bullet else "") + rendered)
    return "\n\n".join(out)


# --------------------------------------------------------------------------- citations


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def chip_label(c: Citation) -> str:
    """"[1] DINOv2 · 4 Discriminative… · p.4": enough to recognise the source at a glance."""
    page = f" · p.{c.page}" if c.page else ""
    return f"[{c.n}] {c.source} · {short(c.section.rstrip('.'), 28)}{page}"


def citation_header(c: Citation, path: tuple[str, ...]) -> str:
    where = " › ".join(path or c.section_path or (c.section,))
    page = f" · p. {c.page}" if c.page else ""
    return f"**{escape_md(c.source)}** · arXiv {escape_md(c.arxiv_id)} · {escape_md(where)}{escape_md(page)}"


def follow_up_questions(answer: Answer, limit: int = 3) -> list[str]:
    """Questions about the sections the answer drew on: cited ones first, then other retrieved ones."""
    if answer.abstained:
        return []
    seen: list[tuple[str, str]] = []
    addresses = [(c.source, c.section) for c in answer.citations]
    addresses += [(p.chunk.source, p.chunk.section) for p in answer.passages]
    for source, section in addresses:
        heading = section.strip().rstrip(".:：").strip()
        if heading and (source, heading) not in seen:
            seen.append((source, heading))
    if answer.language == "zh-Hant":
        questions = [f"{source} 論文的「{heading}」一節說了什麼？" for source, heading in seen]
    else:
        questions = [f"What does the {source} paper say in “{heading}”?" for source, heading in seen]
    asked = answer.question.strip()
    return [q for q in questions if q != asked][:limit]
