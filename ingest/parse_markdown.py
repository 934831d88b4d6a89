"""Full-text Markdown papers -> clean text with a heading tree.

The Markdown comes from three different converters (an HTML clipper, LaTeXML, pandoc), so the
cleaning is about noise they share: images, figure HTML, citation links, MathML, HTML tables.
Maths in `$…$` and Markdown tables stay, because students ask about numbers in them.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

from studyguide.errors import SourceError
from studyguide.types import PaperSpec, ParsedDocument, Section

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# "4", "6.2", "B.1", "A.2.1", "Appendix B"; a bare letter only with a dot part or "Appendix".
_SECTION_NUMBER = re.compile(r"^(?:Appendix\s+([A-Z])\b|(\d+(?:\.\d+)*|[A-Z](?:\.\d+)+)\s)")
_REFERENCES = re.compile(r"^(references|bibliography)$", re.IGNORECASE)
# A footnote definition that is a bibliography entry ("[^12]: A. Author, … In *CVPR*, 2021."):
# some conversions put the whole reference list at the end of the last appendix as footnotes.
# Footnotes with prose (SAM 2's "[^3]: We note that …") stay.
_BIB_FOOTNOTE = re.compile(r"^\[\^\w+\]:\s.*(?:\b(?:19|20)\d{2}[a-z]?\.?|arXiv:\s?\d{4}\.\d{4,5}\.?)\s*$")

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_IMAGE = re.compile(r"!\[(?:[^\[\]]|\[[^\]]*\])*\]\([^)]*\)")
_FOOTNOTE_REF = re.compile(r"\s?\[\^\d+\]")
_BIB_LINK_INNER = re.compile(r"\[(\d+)\]\(#bib[^)]*\)")
_BIB_LIST = re.compile(r"\s?\[\[?\d+(?:\]?,\s*\[?\d+)*\]?\]")
_LINK = re.compile(r"\[([^\[\]]*)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)")
_MATH_ANNOTATION = re.compile(r"<math\b.*?<annotation[^>]*>(.*?)</annotation>.*?</math>", re.DOTALL)
_MATH_ANY = re.compile(r"<math\b.*?</math>", re.DOTALL)
_TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_INVISIBLE = re.compile("[\u2061\u2062\u2063\u2064\u200b\ufeff]")
_SPACES = re.compile(r"[ \t]{2,}")


def _html_table_to_text(table_html: str) -> str:
    rows = re.findall(r"<tr\b.*?</tr>", table_html, re.DOTALL | re.IGNORECASE)
    lines = []
    for row in rows:
        cells = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", row, re.DOTALL | re.IGNORECASE)
        cells = [_TAG.sub("", c).strip() for c in cells]
        cells = [c for c in cells if c]
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def clean_inline(text: str) -> str:
    """Strip converter noise from one line or paragraph of Markdown."""
    text = _INVISIBLE.sub("", text)
    text = _MATH_ANNOTATION.sub(lambda m: f"${html.unescape(m.group(1)).strip()}$", text)
    text = _MATH_ANY.sub("", text)
    text = _IMAGE.sub("", text)
    # "[[10](#bib.bib10), [11](#bib.bib11)]" -> "[10, 11]" -> "": such brackets would be
    # mistaken for our own [n] citation markers.
    text = _BIB_LINK_INNER.sub(r"\1", text)
    text = _FOOTNOTE_REF.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _BIB_LIST.sub("", text)
    text = re.sub(r"<figcaption[^>]*>", "", text)
    text = re.sub(r"<embed[^>]*/?>", "", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    return _SPACES.sub(" ", text).strip()


def section_number(heading: str) -> str:
    match = _SECTION_NUMBER.match(heading)
    if not match:
        return ""
    return match.group(1) or match.group(2)


def _markdown_blocks(body: str) -> list[str]:
    """Split into lines, but keep each HTML table (possibly one long line) as one block."""
    body = _TABLE.sub(lambda m: "\n" + _html_table_to_text(m.group(0)) + "\n", body)
    return body.split("\n")


def parse_markdown_text(raw: str, spec: PaperSpec, origin: str, content_hash: str) -> ParsedDocument:
    body = _FRONT_MATTER.sub("", raw, count=1)
    out: list[str] = []
    length = 0
    sections: list[Section] = []
    # open heading stack: (level, heading, number)
    stack: list[tuple[int, str, str]] = []
    current: dict | None = None
    skipping_references = False
    references_level = 0

    def close_current() -> None:
        nonlocal current
        if current is not None:
            sections.append(Section(char_end=length, **current))
            current = None

    paragraph: list[str] = []

    def flush_paragraph() -> None:
        nonlocal length
        if not paragraph:
            return
        text = clean_inline(" ".join(p.strip() for p in paragraph))
        paragraph.clear()
        if not text:
            return
        piece = text + "\n\n"
        out.append(piece)
        length += len(piece)

    for line in _markdown_blocks(body):
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            title = clean_inline(heading.group(2))
            if not title or level == 1:  # the paper's title, not a section
                continue
            if skipping_references and level > references_level:
                continue
            flush_paragraph()
            skipping_references = False
            close_current()
            while stack and stack[-1][0] >= level:
                stack.pop()
            if _REFERENCES.match(title):
                skipping_references, references_level = True, level
                continue
            own = section_number(title)
            number = own or next((n for _, _, n in reversed(stack) if n), "")
            stack.append((level, title, number))
            piece = title + "\n\n"
            out.append(piece)
            length += len(piece)
            current = dict(
                heading=title,
                number=number,
                path=tuple(h for _, h, _ in stack),
                char_start=length,
            )
            continue
        if skipping_references:
            continue
        stripped = line.strip()
        if _BIB_FOOTNOTE.match(stripped):
            continue
        if not stripped:
            flush_paragraph()
        elif stripped.startswith("|") or " | " in stripped and not paragraph:
            # table rows keep their line structure
            flush_paragraph()
            row = clean_inline(stripped)
            if row and not re.fullmatch(r"[|\-\s:]+", row):
                piece = row + "\n"
                out.append(piece)
                length += len(piece)
        else:
            paragraph.append(stripped)
    flush_paragraph()
    close_current()

    sections = [s for s in sections if s.char_end > s.char_start]
    if not sections:
        raise SourceError(
            f"{origin}: no Markdown headings found; a paper's full text needs its section "
            "headings (#, ##, ...) so citations can name a section"
        )
    return ParsedDocument(
        source=spec.short_name,
        kind="paper",
        text="".join(out),
        sections=sections,
        pages=None,
        origin=origin,
        format="markdown",
        arxiv_id=spec.arxiv_id,
        title=spec.title,
        content_hash=content_hash,
    )


def parse_markdown(path: Path, spec: PaperSpec) -> ParsedDocument:
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: file not found; put the paper there or fix --papers-dir") from exc
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror}); check its permissions") from exc
    try:
        raw = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8 Markdown"
        ) from exc
    if not raw.strip():
        raise SourceError(f"{path}: the file is empty; replace it with the paper's full text")
    return parse_markdown_text(raw, spec, str(path), hashlib.sha256(raw_bytes).hexdigest())
