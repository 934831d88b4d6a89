"""ParsedDocument / GuideAnswer -> Chunks that never cross a section and know their address."""

from __future__ import annotations

import bisect
import hashlib

from langchain_text_splitters import RecursiveCharacterTextSplitter

from studyguide.types import Chunk, GuideAnswer, ParsedDocument, Section


def chunk_id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:32]


def _page_of(doc: ParsedDocument, offset: int) -> int | None:
    if not doc.pages:
        return None
    starts = [p.char_start for p in doc.pages]
    index = max(0, bisect.bisect_right(starts, offset) - 1)
    return doc.pages[index].page


def _splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )


def chunk_document(doc: ParsedDocument, chunk_size: int, chunk_overlap: int, min_chars: int) -> list[Chunk]:
    splitter = _splitter(chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    for section in doc.sections:
        body = doc.text[section.char_start : section.char_end]
        if len(body.strip()) < min_chars:
            continue
        for piece in splitter.create_documents([body]):
            start = section.char_start + piece.metadata["start_index"]
            text = piece.page_content
            chunks.append(_make_chunk(doc, section, text, start))
    return chunks


def _make_chunk(doc: ParsedDocument, section: Section, text: str, start: int) -> Chunk:
    end = start + len(text)
    assert doc.text[start:end] == text, "chunk offsets must address the parsed text"
    return Chunk(
        chunk_id=chunk_id(doc.source, section.path, start, text),
        source=doc.source,
        kind="paper",
        text=text,
        section=section.heading,
        section_number=section.number,
        section_path=section.path,
        char_start=start,
        char_end=end,
        page_start=_page_of(doc, start),
        page_end=_page_of(doc, max(start, end - 1)),
        arxiv_id=doc.arxiv_id,
        content_hash=doc.content_hash,
    )


def chunk_guide(answers: list[GuideAnswer], content_hash: str) -> list[Chunk]:
    """One record per answer: the UI shows the guide's answer whole, beside the papers."""
    return [
        Chunk(
            chunk_id=chunk_id("guide", a.number, a.text),
            source="guide",
            kind="guide",
            text=a.text,
            section=f"{a.number}. {a.question}",
            section_number=str(a.number),
            section_path=(a.topic, f"{a.number}. {a.question}"),
            char_start=a.char_start,
            char_end=a.char_end,
            guide_question=a.number,
            content_hash=content_hash,
        )
        for a in answers
    ]


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the address as context, then the text (stored text stays bare,
    so quotes cut from it are verbatim)."""
    if chunk.kind == "guide":
        return f"{chunk.section}\n{chunk.text}"
    return f"{chunk.source} — {' > '.join(chunk.section_path)}\n{chunk.text}"
