"""arXiv PDFs -> clean text, page spans and a heading tree.

arXiv PDFs rarely carry a usable outline, so headings are mostly recovered from typography:
the body font is the most common size by character count; a heading is a short line that is
bigger than that or bold, and (for section headings) starts with the paper's own number.
When the PDF does have an outline whose entries can be found on their pages, it is trusted
instead of the fonts for section headings.

Everything a citation does not want is removed before the text is assembled: running
headers and footers, bare page numbers, rotated margin stamps, and the References section
(appendices after it are kept). Each page's text stays contiguous in `ParsedDocument.text`,
so any character offset maps back to the page a student can open.

Sections are flat and never overlap: a section's span runs from the end of its heading to
the next heading of any level, so a parent whose first child follows immediately has an
empty span and is left out (it still appears in its children's `path`).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pymupdf

from studyguide.errors import SourceError
from studyguide.types import PageSpan, PaperSpec, ParsedDocument, Section

_FIX = "re-download it, or put the paper's Markdown full text in the papers folder instead"

# get_text flags: expand ligatures (so "ﬁ" searches as "fi"), keep whitespace, skip images.
_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
_BOLD_FLAG = 16
# Font names that mean bold even when the font descriptor does not say so (Computer Modern
# "CMBX", Times "NimbusRomNo9L-Medi", "...-Semibold", ...).
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi|medi|cmbx|cmb\d|\bbx", re.IGNORECASE)

_MARGIN_BAND = 0.08  # top/bottom fraction of the page where running headers/footers live
_REPEAT_SHARE = 0.4  # a margin text on at least this share of pages is running furniture
_BARE_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?(?:\d{1,4}|[ivxlc]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE
)

# "1 Introduction", "4.2. Foo", "A.3 Bar", "A Details" (letters only in the appendix),
# "Appendix B Foo", "Appendix C".
_NUMBERED = re.compile(
    r"^(?:Appendix\s+(?P<app>[A-Z](?:\.\d{1,2}){0,3})\b[.:]?\s*"
    r"|(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}|[A-Z](?:\.\d{1,2}){0,3})\.?\s+)"
    r"(?P<title>.*)$"
)
_NAMED = re.compile(
    r"^(abstract|references|bibliography|acknowledge?ments?|appendix|appendices"
    r"|supplementary materials?|supplementary)$",
    re.IGNORECASE,
)
_REFERENCES = re.compile(r"^(references|bibliography)$", re.IGNORECASE)
_APPENDIX_START = re.compile(r"^(appendix|appendices|supplementary)", re.IGNORECASE)
_CAPTION = re.compile(r"^(fig(ure)?|tab(le)?|algorithm|alg|eq(uation)?|listing)\b", re.IGNORECASE)
_LINE_END_HYPHEN = re.compile(r"([^\W\d_]+)[-\u2010\u2011]$")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u00ad\ufffd]")

_MAX_HEADING_CHARS = 140
_MAX_HEADING_WORDS = 16
_MAX_RUNIN_WORDS = 8


# ----------------------------------------------------------------------------- data


@dataclass
class _Span:
    text: str
    size: float
    bold: bool


@dataclass
class _Row:
    """One visual line: PyMuPDF lines on the same baseline merged left to right."""

    spans: list[_Span]
    y0: float
    y1: float
    x1: float  # right edge, so only text to the right joins the row

    @property
    def text(self) -> str:
        return _SPACES.sub(" ", "".join(s.text for s in self.spans)).strip()

    @property
    def size(self) -> float:
        sizes = Counter[float]()
        for s in self.spans:
            sizes[round(s.size * 2) / 2] += len(s.text.strip())
        return sizes.most_common(1)[0][0] if sizes else 0.0

    @property
    def bold(self) -> bool:
        chars = sum(len(s.text.strip()) for s in self.spans)
        bold = sum(len(s.text.strip()) for s in self.spans if s.bold)
        return chars > 0 and bold / chars >= 0.6


@dataclass
class _Block:
    page: int  # 1-based
    rows: list[_Row]
    y0: float
    y1: float


@dataclass(frozen=True)
class _Heading:
    text: str  # as printed, e.g. "4.2 Foo" or "Mask decoder."
    number: str  # its own number ("4.2", "B"), "" if unnumbered
    level: int
    kind: Literal["numbered", "named", "styled", "runin", "outline"]


@dataclass
class _Para:
    page: int
    text: str
    heading: _Heading | None = None


@dataclass
class _State:
    """What the heading classifier has seen so far (numbers only ever increase)."""

    last_digits: tuple[int, ...] = ()
    last_letters: tuple[int, ...] = ()
    in_appendix: bool = False
    level: int = 0  # level of the innermost non-run-in heading
    numbered_styles: dict[tuple[float, bool], int] = field(default_factory=dict)


# ----------------------------------------------------------------------------- public


def parse_pdf(path: Path, spec: PaperSpec) -> ParsedDocument:
    """Parse one paper's PDF; any problem with the file becomes a one-line SourceError."""
    data = _read_bytes(path)
    problem = pdf_problem(data)
    if problem:
        raise SourceError(f"{path}: {problem}; {_FIX}")
    doc = _open(data, path)
    try:
        blocks, heights, page_count = _extract_blocks(doc, path)
        outline = _outline(doc)
    finally:
        doc.close()
    blocks = _drop_running_furniture(blocks, heights)
    if not blocks:
        raise SourceError(
            f"{path}: the PDF has no extractable text (a scanned image?); use the arXiv PDF, "
            "or put the paper's Markdown full text in the papers folder instead"
        )
    paras = _paragraphs(blocks, outline)
    text, pages, sections = _assemble(paras, page_count, spec.title)
    return ParsedDocument(
        source=spec.short_name,
        kind="paper",
        text=text,
        sections=sections,
        pages=pages,
        origin=str(path),
        format="pdf",
        arxiv_id=spec.arxiv_id,
        title=spec.title,
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def pdf_problem(data: bytes) -> str | None:
    """Why these bytes are not a usable PDF ("truncated ...", "encrypted ..."), or None.

    Cheap structural checks first: PyMuPDF silently repairs a truncated file and would
    hand back half a paper, so a missing end marker is rejected before it is opened.
    """
    if not data:
        return "the file is empty"
    if b"%PDF-" not in data[:1024]:
        return f"not a PDF (it starts with {data[:8]!r})"
    if b"%%EOF" not in data[-2048:]:
        return "the PDF is truncated (no %%EOF end marker)"
    try:
        doc = _open_stream(data)
    except RuntimeError:
        return "the PDF is corrupt and cannot be opened"
    try:
        if doc.needs_pass:
            return "the PDF is encrypted with a password"
        if doc.page_count == 0:
            return "the PDF has no pages"
    finally:
        doc.close()
    return None


# ----------------------------------------------------------------------------- reading


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise SourceError(
            f"{path}: file not found; put the paper's PDF there, or its Markdown full text "
            "in the papers folder instead"
        )
    if not path.is_file():
        raise SourceError(f"{path}: is not a file; point the papers folder at the PDF files")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror}); check its permissions") from exc


def _open_stream(data: bytes) -> pymupdf.Document:
    """Open quietly: MuPDF would print its repair chatter to stderr."""
    display = pymupdf.TOOLS.mupdf_display_errors()
    pymupdf.TOOLS.mupdf_display_errors(False)
    try:
        return pymupdf.open(stream=data, filetype="pdf")
    finally:
        pymupdf.TOOLS.mupdf_display_errors(display)
        pymupdf.TOOLS.reset_mupdf_warnings()


def _open(data: bytes, path: Path) -> pymupdf.Document:
    try:
        return _open_stream(data)
    except RuntimeError as exc:
        raise SourceError(f"{path}: the PDF is corrupt and cannot be opened; {_FIX}") from exc


def _extract_blocks(
    doc: pymupdf.Document, path: Path
) -> tuple[list[_Block], dict[int, float], int]:
    blocks: list[_Block] = []
    heights: dict[int, float] = {}
    try:
        for index, page in enumerate(doc):
            number = index + 1
            heights[number] = page.rect.height
            raw = page.get_text("dict", flags=_TEXT_FLAGS)
            blocks.extend(_page_blocks(raw, number))
    except RuntimeError as exc:
        raise SourceError(f"{path}: the PDF is damaged ({exc}); {_FIX}") from exc
    return blocks, heights, doc.page_count


def _page_blocks(raw: dict, page: int) -> list[_Block]:
    out = []
    for block in raw.get("blocks", []):
        if block.get("type", 0) != 0:
            continue
        rows = _rows(block)
        if rows:
            out.append(_Block(page, rows, min(r.y0 for r in rows), max(r.y1 for r in rows)))
    return out


def _rows(block: dict) -> list[_Row]:
    """Merge PyMuPDF lines sharing a baseline (a bold run-in heading is often its own line)."""
    rows: list[_Row] = []
    for line in block.get("lines", []):
        dx, dy = line.get("dir", (1.0, 0.0))
        if dx <= 0 or abs(dy) > 0.1:  # rotated text: the arXiv stamp in the margin, axis labels
            continue
        spans = [
            _Span(_clean(s["text"]), float(s["size"]), _is_bold(s))
            for s in line.get("spans", [])
            if _clean(s["text"])
        ]
        if not spans:
            continue
        x0, y0, x1, y1 = line["bbox"]
        if rows and x0 >= rows[-1].x1 - 2 and _same_baseline(rows[-1], y0, y1):
            last = rows[-1]
            if not last.spans[-1].text.endswith(" ") and not spans[0].text.startswith(" "):
                last.spans[-1].text += " "
            last.spans.extend(spans)
            last.y0, last.y1, last.x1 = min(last.y0, y0), max(last.y1, y1), x1
        else:
            rows.append(_Row(spans, y0, y1, x1))
    return [r for r in rows if r.text]


def _same_baseline(row: _Row, y0: float, y1: float) -> bool:
    overlap = min(row.y1, y1) - max(row.y0, y0)
    return overlap > 0.6 * min(row.y1 - row.y0, y1 - y0)


def _is_bold(span: dict) -> bool:
    return bool(span.get("flags", 0) & _BOLD_FLAG) or bool(_BOLD_NAME.search(span.get("font", "")))


def _clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\t", " "))


def _outline(doc: pymupdf.Document) -> list[tuple[int, str, int]]:
    try:
        return [(int(lvl), str(title).strip(), int(page)) for lvl, title, page, *_ in doc.get_toc()]
    except (RuntimeError, ValueError):
        return []


# ----------------------------------------------------------------------------- furniture


def _furniture_key(block: _Block, height: float) -> str | None:
    """Digit-normalised text of a block in the top/bottom margin band, else None."""
    middle = (block.y0 + block.y1) / 2
    if _MARGIN_BAND * height < middle < (1 - _MARGIN_BAND) * height:
        return None
    band = "top" if middle <= _MARGIN_BAND * height else "bottom"
    text = " ".join(r.text for r in block.rows).lower()
    return band + ":" + _SPACES.sub(" ", re.sub(r"\d+", "#", text)).strip()


def _drop_running_furniture(blocks: list[_Block], heights: dict[int, float]) -> list[_Block]:
    """Drop running headers/footers (margin text repeating across pages) and page numbers."""
    keys = [_furniture_key(b, heights[b.page]) for b in blocks]
    pages_with: dict[str, set[int]] = {}
    for block, key in zip(blocks, keys):
        if key:
            pages_with.setdefault(key, set()).add(block.page)
    needed = max(2, math.ceil(_REPEAT_SHARE * len(heights)))
    kept = []
    for block, key in zip(blocks, keys):
        if key and len(pages_with[key]) >= needed:
            continue
        if key and _BARE_PAGE_NUMBER.match(" ".join(r.text for r in block.rows)):
            continue
        kept.append(block)
    return kept


# ----------------------------------------------------------------------------- headings


def _body_size(blocks: list[_Block]) -> float:
    sizes = Counter[float]()
    for block in blocks:
        for row in block.rows:
            for span in row.spans:
                sizes[round(span.size * 2) / 2] += len(span.text.strip())
    return sizes.most_common(1)[0][0]


def _number_key(number: str) -> tuple[bool, tuple[int, ...]]:
    """("B.1") -> (True, (2, 1)): letters count from A=1 so numbers compare as tuples."""
    parts = number.split(".")
    letters = parts[0].isalpha()
    head = ord(parts[0]) - ord("A") + 1 if letters else int(parts[0])
    return letters, (head, *(int(p) for p in parts[1:]))


def _plausible_title(title: str) -> bool:
    words = title.split()
    return (
        bool(words)
        and title[0].isalpha()
        and len(title) <= _MAX_HEADING_CHARS
        and len(words) <= _MAX_HEADING_WORDS
        and sum(ch.isalpha() for ch in title) >= 3
    )


def _match_numbered(text: str, state: _State) -> tuple[str, str] | None:
    """(number, title) if `text` reads as a numbered heading in the paper's sequence."""
    match = _NUMBERED.match(text)
    if not match:
        return None
    number = match.group("app") or match.group("num")
    title = match.group("title").strip()
    appendix_word = match.group("app") is not None
    if not (appendix_word and not title) and not _plausible_title(title):
        return None
    if "." not in number and number.isalpha() and not (appendix_word or state.in_appendix):
        return None  # "A Simple Baseline" is a sentence, not appendix A
    letters, key = _number_key(number)
    last = state.last_letters if letters else state.last_digits
    if key <= last or key[0] > (last[0] if last else 0) + 2:
        return None
    return number, title


def _accept_numbered(number: str, state: _State) -> None:
    letters, key = _number_key(number)
    if letters:
        state.last_letters, state.in_appendix = key, True
    else:
        state.last_digits = key


def _styled(row: _Row, body: float) -> bool:
    """Bold, or clearly bigger than the body text."""
    return row.bold or row.size >= body + 1.0


def _heading_rows(block: _Block, body: float) -> int:
    """How many leading rows of `block` share one heading style (0 if the first is body)."""
    first = block.rows[0]
    if not _styled(first, body):
        return 0
    count = 1
    for row in block.rows[1:]:
        if row.bold != first.bold or abs(row.size - first.size) > 0.3:
            break
        count += 1
    return count


def _runin(block: _Block, body: float) -> tuple[str, list[str]] | None:
    """A bold lead-in like "Mask decoder." opening a body-sized paragraph: (lead, rest)."""
    first = block.rows[0]
    if abs(first.size - body) > 1.0:
        return None
    prefix = []
    for span in first.spans:
        if not span.bold:
            break
        prefix.append(span.text)
    lines = [r.text for r in block.rows]
    if len(prefix) == len(first.spans):  # the lead-in fills its own line
        if len(lines) < 2 or block.rows[1].bold:
            return None
        lead, rest = first.text, lines[1:]
    else:
        lead = _SPACES.sub(" ", "".join(prefix)).strip()
        rest = [lines[0][len(lead) :].strip(), *lines[1:]]
    if not _is_runin_lead(lead):
        return None
    return lead, rest


def _is_runin_lead(lead: str) -> bool:
    return (
        bool(lead)
        and lead[-1] in ".:"
        and len(lead.split()) <= _MAX_RUNIN_WORDS
        and lead[0].isupper()
        and not _CAPTION.match(lead)
    )


def _classify(
    candidate: str, row: _Row, single: bool, state: _State, body: float
) -> _Heading | None:
    """Decide whether styled leading text of a block is a heading, by fonts and numbering."""
    bare = candidate.rstrip(".:").strip()
    if _NAMED.match(bare):
        return _Heading(candidate, "", 1, "named")
    numbered = _match_numbered(candidate, state)
    if numbered:
        number, _ = numbered
        return _Heading(candidate, number, number.count(".") + 1, "numbered")
    style = (row.size, row.bold)
    if (
        single
        and (state.last_digits or state.in_appendix)  # never the title or author names
        and row.size >= body + 1.0
        and style in state.numbered_styles
        and _plausible_title(candidate)
        and len(candidate.split()) <= 8
        and not candidate.endswith(".")
    ):
        return _Heading(candidate, "", state.numbered_styles[style], "styled")
    return None


def _numbered_styles(blocks: list[_Block], body: float) -> dict[tuple[float, bool], int]:
    """Fonts of lines that look like numbered headings, with the shallowest level seen: an
    unnumbered line in one of these fonts ("Limitations", "Conclusion") is a heading too."""
    styles: dict[tuple[float, bool], int] = {}
    for block in blocks:
        first = block.rows[0]
        match = _NUMBERED.match(first.text)
        if not match or first.size < body + 1.0 or not _plausible_title(match.group("title")):
            continue
        number = match.group("app") or match.group("num")
        if number.isalpha() and not match.group("app"):
            continue  # "A Tiny Title" is not appendix A
        style = (first.size, first.bold)
        styles[style] = min(styles.get(style, 9), number.count(".") + 1)
    return styles


# ----------------------------------------------------------------------------- outline


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _strip_number(text: str) -> str:
    match = _NUMBERED.match(text)
    return match.group("title") if match and match.group("title") else text


def _outline_headings(
    blocks: list[_Block], outline: list[tuple[int, str, int]]
) -> dict[int, tuple[int, int]] | None:
    """Block index -> (leading rows, level) for outline entries found on their pages.

    Returns None when the outline is absent or does not match the text (then fonts decide):
    at least 70% of its entries must be found, in order, as the start of a block.
    """
    if len(outline) < 2:
        return None
    by_page: dict[int, list[int]] = {}
    for index, block in enumerate(blocks):
        by_page.setdefault(block.page, []).append(index)
    found: dict[int, tuple[int, int]] = {}
    after = -1
    for level, title, page in outline:
        want = _norm(_strip_number(title))
        if not want:
            continue
        hit = _find_outline_entry(blocks, by_page, page, want, after)
        if hit:
            index, rows = hit
            found[index] = (rows, level)
            after = index
    return found if len(found) >= 0.7 * len(outline) else None


def _find_outline_entry(
    blocks: list[_Block], by_page: dict[int, list[int]], page: int, want: str, after: int
) -> tuple[int, int] | None:
    for near in (page, page + 1, page - 1):
        for index in by_page.get(near, []):
            if index <= after:
                continue
            rows = blocks[index].rows
            for count in (1, 2, 3):
                if count > len(rows):
                    break
                text = " ".join(r.text for r in rows[:count])
                if _norm(_strip_number(text)) == want:
                    return index, count
    return None


# ----------------------------------------------------------------------------- paragraphs


@dataclass
class _Vocabulary:
    """Words seen in the paper, to tell "self-\\nsupervised" (keep) from "hyphen-\\nated"."""

    words: set[str]
    compounds: set[str]

    @classmethod
    def of(cls, blocks: list[_Block]) -> "_Vocabulary":
        words, compounds = set(), set()
        for block in blocks:
            for row in block.rows:
                for token in _WORD.findall(row.text.lower()):
                    (compounds if "-" in token else words).add(token)
        return cls(words, compounds)

    def join(self, rows: list[str]) -> str:
        """Join a paragraph's lines, undoing line-end hyphenation."""
        out = ""
        for line in rows:
            line = line.strip()
            if not line:
                continue
            if not out:
                out = line
                continue
            match = _LINE_END_HYPHEN.search(out)
            next_word = _WORD.match(line)
            if match and next_word and line[0].islower():
                left, right = match.group(1).lower(), next_word.group(0).split("-")[0]
                keep = f"{left}-{right}" in self.compounds and left + right not in self.words
                out = out + line if keep else out[:-1] + line
            else:
                out = f"{out} {line}"
        return out


def _paragraphs(blocks: list[_Block], outline: list[tuple[int, str, int]]) -> list[_Para]:
    """Turn blocks into paragraphs, splitting heading text off the front of a block."""
    body = _body_size(blocks)
    vocab = _Vocabulary.of(blocks)
    state = _State(numbered_styles=_numbered_styles(blocks, body))
    from_outline = _outline_headings(blocks, outline)
    paras: list[_Para] = []
    for index, block in enumerate(blocks):
        heading, rest = _split_heading(block, index, body, vocab, state, from_outline)
        if heading:
            paras.append(_Para(block.page, heading.text, heading))
        text = vocab.join(rest)
        if text:
            paras.append(_Para(block.page, text))
    return paras


def _split_heading(
    block: _Block,
    index: int,
    body: float,
    vocab: _Vocabulary,
    state: _State,
    from_outline: dict[int, tuple[int, int]] | None,
) -> tuple[_Heading | None, list[str]]:
    """(heading or None, the block's remaining lines)."""
    lines = [r.text for r in block.rows]
    if from_outline is not None and index in from_outline:
        count, level = from_outline[index]
        text = vocab.join(lines[:count])
        match = _NUMBERED.match(text)
        number = (
            (match.group("app") or match.group("num")) if match and match.group("title") else ""
        )
        state.level = level
        state.in_appendix = state.in_appendix or bool(_APPENDIX_START.match(text))
        return _Heading(text, number, level, "outline"), lines[count:]

    count = _heading_rows(block, body)
    if count and count <= 3:
        text = vocab.join(lines[:count])
        heading = _classify(text, block.rows[0], count == len(lines), state, body)
        if heading and (from_outline is None or heading.kind == "named"):
            _note(heading, state)
            return heading, lines[count:]

    runin = _runin(block, body)
    if runin:
        lead, rest = runin
        if _NAMED.match(lead.rstrip(".:").strip()):
            heading = _Heading(lead, "", 1, "named")
        else:
            heading = _Heading(lead, "", state.level + 1, "runin")
        _note(heading, state)
        return heading, rest
    return None, lines


def _note(heading: _Heading, state: _State) -> None:
    """Advance the classifier state past an accepted heading."""
    if heading.kind == "numbered":
        _accept_numbered(heading.number, state)
    if heading.kind != "runin" and (_is_references(heading) or _APPENDIX_START.match(heading.text)):
        state.in_appendix = True  # what follows the references is appendix
    if heading.kind != "runin":
        state.level = heading.level


# ----------------------------------------------------------------------------- assembly


def _is_references(heading: _Heading) -> bool:
    title = _strip_number(heading.text) if heading.number else heading.text
    return bool(_REFERENCES.match(title.rstrip(".:").strip()))


def _assemble(
    paras: list[_Para], page_count: int, title: str
) -> tuple[str, list[PageSpan], list[Section]]:
    """Concatenate paragraphs (blank line between), skipping the references, and cut sections."""
    pieces: list[str] = []
    length = 0
    page_starts: dict[int, int] = {}
    opened: list[tuple[_Heading, int, int]] = []  # (heading, heading offset, body offset)
    skipping = False
    for para in paras:
        if para.heading and _is_references(para.heading):
            skipping = True
            opened.append((para.heading, length, -1))  # closes the section before it
            continue
        if skipping and not (para.heading and para.heading.kind != "runin"):
            continue
        skipping = False
        page_starts.setdefault(para.page, length)
        start = length
        piece = para.text + "\n\n"
        pieces.append(piece)
        length += len(piece)
        if para.heading:
            opened.append((para.heading, start, length))
    text = "".join(pieces)
    pages = _page_spans(page_starts, page_count, len(text))
    return text, pages, _sections(opened, len(text), pages, title)


def _page_spans(page_starts: dict[int, int], page_count: int, total: int) -> list[PageSpan]:
    """Contiguous spans covering the text; a page that contributed nothing gets an empty span."""
    starts = []
    for page in range(1, page_count + 1):
        starts.append(page_starts.get(page, -1))
    # pages without text start where the next page with text starts
    following = total
    for i in range(page_count - 1, -1, -1):
        if starts[i] < 0:
            starts[i] = following
        following = starts[i]
    ends = starts[1:] + [total]
    return [
        PageSpan(page=i + 1, char_start=s, char_end=e) for i, (s, e) in enumerate(zip(starts, ends))
    ]


def _page_at(pages: list[PageSpan], offset: int) -> int | None:
    starts = [p.char_start for p in pages]
    index = bisect.bisect_right(starts, offset) - 1
    while index > 0 and pages[index].char_start == pages[index].char_end:
        index -= 1
    return pages[index].page if index >= 0 else None


def _sections(
    opened: list[tuple[_Heading, int, int]], total: int, pages: list[PageSpan], title: str
) -> list[Section]:
    sections: list[Section] = []
    stack: list[_Heading] = []
    first = opened[0][1] if opened else total
    if first > 0:
        front = title or "Front matter"
        sections.append(_section(front, "", (front,), 0, first, pages))
    for i, (heading, _, body_start) in enumerate(opened):
        end = opened[i + 1][1] if i + 1 < len(opened) else total
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        if body_start < 0 or end <= body_start:
            continue  # the references marker, or a parent whose first child follows at once
        number = next((h.number for h in reversed(stack) if h.number), "")
        path = tuple(h.text for h in stack)
        sections.append(_section(heading.text, number, path, body_start, end, pages))
    return sections


def _section(
    heading: str, number: str, path: tuple[str, ...], start: int, end: int, pages
) -> Section:
    return Section(
        heading=heading,
        number=number,
        path=path,
        char_start=start,
        char_end=end,
        page_start=_page_at(pages, start),
        page_end=_page_at(pages, max(start, end - 1)),
    )
