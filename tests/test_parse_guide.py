"""The guide parser on the real guide: 50 answers, numbering, topics, spans."""

from pathlib import Path

import pytest

from ingest.parse_guide import parse_guide, parse_guide_text
from studyguide.errors import SourceError

GUIDE = Path(__file__).resolve().parent.parent / "corpus" / "study_guide.md"


@pytest.fixture(scope="module")
def answers():
    return parse_guide(GUIDE)


def test_fifty_answers_numbered_in_order(answers):
    assert [a.number for a in answers] == list(range(1, 51))


def test_topics_follow_the_guide_sections(answers):
    topics = {a.number: a.topic for a in answers}
    assert topics[1] == topics[15] == "DINOv2"
    assert topics[16] == topics[30] == "SAM"
    assert topics[31] == topics[40] == "SAM 2"
    assert topics[41] == topics[50] == "multimodal"


def test_spans_address_the_file_text(answers):
    text = GUIDE.read_text(encoding="utf-8")
    for a in answers:
        assert text[a.char_start : a.char_end] == a.text
        assert a.text and not a.text.startswith("###")


def test_sub_heading_stays_in_its_answer(answers):
    a20 = answers[19]
    assert "### Prompt的影響：" in a20.text
    assert "**自適應性（Adaptability）**" in a20.text
    assert not answers[20].text.startswith("### Prompt")


def test_bullets_and_question_text(answers):
    a1 = answers[0]
    assert a1.question.startswith("請簡述DINOv2的架構")
    assert len(a1.bullets) == 4
    assert a1.bullets[0].startswith("**數據增強策略")


def test_missing_answers_are_reported():
    text = GUIDE.read_text(encoding="utf-8")
    cut = text[: text.index("### 50.")]
    with pytest.raises(SourceError, match="missing \\[50\\]"):
        parse_guide_text(cut, "guide.md")


def test_bad_guide_files(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        parse_guide(tmp_path / "nope.md")
    (tmp_path / "empty.md").write_text("  \n")
    with pytest.raises(SourceError, match="empty"):
        parse_guide(tmp_path / "empty.md")
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(SourceError, match="UTF-8"):
        parse_guide(tmp_path / "latin1.md")
