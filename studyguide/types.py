"""The small typed vocabulary every stage speaks.

Data flows corpus -> ingest (SourceSpec -> ParsedDocument -> Chunk) -> Chroma ->
app (Passage -> Citation -> Answer, Claim -> ClaimVerdict -> QuestionCheck).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

SourceKind = Literal["paper", "guide"]
Verdict = Literal["supported", "contradicted", "not_in_papers"]
Language = Literal["zh-Hant", "en"]

VERDICTS: tuple[Verdict, ...] = ("supported", "contradicted", "not_in_papers")


@dataclass(frozen=True)
class PaperSpec:
    """One paper as the manifest names it."""

    short_name: str  # exactly "DINOv2", "SAM" or "SAM 2": citations use it verbatim
    arxiv_id: str  # without version, e.g. "2304.07193"
    version: str  # e.g. "v2"
    title: str


@dataclass(frozen=True)
class Section:
    """A heading of a parsed source and the span of text it governs."""

    heading: str  # innermost heading text as the paper prints it, e.g. "Mask decoder."
    number: str  # paper's own number of the nearest numbered ancestor ("4", "B.1", "A"), "" if none
    path: tuple[str, ...]  # headings from the top down to this one, inclusive
    char_start: int  # offset of the section body in ParsedDocument.text
    char_end: int
    page_start: int | None = None  # 1-based PDF page, None for full-text sources
    page_end: int | None = None


@dataclass(frozen=True)
class PageSpan:
    """Where one PDF page lies in ParsedDocument.text."""

    page: int  # 1-based, as a PDF viewer shows it
    char_start: int
    char_end: int


@dataclass
class ParsedDocument:
    """A source reduced to clean text plus the addresses needed to cite into it."""

    source: str  # short name ("DINOv2", ...) or "guide"
    kind: SourceKind
    text: str  # the clean text chunks and quotes are cut from
    sections: list[Section]
    pages: list[PageSpan] | None  # None for a full-text (Markdown) source
    origin: str  # file path or URL it was read from
    format: Literal["pdf", "markdown", "guide"]
    arxiv_id: str = ""
    title: str = ""
    content_hash: str = ""  # sha256 of the raw source bytes


@dataclass(frozen=True)
class GuideAnswer:
    """One of the guide's 50 answers: the thing being studied and checked, never evidence."""

    number: int  # 1..50
    question: str
    topic: str  # "DINOv2", "SAM", "SAM 2" or "multimodal"
    text: str  # the answer body, sub-headings included
    bullets: tuple[str, ...]
    char_start: int  # offset of the answer body in the guide file's text
    char_end: int


@dataclass(frozen=True)
class Chunk:
    """A retrievable unit; never crosses a section. Stored as a LangChain Document."""

    chunk_id: str  # content hash: same text and address -> same id
    source: str
    kind: SourceKind
    text: str
    section: str
    section_number: str
    section_path: tuple[str, ...]
    char_start: int  # offsets into ParsedDocument.text
    char_end: int
    page_start: int | None = None
    page_end: int | None = None
    arxiv_id: str = ""
    guide_question: int | None = None  # for guide chunks: the question number
    content_hash: str = ""  # hash of the whole source, to replace a changed source's chunks


@dataclass
class Passage:
    """A chunk returned by retrieval, with the scores that ranked it."""

    chunk: Chunk
    score: float  # fused score (higher is better)
    dense: float | None = None  # cosine similarity to the query, when known
    lexical: float | None = None  # BM25 score, when known


@dataclass
class Citation:
    """An address a student can check: paper, section, page and a verbatim quote."""

    n: int
    source: str
    arxiv_id: str
    page: int | None
    section: str
    quote: str  # always a verbatim substring of the stored chunk text
    chunk_id: str
    section_number: str = ""
    section_path: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "source": self.source,
            "arxiv_id": self.arxiv_id,
            "page": self.page,
            "section": self.section,
            "quote": self.quote,
            "chunk_id": self.chunk_id,
        }


@dataclass
class GuideExcerpt:
    question: int
    excerpt: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    """What `ask` returns; `to_json` is the stable CLI contract."""

    question: str
    standalone_question: str
    language: Language
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    guide: list[GuideExcerpt] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)  # context shown to the generator

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "language": self.language,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_json() for c in self.citations],
            "guide": [g.to_json() for g in self.guide],
        }


@dataclass(frozen=True)
class Claim:
    """One checkable statement cut from a guide answer."""

    question: int
    text: str  # exact text as it stands in the guide
    char_start: int  # offsets into the guide file's text, for highlighting
    char_end: int


@dataclass
class ClaimVerdict:
    claim: Claim
    verdict: Verdict
    correction: str
    citations: list[Citation] = field(default_factory=list)
    support: float = 0.0  # judge's support probability for the best passage

    def to_json(self) -> dict:
        return {
            "text": self.claim.text,
            "verdict": self.verdict,
            "correction": self.correction,
            "citations": [c.to_json() for c in self.citations],
        }


@dataclass
class QuestionCheck:
    question: int
    title: str
    claims: list[ClaimVerdict]

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "title": self.title,
            "claims": [c.to_json() for c in self.claims],
        }
