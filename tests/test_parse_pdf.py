"""parse_pdf on PDFs written here with PyMuPDF: headings, pages, furniture, references, errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pymupdf
import pytest

from ingest.parse_pdf import parse_pdf, pdf_problem
from studyguide.errors import SourceError
from studyguide.types import PaperSpec, ParsedDocument

SPEC = PaperSpec(short_name="SAM", arxiv_id="2304.02643", version="v1", title="Segment Anything")


class _Writer:
    """Writes lines top-down on one page, like a very small typesetter."""

    def __init__(self, doc: pymupdf.Document, number: int, furniture: bool = True):
        self.page = doc.new_page(width=612, height=792)
        self.y = 90.0
        if furniture:
            self.page.insert_text((72, 40), f"Tiny Test Paper preprint, page {number}", fontsize=8)
            self.page.insert_text((300, 765), str(number), fontsize=9)

    def put(self, text: str, size: float = 10, bold: bool = False, gap: float = 0) -> None:
        self.page.insert_text(
            (72, self.y), text, fontsize=size, fontname="hebo" if bold else "helv"
        )
        self.y += size * 1.25 * (text.count("\n") + 1) + gap

    def runin(self, lead: str, rest: str) -> None:
        """A bold lead-in and the paragraph's first words on the same baseline."""
        self.page.insert_text((72, self.y), lead, fontsize=10, fontname="hebo")
        width = pymupdf.get_text_length(lead + " ", fontname="hebo", fontsize=10)
        self.page.insert_text((72 + width, self.y), rest, fontsize=10, fontname="helv")
        self.y += 12.5


def _paper(path: Path) -> Path:
    doc = pymupdf.open()
    one = _Writer(doc, 1)
    one.put("A Tiny Test Paper", 16, True, gap=20)
    one.put("1 Introduction", 12, True, gap=4)
    one.put(
        "We study promptable segmen-\ntation of images with a small model.\n"
        "The self-supervised idea is old; self-\nsupervised features are robust.",
        gap=12,
    )
    one.put("2 Method", 12, True, gap=4)
    one.put("Our method encodes the image once and answers many prompts.", gap=12)
    one.runin("Figure 1.", "A bold caption label is not a heading.")
    two = _Writer(doc, 2)
    two.runin("Mask decoder.", "The decoder maps embeddings to masks quickly.")
    two.put("It runs in a few milliseconds per prompt on a CPU.", gap=12)
    two.put("The page two marker sentence appears here.", gap=12)
    two.put("References", 12, True, gap=4)
    two.put("[1] A. Author. A cited work about masks. 2020.", gap=12)
    two.put("Appendix A Details", 12, True, gap=4)
    two.put("Appendix body text lives here.")
    doc.save(path)
    return path


def _page_of(doc: ParsedDocument, offset: int) -> int:
    assert doc.pages is not None
    return next(p.page for p in doc.pages if p.char_start <= offset < p.char_end)


def _section(doc: ParsedDocument, heading: str):
    return next(s for s in doc.sections if s.heading == heading)


@pytest.fixture()
def parsed(tmp_path: Path) -> ParsedDocument:
    return parse_pdf(_paper(tmp_path / "sam.pdf"), SPEC)


def test_headings_are_found_with_numbers_and_paths(parsed: ParsedDocument) -> None:
    numbers = {s.heading: s.number for s in parsed.sections}
    assert numbers["1 Introduction"] == "1"
    assert numbers["2 Method"] == "2"
    assert numbers["Mask decoder."] == "2"  # a run-in heading takes its parent's number
    assert numbers["Appendix A Details"] == "A"
    assert _section(parsed, "Mask decoder.").path == ("2 Method", "Mask decoder.")
    assert _section(parsed, "Appendix A Details").path == ("Appendix A Details",)
    assert "A Tiny Test Paper" not in numbers  # the title is front matter, not a section
    assert not any(s.heading.startswith("Figure") for s in parsed.sections)
    assert "Figure 1. A bold caption label is not a heading." in parsed.text


def test_section_spans_hold_their_bodies_and_pages(parsed: ParsedDocument) -> None:
    intro = _section(parsed, "1 Introduction")
    assert parsed.text[intro.char_start : intro.char_end].startswith("We study promptable")
    assert (intro.page_start, intro.page_end) == (1, 1)
    decoder = _section(parsed, "Mask decoder.")
    body = parsed.text[decoder.char_start : decoder.char_end]
    assert body.startswith("The decoder maps embeddings")
    assert "milliseconds" in body and "page two marker" in body
    assert (decoder.page_start, decoder.page_end) == (2, 2)
    spans = [(s.char_start, s.char_end) for s in parsed.sections]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_offsets_map_to_their_pages(parsed: ParsedDocument) -> None:
    assert parsed.pages is not None and [p.page for p in parsed.pages] == [1, 2]
    assert parsed.pages[0].char_start == 0 and parsed.pages[-1].char_end == len(parsed.text)
    assert parsed.pages[0].char_end == parsed.pages[1].char_start
    assert _page_of(parsed, parsed.text.index("We study promptable")) == 1
    assert _page_of(parsed, parsed.text.index("The page two marker sentence")) == 2
    assert _page_of(parsed, parsed.text.index("Appendix body text")) == 2


def test_furniture_and_references_are_dropped(parsed: ParsedDocument) -> None:
    assert "preprint, page" not in parsed.text
    lines = [line.strip() for line in parsed.text.splitlines()]
    assert "1" not in lines and "2" not in lines  # bare page numbers
    assert "cited work about masks" not in parsed.text
    assert "References" not in lines
    assert "Appendix body text lives here." in parsed.text


def test_lines_are_joined_and_dehyphenated(parsed: ParsedDocument) -> None:
    assert "promptable segmentation of images with a small model." in parsed.text
    # "self-" at a line end stays hyphenated because the paper writes "self-supervised"
    assert "old; self-supervised features are robust." in parsed.text
    assert "\n\nOur method encodes" in parsed.text  # blank line between blocks


def test_document_fields(tmp_path: Path) -> None:
    path = _paper(tmp_path / "sam.pdf")
    doc = parse_pdf(path, SPEC)
    assert (doc.source, doc.kind, doc.format) == ("SAM", "paper", "pdf")
    assert (doc.arxiv_id, doc.title, doc.origin) == ("2304.02643", "Segment Anything", str(path))
    assert doc.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    front = doc.sections[0]
    assert front.heading == "Segment Anything" and front.char_start == 0
    assert "A Tiny Test Paper" in doc.text[front.char_start : front.char_end]


def test_bold_body_size_subsection_nests_under_its_section(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = _Writer(doc, 1, furniture=False)
    page.put("1 Experiments", 12, True, gap=4)
    page.put("We run experiments on many images.", gap=12)
    page.put("1.1 Zero-shot transfer", 10, True, gap=4)
    page.put("Transfer works without fine-tuning.", gap=12)
    page.put("A simple idea in bold", 10, True, gap=4)  # not appendix "A": no appendix yet
    page.put("More body text follows here.")
    doc.save(tmp_path / "p.pdf")
    parsed = parse_pdf(tmp_path / "p.pdf", SPEC)
    sub = _section(parsed, "1.1 Zero-shot transfer")
    assert sub.number == "1.1" and sub.path == ("1 Experiments", "1.1 Zero-shot transfer")
    assert not any(s.number == "A" for s in parsed.sections)


def test_outline_is_used_when_it_matches_the_pages(tmp_path: Path) -> None:
    doc = pymupdf.open()
    one = _Writer(doc, 1, furniture=False)
    one.put("1 Introduction", 12, True, gap=4)
    one.put("Opening words of the paper.", gap=12)
    two = _Writer(doc, 2, furniture=False)
    two.put("Results overview", gap=4)  # body font: only the outline says it is a heading
    two.put("The numbers are good.")
    doc.set_toc([[1, "Introduction", 1], [1, "Results overview", 2]])
    doc.save(tmp_path / "o.pdf")
    parsed = parse_pdf(tmp_path / "o.pdf", SPEC)
    numbers = {s.heading: s.number for s in parsed.sections}
    assert numbers == {"1 Introduction": "1", "Results overview": ""}
    results = _section(parsed, "Results overview")
    assert results.page_start == 2
    assert parsed.text[results.char_start : results.char_end].startswith("The numbers are good.")


def test_outline_that_does_not_match_is_ignored(tmp_path: Path) -> None:
    doc = pymupdf.open()
    one = _Writer(doc, 1, furniture=False)
    one.put("1 Introduction", 12, True, gap=4)
    one.put("Opening words of the paper.", gap=12)
    one.put("2 Method", 12, True, gap=4)
    one.put("Method words.")
    doc.set_toc([[1, "Chapter One", 1], [1, "Something Else", 1]])
    doc.save(tmp_path / "o.pdf")
    parsed = parse_pdf(tmp_path / "o.pdf", SPEC)
    assert [s.heading for s in parsed.sections] == ["1 Introduction", "2 Method"]


# ----------------------------------------------------------------------------- bad input


def _one_line_error(path: Path, *needles: str) -> str:
    with pytest.raises(SourceError) as caught:
        parse_pdf(path, SPEC)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for needle in needles:
        assert needle in message, message
    return message


def test_missing_file(tmp_path: Path) -> None:
    _one_line_error(tmp_path / "nope.pdf", "file not found", "Markdown")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "dir.pdf").mkdir()
    _one_line_error(tmp_path / "dir.pdf", "not a file")


def test_random_bytes_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "random.pdf"
    path.write_bytes(os.urandom(4096).replace(b"%PDF", b"xxxx"))
    _one_line_error(path, "not a PDF", "re-download", "Markdown")


def test_pdf_header_then_garbage(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pdf"
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(4096) + b"\n%%EOF\n")
    _one_line_error(path, "corrupt", "re-download")


def test_truncated_pdf(tmp_path: Path) -> None:
    data = _paper(tmp_path / "whole.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: len(data) // 2])
    _one_line_error(path, "truncated", "re-download")


def test_zero_page_pdf(tmp_path: Path) -> None:
    path = tmp_path / "zero.pdf"
    path.write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    _one_line_error(path, "no pages")


def test_blank_page_pdf(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page()
    doc.new_page()
    doc.save(tmp_path / "blank.pdf")
    _one_line_error(tmp_path / "blank.pdf", "no extractable text", "Markdown")


def test_encrypted_pdf(tmp_path: Path) -> None:
    doc = pymupdf.open()
    _Writer(doc, 1).put("Secret words.")
    path = tmp_path / "locked.pdf"
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="owner")
    _one_line_error(path, "encrypted")


def test_pdf_problem_accepts_a_good_pdf(tmp_path: Path) -> None:
    assert pdf_problem(_paper(tmp_path / "ok.pdf").read_bytes()) is None
    assert pdf_problem(b"") == "the file is empty"
