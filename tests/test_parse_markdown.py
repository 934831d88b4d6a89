"""The Markdown parser on the three full-text papers in ../shared/papers."""

import re
from pathlib import Path

import pytest

from ingest.chunk import chunk_document
from ingest.parse_markdown import parse_markdown, section_number
from studyguide.errors import SourceError
from studyguide.types import PaperSpec

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "papers"
SPECS = {
    "dinov2": PaperSpec("DINOv2", "2304.07193", "v2", "DINOv2"),
    "sam": PaperSpec("SAM", "2304.02643", "v1", "Segment Anything"),
    "sam2": PaperSpec("SAM 2", "2408.00714", "v2", "SAM 2"),
}
pytestmark = pytest.mark.skipif(not PAPERS.is_dir(), reason="../shared/papers not present")


@pytest.fixture(scope="module")
def docs():
    return {name: parse_markdown(PAPERS / f"{name}.md", spec) for name, spec in SPECS.items()}


def headings(doc):
    return {s.heading: s for s in doc.sections}


def test_dinov2_sections_with_numbers(docs):
    found = headings(docs["dinov2"])
    assert found["4 Discriminative Self-supervised Pre-training"].number == "4"
    assert found["B.1 Unsupervised pre-training"].path[0] == "Appendix B Implementation Details"
    ema = found["EMA update for the teacher."]
    assert ema.number == "B.1"
    assert ema.path == ("Appendix B Implementation Details", "B.1 Unsupervised pre-training", "EMA update for the teacher.")


def test_run_in_headings_take_their_parents_number(docs):
    sam = docs["sam"]
    numbers = {s.number for s in sam.sections if s.heading == "Image encoder."}
    assert numbers == {"3", "A"}
    assert headings(docs["sam2"])["D.2.2 Full training"].number == "D.2.2"


def test_noise_is_stripped_and_maths_kept(docs):
    for doc in docs.values():
        assert "](" not in doc.text and "<table" not in doc.text and "<figure" not in doc.text
        assert "[^" not in doc.text and "#bib" not in doc.text and "\u2062" not in doc.text
    assert "$" in docs["dinov2"].text
    # HTML tables become readable rows
    assert "ViT-g/14 | LVD-142M" in docs["dinov2"].text


def test_references_dropped_appendix_kept(docs):
    for doc in docs.values():
        assert not any(re.fullmatch(r"references", s.heading, re.I) for s in doc.sections)
    assert headings(docs["dinov2"])["A.1 Data selection"].path[0] == "Appendix A Data Processing"
    # DINOv2's reference list comes as footnote definitions at the end of its last appendix
    assert "Deep vit features as dense visual descriptors" not in docs["dinov2"].text
    assert "We note that OVIS is not strictly zero-shot" in docs["sam2"].text  # a prose footnote stays
    assert headings(docs["sam2"])["Appendix C Limitations"].number == "C"


def test_sections_address_the_text(docs):
    doc = docs["dinov2"]
    sec = headings(doc)["EMA update for the teacher."]
    body = doc.text[sec.char_start : sec.char_end]
    assert body.lstrip().startswith("The teacher is initialized with the same state as the student")


def test_chunks_never_cross_sections(docs):
    doc = docs["sam2"]
    chunks = chunk_document(doc, 900, 150, 40)
    by_path = {s.path: s for s in doc.sections}
    for chunk in chunks:
        section = by_path[chunk.section_path]
        assert section.char_start <= chunk.char_start < chunk.char_end <= section.char_end
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.page_start is None
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_section_number_patterns():
    assert section_number("4 Discriminative Self-supervised Pre-training") == "4"
    assert section_number("A.2.1 Capacity ablations") == "A.2.1"
    assert section_number("Appendix C Limitations") == "C"
    assert section_number("Mask decoder.") == ""
    assert section_number("A Study of things") == ""


def test_bad_markdown(tmp_path):
    spec = SPECS["sam"]
    with pytest.raises(SourceError, match="not found"):
        parse_markdown(tmp_path / "missing.md", spec)
    (tmp_path / "flat.md").write_text("just text\nno headings at all\n")
    with pytest.raises(SourceError, match="no Markdown headings"):
        parse_markdown(tmp_path / "flat.md", spec)
    (tmp_path / "bad.md").write_bytes(b"# Title\n\xff\xfe broken")
    with pytest.raises(SourceError, match="UTF-8"):
        parse_markdown(tmp_path / "bad.md", spec)
    (tmp_path / "empty.md").write_text("")
    with pytest.raises(SourceError, match="empty"):
        parse_markdown(tmp_path / "empty.md", spec)
